"""The error tree: one root, subclasses that say what went wrong; each knows its exit code and HTTP status."""

from __future__ import annotations


class SynthguardError(Exception):
    """Root of every error synthguard raises on purpose."""

    exit_code: int = 1
    http_status: int = 500

    def __init__(self, message: str, *, path: str | None = None) -> None:
        message = " ".join(message.split("\n")).strip()  # always one line
        super().__init__(message)
        self.message = message
        self.path = path

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def at(self, path: str) -> SynthguardError:
        """Attach the file path this error is about (keeps the first one set)."""
        if self.path is None:
            self.path = path
        return self


class InputError(SynthguardError):
    """The input cannot be processed as given."""

    exit_code = 3
    http_status = 422


class UnsupportedFormat(InputError):
    """The bytes are not a format synthguard can carry a label in."""

    exit_code = 4
    http_status = 415


class CorruptInput(InputError):
    """The bytes claim a known format but are truncated or malformed."""

    exit_code = 5
    http_status = 422


class InputTooLarge(InputError):
    """The input exceeds a configured size or resource bound."""

    exit_code = 6
    http_status = 413


class LabelInvalid(InputError):
    """A label value breaks the GB 45438 rules."""

    exit_code = 7
    http_status = 422


class CodeInvalid(LabelInvalid):
    """A service-provider code or identity number fails its format or checksum."""


class KeyError_(SynthguardError):
    """A signing key is missing, unreadable or of the wrong kind."""

    exit_code = 8
    http_status = 500


class SignatureInvalid(SynthguardError):
    """A signature does not verify."""

    exit_code = 9
    http_status = 422


class OutputError(SynthguardError):
    """The output cannot be written; nothing was changed."""

    exit_code = 10
    http_status = 500


class LabelWriteFailed(OutputError):
    """A label was written but did not read back identically (fail closed)."""


class CapacityTooLow(InputError):
    """The content cannot reliably carry a watermark payload or fit a legible explicit label."""

    exit_code = 11
    http_status = 422


class ReviewBlocked(SynthguardError):
    """Content review blocked the content."""

    exit_code = 12
    http_status = 451


class ConfigError(SynthguardError):
    """Configuration is missing or inconsistent."""

    exit_code = 2
    http_status = 500


class LedgerError(SynthguardError):
    """The ledger is inconsistent, unreachable or a proof does not verify."""

    exit_code = 13
    http_status = 500


SigningKeyError = KeyError_
