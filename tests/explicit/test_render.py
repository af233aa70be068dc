"""The shared label renderer: measured glyph height, placement, contrast, compositing in every mode."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from synthguard.errors import CapacityTooLow, LabelInvalid
from synthguard.explicit import Backdrop, LabelStyle, Position, Scheme, overlay, place, plan_label, render_label
from synthguard.explicit.render import (
    MIN_GLYPH_PX,
    choose_scheme,
    font_size_for,
    measure_glyph_height,
    required_glyph_height,
)


def ink_runs(mask: np.ndarray) -> list[tuple[int, int, int]]:
    """(first column, last column, ink height) of each run of columns holding ink, left to right."""
    cols = mask.any(axis=0)
    runs: list[tuple[int, int, int]] = []
    start = None
    for x, on in enumerate([*cols.tolist(), False]):
        if on and start is None:
            start = x
        elif not on and start is not None:
            rows = np.flatnonzero(mask[:, start:x].any(axis=1))
            runs.append((start, x - 1, int(rows[-1] - rows[0] + 1)))
            start = None
    return runs


def text_mask(label: Image.Image) -> np.ndarray:
    """Text pixels of a DARK-scheme label seen over black: brighter than half-way to white."""
    seen = Image.alpha_composite(Image.new("RGBA", label.size, (0, 0, 0, 255)), label)
    return np.asarray(seen.convert("L")) >= 128


@pytest.mark.parametrize("target", [12, 17, 30, 48, 101, 200])
def test_ideograph_ink_reaches_the_target_height(target: int) -> None:
    label = render_label("AI生成", target, LabelStyle(scheme=Scheme.DARK))
    runs = ink_runs(text_mask(label.image))
    assert len(runs) == 4  # A, I, 生, 成
    ideograph_heights = [h for _, _, h in runs[2:]]
    assert min(ideograph_heights) >= target
    assert label.measured_glyph_height_px >= target
    assert min(ideograph_heights) >= label.measured_glyph_height_px - 1  # the reported figure is not flattering


def test_font_size_is_the_smallest_that_reaches_the_target() -> None:
    for target in (12, 25, 64):
        size = font_size_for("人工智能生成", target)
        assert measure_glyph_height("人工智能生成", size) >= target
        assert measure_glyph_height("人工智能生成", size - 1) < target


def test_english_wording_is_measured_on_its_x_height() -> None:
    label = render_label("AI-generated", 30)
    assert label.measured_glyph_height_px >= 30
    # The capitals stand well above the measured x-height: the font is larger than for the CJK wording.
    assert label.font_size > render_label("AI生成", 30).font_size


def test_required_height_is_five_percent_rounded_up_with_a_floor() -> None:
    assert required_glyph_height((800, 600)) == 30
    assert required_glyph_height((601, 2000)) == 31
    assert required_glyph_height((100, 100)) == MIN_GLYPH_PX
    assert required_glyph_height((800, 600), 0.08) == 48
    with pytest.raises(LabelInvalid, match="5 %"):
        required_glyph_height((800, 600), 0.04)


@pytest.mark.parametrize(
    ("position", "xy"),
    [
        (Position.TOP_LEFT, (10, 10)),
        (Position.TOP, (450, 10)),
        (Position.TOP_RIGHT, (890, 10)),
        (Position.LEFT, (10, 230)),
        (Position.RIGHT, (890, 230)),
        (Position.BOTTOM_LEFT, (10, 450)),
        (Position.BOTTOM, (450, 450)),
        (Position.BOTTOM_RIGHT, (890, 450)),
    ],
)
def test_place_puts_the_label_at_an_edge_or_corner(position: Position, xy: tuple[int, int]) -> None:
    assert place((1000, 500), (100, 40), position, 10) == xy
    assert place((1000, 500), (100, 40), position.value, 10) == xy


def test_a_label_that_does_not_fit_is_refused() -> None:
    with pytest.raises(CapacityTooLow, match="does not fit"):
        place((100, 100), (90, 20), Position.BOTTOM_RIGHT, 10)
    with pytest.raises(CapacityTooLow):
        plan_label((60, 40), "人工智能生成")


def test_auto_scheme_follows_the_background() -> None:
    style = LabelStyle()
    assert choose_scheme(np.full(100, 0.95), style)[0] is Scheme.LIGHT
    assert choose_scheme(np.full(100, 0.05), style)[0] is Scheme.DARK
    rng = np.random.default_rng(1)
    for background in (np.full(500, 0.5), rng.random(500), np.r_[np.zeros(250), np.ones(250)]):
        _, opacity, contrast = choose_scheme(background, style)
        assert contrast >= 4.5
        assert style.opacity <= opacity <= 0.95


def test_plan_picks_a_light_plate_on_a_white_image() -> None:
    white = Image.new("RGB", (640, 480), "white")
    plan = plan_label(white.size, "AI生成", background=white)
    assert plan.label.scheme is Scheme.LIGHT
    region = np.asarray(overlay(white, plan).convert("L").crop(plan.box))
    assert region.min() < 30  # black text on the light plate


def test_outline_backdrop_is_legible_on_both_extremes() -> None:
    for colour in ("white", "black"):
        canvas = Image.new("RGB", (640, 480), colour)
        plan = plan_label(canvas.size, "AI生成", style=LabelStyle(backdrop=Backdrop.OUTLINE), background=canvas)
        region = np.asarray(overlay(canvas, plan).convert("L").crop(plan.box)).astype(int)
        assert region.max() - region.min() > 200


def test_array_and_image_overlays_agree() -> None:
    rng = np.random.default_rng(7)
    arr = rng.integers(0, 256, (360, 480, 3), dtype=np.uint8)
    plan = plan_label((480, 360), "人工智能生成", position="top-left", background=arr)
    from_array = overlay(arr, plan)
    from_image = np.asarray(overlay(Image.fromarray(arr), plan))
    assert np.array_equal(from_array, from_image)
    assert not np.array_equal(from_array, arr)
    assert np.array_equal(arr, rng_copy(7))  # the input frame is not modified


def rng_copy(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (360, 480, 3), dtype=np.uint8)


def _frame(mode: str) -> Image.Image:
    rng = np.random.default_rng(3)
    rgb = Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8))
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 65536, (300, 400), dtype=np.uint16))
    if mode == "I":
        return Image.fromarray(rng.integers(0, 65536, (300, 400)).astype(np.int32))
    if mode == "F":
        return Image.fromarray(rng.random((300, 400), dtype=np.float32))
    return rgb.convert(mode)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P", "CMYK", "I;16", "I", "F", "1", "YCbCr"])
def test_overlay_keeps_the_mode_and_every_pixel_outside_the_box(mode: str) -> None:
    frame = _frame(mode)
    plan = plan_label(frame.size, "AI生成", background=frame)
    out = overlay(frame, plan)
    assert out.mode == frame.mode
    assert out.size == frame.size
    before, after = np.asarray(frame), np.asarray(out)
    x0, y0, x1, y1 = plan.box
    outside = np.ones(before.shape[:2], dtype=bool)
    outside[y0:y1, x0:x1] = False
    if mode == "P":
        before = np.asarray(frame.convert("RGB"))
        after = np.asarray(out.convert("RGB"))
    assert np.array_equal(before[outside], after[outside])
    assert not np.array_equal(before[~outside], after[~outside])


def test_sixteen_bit_text_reaches_full_scale_even_over_a_dark_box() -> None:
    frame = Image.fromarray(np.full((300, 400), 200, dtype=np.uint16))  # every value under 256
    plan = plan_label(frame.size, "AI生成", background=frame)
    assert plan.label.scheme is Scheme.DARK
    region = np.asarray(overlay(frame, plan).crop(plan.box))
    assert region.max() == 65535  # text is full white in 16-bit, not 255


def test_32_bit_white_is_judged_from_the_whole_image() -> None:
    arr = np.full((300, 400), 100, dtype=np.int32)
    arr[0, 0] = 60000  # a 16-bit range image stored as mode "I"
    frame = Image.fromarray(arr)
    plan = plan_label(frame.size, "AI生成", background=frame)
    region = np.asarray(overlay(frame, plan).crop(plan.box))
    assert region.max() == 65535


def test_palette_without_black_or_white_gains_them() -> None:
    base = Image.new("RGB", (400, 300), (200, 40, 40)).quantize(colors=4)
    plan = plan_label(base.size, "AI生成", background=base)
    out = overlay(base, plan)
    greys = np.asarray(out.convert("L").crop(plan.box)).astype(int)
    assert greys.max() - greys.min() > 200


def test_bad_style_and_frame_size_are_refused() -> None:
    with pytest.raises(LabelInvalid):
        LabelStyle(opacity=0)
    plan = plan_label((400, 300), "AI生成")
    with pytest.raises(LabelInvalid, match="plan was made"):
        overlay(Image.new("RGB", (300, 300)), plan)
