"""The image watermark through its public API: quality, robustness to a few attacks, keying, bad input."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from PIL import Image, ImageOps
from scipy import ndimage

from synthguard.errors import CapacityTooLow, CorruptInput, InputTooLarge, KeyError_
from synthguard.watermark import Payload
from synthguard.watermark import image_filters as filters
from synthguard.watermark.image import Detection, detect_image, embed_image, image_luma, open_image
from synthguard.watermark.image_sync import IDENTITY, Lattice, fold_lattice
from tests.conftest import shared_path

KEY = b"test-key-0123456789abcdef-000000"
PAYLOAD = Payload(producer=513, serial=0x0ABC_DEF0_1234)


def synthetic(width: int = 512, height: int = 384, seed: int = 0) -> Image.Image:
    """A generated photo-like RGB image: smooth colour fields plus texture at several scales."""
    rng = np.random.default_rng(seed)
    layers = [ndimage.gaussian_filter(rng.normal(size=(height, width)), s) * s for s in (1, 3, 9, 27)]
    base = sum(layers)
    base = (base - base.min()) / (np.ptp(base) + 1e-9)
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack([base, 0.6 * base + 0.4 * xx / width, 0.5 * base + 0.5 * yy / height], axis=2)
    return Image.fromarray((20 + 215 * rgb).astype(np.uint8), "RGB")


def psnr(a: Image.Image, b: Image.Image) -> float:
    x = np.asarray(a.convert("RGB"), dtype=np.float64)
    y = np.asarray(b.convert("RGB"), dtype=np.float64)
    return float(10 * np.log10(255**2 / np.mean((x - y) ** 2)))


def ssim(a: Image.Image, b: Image.Image) -> float:
    x, y = image_luma(a).astype(np.float64), image_luma(b).astype(np.float64)

    def g(v: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(v, 1.5, truncate=3.5)

    mx, my = g(x), g(y)
    vx, vy, cxy = g(x * x) - mx * mx, g(y * y) - my * my, g(x * y) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    return float(np.mean(((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))))


def jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue()))


ATTACKS = {
    "none": lambda im: im,
    "jpeg50": lambda im: jpeg(im, 50),
    "resize0.5": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.BICUBIC),
    "crop50": lambda im: im.crop((0, 0, int(im.width * 0.707), int(im.height * 0.707))),
    "rotate5": lambda im: im.rotate(5, Image.Resampling.BICUBIC),
    "flip": ImageOps.mirror,
}


@pytest.fixture(scope="module")
def images() -> dict[str, Image.Image]:
    """A generated image and two real photographs (when the shared data is present)."""
    out = {"synthetic": synthetic()}
    for name in ("skimage_astronaut.png", "skimage_coffee.png"):
        with contextlib.suppress(pytest.skip.Exception):
            out[name] = Image.open(shared_path("images", name)).convert("RGB")
    return out


@pytest.fixture(scope="module")
def marked(images: dict[str, Image.Image]) -> dict[str, Image.Image]:
    """Each test image watermarked at default strength."""
    return {name: embed_image(img, PAYLOAD, KEY) for name, img in images.items()}


def test_quality_at_default_strength(images: dict[str, Image.Image], marked: dict[str, Image.Image]) -> None:
    for name, img in images.items():
        assert marked[name].size == img.size and marked[name].mode == img.mode
        assert psnr(img, marked[name]) >= 40.0, name
        assert ssim(img, marked[name]) >= 0.98, name


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_payload_survives(attack: str, marked: dict[str, Image.Image]) -> None:
    for name, img in marked.items():
        found = detect_image(ATTACKS[attack](img), KEY)
        assert found.present, (name, attack, found)
        assert found.payload == PAYLOAD, (name, attack, found)
        assert found.p_value < 1e-6


def test_flip_and_geometry_are_reported(marked: dict[str, Image.Image]) -> None:
    img = marked["synthetic"]
    assert detect_image(ImageOps.mirror(img), KEY).flipped
    scaled = detect_image(img.resize((img.width * 3 // 2, img.height * 3 // 2)), KEY)
    assert scaled.scale == pytest.approx(1.5, abs=0.02)


def test_odd_sizes_and_resize_to_odd_scale() -> None:
    img = synthetic(511, 383, seed=4)
    marked = embed_image(img, PAYLOAD, KEY)
    found = detect_image(marked.resize((383, 287), Image.Resampling.BICUBIC), KEY)
    assert found.payload == PAYLOAD
    assert found.scale == pytest.approx(0.75, abs=0.01)


def test_fast_paths_match_the_general_ones() -> None:
    rng = np.random.default_rng(3)
    for shape in ((300, 517), (129, 255), (5, 40)):
        x = rng.normal(size=shape).astype(np.float32) * 40 + 128
        assert np.allclose(filters.box(x, 5), ndimage.uniform_filter(x, 5), atol=1e-3)
        assert np.allclose(filters.gaussian(x, 3.0), ndimage.gaussian_filter(x, 3.0, truncate=3.0), atol=1e-3)
        near_identity = Lattice((128.0, 0.0), (0.0, 128.0 + 1e-12))
        assert np.allclose(fold_lattice(x, IDENTITY), fold_lattice(x, near_identity))


def test_wrong_key_and_unmarked_are_absent(images: dict[str, Image.Image], marked: dict[str, Image.Image]) -> None:
    other = b"another-key-0123456789abcdef-000"
    for name, original in images.items():
        for found in (detect_image(marked[name], other), detect_image(original, KEY)):
            assert isinstance(found, Detection)
            assert not found.present and found.payload is None
            assert found.p_value > 1e-4


def test_p_value_is_roughly_uniform_on_unmarked_images() -> None:
    img = synthetic(320, 256, seed=5)
    ps = [detect_image(img, bytes([i]) * 16).p_value for i in range(24)]
    assert 0.2 < float(np.mean(ps)) < 0.8
    assert min(ps) > 1e-4


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "I;16", "CMYK", "YCbCr"])
def test_modes(mode: str) -> None:
    base = synthetic(384, 320, seed=3)
    if mode == "LA":
        img = base.convert("L").convert("LA")
        img.putalpha(Image.linear_gradient("L").resize(base.size))
    elif mode == "RGBA":
        img = base.convert("RGBA")
        img.putalpha(Image.linear_gradient("L").resize(base.size))
    elif mode == "I;16":
        img = Image.fromarray(np.asarray(base.convert("L"), dtype=np.uint16) * 257)
    else:
        img = base.convert(mode)
    out = embed_image(img, PAYLOAD, KEY)
    assert out.size == img.size
    expected = {"P": "RGB"}.get(mode, mode)
    assert out.mode == expected
    if "A" in mode:
        assert np.array_equal(np.asarray(out.getchannel("A")), np.asarray(img.getchannel("A")))
    assert detect_image(out, KEY).payload == PAYLOAD


def test_bad_input() -> None:
    with pytest.raises(CapacityTooLow):
        embed_image(synthetic(100, 300), PAYLOAD, KEY)
    with pytest.raises(CapacityTooLow):
        embed_image(Image.new("RGB", (512, 512), "white"), PAYLOAD, KEY)
    with pytest.raises(CapacityTooLow):
        embed_image(Image.new("1", (512, 512)), PAYLOAD, KEY)
    with pytest.raises(InputTooLarge):
        embed_image(synthetic(256, 256), PAYLOAD, KEY, max_pixels=10_000)
    with pytest.raises(KeyError_):
        embed_image(synthetic(256, 256), PAYLOAD, b"short")
    with pytest.raises(CorruptInput):
        open_image(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    buf = io.BytesIO()
    synthetic(256, 256).save(buf, "PNG")
    with pytest.raises(CorruptInput):
        open_image(buf.getvalue()[:-200])
    with pytest.raises(InputTooLarge):
        open_image(buf.getvalue(), max_pixels=1000)
    tiny = detect_image(Image.new("RGB", (40, 40)), KEY)
    assert not tiny.present
