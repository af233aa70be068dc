"""synthguard: GB 45438 labels, watermarks, review and tamper-evident logs for AI generation services."""

from __future__ import annotations

import os

from synthguard.errors import (
    CodeInvalid,
    CorruptInput,
    InputError,
    InputTooLarge,
    LabelInvalid,
    LabelWriteFailed,
    OutputError,
    SignatureInvalid,
    SynthguardError,
    UnsupportedFormat,
)
from synthguard.fileio import write_atomic
from synthguard.label.keys import PublicKey, SigningKey
from synthguard.label.model import AigcLabel, JsonShape, LabelValue
from synthguard.label.security import TrustStore
from synthguard.labeling import (
    ExistingPolicy,
    LabelResult,
    PropagationCase,
    PropagationResult,
    label_media,
    new_produce_id,
    propagate_media,
)
from synthguard.media import Media, supported_formats
from synthguard.verify import Report, Verdict, verify, verify_media

__version__ = "0.1.0"


def label_file(
    path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    producer: str,
    produce_id: str | None = None,
    *,
    signer: SigningKey | None = None,
    existing: ExistingPolicy = ExistingPolicy.REFUSE,
) -> LabelResult:
    """Label one file into output (atomically; output may equal path for in-place)."""
    result = label_media(Media.open(path), producer, produce_id, signer=signer, existing=existing)
    write_atomic(output, result.data)
    return result


def label_bytes(
    data: bytes, producer: str, produce_id: str | None = None, *, signer: SigningKey | None = None
) -> bytes:
    """Label in-memory file bytes and return the labeled bytes."""
    return label_media(Media.from_bytes(data), producer, produce_id, signer=signer).data


__all__ = [
    "AigcLabel",
    "CodeInvalid",
    "CorruptInput",
    "ExistingPolicy",
    "InputError",
    "InputTooLarge",
    "JsonShape",
    "LabelInvalid",
    "LabelResult",
    "LabelValue",
    "LabelWriteFailed",
    "Media",
    "OutputError",
    "PropagationCase",
    "PropagationResult",
    "PublicKey",
    "Report",
    "SignatureInvalid",
    "SigningKey",
    "SynthguardError",
    "TrustStore",
    "UnsupportedFormat",
    "Verdict",
    "__version__",
    "label_bytes",
    "label_file",
    "label_media",
    "new_produce_id",
    "propagate_media",
    "supported_formats",
    "verify",
    "verify_media",
]
