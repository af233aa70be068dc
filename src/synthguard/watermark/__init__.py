"""Invisible watermarks: keyed payload framing shared by every scheme, and the image, video and audio schemes."""

from __future__ import annotations

from synthguard.watermark.image import Detection, detect_image, embed_image, open_image
from synthguard.watermark.payload import (
    CODED_BITS,
    DATA_BITS,
    FORMAT_VERSION,
    Payload,
    ProducerTable,
    decode,
    derive_serial,
    encode,
    gaussian_p_value,
    keyed_rng,
)
from synthguard.watermark.video import (
    NoVideoStream,
    VideoDetection,
    VideoWatermarkResult,
    detect_video,
    embed_video,
)

__all__ = [
    "CODED_BITS",
    "DATA_BITS",
    "FORMAT_VERSION",
    "Detection",
    "NoVideoStream",
    "Payload",
    "ProducerTable",
    "VideoDetection",
    "VideoWatermarkResult",
    "decode",
    "derive_serial",
    "detect_image",
    "detect_video",
    "embed_image",
    "embed_video",
    "encode",
    "gaussian_p_value",
    "keyed_rng",
    "open_image",
]
