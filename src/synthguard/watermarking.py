"""Watermarks in the labeling flow: embed before the metadata label is signed; detect and check agreement in verify."""

from __future__ import annotations

import io
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthguard.errors import KeyError_, UnsupportedFormat
from synthguard.label.model import AigcLabel
from synthguard.media import Media

MIN_KEY_BYTES = 16
ENV_KEY = "SYNTHGUARD_WATERMARK_KEY"
AUDIO_DETECT_SECONDS = 600.0  # verify reads the first 10 min of an audio file (the mark repeats every 2.88 s)


@dataclass(frozen=True)
class WatermarkConfig:
    """The provider's secret watermark key and its producer short id (the payload's 16-bit producer field)."""

    key: bytes
    producer_short_id: int = 1

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None, producer_short_id: int = 1) -> WatermarkConfig:
        """Read the key file (raw bytes or hex), or SYNTHGUARD_WATERMARK_KEY (hex) when no path is given."""
        if path is None:
            raw_hex = os.environ.get(ENV_KEY)
            if not raw_hex:
                raise KeyError_(f"no watermark key: give --watermark-key FILE or set {ENV_KEY}")
            key = _from_hex(raw_hex)
        else:
            try:
                blob = Path(path).read_bytes()
            except OSError as exc:
                raise KeyError_(f"cannot read watermark key: {exc.strerror}", path=str(path)) from None
            text = blob.strip()
            key = _from_hex(text.decode("ascii", "replace")) if _is_hex(text) else blob
        if len(key) < MIN_KEY_BYTES:
            raise KeyError_(f"watermark key must have at least {MIN_KEY_BYTES} bytes")
        if not 0 <= producer_short_id < 1 << 16:
            raise KeyError_("producer short id must be 0-65535")
        return cls(key, producer_short_id)


def _is_hex(text: bytes) -> bool:
    return len(text) >= 2 * MIN_KEY_BYTES and all(c in b"0123456789abcdefABCDEF" for c in text)


def _from_hex(text: str) -> bytes:
    try:
        return bytes.fromhex(text.strip())
    except ValueError:
        raise KeyError_("watermark key is not hex") from None


def new_key() -> str:
    """A fresh 32-byte watermark key as hex."""
    return secrets.token_hex(32)


def payload_for(config: WatermarkConfig, produce_id: str) -> Any:
    """The payload tying a file to its ProduceID: producer short id and a keyed serial of the ProduceID."""
    from synthguard.watermark.payload import Payload, derive_serial

    return Payload(config.producer_short_id, derive_serial(produce_id, config.key))


def payload_hex(payload: Any) -> str:
    """The payload as hex, as stored in the generation record for lookups."""
    return f"{payload.to_int():016x}"


@dataclass(frozen=True)
class Embedded:
    """Watermarked content, the payload it carries (hex; None for a presence-only mark), and a note.

    The note says what was marked where that is not simply the payload: a video's frames and sound, a
    sound that only took the presence mark, a track left unmarked.
    """

    data: bytes
    payload_hex: str | None
    note: str = ""


def embed(media: Media, config: WatermarkConfig, produce_id: str, *, presence_fallback: bool = True) -> Embedded:
    """Watermark the content (re-encoded in its own format): images, audio, and a video's frames and sound.

    presence_fallback=False: audio the payload does not fit is refused (CapacityTooLow) instead of taking
    the presence-only mark.
    """
    payload = payload_for(config, produce_id)
    modality = media.sniffed.modality.value
    if modality == "image":
        return Embedded(_embed_image(media, config, payload), payload_hex(payload))
    if modality == "audio":
        data, carries_payload, note = _embed_audio(media, config, payload, presence_fallback)
        return Embedded(data, payload_hex(payload) if carries_payload else None, note)
    if modality == "video":
        data, note = _embed_video(media, config, payload)
        return Embedded(data, payload_hex(payload), note)
    raise UnsupportedFormat(f"no watermark for {media.format} files (images, audio and video)", path=media.name)


def _embed_image(media: Media, config: WatermarkConfig, payload: Any) -> bytes:
    from PIL import Image

    from synthguard.explicit.image import _encode
    from synthguard.watermark.image import embed_image, open_image

    if media.format not in ("png", "jpeg", "webp", "tiff"):
        raise UnsupportedFormat(f"no image watermark for {media.format} files", path=media.name)
    marked = embed_image(open_image(media.data), payload, config.key)
    with Image.open(io.BytesIO(media.data)) as src:
        data, _quality, _kept = _encode(media.format, src, [marked], media.data)
    return data


def _embed_audio(
    media: Media, config: WatermarkConfig, payload: Any, presence_fallback: bool
) -> tuple[bytes, bool, str]:
    """The payload mark, or the presence-only mark on a clip too short or sparse for it: (data, payload?, note)."""
    import numpy as np

    from synthguard.explicit.audio_codec import decode, encode
    from synthguard.watermark.audio import AudioMark, embed_audio, embed_audio_or_presence
    from synthguard.watermark.audio_embed import MAX_SECONDS

    decoded = decode(media, max_seconds=MAX_SECONDS)  # bounded before the whole file is in memory
    if presence_fallback:
        marked = embed_audio_or_presence(decoded.samples, decoded.rate, payload, config.key)
    else:
        marked = AudioMark(embed_audio(decoded.samples, decoded.rate, payload, config.key), True, "")
    reason = marked.note.split(" (")[0]  # the refusal's first clause: the measured margin
    note = marked.note if marked.carries_payload else f"the payload did not fit: {reason}"
    return encode(media, decoded, marked.samples.astype(np.float64)), marked.carries_payload, note


def _embed_video(media: Media, config: WatermarkConfig, payload: Any) -> tuple[bytes, str]:
    """The frames, then the first audio track (left as it was, with the reason, when it cannot carry a mark)."""
    import tempfile

    from synthguard.watermark.video import embed_video
    from synthguard.watermark.video_audio import mark_audio_track

    suffix = {"mp4": ".mp4", "mov": ".mov", "mkv": ".mkv", "webm": ".webm"}.get(media.format)
    if suffix is None:
        raise UnsupportedFormat(f"no video watermark for {media.format} files", path=media.name)
    with tempfile.TemporaryDirectory(prefix="synthguard-wm-") as tmp:
        frames, both = Path(tmp) / f"frames{suffix}", Path(tmp) / f"both{suffix}"
        embed_video(media.data, frames, payload, config.key)
        track = mark_audio_track(frames, both, payload, config.key)
        if track.marked:
            kind = "frames and audio track" + ("" if track.carries_payload else " (presence only)")
            return both.read_bytes(), kind + (f"; {track.note}" if track.carries_payload and track.note else "")
        if track.note == "no audio track":
            return frames.read_bytes(), "frames"
        return frames.read_bytes(), f"frames only; audio track not marked: {track.note}"


def detect(media: Media, config: WatermarkConfig) -> dict[str, Any]:
    """Presence, p-value and payload of the provider's watermark in the content (JSON-serialisable)."""
    modality = media.sniffed.modality.value
    found: Any
    if modality == "image":
        from synthguard.watermark.image import detect_image, open_image

        found = detect_image(open_image(media.data), config.key)
    elif modality == "audio":
        from synthguard.explicit.audio_codec import decode_audio
        from synthguard.watermark.audio import detect_audio

        samples, rate = decode_audio(media, max_seconds=AUDIO_DETECT_SECONDS)
        found = detect_audio(samples, rate, config.key)
    elif modality == "video":
        from synthguard.watermark.video import detect_video
        from synthguard.watermark.video_audio import detect_audio_track

        result = _found(detect_video(media.data, config.key))
        track = detect_audio_track(media.data, config.key)
        if track is not None:  # either mark alone shows the provenance: a re-shot picture, a ripped soundtrack
            result["audio_track"] = _found(track)
            result["present"] = result["present"] or result["audio_track"]["present"]
        return result
    else:
        return {"checked": False, "note": f"no watermark detector for {media.format} files yet"}
    return _found(found)


def _found(found: Any) -> dict[str, Any]:
    """A detection as JSON: presence, p-value and the decoded payload."""
    payload = found.payload
    return {
        "checked": True,
        "present": bool(found.present),
        "presence_only": bool(getattr(found, "presence_only", False)),  # the audio presence mark: no payload
        "p_value": float(found.p_value),
        "payload": None
        if payload is None
        else {
            "hex": payload_hex(payload),
            "producer_short_id": payload.producer,
            "serial": payload.serial,
            "version": payload.version,
        },
    }


def agreement(result: dict[str, Any], labels: list[AigcLabel], config: WatermarkConfig) -> list[str]:
    """Art. 18 evidence: disagreements between the watermark and the metadata label ([] when consistent)."""
    if not result.get("checked") or not result.get("present"):
        return []
    if not labels:
        return ["watermark present but the file has no metadata label: the label was removed (Art. 18)"]
    track = result.get("audio_track") or {}
    marks = [("watermark", result.get("payload")), ("audio-track watermark", track.get("payload"))]
    expected = {payload_hex(payload_for(config, lab.produce_id)) for lab in labels}
    problems = []
    for name, payload in marks:
        if payload is None:
            continue
        if payload["producer_short_id"] != config.producer_short_id:
            named = payload["producer_short_id"]
            problems.append(f"{name} names producer #{named}, not this provider's #{config.producer_short_id}")
        if payload["hex"] not in expected:
            problems.append(f"{name} payload does not match the metadata label's ProduceID (label altered or swapped)")
    return problems
