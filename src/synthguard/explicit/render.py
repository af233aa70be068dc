"""The shared label renderer: text to an RGBA bitmap with measured glyph height, placement, contrast and compositing."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import overload

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from synthguard.errors import CapacityTooLow, LabelInvalid

FONT_PATH = Path(__file__).resolve().parent / "fonts" / "SynthguardLabelSans-Bold.otf"
CHARSET_PATH = FONT_PATH.with_name("charset.txt")
MIN_HEIGHT_RATIO = 0.05
"""GB 45438 §5: text height at least 5 % of the shortest side."""
MIN_GLYPH_PX = 12
"""Legibility floor: below this the ideographs' strokes merge, whatever 5 % of the side comes to."""
TARGET_CONTRAST = 4.5
"""WCAG AA contrast the automatic scheme aims for between text and the plate as blended over the image."""
INK_THRESHOLD = 128
"""Alpha at or above which a rendered pixel counts as glyph ink (anti-aliased fringe is not counted)."""


class Position(StrEnum):
    """Where the label sits: the four corners and the four edge midpoints."""

    TOP_LEFT = "top-left"
    TOP = "top"
    TOP_RIGHT = "top-right"
    LEFT = "left"
    RIGHT = "right"
    BOTTOM_LEFT = "bottom-left"
    BOTTOM = "bottom"
    BOTTOM_RIGHT = "bottom-right"


class Backdrop(StrEnum):
    """What keeps the text legible: a semi-opaque plate behind it, or an outline around each glyph."""

    PLATE = "plate"
    OUTLINE = "outline"


class Scheme(StrEnum):
    """Colour scheme: light text on a dark backdrop, dark text on a light one, or chosen from the background."""

    DARK = "dark"
    LIGHT = "light"
    AUTO = "auto"


@dataclass(frozen=True)
class LabelStyle:
    """How the label looks; lengths are fractions of the measured glyph height."""

    backdrop: Backdrop = Backdrop.PLATE
    scheme: Scheme = Scheme.AUTO
    opacity: float = 0.72
    padding: float = 0.35
    radius: float = 0.2
    outline: float = 0.12

    def __post_init__(self) -> None:
        if not 0.0 < self.opacity <= 1.0:
            raise LabelInvalid(f"label opacity must be in (0, 1], not {self.opacity}")
        if self.padding < 0 or self.radius < 0 or self.outline < 0:
            raise LabelInvalid("label padding, radius and outline must not be negative")


@dataclass(frozen=True)
class RenderedLabel:
    """An RGBA label bitmap and its measurements."""

    image: Image.Image
    text: str
    font_size: int
    measured_glyph_height_px: int
    scheme: Scheme
    opacity: float
    ink_box: tuple[int, int, int, int]
    target_glyph_height_px: int

    @property
    def size(self) -> tuple[int, int]:
        """Width and height in pixels."""
        return self.image.size


@dataclass(frozen=True)
class LabelPlan:
    """A rendered label and where it goes on a canvas of a given size."""

    label: RenderedLabel
    canvas_size: tuple[int, int]
    position: Position
    xy: tuple[int, int]
    contrast: float | None

    @property
    def box(self) -> tuple[int, int, int, int]:
        """The label's box on the canvas: left, top, right, bottom."""
        w, h = self.label.size
        return (self.xy[0], self.xy[1], self.xy[0] + w, self.xy[1] + h)

    @property
    def height_ratio(self) -> float:
        """Measured glyph height over the canvas's shortest side."""
        return self.label.measured_glyph_height_px / min(self.canvas_size)


@lru_cache(maxsize=1)
def charset() -> frozenset[str]:
    """Every character the bundled font subset has a glyph for."""
    return frozenset(CHARSET_PATH.read_text(encoding="utf-8").rstrip("\n"))


@lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont:
    """The bundled label font at a pixel size."""
    return ImageFont.truetype(str(FONT_PATH), size)


def check_renderable(text: str) -> None:
    """Raise LabelInvalid when the bundled font lacks a character of the text."""
    missing = sorted({ch for ch in text if ch not in charset()})
    if missing:
        raise LabelInvalid(f"the label font has no glyph for {''.join(missing)!r}; regenerate the subset to add them")


def _is_ideograph(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


def measured_characters(text: str) -> str:
    """The characters whose ink height is measured: 生/成/合, else any ideographs, else Latin x-height letters."""
    # 生成/合成 are full-height glyphs present in every Chinese wording; a flat glyph such as 工 is short by
    # design and would not represent the line's text height.
    generation = "".join(dict.fromkeys(ch for ch in text if ch in "生成合"))
    if generation:
        return generation
    ideographs = "".join(dict.fromkeys(ch for ch in text if _is_ideograph(ch)))
    if ideographs:
        return ideographs
    # Pure Latin wording: measure the x-height letters present (the most conservative reading of "text height").
    small = "".join(dict.fromkeys(ch for ch in text if ch in "acemnorsuvwxz"))
    return small or "".join(dict.fromkeys(ch for ch in text if ch.isalnum())) or text


@lru_cache(maxsize=512)
def glyph_ink_height(ch: str, size: int) -> int:
    """Height in pixels of one character's ink (alpha >= INK_THRESHOLD) at a font size."""
    f = font(size)
    left, top, right, bottom = (int(v) for v in f.getbbox(ch))
    if right <= left or bottom <= top:
        return 0
    canvas = Image.new("L", (right - left + 2, bottom - top + 2), 0)
    ImageDraw.Draw(canvas).text((1 - left, 1 - top), ch, font=f, fill=255)
    mask = np.asarray(canvas)
    rows = np.flatnonzero((mask >= INK_THRESHOLD).any(axis=1))
    return int(rows[-1] - rows[0] + 1) if rows.size else 0


def measure_glyph_height(text: str, size: int) -> int:
    """The conservative text height: the smallest ink height among the measured characters."""
    return min(glyph_ink_height(ch, size) for ch in measured_characters(text))


def font_size_for(text: str, min_glyph_height_px: int) -> int:
    """The smallest font size whose measured glyph height reaches the target."""
    target = max(1, min_glyph_height_px)
    probe = 200
    size = max(4, math.floor(target * probe / max(1, measure_glyph_height(text, probe))) - 1)
    while measure_glyph_height(text, size) < target:
        size += 1
    while size > 4 and measure_glyph_height(text, size - 1) >= target:
        size -= 1
    return size


def _colours(scheme: Scheme) -> tuple[int, int]:
    """(text grey, backdrop grey) for a concrete scheme."""
    return (255, 0) if scheme is not Scheme.LIGHT else (0, 255)


def render_label(
    text: str, min_glyph_height_px: int, style: LabelStyle = LabelStyle(), *, opacity: float | None = None
) -> RenderedLabel:
    """Render text so its glyph ink, measured on the rendered label, is at least the given pixels tall.

    An AUTO scheme renders DARK; plan_label() picks the scheme from the background.
    """
    check_renderable(text)
    return _render_cached(text, max(1, min_glyph_height_px), style, opacity)


@lru_cache(maxsize=128)
def _render_cached(text: str, target: int, style: LabelStyle, opacity: float | None) -> RenderedLabel:
    # Cached: a service labels many images of a few sizes, and video repeats one label on every frame.
    size = font_size_for(text, target)
    while True:
        label = _draw(text, size, target, style, opacity)
        if label.measured_glyph_height_px >= target:
            return label
        size += 1  # placement on the label's pixel grid cost a row: go one size up


def _draw(text: str, size: int, target: int, style: LabelStyle, opacity: float | None) -> RenderedLabel:
    estimate = measure_glyph_height(text, size)
    scheme = Scheme.DARK if style.scheme is Scheme.AUTO else style.scheme
    alpha = style.opacity if opacity is None else opacity
    fg, bg = _colours(scheme)
    f = font(size)
    left, top, right, bottom = (int(v) for v in f.getbbox(text))
    stroke = max(1, round(style.outline * estimate)) if style.backdrop is Backdrop.OUTLINE else 0
    pad_x = round(style.padding * estimate) + stroke
    pad_y = round(style.padding * estimate * 0.7) + stroke
    width = (right - left) + 2 * pad_x
    height = (bottom - top) + 2 * pad_y
    origin = (pad_x - left, pad_y - top)
    text_mask = Image.new("L", (width, height), 0)
    ImageDraw.Draw(text_mask).text(origin, text, font=f, fill=255)
    back_mask = Image.new("L", (width, height), 0)
    if style.backdrop is Backdrop.PLATE:
        radius = round(style.radius * estimate)
        ImageDraw.Draw(back_mask).rounded_rectangle((0, 0, width - 1, height - 1), radius=radius, fill=255)
        back_alpha = alpha
    else:
        ImageDraw.Draw(back_mask).text(origin, text, font=f, fill=255, stroke_width=stroke, stroke_fill=255)
        back_alpha = 1.0  # without a plate, only a solid outline separates the text from the image
    t = np.asarray(text_mask, dtype=np.float32) / 255.0
    b = np.asarray(back_mask, dtype=np.float32) / 255.0 * back_alpha
    out_a = t + b * (1.0 - t)
    grey = np.where(out_a > 0, (fg * t + bg * b * (1.0 - t)) / np.maximum(out_a, 1e-6), 0.0)
    rgba = np.dstack([grey, grey, grey, out_a * 255.0])
    image = Image.fromarray(np.clip(np.rint(rgba), 0, 255).astype(np.uint8), "RGBA")
    ink_mask = np.asarray(text_mask) >= INK_THRESHOLD
    measured = _rendered_height(ink_mask, text, f, origin[0])
    rows, cols = np.flatnonzero(ink_mask.any(axis=1)), np.flatnonzero(ink_mask.any(axis=0))
    ink = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1) if rows.size else (0, 0, width, height)
    return RenderedLabel(image, text, size, measured, scheme, alpha, ink, target)


def _rendered_height(ink: NDArray[np.bool_], text: str, f: ImageFont.FreeTypeFont, x0: int) -> int:
    """Smallest ink height among the measured characters, each within its advance on the rendered label."""
    wanted = set(measured_characters(text))
    heights = []
    for i, ch in enumerate(text):
        if ch not in wanted:
            continue
        c0 = x0 + int(f.getlength(text[:i]))
        c1 = x0 + int(np.ceil(f.getlength(text[: i + 1])))
        rows = np.flatnonzero(ink[:, max(0, c0) : max(0, c1)].any(axis=1))
        if rows.size:
            heights.append(int(rows[-1] - rows[0] + 1))
    return min(heights) if heights else 0


def place(
    canvas_size: tuple[int, int], label_size: tuple[int, int], position: Position | str, margin: int
) -> tuple[int, int]:
    """Top-left corner of the label on the canvas for a position and margin (pixels)."""
    pos = Position(position)
    cw, ch = canvas_size
    lw, lh = label_size
    if lw + 2 * margin > cw or lh + 2 * margin > ch:
        raise CapacityTooLow(f"a {lw}x{lh} label with a {margin}px margin does not fit a {cw}x{ch} image")
    x = {"left": margin, "right": cw - lw - margin}.get(_horizontal(pos), (cw - lw) // 2)
    y = {"top": margin, "bottom": ch - lh - margin}.get(_vertical(pos), (ch - lh) // 2)
    return x, y


def _horizontal(pos: Position) -> str:
    return "left" if pos.value.endswith("left") else "right" if pos.value.endswith("right") else "centre"


def _vertical(pos: Position) -> str:
    return "top" if pos.value.startswith("top") else "bottom" if pos.value.startswith("bottom") else "centre"


def default_margin(canvas_size: tuple[int, int]) -> int:
    """The default margin: 2 % of the shortest side, at least 2 pixels."""
    return max(2, round(0.02 * min(canvas_size)))


def required_glyph_height(canvas_size: tuple[int, int], min_height_ratio: float = MIN_HEIGHT_RATIO) -> int:
    """Pixels of glyph height the canvas needs: the ratio of its shortest side, rounded up, at least MIN_GLYPH_PX."""
    if min_height_ratio < MIN_HEIGHT_RATIO:
        raise LabelInvalid(f"text height ratio {min_height_ratio} is below the 5 % GB 45438 requires")
    return max(MIN_GLYPH_PX, math.ceil(min_height_ratio * min(canvas_size) - 1e-9))


def relative_luminance(grey: NDArray[np.floating]) -> NDArray[np.floating]:
    """WCAG relative luminance of sRGB code values in 0..1."""
    return np.where(grey <= 0.04045, grey / 12.92, ((grey + 0.055) / 1.055) ** 2.4)


def _worst_contrast(background: NDArray[np.floating], scheme: Scheme, opacity: float) -> float:
    fg, bg = _colours(scheme)
    plate = opacity * (bg / 255.0) + (1.0 - opacity) * background
    lp = relative_luminance(plate)
    lt = float(relative_luminance(np.array(fg / 255.0)))
    ratio = (np.maximum(lp, lt) + 0.05) / (np.minimum(lp, lt) + 0.05)
    return float(np.percentile(ratio, 5))


def choose_scheme(background: NDArray[np.floating], style: LabelStyle) -> tuple[Scheme, float, float]:
    """(scheme, opacity, worst contrast) for a background of sRGB greys in 0..1 under the label box."""
    if style.backdrop is Backdrop.OUTLINE:
        background = np.array([0.0, 1.0])  # an outline sits on unknown pixels: assume the worst on both sides
    schemes = [style.scheme] if style.scheme is not Scheme.AUTO else [Scheme.DARK, Scheme.LIGHT]
    best = max(schemes, key=lambda s: _worst_contrast(background, s, style.opacity))
    opacity = style.opacity
    while _worst_contrast(background, best, opacity) < TARGET_CONTRAST and opacity < 0.95:
        opacity = min(0.95, opacity + 0.05)
    return best, opacity, _worst_contrast(background, best, opacity)


def plan_label(
    canvas_size: tuple[int, int],
    text: str,
    *,
    position: Position | str = Position.BOTTOM_RIGHT,
    margin: int | None = None,
    min_height_ratio: float = MIN_HEIGHT_RATIO,
    style: LabelStyle = LabelStyle(),
    background: Image.Image | NDArray[np.generic] | None = None,
) -> LabelPlan:
    """Size, place and colour a label for a canvas; `background` (the visible frame) drives the AUTO scheme."""
    label = render_label(text, required_glyph_height(canvas_size, min_height_ratio), style)
    gap = default_margin(canvas_size) if margin is None else margin
    if gap < 0:
        raise LabelInvalid(f"label margin must not be negative, not {gap}")
    pos = Position(position)
    xy = place(canvas_size, label.size, pos, gap)
    contrast: float | None = None
    if background is not None:
        x, y = xy
        w, h = label.size
        if isinstance(background, Image.Image):
            greys = greys_of(background.crop((x, y, x + w, y + h)))
        else:
            greys = greys_of(np.asarray(background)[y : y + h, x : x + w])
        scheme, opacity, contrast = choose_scheme(greys.ravel(), style)
        if scheme is not label.scheme or opacity != label.opacity:
            label = render_label(text, label.target_glyph_height_px, replace(style, scheme=scheme), opacity=opacity)
    return LabelPlan(label, canvas_size, pos, xy, contrast)


def greys_of(image: Image.Image | NDArray[np.generic]) -> NDArray[np.float32]:
    """Perceived grey (Rec. 601 luma of the code values) in 0..1 for an image or an RGB/grey array."""
    arr = _as_array(image) if isinstance(image, Image.Image) else np.asarray(image)
    values = arr.astype(np.float32) / _full_scale(arr)
    if values.ndim == 3:
        rgb = values.shape[2] >= 3
        values = values[..., 0] * 0.299 + values[..., 1] * 0.587 + values[..., 2] * 0.114 if rgb else values[..., 0]
    result: NDArray[np.float32] = np.clip(values, 0.0, 1.0).astype(np.float32)
    return result


def _full_scale(arr: NDArray[np.generic], peak: float | None = None) -> float:
    """The code value of white: from the dtype, or for 32-bit int/float data from the peak value."""
    if arr.dtype == np.bool_:
        return 1.0
    if arr.dtype.kind == "u":
        return float(np.iinfo(arr.dtype.type).max)  # type: ignore[type-var]
    top = peak if peak is not None else (float(arr.max()) if arr.size else 1.0)
    if arr.dtype.kind == "f" and top <= 1.0:
        return 1.0
    return 255.0 if top <= 255 else 65535.0 if top <= 65535 else top


def _as_array(image: Image.Image) -> NDArray[np.generic]:
    if image.mode in ("RGB", "L", "I", "F") or image.mode.startswith("I;16"):
        return np.asarray(image)
    if image.mode in ("RGBA", "LA"):
        return np.asarray(image)[..., :-1]
    return np.asarray(image.convert("RGB"))


@overload
def overlay(frame: Image.Image, plan: LabelPlan) -> Image.Image: ...
@overload
def overlay(frame: NDArray[np.uint8], plan: LabelPlan) -> NDArray[np.uint8]: ...
def overlay(frame: Image.Image | NDArray[np.uint8], plan: LabelPlan) -> Image.Image | NDArray[np.uint8]:
    """Composite the planned label onto a frame (a PIL image of any mode, or an HxW[xC] uint8 array), as a copy."""
    if isinstance(frame, Image.Image):
        if frame.size != plan.canvas_size:
            raise LabelInvalid(f"frame is {frame.size}, the plan was made for {plan.canvas_size}")
        return composite_image(frame, plan.label.image, plan.xy)
    arr = np.asarray(frame)
    if (arr.shape[1], arr.shape[0]) != plan.canvas_size:
        raise LabelInvalid(f"frame is {arr.shape[1]}x{arr.shape[0]}, the plan was made for {plan.canvas_size}")
    return composite_array(arr, plan.label.image, plan.xy)


def _planes(label: Image.Image) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """The label's grey (0..1) and alpha (0..1) planes; the renderer only produces greys."""
    arr = np.asarray(label, dtype=np.float32) / 255.0
    return arr[..., 0], arr[..., 3]


def _clip_box(size: tuple[int, int], label: Image.Image, xy: tuple[int, int]) -> tuple[int, int, int, int]:
    x, y = xy
    w, h = label.size
    if x < 0 or y < 0 or x + w > size[0] or y + h > size[1]:
        raise CapacityTooLow(f"label box {(x, y, x + w, y + h)} lies outside the {size[0]}x{size[1]} frame")
    return x, y, x + w, y + h


def _blend(
    region: NDArray[np.generic], grey: NDArray[np.float32], alpha: NDArray[np.float32], peak: float | None = None
) -> NDArray[np.generic]:
    """Composite greys over a region of code values: last channel is alpha when there are 2 or 4 channels."""
    scale = _full_scale(region, peak)
    bg = region.astype(np.float64)
    g = grey.astype(np.float64) * scale
    a = alpha.astype(np.float64)
    if bg.ndim == 2:
        out = g * a + bg * (1.0 - a)
    elif bg.shape[2] in (2, 4):
        colour, bg_a = bg[..., :-1], bg[..., -1] / scale
        out_a = a + bg_a * (1.0 - a)
        mixed = (g * a)[..., None] + colour * (bg_a * (1.0 - a))[..., None]
        colour_out = np.where(out_a[..., None] > 0, mixed / np.maximum(out_a, 1e-9)[..., None], colour)
        out = np.concatenate([colour_out, (out_a * scale)[..., None]], axis=2)
    else:
        out = g[..., None] * a[..., None] + bg * (1.0 - a[..., None])
    if region.dtype.kind == "f":
        return out.astype(region.dtype)
    info = np.iinfo(region.dtype.type)  # type: ignore[type-var]
    return np.clip(np.rint(out), info.min, info.max).astype(region.dtype)


def composite_array(arr: NDArray[np.uint8], label: Image.Image, xy: tuple[int, int]) -> NDArray[np.uint8]:
    """Composite an RGBA label onto an HxW, HxWx3 (RGB) or HxWx4 (RGBA) array; returns a new array."""
    x0, y0, x1, y1 = _clip_box((arr.shape[1], arr.shape[0]), label, xy)
    out = np.array(arr, copy=True)
    grey, alpha = _planes(label)
    out[y0:y1, x0:x1] = _blend(out[y0:y1, x0:x1], grey, alpha)
    return out


def composite_image(image: Image.Image, label: Image.Image, xy: tuple[int, int]) -> Image.Image:
    """Composite an RGBA label onto a PIL image of any mode; pixels outside the label box stay identical."""
    box = _clip_box(image.size, label, xy)
    mode = image.mode
    if mode == "P":
        return _composite_palette(image, label, box)
    out = image.copy()
    region = image.crop(box)
    grey, alpha = _planes(label)
    if mode in ("RGB", "RGBA", "L", "LA", "I", "F") or mode.startswith("I;16"):
        arr = np.asarray(region)
        # 32-bit int and float images have no fixed white: judge it from the whole image, not the box.
        peak = float(image.getextrema()[1]) if mode in ("I", "F") else None  # type: ignore[arg-type]
        blended = _blend(arr, grey, alpha, peak)
        done = Image.frombytes(mode, region.size, np.ascontiguousarray(blended).tobytes())
    elif mode == "1":
        grey_region = np.asarray(region.convert("L"))
        blended = _blend(grey_region, grey, alpha)
        done = Image.fromarray(np.asarray(blended), "L").point(lambda v: 255 if v >= 128 else 0).convert("1")
    elif mode == "CMYK":
        arr = np.asarray(region).astype(np.float64)
        ink = np.zeros(arr.shape, dtype=np.float64)
        ink[..., 3] = (1.0 - grey) * 255.0  # the label's greys as K-only ink
        mixed = ink * alpha[..., None] + arr * (1.0 - alpha[..., None])
        done = Image.fromarray(np.clip(np.rint(mixed), 0, 255).astype(np.uint8), "CMYK")
    else:  # YCbCr, LAB, HSV, PA …: through RGB(A) inside the box only
        has_alpha = "A" in mode
        work = region.convert("RGBA" if has_alpha else "RGB")
        blended = _blend(np.asarray(work), grey, alpha)
        done = Image.fromarray(np.asarray(blended), work.mode).convert(mode)
    out.paste(done, box[:2])
    return out


def _palette_alpha(image: Image.Image, entries: int) -> NDArray[np.float64]:
    alpha = np.full(entries, 255.0)
    trans = image.info.get("transparency")
    if isinstance(trans, int) and 0 <= trans < entries:
        alpha[trans] = 0.0
    elif isinstance(trans, bytes):
        alpha[: min(entries, len(trans))] = np.frombuffer(trans, dtype=np.uint8)[:entries]
    return alpha


def _nearest(
    colours: NDArray[np.float64], palette: NDArray[np.float64], usable: NDArray[np.bool_]
) -> NDArray[np.int64]:
    """Index of the nearest usable palette entry for each colour."""
    candidates = np.flatnonzero(usable)
    quantised = np.clip(np.rint(colours), 0, 255).astype(np.int64)
    keys = (quantised[:, 0] << 16) | (quantised[:, 1] << 8) | quantised[:, 2]
    unique, inverse = np.unique(keys, return_inverse=True)
    rgb = np.stack([(unique >> 16) & 255, (unique >> 8) & 255, unique & 255], axis=1).astype(np.float64)
    best = np.empty(len(unique), dtype=np.int64)
    for start in range(0, len(unique), 4096):
        chunk = rgb[start : start + 4096]
        dist = ((chunk[:, None, :] - palette[candidates][None, :, :]) ** 2).sum(axis=2)
        best[start : start + 4096] = candidates[dist.argmin(axis=1)]
    picked: NDArray[np.int64] = best[inverse.ravel()]
    return picked


def _ensure_extremes(
    image: Image.Image, palette: NDArray[np.float64], usable: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """Make sure the palette holds a near-black and a near-white; may reuse the least-used entries."""
    luma = palette @ np.array([0.299, 0.587, 0.114])
    wanted = [c for c, ok in ((0.0, luma[usable].min() <= 40), (255.0, luma[usable].max() >= 215)) if not ok]
    if not wanted:
        return palette
    counts = np.bincount(np.asarray(image).ravel(), minlength=len(palette))[: len(palette)]
    for value in wanted:
        if len(palette) < 256:
            palette = np.vstack([palette, [value, value, value]])
            usable = np.append(usable, True)
            continue
        victim = int(np.argmin(np.where(usable, counts, np.iinfo(np.int64).max)))
        usable_others = usable.copy()
        usable_others[victim] = False
        if counts[victim]:  # move its pixels to the nearest remaining colour before reusing the entry
            idx = np.asarray(image)
            target = _nearest(palette[[victim]], palette, usable_others)[0]
            image.frombytes(np.where(idx == victim, target, idx).astype(np.uint8).tobytes())
        palette[victim] = value
        counts[victim] = 1 << 40  # never pick it again
    return palette


def _composite_palette(image: Image.Image, label: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    out = image.copy()
    raw = out.getpalette("RGB") or list(range(256)) * 3
    palette = np.array(raw, dtype=np.float64).reshape(-1, 3)
    alpha_of = _palette_alpha(out, len(palette))
    palette = _ensure_extremes(out, palette, alpha_of >= 128)
    alpha_of = np.append(alpha_of, np.full(len(palette) - len(alpha_of), 255.0))
    usable = alpha_of >= 128
    x0, y0, x1, y1 = box
    idx = np.array(out)[y0:y1, x0:x1]
    grey, alpha = _planes(label)
    bg = palette[idx]
    bg_a = alpha_of[idx] / 255.0
    out_a = alpha + bg_a * (1.0 - alpha)
    mixed = (grey * 255.0 * alpha)[..., None] + bg * (bg_a * (1.0 - alpha))[..., None]
    colour = mixed / np.maximum(out_a, 1e-9)[..., None]
    change = (alpha > 0) & (out_a >= 0.5)
    new_idx = idx.copy()
    new_idx[change] = _nearest(colour[change], palette, usable).astype(np.uint8)
    full = np.array(out)
    full[y0:y1, x0:x1] = new_idx
    result = Image.frombytes("P", out.size, full.tobytes())
    result.putpalette(palette.astype(np.uint8).ravel().tolist(), "RGB")
    result.info = dict(out.info)
    return result
