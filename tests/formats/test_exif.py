"""The bounded TIFF/EXIF reader and EXIF vendor labels; also helpers the image carrier tests share."""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageSequence

from synthguard.errors import CorruptInput
from synthguard.formats import exif
from synthguard.label.model import AigcLabel

CONFIG = Path(__file__).resolve().parents[1] / "fixtures" / "exiftool-tc260.config"
VENDOR_JSON = (
    '{"AIGC":{"Label":"1","ContentProducer":"001191440300708461136T1XGW3","ProduceID":"v-1",'
    '"ReservedCode1":"","ContentPropagator":"","PropagateID":"","ReservedCode2":""}}'
)

RDF = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
DC = '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '


def packet_with(attr: str) -> str:
    """An XMP packet with one Dublin Core attribute (e.g. 'dc:format="image/png"')."""
    return RDF + DC + attr + "/></rdf:RDF></x:xmpmeta>"


def pixels(mode: str, size: tuple[int, int] = (40, 24), seed: int = 1) -> Image.Image:
    """A small deterministic noisy image in any Pillow mode."""
    rng = np.random.default_rng(seed)
    w, h = size
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 65535, (h, w), dtype=np.uint16))
    if mode == "P":
        img = Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), "RGB")
        return img.quantize(16)
    bands = len(mode) if mode != "L" else 1
    arr = rng.integers(0, 255, (h, w, bands), dtype=np.uint8)
    return Image.fromarray(arr[:, :, 0] if bands == 1 else arr, mode)


def encode(img: Image.Image | list[Image.Image], fmt: str, **params: Any) -> bytes:
    """Save one image or an animation to bytes."""
    buf = io.BytesIO()
    if isinstance(img, list):
        img[0].save(buf, fmt, save_all=True, append_images=img[1:], **params)
    else:
        img.save(buf, fmt, **params)
    return buf.getvalue()


def frames(data: bytes) -> list[tuple[str, tuple[int, int], bytes]]:
    """Mode, size and pixel bytes of every frame, decoded by Pillow."""
    with Image.open(io.BytesIO(data)) as img:
        return [(f.mode, f.size, f.tobytes()) for f in ImageSequence.Iterator(img)]


def icc() -> bytes:
    """An sRGB ICC profile."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def exif_blob(comment: str | None = None, description: str | None = None) -> bytes:
    """EXIF bytes with Make/Artist and optionally a UserComment and ImageDescription."""
    ex = Image.Exif()
    ex[0x010F] = "SynthguardCam"
    ex[0x013B] = "tester"
    if description is not None:
        ex[0x010E] = description
    if comment is not None:
        ex.get_ifd(exif.TAG_EXIF_IFD)[exif.TAG_USER_COMMENT] = b"ASCII\0\0\0" + comment.encode()
    return ex.tobytes()


def metadata(data: bytes) -> tuple[bytes | None, dict[int, Any]]:
    """Pillow's ICC profile and IFD0 EXIF tags."""
    with Image.open(io.BytesIO(data)) as img:
        return img.info.get("icc_profile"), dict(img.getexif())


def exiftool_aigc(data: bytes, suffix: str) -> list[str]:
    """Every XMP AIGC value exiftool reports, whatever prefix the packet binds (skips without exiftool)."""
    if shutil.which("exiftool") is None:
        pytest.skip("exiftool is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"x{suffix}"
        path.write_bytes(data)
        done = subprocess.run(
            ["exiftool", "-config", str(CONFIG), "-j", "-G1", "-XMP:all", str(path)],
            capture_output=True,
            check=True,
        )
    (tags,) = json.loads(done.stdout)
    return [str(v) for k, v in tags.items() if k.lower().endswith(":aigc")]


def assert_exiftool_reads(data: bytes, suffix: str, label: AigcLabel) -> None:
    """exiftool reads back exactly our inner-shape JSON."""
    from synthguard.label.model import JsonShape

    assert exiftool_aigc(data, suffix) == [label.to_json(JsonShape.INNER)]


def test_user_comment_ascii_is_found() -> None:
    blob = exif_blob(comment=VENDOR_JSON)[6:]
    texts = exif.label_texts(blob, tiff=exif.parse(blob))
    assert [t.where for t in texts] == ["EXIF UserComment"]
    assert texts[0].text == VENDOR_JSON


def test_big_endian_description() -> None:
    text = VENDOR_JSON.encode() + b"\0"
    ifd = struct.pack(">H", 1) + struct.pack(">HHII", 0x010E, 2, len(text), 26) + b"\0\0\0\0"
    blob = b"MM\0*" + struct.pack(">I", 8) + ifd + text
    assert [t.text for t in exif.label_texts(blob)] == [VENDOR_JSON]


def test_user_comment_unicode_and_description() -> None:
    ex = Image.Exif()
    ex[0x010E] = VENDOR_JSON
    ex.get_ifd(exif.TAG_EXIF_IFD)[exif.TAG_USER_COMMENT] = b"UNICODE\0" + VENDOR_JSON.encode("utf-16-le")
    texts = exif.label_texts(ex.tobytes())
    assert {t.where for t in texts} == {"EXIF ImageDescription", "EXIF UserComment"}
    assert all(t.text == VENDOR_JSON for t in texts)
    found = exif.variant_labels(texts, "X")
    assert all(not f.standard and f.label is not None and f.label.produce_id == "v-1" for f in found)


def test_supersede_zeroes_in_place_and_keeps_other_tags() -> None:
    blob = exif_blob(comment=VENDOR_JSON)
    out = exif.supersede(blob, exif.label_texts(blob))
    assert len(out) == len(blob)
    assert exif.label_texts(out) == []
    ex = Image.Exif()
    ex.load(out)
    assert ex[0x010F] == "SynthguardCam"


def test_plain_comments_are_not_labels() -> None:
    assert exif.label_texts(exif_blob(comment="holiday photo")) == []


def test_loops_and_bad_offsets_are_corrupt() -> None:
    loop = b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", 0) + struct.pack("<I", 8)
    with pytest.raises(CorruptInput, match="loops"):
        exif.parse(loop).chain()
    far = b"II*\0" + struct.pack("<I", 8) + struct.pack("<HHHII", 1, 0x010E, 2, 100, 999) + b"\0\0\0\0"
    with pytest.raises(CorruptInput):
        exif.parse(far).chain()
    with pytest.raises(CorruptInput):
        exif.parse(b"XX*\0\0\0\0\0")
    assert exif.lenient_texts(b"Exif\0\0II*\0\xff\xff\xff\xff") == []


def test_bigtiff_header_and_ifd() -> None:
    entry = struct.pack("<HHQQ", 256, 3, 1, 7)
    big = b"II+\0" + struct.pack("<HHQ", 8, 0, 16) + struct.pack("<Q", 1) + entry + struct.pack("<Q", 0)
    tiff = exif.parse(big)
    (ifd,) = tiff.chain()
    assert tiff.big and ifd.entries[0].tag == 256 and tiff.ints(ifd.entries[0]) == [7]
