"""HEIF/HEIC/AVIF carrier: the contract, exiftool interop, existing XMP items and iloc patching."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pillow_heif
import pytest
from PIL import Image, features

from synthguard.formats.bmff import Iloc, IlocItem, boxes, parse_iloc, serialise_iloc, shift_iloc
from synthguard.formats.heif import HeifCarrier, parse_meta
from synthguard.label.model import AigcLabel, JsonShape
from tests.formats.contract import CarrierContract

CARRIER = HeifCarrier()
CONFIG = Path(__file__).resolve().parents[1] / "fixtures" / "exiftool-tc260.config"
OTHER_XMP = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" dc:format="image/heic"/>'
    '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)


def _image(w: int = 64, h: int = 48, seed: int = 1) -> Image.Image:
    pixels = (np.arange(w * h * 3, dtype=np.uint32) * seed % 251).astype("uint8").reshape(h, w, 3)
    return Image.fromarray(pixels)


def _heic(**kwargs: Any) -> bytes:
    buf = io.BytesIO()
    pillow_heif.from_pillow(_image()).save(buf, quality=80, **kwargs)
    return buf.getvalue()


def _heic_multi() -> bytes:
    heif = pillow_heif.from_pillow(_image())
    heif.add_from_pillow(_image(32, 16, 7))
    buf = io.BytesIO()
    heif.save(buf, quality=80)
    return buf.getvalue()


def _avif(**kwargs: Any) -> bytes:
    buf = io.BytesIO()
    _image().save(buf, "AVIF", quality=80, **kwargs)
    return buf.getvalue()


needs_avif = pytest.mark.skipif(not features.check("avif"), reason="Pillow built without AVIF support")


class TestHeicContract(CarrierContract):
    carrier = CARRIER
    format_name = "heic"

    def samples(self) -> list[bytes]:
        return [_heic(), _heic(xmp=OTHER_XMP.encode()), _heic_multi()]

    def decode(self, data: bytes) -> Any:
        return [(im.mode, im.size, bytes(im.data)) for im in pillow_heif.open_heif(io.BytesIO(data))]


@needs_avif
class TestAvifContract(CarrierContract):
    carrier = CARRIER
    format_name = "avif"

    def samples(self) -> list[bytes]:
        return [_avif(), _avif(xmp=OTHER_XMP.encode())]

    def decode(self, data: bytes) -> Any:
        with Image.open(io.BytesIO(data)) as img:
            return img.mode, img.size, img.tobytes()


def _exiftool(path: Path, *args: str) -> str:
    done = subprocess.run(
        ["exiftool", "-config", str(CONFIG), *args, str(path)], capture_output=True, text=True, check=True
    )
    return done.stdout


needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None, reason="needs exiftool")


@needs_exiftool
@pytest.mark.parametrize("make", [_heic, _heic_multi, pytest.param(_avif, marks=needs_avif)])
def test_exiftool_reads_our_label(make: Any, label: AigcLabel, tmp_path: Path) -> None:
    path = tmp_path / "x.heic"
    path.write_bytes(CARRIER.write(make(), label))
    assert _exiftool(path, "-s3", "-XMP-TC260:AIGC").strip() == label.to_json(JsonShape.INNER)
    assert "Warning" not in _exiftool(path, "-warning")


@needs_exiftool
def test_exiftool_written_label_is_read_and_replaced(label: AigcLabel, label2: AigcLabel, tmp_path: Path) -> None:
    path = tmp_path / "ref.heic"
    path.write_bytes(_heic())
    subprocess.run(
        [
            "exiftool",
            "-config",
            str(CONFIG),
            "-q",
            "-overwrite_original",
            f"-XMP-TC260:AIGC={label.to_json(JsonShape.INNER)}",
            "-XMP-dc:Title=kept",
            str(path),
        ],
        check=True,
    )
    data = path.read_bytes()
    assert [(f.label, f.standard) for f in CARRIER.read(data)] == [(label, True)]
    path.write_bytes(CARRIER.write(data, label2))
    assert [f.label for f in CARRIER.read(path.read_bytes())] == [label2]
    assert _exiftool(path, "-s3", "-XMP-dc:Title").strip() == "kept"
    assert _exiftool(path, "-s3", "-XMP-TC260:AIGC").strip() == label2.to_json(JsonShape.INNER)


def test_existing_xmp_item_is_merged_not_duplicated(label: AigcLabel) -> None:
    data = _heic(xmp=OTHER_XMP.encode())
    _, _, before = parse_meta(data)
    out = CARRIER.write(data, label)
    _, _, after = parse_meta(out)
    assert len(after.xmp_items()) == len(before.xmp_items()) == 1
    assert b'dc:format="image/heic"' in out


def test_rewrite_happens_in_place(label: AigcLabel, label2: AigcLabel) -> None:
    once = CARRIER.write(_heic(), label)
    twice = CARRIER.write(once, label2)
    assert len(twice) == len(once)
    assert [b.type for b in boxes(twice)] == [b.type for b in boxes(once)]


def test_meta_growth_patches_iloc_base_offsets(label: AigcLabel) -> None:
    data = _heic()
    _, _, meta = parse_meta(data)
    primary = meta.iloc.find(meta.primary)
    assert primary is not None
    out = CARRIER.write(data, label)
    _, _, new = parse_meta(out)
    moved = new.iloc.find(meta.primary)
    assert moved is not None
    grow = new.box.size - meta.box.size
    assert grow > 0
    old_at = primary.base + primary.extents[0][1]
    assert moved.base + moved.extents[0][1] == old_at + grow


def test_iloc_widens_offsets_past_32_bits() -> None:
    iloc = Iloc(
        1,
        0,
        4,
        4,
        4,
        0,
        [
            IlocItem(1, 0, 0, 0xFFFFFFF0, [(0, 0, 10)]),
            IlocItem(2, 1, 0, 0, [(0, 5, 1)]),
            IlocItem(3, 0, 0, 0, [(0, 50, 4), (0, 200, 4)]),
        ],
    )
    shift_iloc(iloc, threshold=100, delta=0x100)
    again = parse_iloc(serialise_iloc(iloc))
    assert again.base_size == 8
    assert again.items[0].base == 0xFFFFFFF0 + 0x100
    assert again.items[1].extents == [(0, 5, 1)]  # idat-relative: untouched
    third = again.items[2]
    assert [third.base + off for _, off, _ in third.extents] == [50, 200 + 0x100]  # only the extent past meta


def test_mp4_is_not_claimed() -> None:
    head = b"\0\0\0\x18ftypisom\0\0\0\0isomavc1"
    assert CARRIER.sniff(head) is None
