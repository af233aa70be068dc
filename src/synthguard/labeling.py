"""Writing labels: the producer's first write, a platform's propagation, signing, and read-back (fail closed)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from enum import StrEnum

from synthguard.errors import CorruptInput, LabelInvalid, LabelWriteFailed, SynthguardError
from synthguard.formats.base import FoundLabel
from synthguard.label.codes import SERVICE_GENERATION, SERVICE_PROPAGATION, ProducerCode, require_service_type
from synthguard.label.keys import SigningKey
from synthguard.label.model import AigcLabel, LabelValue
from synthguard.label.security import Role, signed_label
from synthguard.media import Media


def new_produce_id() -> str:
    """A unique, time-ordered ProduceID: 12 hex digits of milliseconds and 20 random hex digits."""
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(10)}"


def payload(media: Media) -> bytes:
    """The joined content payload of some media (what a signature binds)."""
    return b"".join(bytes(chunk) for chunk in media.carrier.content_payload(media.data))


def _read(media: Media) -> list[FoundLabel]:
    try:
        return media.carrier.read(media.data)
    except SynthguardError as exc:
        raise exc.at(media.name or "<bytes>") from None


def write_checked(media: Media, label: AigcLabel) -> bytes:
    """Write the label, then read the result back: exactly one standard label, equal, content unchanged."""
    where = media.name or "<bytes>"
    before = payload(media)
    try:
        out = media.carrier.write(media.data, label)
    except SynthguardError as exc:
        raise exc.at(where) from None
    try:
        again = Media.from_bytes(out, media.name)
        found = again.carrier.read(out)
        after = payload(again)
    except SynthguardError as exc:
        raise LabelWriteFailed(f"labeled output does not parse back ({exc.message})", path=where) from None
    if again.format != media.format:
        raise LabelWriteFailed(f"output sniffs as {again.format}, not {media.format}", path=where)
    if len(found) != 1 or not found[0].standard or found[0].label != label:
        raise LabelWriteFailed(f"read-back found {len(found)} label(s), not the one written", path=where)
    if after != before:
        raise LabelWriteFailed("content payload changed while writing the label", path=where)
    return out


class ExistingPolicy(StrEnum):
    """What the producer's write does when the file already carries a label from another producer."""

    REFUSE = "refuse"
    REPLACE = "replace"


@dataclass(frozen=True)
class LabelResult:
    """The labeled bytes and what was written."""

    data: bytes
    label: AigcLabel
    format: str
    replaced: tuple[AigcLabel, ...] = ()


def label_media(
    media: Media,
    producer: str,
    produce_id: str | None = None,
    *,
    signer: SigningKey | None = None,
    existing: ExistingPolicy = ExistingPolicy.REFUSE,
) -> LabelResult:
    """Write the producer's first-write label (optionally signed) into the media."""
    code = ProducerCode.parse(producer)
    require_service_type(code, SERVICE_GENERATION, "producer")
    label = AigcLabel.first_write(producer, produce_id or new_produce_id())
    found = _read(media)
    foreign = tuple(f.label for f in found if f.label is not None and f.label.content_producer != producer)
    if foreign and existing is ExistingPolicy.REFUSE:
        raise LabelInvalid(
            f"already labeled by producer {foreign[0].content_producer!r}; "
            "use --replace-existing to relabel your edit of it",
            path=media.name,
        )
    if signer is not None:
        label = signed_label(label, Role.PRODUCER, [payload(media)], signer)
    return LabelResult(write_checked(media, label), label, media.format, foreign)


class PropagationCase(StrEnum):
    """The three cases of the Measures Art. 6, and the case where none applies."""

    METADATA = "metadata-label"  # Label "1": the file's metadata says AI
    DECLARED = "user-declared"  # Label "2": only the uploader declares it
    DETECTED = "detected-traces"  # Label "3": explicit label, watermark or other traces detected
    NONE = "none"


@dataclass(frozen=True)
class PropagationResult:
    """What a platform's propagation did."""

    case: PropagationCase
    data: bytes | None
    label: AigcLabel | None
    notes: tuple[str, ...] = field(default_factory=tuple)


def propagate_media(
    media: Media,
    propagator: str,
    propagate_id: str,
    *,
    user_declared: bool = False,
    traces_detected: bool = False,
    signer: SigningKey | None = None,
) -> PropagationResult:
    """Apply the Measures Art. 6: set Label per the case and write the platform's fields into the single label."""
    code = ProducerCode.parse(propagator)
    require_service_type(code, SERVICE_PROPAGATION, "propagator")
    found = [f for f in _read(media) if f.label is not None]
    notes: list[str] = []
    if len(found) > 1:
        notes.append(f"{len(found)} labels found; merged into one (the first is kept)")
    if found:
        base = found[0].label
        assert base is not None  # filtered above
        case = PropagationCase.METADATA
        if not found[0].standard:
            notes.append(f"converted a non-standard label ({found[0].carrier}) into the standard carrier")
        new_label = base.with_propagation(propagator, propagate_id)
    elif user_declared or traces_detected:
        case = PropagationCase.DECLARED if user_declared else PropagationCase.DETECTED
        value = LabelValue.POSSIBLY if user_declared else LabelValue.SUSPECTED
        new_label = AigcLabel(value.value, "", "", "", propagator, propagate_id, "")
    else:
        return PropagationResult(
            PropagationCase.NONE,
            None,
            None,
            ("no metadata label, no declaration, no detected traces: nothing to label",),
        )
    problems = new_label.problems()
    if problems:
        raise LabelInvalid("cannot propagate: " + "; ".join(problems), path=media.name)
    if signer is not None:
        new_label = signed_label(new_label, Role.PROPAGATOR, [payload(media)], signer)
    try:
        out = write_checked(media, new_label)
    except CorruptInput as exc:
        raise exc.at(media.name or "<bytes>") from None
    return PropagationResult(case, out, new_label, tuple(notes))
