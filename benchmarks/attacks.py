"""Image attacks for the watermark benchmarks: compression, resizing, crops, rotation, photometric, noise."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

Attack = Callable[[Image.Image], Image.Image]


def _encode(img: Image.Image, fmt: str, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, fmt, quality=quality)
    out = Image.open(io.BytesIO(buf.getvalue()))
    out.load()
    return out


def _resize(img: Image.Image, f: float) -> Image.Image:
    return img.resize((max(1, round(img.width * f)), max(1, round(img.height * f))), Image.Resampling.BICUBIC)


def _crop_fraction(img: Image.Image, area: float, corner: bool) -> Image.Image:
    side = area**0.5
    w, h = round(img.width * side), round(img.height * side)
    left, top = (0, 0) if corner else ((img.width - w) // 2, (img.height - h) // 2)
    return img.crop((left, top, left + w, top + h))


def _noise(img: Image.Image, sigma: float) -> Image.Image:
    rng = np.random.default_rng(1234)
    arr = np.asarray(img.convert("RGB"), dtype=np.float32)
    return Image.fromarray(np.clip(np.rint(arr + rng.normal(0, sigma, arr.shape)), 0, 255).astype(np.uint8))


ATTACKS: dict[str, Attack] = {
    "none": lambda im: im,
    "jpeg90": lambda im: _encode(im, "JPEG", 90),
    "jpeg70": lambda im: _encode(im, "JPEG", 70),
    "jpeg50": lambda im: _encode(im, "JPEG", 50),
    "webp75": lambda im: _encode(im, "WEBP", 75),
    "resize0.5": lambda im: _resize(im, 0.5),
    "resize1.5": lambda im: _resize(im, 1.5),
    "crop50_centre": lambda im: _crop_fraction(im, 0.5, corner=False),
    "crop50_corner": lambda im: _crop_fraction(im, 0.5, corner=True),
    "rotate+5": lambda im: im.rotate(5, Image.Resampling.BICUBIC),
    "rotate-5": lambda im: im.rotate(-5, Image.Resampling.BICUBIC),
    "hflip": ImageOps.mirror,
    "bright+20": lambda im: ImageEnhance.Brightness(im.convert("RGB")).enhance(1.2),
    "bright-20": lambda im: ImageEnhance.Brightness(im.convert("RGB")).enhance(0.8),
    "contrast+20": lambda im: ImageEnhance.Contrast(im.convert("RGB")).enhance(1.2),
    "contrast-20": lambda im: ImageEnhance.Contrast(im.convert("RGB")).enhance(0.8),
    "noise8": lambda im: _noise(im, 8.0),
    "blur1": lambda im: im.filter(ImageFilter.GaussianBlur(1.0)),
    "screenshot": lambda im: _encode(_resize(im, 0.8), "JPEG", 80),
    "crop80+0.7+jpeg70": lambda im: _encode(_resize(_crop_fraction(im, 0.8, corner=False), 0.7), "JPEG", 70),
}
