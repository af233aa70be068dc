"""One entry point for the explicit label of any file: the image, video, audio or Markdown pipeline by modality."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from synthguard.errors import InputError, UnsupportedFormat
from synthguard.label.keys import SigningKey
from synthguard.label.model import AigcLabel
from synthguard.labeling import ExistingPolicy, label_media
from synthguard.media import Media

FrameProgress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class ExplicitResult:
    """The file with its explicit and metadata labels, and what the pipeline reports about the explicit one."""

    data: bytes
    label: AigcLabel
    details: dict[str, Any] = field(default_factory=dict)


def apply_explicit(
    media: Media,
    producer: str,
    produce_id: str | None = None,
    *,
    wording: str | None = None,
    position: str | None = None,
    signer: SigningKey | None = None,
    existing: ExistingPolicy = ExistingPolicy.REFUSE,
    progress: FrameProgress | None = None,
) -> ExplicitResult:
    """Add the explicit label for the file's modality, then the metadata label, in one pass."""
    modality = media.sniffed.modality.value
    if modality == "image":
        from synthguard.explicit.image import apply_image_label

        img = apply_image_label(
            media.data,
            producer=producer,
            wording=wording,
            position=position or "bottom-right",
            produce_id=produce_id,
            signer=signer,
            existing=existing,
            name=media.name,
        )
        return ExplicitResult(
            img.data,
            img.metadata_label,
            {
                "kind": "image",
                "position": img.position.value,
                "measured_height_pct": round(img.measured_height_pct, 2),
                "wording": img.wording,
            },
        )
    if modality == "video":
        from synthguard.explicit.render import Position
        from synthguard.explicit.video import VideoLabelOptions, label_video

        opts = VideoLabelOptions(text=wording)
        if position:
            opts = replace(opts, corner_position=Position(position))
        vid = label_video(
            media, producer, produce_id, options=opts, signer=signer, existing=existing, progress=progress
        )
        return ExplicitResult(
            vid.data,
            vid.metadata.label,
            {"kind": "video", "frames": vid.frames, "labeled_frames": vid.labeled_frames, "crf": vid.crf},
        )
    if modality == "audio":
        from synthguard.explicit.audio import AudioLabelOptions, label_audio
        from synthguard.explicit.audio import Position as AudioPosition

        aopts = AudioLabelOptions(positions=(AudioPosition(position),)) if position else AudioLabelOptions()
        aud = label_audio(media, producer, produce_id, options=aopts, signer=signer, existing=existing)
        return ExplicitResult(aud.data, aud.metadata.label, {"kind": "audio", "spans_s": [list(s) for s in aud.spans]})
    if media.format == "markdown":
        from synthguard.explicit.text import label_text

        text = media.data.decode("utf-8")
        body_start = _front_matter_end(text)
        where = position or "prefix"
        if where not in ("prefix", "suffix", "inline"):
            raise InputError(f"text positions are prefix, suffix or inline, not {where!r}", path=media.name)
        labeled = text[:body_start] + label_text(
            text[body_start:],
            position=where,  # type: ignore[arg-type]
            wording=wording,
            fmt="markdown",
        )
        result = label_media(
            Media.from_bytes(labeled.encode("utf-8"), media.name),
            producer,
            produce_id,
            signer=signer,
            existing=existing,
        )
        return ExplicitResult(result.data, result.label, {"kind": "text", "position": position or "prefix"})
    raise UnsupportedFormat(
        f"no explicit label for {media.format} files (only images, video, audio and Markdown)", path=media.name
    )


def _front_matter_end(text: str) -> int:
    """Index just past a leading YAML front matter block, or 0."""
    if not text.startswith("---"):
        return 0
    end = text.find("\n---", 3)
    if end < 0:
        return 0
    nl = text.find("\n", end + 4)
    return len(text) if nl < 0 else nl + 1


def detect_explicit(media: Media) -> dict[str, Any]:
    """verify's check for our explicit label in any supported modality (JSON-serialisable)."""
    modality = media.sniffed.modality.value
    if modality == "image":
        from synthguard.explicit.detect_image import detect_image_label

        return {"kind": "image", **detect_image_label(media.data)}
    if modality == "video":
        from synthguard.explicit.detect_video import detect_video_label

        return {"kind": "video", **detect_video_label(media)}
    if modality == "audio":
        from synthguard.explicit.detect_audio import detect_audio_label

        return {"kind": "audio", **detect_audio_label(media)}
    if media.format == "markdown":
        from synthguard.explicit.detect_text import detect_text

        return {"kind": "text", **detect_text(media.data.decode("utf-8", "replace"), fmt="markdown")}
    return {"kind": media.sniffed.modality.value, "found": None, "note": "no explicit-label detector for this format"}
