"""Visible image labels through the public API: modes, frames, orientation, metadata, OCR and detection."""

from __future__ import annotations

import io
import math
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageCms, ImageOps, ImageSequence

from synthguard.errors import CapacityTooLow, LabelInvalid, UnsupportedFormat
from synthguard.explicit import Position, apply_image_label, detect_image_label, detect_label
from synthguard.explicit.image import ImageLabelResult, estimate_jpeg_quality
from synthguard.labeling import ExistingPolicy
from synthguard.media import Media
from synthguard.verify import Verdict, verify_media
from tests.conftest import PRODUCER, PRODUCER_2, shared_path

XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
    b"<dc:title>keep-this-title</dc:title></rdf:Description></rdf:RDF></x:xmpmeta>"
)


def scene(width: int = 800, height: int = 600, seed: int = 0) -> Image.Image:
    """A smooth, photo-like RGB test image with some texture (no shared data needed)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    base = np.dstack([0.5 + 0.4 * np.sin(6 * x + 1), 0.5 + 0.4 * np.cos(5 * y), 0.5 + 0.3 * np.sin(4 * (x + y))])
    noise = rng.normal(0, 0.04, (height, width, 3))
    return Image.fromarray(np.clip((base + noise) * 255, 0, 255).astype(np.uint8))


def encode(frames: Image.Image | list[Image.Image], fmt: str, **params: object) -> bytes:
    frames = frames if isinstance(frames, list) else [frames]
    buf = io.BytesIO()
    if len(frames) > 1:
        frames[0].save(buf, fmt, save_all=True, append_images=frames[1:], **params)
    else:
        frames[0].save(buf, fmt, **params)
    return buf.getvalue()


def visual(data: bytes) -> Image.Image:
    return ImageOps.exif_transpose(Image.open(io.BytesIO(data)))


def greys(image: Image.Image) -> np.ndarray:
    """0..255 greys of any mode (Pillow's convert("L") clips 16- and 32-bit values)."""
    if image.mode.startswith("I") or image.mode == "F":
        arr = np.asarray(image).astype(float)
        return arr * 255.0 / (65535.0 if arr.max() > 255 else 255.0)
    return np.asarray(image.convert("L")).astype(float)


def ideograph_heights(region: np.ndarray) -> list[int]:
    """Ink heights of the column runs of text in a label box (text: the rarer side of the grey midpoint)."""
    lo, hi = float(np.percentile(region, 2)), float(np.percentile(region, 98))
    cut = (lo + hi) / 2
    bright = (region > cut).mean() < 0.5
    ink = region > cut if bright else region <= cut
    cols = ink.any(axis=0)
    heights, start = [], None
    for x, on in enumerate([*cols.tolist(), False]):
        if on and start is None:
            start = x
        elif not on and start is not None:
            rows = np.flatnonzero(ink[:, start:x].any(axis=1))
            heights.append(int(rows[-1] - rows[0] + 1))
            start = None
    return heights


def assert_compliant(result: ImageLabelResult) -> None:
    """Metadata label compliant; glyphs measured independently on the output reach 5 % of the shortest side."""
    report = verify_media(Media.from_bytes(result.data))
    assert report.verdict is Verdict.COMPLIANT, report.reasons
    assert len(report.labels) == 1
    shown = visual(result.data)
    short = min(shown.size)
    region = greys(shown.crop(result.box))
    heights = ideograph_heights(region)
    # "AI生成": the last two runs are 生 and 成.
    assert len(heights) >= 4
    assert min(heights[-2:]) >= math.ceil(0.05 * short), (heights, short)
    assert result.measured_height_pct >= 5.0


MODES = [
    ("png", "RGB"),
    ("png", "RGBA"),
    ("png", "L"),
    ("png", "LA"),
    ("png", "P"),
    ("png", "1"),
    ("png", "I;16"),
    ("tiff", "I"),
    ("tiff", "CMYK"),
    ("jpeg", "CMYK"),
    ("jpeg", "L"),
    ("webp", "RGBA"),
    ("gif", "P"),
]


def in_mode(mode: str) -> Image.Image:
    image = scene(640, 480)
    if mode == "I;16":
        grey = np.asarray(image.convert("L")).astype(np.uint16) * 257
        return Image.fromarray(grey)
    if mode == "I":
        return Image.fromarray(np.asarray(image.convert("L")).astype(np.int32) * 200)
    return image.convert(mode)


@pytest.mark.parametrize(("fmt", "mode"), MODES)
def test_every_mode_keeps_its_mode_and_gets_a_compliant_label(fmt: str, mode: str) -> None:
    source = in_mode(mode)
    data = encode(source, fmt.upper())
    result = apply_image_label(data, producer=PRODUCER)
    out = Image.open(io.BytesIO(result.data))
    assert out.format == fmt.upper()
    assert out.mode == Image.open(io.BytesIO(data)).mode
    assert out.size == source.size
    assert_compliant(result)
    if fmt in ("png", "tiff") and mode != "P":  # lossless: nothing outside the label box changed
        x0, y0, x1, y1 = result.box
        before, after = np.asarray(Image.open(io.BytesIO(data))), np.asarray(out)
        outside = np.ones(before.shape[:2], dtype=bool)
        outside[y0:y1, x0:x1] = False
        assert np.array_equal(before[outside], after[outside])


def test_sixteen_bit_png_stays_sixteen_bit() -> None:
    data = encode(in_mode("I;16"), "PNG")
    out = apply_image_label(data, producer=PRODUCER).data
    assert out[24] == 16  # IHDR bit depth
    assert np.asarray(Image.open(io.BytesIO(out))).max() > 255


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_every_frame_of_an_animation_is_labeled_and_timing_kept(fmt: str) -> None:
    frames = [scene(480, 360, seed=i).rotate(8 * i) for i in range(4)]
    durations = [80, 120, 160, 200]
    params: dict[str, object] = {"duration": durations, "loop": 3}
    if fmt == "WEBP":
        params["lossless"] = True
    data = encode(frames, fmt, **params)
    result = apply_image_label(data, producer=PRODUCER)
    assert result.frames == 4
    out = Image.open(io.BytesIO(result.data))
    assert out.n_frames == 4
    assert out.info.get("loop") == 3
    seen = []
    for frame in ImageSequence.Iterator(out):
        frame.load()
        seen.append(frame.info.get("duration"))
        region = np.asarray(frame.convert("L").crop(result.box)).astype(float)
        assert min(ideograph_heights(region)[-2:]) >= math.ceil(0.05 * 360)
    assert [round(float(d)) for d in seen] == durations
    assert verify_media(Media.from_bytes(result.data)).verdict is Verdict.COMPLIANT


@pytest.mark.parametrize("orientation", [6, 8, 3])
def test_exif_orientation_puts_the_label_in_the_visual_corner(orientation: int) -> None:
    stored = Image.new("RGB", (800, 600), (200, 200, 200))
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(stored, "JPEG", exif=exif.tobytes(), quality=92)
    result = apply_image_label(data, producer=PRODUCER, position=Position.BOTTOM_RIGHT)
    out = Image.open(io.BytesIO(result.data))
    assert out.size == (800, 600)  # pixels stay in stored orientation …
    assert out.getexif()[0x0112] == orientation  # … and the tag still tells viewers how to turn them
    shown = np.asarray(visual(result.data).convert("L")).astype(int)
    h, w = shown.shape
    x0, y0, x1, y1 = result.box
    assert x1 > w - 0.1 * w and y1 > h - 0.1 * h  # bottom-right as displayed
    assert shown[y0:y1, x0:x1].min() < 60  # the (dark) plate is there …
    assert shown[: h // 2, : w // 2].min() > 150  # … and nothing in the top-left quarter
    assert_compliant(result)
    found = detect_label(result.data)
    assert found.found and found.position is Position.BOTTOM_RIGHT


def test_icc_exif_xmp_and_jpeg_tables_are_kept() -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "KeepCam"
    data = encode(scene(), "JPEG", quality=83, icc_profile=icc, exif=exif.tobytes(), xmp=XMP)
    result = apply_image_label(data, producer=PRODUCER)
    out = Image.open(io.BytesIO(result.data))
    assert out.info["icc_profile"] == icc
    assert out.getexif()[0x010F] == "KeepCam"
    assert b"keep-this-title" in out.info["xmp"]
    assert b"AIGC" in out.info["xmp"]
    assert out.quantization == Image.open(io.BytesIO(data)).quantization
    assert result.jpeg_quality == 83
    assert_compliant(result)


def exif_with_thumbnail(thumbnail: bytes) -> bytes:
    """EXIF (little-endian TIFF) with IFD0 {Make} and IFD1 pointing at a JPEG thumbnail after it."""
    make = b"ThumbCam\0"
    ifd0_at, ifd1_at = 8, 8 + 2 + 12 + 4
    make_at = ifd1_at + 2 + 2 * 12 + 4
    thumb_at = make_at + len(make)
    ifd0 = struct.pack("<H", 1) + struct.pack("<HHII", 0x010F, 2, len(make), make_at) + struct.pack("<I", ifd1_at)
    ifd1 = (
        struct.pack("<H", 2)
        + struct.pack("<HHII", 0x0201, 4, 1, thumb_at)
        + struct.pack("<HHII", 0x0202, 4, 1, len(thumbnail))
        + struct.pack("<I", 0)
    )
    return b"Exif\0\0" + b"II*\0" + struct.pack("<I", ifd0_at) + ifd0 + ifd1 + make + thumbnail


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_the_unlabeled_exif_thumbnail_is_dropped(fmt: str) -> None:
    thumbnail = encode(scene(160, 120, seed=5), "JPEG", quality=70)
    raw = exif_with_thumbnail(thumbnail)
    assert Image.open(io.BytesIO(encode(scene(), fmt, exif=raw))).getexif().get_ifd(ExifTags.IFD.IFD1)
    result = apply_image_label(encode(scene(), fmt, exif=raw), producer=PRODUCER)
    out = Image.open(io.BytesIO(result.data))
    assert out.getexif()[0x010F] == "ThumbCam"  # the rest of EXIF is kept
    assert not out.getexif().get_ifd(ExifTags.IFD.IFD1)
    assert thumbnail[2:200] not in result.data


@pytest.mark.parametrize("quality", [50, 75, 90, 95])
def test_jpeg_quality_is_estimated_from_the_tables(quality: int) -> None:
    tables = Image.open(io.BytesIO(encode(scene(64, 64), "JPEG", quality=quality))).quantization
    assert estimate_jpeg_quality(tables) == quality


@pytest.mark.parametrize("quality", [40, 75, 90])
def test_lossy_webp_is_reencoded_at_a_matching_size(quality: int) -> None:
    data = encode(scene(), "WEBP", quality=quality)
    result = apply_image_label(data, producer=PRODUCER)
    assert len(data) <= len(result.data) <= 1.3 * len(data)
    assert "matched" in result.notes[0]


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF"])
def test_icc_is_kept_in_other_formats(fmt: str) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(scene(), fmt, icc_profile=icc)
    out = Image.open(io.BytesIO(apply_image_label(data, producer=PRODUCER).data))
    assert out.info["icc_profile"] == icc


def test_png_text_and_xmp_are_kept() -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "keep me")
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    data = encode(scene(), "PNG", pnginfo=info)
    out = Image.open(io.BytesIO(apply_image_label(data, producer=PRODUCER).data))
    assert out.info["Comment"] == "keep me"
    assert "keep-this-title" in out.info["XML:com.adobe.xmp"]
    assert "AIGC" in out.info["XML:com.adobe.xmp"]


def test_small_images_are_refused_clearly_and_just_big_enough_ones_labeled() -> None:
    with pytest.raises(CapacityTooLow, match="does not fit"):
        apply_image_label(encode(scene(48, 40), "PNG"), producer=PRODUCER)
    result = apply_image_label(encode(scene(100, 100), "PNG"), producer=PRODUCER)
    assert result.measured_glyph_height_px >= 12  # the legibility floor, above 5 % of 100 px
    assert result.measured_height_pct >= 12.0


def test_wording_position_and_margin_are_configurable() -> None:
    result = apply_image_label(
        encode(scene(), "PNG"), producer=PRODUCER, wording="人工智能生成", position="top-left", margin=40
    )
    assert result.box[:2] == (40, 40)
    assert result.wording == "人工智能生成"
    assert result.to_dict()["position"] == "top-left"


def test_noncompliant_wording_and_unsupported_formats_are_refused() -> None:
    with pytest.raises(LabelInvalid, match="generation element"):
        apply_image_label(encode(scene(), "PNG"), producer=PRODUCER, wording="AI")
    with pytest.raises(UnsupportedFormat):
        apply_image_label(encode(scene(), "BMP"), producer=PRODUCER)


def test_another_producers_label_is_refused_unless_replacing() -> None:
    first = apply_image_label(encode(scene(), "PNG"), producer=PRODUCER_2).data
    with pytest.raises(LabelInvalid, match="already labeled"):
        apply_image_label(first, producer=PRODUCER)
    again = apply_image_label(first, producer=PRODUCER, existing=ExistingPolicy.REPLACE)
    report = verify_media(Media.from_bytes(again.data))
    assert len(report.labels) == 1
    assert report.labels[0].found.label is not None
    assert report.labels[0].found.label.content_producer == PRODUCER


def ocr(region: Image.Image, lang: str = "chi_sim+eng") -> str:
    if shutil.which("tesseract") is None:
        pytest.skip("tesseract is not installed (apt-get install tesseract-ocr tesseract-ocr-chi-sim)")
    grey = ImageOps.autocontrast(region.convert("L"))
    if np.asarray(grey).mean() < 128:  # Tesseract reads dark text on light best
        grey = ImageOps.invert(grey)
    grey = ImageOps.expand(grey, border=20, fill=255)
    buf = io.BytesIO()
    grey.save(buf, "PNG")
    run = subprocess.run(
        ["tesseract", "stdin", "-", "-l", lang, "--psm", "6"], input=buf.getvalue(), capture_output=True, check=True
    )
    return "".join(run.stdout.decode("utf-8").split())


def photo() -> Image.Image:
    return Image.open(shared_path("images", "skimage_astronaut.png")).convert("RGB").resize((800, 600))


@pytest.mark.parametrize(
    ("wording", "position", "lang"),
    [
        ("AI生成", "bottom-right", "chi_sim+eng"),
        ("人工智能生成", "top-left", "chi_sim"),
        ("AI-generated", "bottom", "eng"),
    ],
)
def test_tesseract_reads_the_label(wording: str, position: str, lang: str) -> None:
    result = apply_image_label(
        encode(photo(), "JPEG", quality=85), producer=PRODUCER, wording=wording, position=position
    )
    text = ocr(visual(result.data).crop(result.box), lang)
    # In a sans-serif face capital I and lower-case l are the same stroke; Tesseract often says "Al".
    assert wording in text.replace("Al", "AI"), text


@pytest.mark.parametrize("position", list(Position))
def test_detection_finds_our_label_at_every_position(position: Position) -> None:
    result = apply_image_label(encode(scene(640, 480), "JPEG", quality=80), producer=PRODUCER, position=position)
    found = detect_image_label(result.data)
    assert found["found"] is True
    assert found["position"] == position.value
    assert found["wording"] == "AI生成"
    assert found["box"] == list(result.box)
    assert found["height_pct"] >= 5.0
    assert found["meets_min_height"] is True


def test_detection_reports_nothing_on_an_unlabeled_synthetic_image() -> None:
    found = detect_image_label(encode(scene(), "PNG"))
    assert found["found"] is False


CLEAN = [
    "datasette_screenshot_0.51.png",
    "debian_plasma_desktop_screenshot_1920x1080.jpg",
    "fastapi-template_screenshot_dashboard.png",
    "fastapi-template_screenshot_login.png",
    "kde_ColorfulCups_2560x1600.jpg",
    "kde_FallenLeaf_2560x1600.jpg",
    "kde_Flow_720x1440.jpg",
    "kde_Shell_preview_400x225.png",
    "skimage_astronaut.png",
    "skimage_coins.png",
    "skimage_text.png",
    "skimage_hubble_deep_field.jpg",
]


@pytest.mark.shared
@pytest.mark.parametrize("name", CLEAN)
def test_detection_does_not_fire_on_clean_real_images(name: str) -> None:
    data = Path(shared_path("images", name)).read_bytes()
    assert detect_image_label(data)["found"] is False


@pytest.mark.shared
def test_detection_on_a_labeled_real_photo_survives_jpeg_recompression() -> None:
    result = apply_image_label(encode(photo(), "PNG"), producer=PRODUCER, wording="人工智能生成", position="top")
    recompressed = encode(Image.open(io.BytesIO(result.data)), "JPEG", quality=60)
    found = detect_label(recompressed)
    assert found.found
    assert found.position is Position.TOP
    assert found.height_pct >= 5.0
