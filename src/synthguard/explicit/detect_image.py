"""Find synthguard's own explicit label in an image: glyph templates from the bundled font, eight positions, NCC."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from synthguard.errors import CorruptInput, SynthguardError
from synthguard.explicit.render import (
    MIN_HEIGHT_RATIO,
    Position,
    default_margin,
    font,
    greys_of,
    measured_characters,
    render_label,
    required_glyph_height,
)
from synthguard.explicit.wording import Wording

DEFAULT_WORDINGS = (Wording.SHORT, Wording.LONG, Wording.ENGLISH, Wording.BILINGUAL)
RATIOS = (0.05, 0.056, 0.063, 0.07, 0.079, 0.088, 0.1, 0.112)
"""Text-height ratios searched: the 5 % minimum the labeler uses by default, up to about twice it."""
MATCH_THRESHOLD = 0.6
"""Normalised cross-correlation with the glyph template above which a box is our label."""
MIN_TEXT_CONTRAST = 0.3
"""Grey difference (0..1) between text and backdrop pixels that a plate or outline guarantees."""
_WORK_GLYPH_PX = 12  # matching runs on a copy scaled so the glyphs are about this tall


@dataclass(frozen=True)
class _Template:
    wording: str
    ratio: float
    mask: NDArray[np.float32]  # text ink 0..1 at full resolution, label-box sized
    glyph_px: int
    columns: tuple[tuple[int, int], ...]  # x-ranges of the measured characters inside the box


def _template(wording: str, size: tuple[int, int], ratio: float) -> _Template:
    label = render_label(wording, required_glyph_height(size, ratio))
    rgba = np.asarray(label.image, dtype=np.float32) / 255.0
    # Text pixels are where the label is most opaque; the plate is at most `opacity` (< 1) opaque.
    mask = (rgba[..., 3] > 0.97).astype(np.float32)
    f = font(label.font_size)
    ink_left = label.ink_box[0]
    left0 = int(f.getbbox(wording)[0])
    columns = []
    wanted = set(measured_characters(wording))
    for i, ch in enumerate(wording):
        if ch in wanted:
            start = ink_left - left0 + int(f.getlength(wording[:i]))
            columns.append((start, start + int(f.getlength(ch))))
    return _Template(wording, ratio, mask, label.measured_glyph_height_px, tuple(columns))


def _windows(size: tuple[int, int], box: tuple[int, int], position: Position) -> tuple[int, int, int, int]:
    """The search window for a label of box size at a position: margins from 0 to about 8 % of the short side."""
    w, h = size
    bw, bh = box
    slack = max(2 * default_margin(size), round(0.08 * min(size)))
    horizontal = position.value.split("-")[-1] if "-" in position.value else position.value
    vertical = position.value.split("-")[0]
    if horizontal == "left":
        x0, x1 = 0, bw + slack
    elif horizontal == "right":
        x0, x1 = w - bw - slack, w
    else:
        x0, x1 = (w - bw) // 2 - slack, (w + bw) // 2 + slack
    if vertical == "top":
        y0, y1 = 0, bh + slack
    elif vertical == "bottom":
        y0, y1 = h - bh - slack, h
    else:
        y0, y1 = (h - bh) // 2 - slack, (h + bh) // 2 + slack
    return max(0, x0), max(0, y0), min(w, x1), min(h, y1)


def _fast_length(n: int) -> int:
    """The smallest 5-smooth length at least n (FFTs of such lengths are fast)."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


def _ncc(window: NDArray[np.float64], tmpl: NDArray[np.float64]) -> NDArray[np.float64]:
    """Normalised cross-correlation of a template over every valid offset in a window (FFT + integral images)."""
    hh, ww = window.shape
    th, tw = tmpl.shape
    t = tmpl - tmpl.mean()
    tnorm = float(np.sqrt((t * t).sum()))
    shape = (_fast_length(hh + th - 1), _fast_length(ww + tw - 1))
    corr = np.fft.irfft2(np.fft.rfft2(window, shape) * np.fft.rfft2(t[::-1, ::-1], shape), shape)
    corr = corr[th - 1 : hh, tw - 1 : ww]
    n = th * tw

    def box_sum(a: NDArray[np.float64]) -> NDArray[np.float64]:
        c = np.pad(a.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
        out: NDArray[np.float64] = c[th:, tw:] - c[:-th, tw:] - c[th:, :-tw] + c[:-th, :-tw]
        return out

    s1 = box_sum(window)
    s2 = box_sum(window * window)
    var = np.maximum(s2 - s1 * s1 / n, 0.0)
    flat = var / n < 0.05**2  # a featureless window: no text there
    result: NDArray[np.float64] = np.where(flat, 0.0, corr / (tnorm * np.sqrt(np.maximum(var, 1e-12)) + 1e-12))
    return result


def _shrink(a: NDArray[np.float32] | NDArray[np.float64], factor: float) -> NDArray[np.float64]:
    if factor >= 1.0:
        return a.astype(np.float64)
    h, w = a.shape
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return np.asarray(Image.fromarray(a.astype(np.float32), "F").resize(size, Image.Resampling.BOX), dtype=np.float64)


@dataclass(frozen=True)
class Detection:
    """Our explicit label found in an image, or not."""

    found: bool
    wording: str | None = None
    position: Position | None = None
    box: tuple[int, int, int, int] | None = None
    score: float = 0.0
    text_contrast: float = 0.0
    glyph_height_px: int = 0
    shortest_side: int = 0
    scheme: str | None = None

    @property
    def height_pct(self) -> float:
        """Measured glyph height as a percentage of the shortest side."""
        return 100.0 * self.glyph_height_px / self.shortest_side if self.shortest_side else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form for verify's Report.checks."""
        return {
            "found": self.found,
            "wording": self.wording,
            "position": self.position.value if self.position else None,
            "box": list(self.box) if self.box else None,
            "score": round(self.score, 3),
            "text_contrast": round(self.text_contrast, 3),
            "glyph_height_px": self.glyph_height_px,
            "shortest_side": self.shortest_side,
            "height_pct": round(self.height_pct, 2),
            "meets_min_height": self.found and self.height_pct >= 100 * MIN_HEIGHT_RATIO - 1e-9,
            "scheme": self.scheme,
        }


def _measure(region: NDArray[np.float64], tmpl: _Template, bright: bool) -> tuple[int, float]:
    """(smallest ink height of the measured characters, text-backdrop grey difference) inside a found box."""
    text = tmpl.mask > 0.5
    if not text.any() or text.all():
        return 0, 0.0
    inside, outside = float(region[text].mean()), float(region[~text].mean())
    contrast = inside - outside if bright else outside - inside
    cut = (inside + outside) / 2
    ink = region >= cut if bright else region <= cut
    heights = []
    for c0, c1 in tmpl.columns:
        rows = np.flatnonzero(ink[:, max(0, c0) : max(0, c1)].any(axis=1))
        if rows.size:
            heights.append(int(rows[-1] - rows[0] + 1))
    return (min(heights) if heights else 0), contrast


def _open(image: Image.Image | bytes) -> Image.Image:
    if not isinstance(image, bytes):
        return image
    try:
        im = Image.open(io.BytesIO(image))
        im.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise CorruptInput(f"cannot decode the image: {exc}") from None
    return im


def _small_greys(visual: Image.Image, factor: float) -> NDArray[np.float64]:
    """Greys of the whole image shrunk by factor (Pillow's box filter for 8-bit modes, numpy otherwise)."""
    if visual.mode in ("RGB", "RGBA", "L", "LA", "P", "PA", "CMYK", "1", "YCbCr"):
        grey = visual.convert("L")
        if factor < 1.0:
            size = (max(1, round(visual.width * factor)), max(1, round(visual.height * factor)))
            grey = grey.resize(size, Image.Resampling.BOX)
        return np.asarray(grey, dtype=np.float64) / 255.0
    return _shrink(greys_of(visual), factor)


def detect_label(
    image: Image.Image | bytes, *, wordings: Sequence[str] = DEFAULT_WORDINGS, ratios: Sequence[float] = RATIOS
) -> Detection:
    """Search the eight positions for our label in the image as displayed (EXIF orientation applied)."""
    im = _open(image)
    visual = ImageOps.exif_transpose(im) or im
    size = visual.size
    short = min(size)
    factor = min(1.0, _WORK_GLYPH_PX / max(1, required_glyph_height(size, min(ratios))))
    small = _small_greys(visual, factor)
    best: tuple[float, _Template, Position, tuple[int, int, int, int]] | None = None
    for wording in wordings:
        for ratio in ratios:
            try:
                tmpl = _template(wording, size, ratio)
            except SynthguardError:  # an unrenderable candidate is simply not searched
                continue
            th, tw = tmpl.mask.shape
            if tw >= size[0] or th >= size[1]:
                continue
            small_t = _shrink(tmpl.mask, factor)
            for position in Position:
                wx0, wy0, wx1, wy1 = (round(v * factor) for v in _windows(size, (tw, th), position))
                window = small[wy0:wy1, wx0:wx1]
                if window.shape[0] < small_t.shape[0] or window.shape[1] < small_t.shape[1]:
                    continue
                scores = np.abs(_ncc(window, small_t))
                k = int(scores.argmax())
                score = float(scores.flat[k])
                if best is None or score > best[0]:
                    sy, sx = divmod(k, scores.shape[1])
                    x = max(0, min(size[0] - tw, round((wx0 + sx) / factor)))
                    y = max(0, min(size[1] - th, round((wy0 + sy) / factor)))
                    best = (score, tmpl, position, (x, y, x + tw, y + th))
    if best is None or best[0] < MATCH_THRESHOLD:
        return Detection(False, score=best[0] if best else 0.0, shortest_side=short)
    score, tmpl, position, box, region = _refine(visual, best, factor)
    text = tmpl.mask > 0.5
    bright = float(region[text].mean()) > float(region[~text].mean())
    height, contrast = _measure(region, tmpl, bright)
    if contrast < MIN_TEXT_CONTRAST:
        return Detection(False, score=score, text_contrast=contrast, shortest_side=short)
    scheme = "dark" if bright else "light"
    return Detection(True, tmpl.wording, position, box, score, contrast, height, short, scheme)


def _refine(
    visual: Image.Image, best: tuple[float, _Template, Position, tuple[int, int, int, int]], factor: float
) -> tuple[float, _Template, Position, tuple[int, int, int, int], NDArray[np.float64]]:
    """Re-match at full resolution within a few pixels of the coarse hit; also returns the box's greys."""
    score, tmpl, position, (x, y, x1, y1) = best
    th, tw = tmpl.mask.shape
    pad = max(2, round(1 / factor) + 1)
    w, h = visual.size
    wx0, wy0 = max(0, x - pad), max(0, y - pad)
    wx1, wy1 = min(w, x1 + pad), min(h, y1 + pad)
    greys = greys_of(visual.crop((wx0, wy0, wx1, wy1))).astype(np.float64)
    scores = np.abs(_ncc(greys, tmpl.mask.astype(np.float64)))
    k = int(scores.argmax())
    sy, sx = divmod(k, scores.shape[1])
    box = (wx0 + sx, wy0 + sy, wx0 + sx + tw, wy0 + sy + th)
    return max(score, float(scores.flat[k])), tmpl, position, box, greys[sy : sy + th, sx : sx + tw]


def detect_image_label(data: bytes) -> dict[str, Any]:
    """verify's check: our explicit label in the image bytes, as a JSON-serialisable dict."""
    return detect_label(data).to_dict()
