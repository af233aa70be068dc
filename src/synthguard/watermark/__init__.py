"""Invisible watermarks: keyed payload framing shared by every scheme, and the image/video schemes."""

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

__all__ = [
    "CODED_BITS",
    "DATA_BITS",
    "FORMAT_VERSION",
    "Detection",
    "Payload",
    "ProducerTable",
    "decode",
    "derive_serial",
    "detect_image",
    "embed_image",
    "encode",
    "gaussian_p_value",
    "keyed_rng",
    "open_image",
]
