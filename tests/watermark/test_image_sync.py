"""Lattice synchronisation of the image mark when the image content is itself periodic."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from synthguard.watermark import Payload
from synthguard.watermark.image import detect_image, embed_image

KEY = b"test-key-0123456789abcdef-000000"
PAYLOAD = Payload(producer=513, serial=0x0ABC_DEF0_1234)


def truchet_wallpaper(size: int = 512, cell: int = 29, seed: int = 1) -> Image.Image:
    """A strictly periodic truchet pattern (one 2x2 motif of quarter-circle arcs, repeated) with grain."""
    rng = np.random.default_rng(seed)
    flips = rng.integers(0, 2, size=(2, 2))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    i, j = (yy // cell).astype(int), (xx // cell).astype(int)
    u, v = (yy % cell) / cell, (xx % cell) / cell
    v = np.where(flips[i % 2, j % 2] == 1, 1 - v, v)
    arc = np.minimum(np.abs(np.hypot(u, v) - 0.5), np.abs(np.hypot(1 - u, 1 - v) - 0.5))
    lum = np.where(arc < 0.12, 60.0, 200.0) + rng.normal(0, 6, size=(size, size))
    return Image.fromarray(np.clip(lum, 0, 255).astype(np.uint8), "L").convert("RGB")


@pytest.fixture(scope="module")
def marked_wallpaper() -> Image.Image:
    return embed_image(truchet_wallpaper(), PAYLOAD, KEY)


@pytest.mark.parametrize("degrees", [5.0, -5.0])
def test_rotated_periodic_content_is_detected_with_its_payload(marked_wallpaper: Image.Image, degrees: float) -> None:
    # The wallpaper's own autocorrelation peaks outrank the mark's; the lattice must still be found.
    found = detect_image(marked_wallpaper.rotate(degrees, Image.Resampling.BICUBIC), KEY)
    assert found.present
    assert found.payload == PAYLOAD
    assert found.rotation_deg == pytest.approx(degrees, abs=0.5)


def test_unmarked_periodic_content_is_not_detected() -> None:
    found = detect_image(truchet_wallpaper().rotate(5.0, Image.Resampling.BICUBIC), KEY)
    assert not found.present
    assert found.payload is None
