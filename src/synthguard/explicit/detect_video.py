"""Check a video's opening for the visible label: frames sampled over the first 2 s, searched as displayed."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from synthguard.errors import CorruptInput, InputError, UnsupportedFormat
from synthguard.formats.base import Modality
from synthguard.media import Media

SAMPLE_TIMES = (0.0, 0.5, 1.0, 1.5, 1.9)
"""Seconds from the first frame: the opening GB 45438 §5 asks to carry the label for at least 2 s."""


def _displayed_frames(data: bytes, times: Sequence[float]) -> list[tuple[float, Any]]:
    """(time, PIL image as displayed) for the first frame at or after each sample time."""
    import av
    from PIL import Image

    wanted = sorted(times)
    found: list[tuple[float, Any]] = []
    with av.open(io.BytesIO(data), "r") as src:
        if not src.streams.video:
            raise InputError("the file has no video stream")
        vin = src.streams.video[0]
        first: int | None = None
        base = vin.time_base or 1
        for frame in src.decode(vin):
            if frame.pts is None:
                continue
            first = frame.pts if first is None else first
            t = float((frame.pts - first) * base)
            while wanted and t >= wanted[0] - 1e-6:
                wanted.pop(0)
                rgb = np.rot90(frame.to_ndarray(format="rgb24"), round((frame.rotation or 0) / 90))
                found.append((t, Image.fromarray(np.ascontiguousarray(rgb))))
            if not wanted:
                break
    return found


def detect_video_label(media: Media, *, times: Sequence[float] = SAMPLE_TIMES) -> dict[str, Any]:
    """verify's check: is our visible label on the sampled opening frames? (JSON-serialisable)."""
    if media.sniffed.modality is not Modality.VIDEO:
        raise UnsupportedFormat(f"{media.format} is not a video format", path=media.name)
    import av

    from synthguard.explicit.detect_image import detect_label

    try:
        frames = _displayed_frames(media.data, times)
    except av.FFmpegError as exc:
        raise CorruptInput(f"cannot decode the video: {exc}", path=media.name) from None
    except InputError as exc:
        raise exc.at(media.name or "<bytes>") from None
    samples = []
    wordings: tuple[str, ...] | None = None
    for t, image in frames:
        hit = detect_label(image, wordings=wordings) if wordings else detect_label(image)
        if hit.found and hit.wording:
            wordings = (hit.wording,)  # later frames: search only the wording the first frame showed
        samples.append({"t_s": round(t, 3), **hit.to_dict()})
    found = [s for s in samples if s["found"]]
    return {
        "detector": "explicit-video-opening",
        "found": bool(samples) and len(found) == len(samples),
        "frames_checked": len(samples),
        "frames_with_label": len(found),
        "meets_min_height": bool(found) and all(s["meets_min_height"] for s in found),
        "samples": samples,
    }
