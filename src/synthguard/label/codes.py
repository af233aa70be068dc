"""Service-provider codes (TC260 coding rule, 2025) and the GB 32100 / GB 11643 check characters."""

from __future__ import annotations

import re
from dataclasses import dataclass

from synthguard.errors import CodeInvalid

USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_RE = re.compile(r"[0-9A-HJ-NP-RT-UW-Y]{2}[0-9]{6}[0-9A-HJ-NP-RT-UW-Y]{10}")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_CODE_RE = re.compile(r"[0-9A-Z]{27}")

SERVICE_GENERATION = "1"
SERVICE_PROPAGATION = "2"


def uscc_check_char(first17: str) -> str:
    """The GB 32100-2015 check character for the first 17 characters of a unified social credit code."""
    total = sum(USCC_CHARSET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - total % 31) % 31]


def uscc_problem(code: str) -> str | None:
    """Why a string is not a valid unified social credit code, or None if it is."""
    if len(code) != 18:
        return f"unified social credit code must be 18 characters, got {len(code)}"
    if not _USCC_RE.fullmatch(code):
        return "unified social credit code has characters outside GB 32100's set"
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        return f"unified social credit code check character is {code[17]!r}, expected {expected!r}"
    return None


def is_valid_uscc(code: str) -> bool:
    """True if the string is a unified social credit code with a correct check character."""
    return uscc_problem(code) is None


def resident_id_problem(number: str) -> str | None:
    """Why a string is not a valid 18-digit resident identity number (GB 11643), or None if it is."""
    if not re.fullmatch(r"[0-9]{17}[0-9Xx]", number):
        return "resident identity number must be 17 digits and a digit or X"
    total = sum(int(c) * w for c, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    expected = _ID_CHECK[total % 11]
    if number[17].upper() != expected:
        return f"resident identity number check character is {number[17]!r}, expected {expected!r}"
    return None


def is_valid_resident_id(number: str) -> bool:
    """True if the string is an 18-character resident identity number with a correct check character."""
    return resident_id_problem(number) is None


@dataclass(frozen=True)
class ProducerCode:
    """A 27-character service-provider code: format, subject, binding, USCC and service extension."""

    value: str

    @property
    def subject_type(self) -> str:
        """Position 3: 1 organisation, 2 individual."""
        return self.value[2]

    @property
    def binding_method(self) -> str:
        """Position 4: 1 bound to the unified social credit code."""
        return self.value[3]

    @property
    def uscc(self) -> str:
        """Positions 5-22: the unified social credit code."""
        return self.value[4:22]

    @property
    def extension(self) -> str:
        """Positions 23-27: the service extension ("00000" if unused)."""
        return self.value[22:27]

    @property
    def service_type(self) -> str | None:
        """Position 23: "1" generation, "2" propagation, or None when the extension is unused."""
        return None if self.extension == "00000" else self.extension[0]

    @classmethod
    def parse(cls, value: str) -> ProducerCode:
        """Parse and validate a code, raising CodeInvalid with the reason."""
        problem = code_problem(value)
        if problem:
            raise CodeInvalid(f"service-provider code {value!r}: {problem}")
        return cls(value)

    def __str__(self) -> str:
        return self.value


def code_problem(value: str) -> str | None:
    """Why a string is not a valid 27-character service-provider code, or None if it is."""
    if len(value) != 27:
        return f"must be 27 characters, got {len(value)}"
    if not _CODE_RE.fullmatch(value):
        return "must be digits and upper-case letters only"
    if value[:2] != "00":
        return f"format code (positions 1-2) must be '00', got {value[:2]!r}"
    if value[2] not in "12":
        return f"subject type (position 3) must be 1 or 2, got {value[2]!r}"
    if value[3] == "1":
        uscc = uscc_problem(value[4:22])
        if uscc:
            return uscc
    ext = value[22:27]
    if ext != "00000" and ext[0] not in (SERVICE_GENERATION, SERVICE_PROPAGATION):
        return f"service type (position 23) must be 1 or 2 when the extension is used, got {ext[0]!r}"
    return None


def require_service_type(code: ProducerCode, wanted: str, role: str) -> None:
    """Raise CodeInvalid when a code's service-type digit is set and differs from the role's."""
    if code.service_type is not None and code.service_type != wanted:
        raise CodeInvalid(f"{role} code {code.value} has service type {code.service_type!r}; a {role} uses {wanted!r}")
