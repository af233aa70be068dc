"""Service-provider codes and the GB 32100 / GB 11643 check characters."""

from __future__ import annotations

import pytest

from synthguard.errors import CodeInvalid
from synthguard.label.codes import (
    ProducerCode,
    code_problem,
    is_valid_resident_id,
    is_valid_uscc,
    require_service_type,
    uscc_check_char,
)

REAL_CODES = [  # seen in files labeled by real services (gb45438.md §4, aigc-labeled/GROUND_TRUTH.json)
    "001191440300708461136T1XGW3",
    "001191110102MACQD9K64010000",
    "00119144030008867405X210001",
    "00119144030008867405X220001",
    "001191330106MA2CFLDG4R10001",
]


@pytest.mark.parametrize("code", REAL_CODES)
def test_real_codes_validate(code: str) -> None:
    assert code_problem(code) is None
    assert ProducerCode.parse(code).uscc == code[4:22]


def test_fields_of_a_code() -> None:
    code = ProducerCode.parse("00119144030008867405X220001")
    assert (code.subject_type, code.binding_method, code.service_type, code.extension) == (
        "1",
        "1",
        "2",
        "20001",
    )
    assert ProducerCode.parse("001191110102MACQD9K64000000").service_type is None


@pytest.mark.parametrize(
    ("code", "why"),
    [
        ("001191440300708461136T1XGW", "27"),
        ("001191440300708461136t1XGW3", "upper-case"),
        ("011191440300708461136T1XGW3", "format code"),
        ("003191440300708461136T1XGW3", "subject type"),
        ("001191440300708461136U1XGW3", "check character"),
        ("001191440300708461136T3XGW3", "service type"),
    ],
)
def test_bad_codes_say_why(code: str, why: str) -> None:
    problem = code_problem(code)
    assert problem is not None and why in problem
    with pytest.raises(CodeInvalid):
        ProducerCode.parse(code)


def test_every_single_character_change_of_the_uscc_is_caught() -> None:
    base = "91440300708461136T"
    assert is_valid_uscc(base)
    charset = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    for i in range(18):
        for c in charset:
            if c != base[i]:
                changed = base[:i] + c + base[i + 1 :]
                assert not is_valid_uscc(changed) or uscc_check_char(changed[:17]) == changed[17]
                if i == 17:
                    assert not is_valid_uscc(changed)


def test_resident_id_checksum() -> None:
    assert is_valid_resident_id("11010519491231002X")
    assert not is_valid_resident_id("110105194912310021")
    assert not is_valid_resident_id("1101051949123100")


def test_service_type_role() -> None:
    with pytest.raises(CodeInvalid):
        require_service_type(ProducerCode.parse("00119144030008867405X220001"), "1", "producer")
    require_service_type(ProducerCode.parse("001191110102MACQD9K64000000"), "2", "propagator")
