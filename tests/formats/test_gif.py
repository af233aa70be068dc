"""GIF carrier: the contract over still and animated GIFs, the XMP magic trailer, comment variants, interop."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageSequence

from synthguard.errors import CorruptInput
from synthguard.formats.gif import MAGIC_TRAILER, XMP_APP_ID, GifCarrier, blocks
from synthguard.label.model import AigcLabel
from tests.formats.contract import CarrierContract
from tests.formats.test_exif import VENDOR_JSON, assert_exiftool_reads, encode, pixels

CARRIER = GifCarrier()


def _animated() -> bytes:
    return encode([pixels("P", (20, 14), seed=s) for s in range(4)], "GIF", duration=[40, 60, 80, 100], loop=0)


def _decode(data: bytes) -> list[tuple[str, tuple[int, int], bytes, bytes, object]]:
    with Image.open(io.BytesIO(data)) as img:
        return [
            (f.mode, f.size, f.tobytes(), f.convert("RGBA").tobytes(), f.info.get("duration"))
            for f in ImageSequence.Iterator(img)
        ]


class TestGifContract(CarrierContract):
    carrier = CARRIER
    format_name = "gif"

    def samples(self) -> list[bytes]:
        return [
            _animated(),
            encode(pixels("P"), "GIF"),
            encode(pixels("L", (33, 7)), "GIF"),
            encode(pixels("P", (16, 16)), "GIF", transparency=3),
        ]

    def decode(self, data: bytes) -> object:
        return _decode(data)


def test_magic_trailer_layout(label: AigcLabel) -> None:
    assert len(MAGIC_TRAILER) == 258
    out = CARRIER.write(_animated(), label)
    (xmp,) = [b for b in blocks(out) if b.app_id == XMP_APP_ID]
    assert out[xmp.end - 258 : xmp.end] == MAGIC_TRAILER
    order = [b.app_id or bytes([b.kind]) for b in blocks(out)]
    assert order[1:3] == [b"NETSCAPE2.0", XMP_APP_ID]
    with Image.open(io.BytesIO(out)) as img:
        assert img.info.get("loop") == 0 and img.n_frames == 4


def test_gif87a_becomes_89a(label: AigcLabel) -> None:
    data = encode(pixels("P"), "GIF")
    assert data.startswith(b"GIF87a")
    assert CARRIER.write(data, label).startswith(b"GIF89a")


def test_comment_variant_read_and_superseded(label: AigcLabel) -> None:
    data = encode(pixels("P"), "GIF", comment=VENDOR_JSON)
    (found,) = CARRIER.read(data)
    assert not found.standard and found.label is not None and found.label.produce_id == "v-1"
    out = CARRIER.write(data, label)
    assert [f.label for f in CARRIER.read(out)] == [label]
    plain = CARRIER.write(encode(pixels("P"), "GIF", comment="hello"), label)
    assert b"hello" in plain


def test_missing_trailer_is_corrupt() -> None:
    with pytest.raises(CorruptInput, match="trailer"):
        CARRIER.read(_animated()[:-1])


def test_exiftool_reads_our_label(label: AigcLabel) -> None:
    assert_exiftool_reads(CARRIER.write(_animated(), label), ".gif", label)
    twice = CARRIER.write(CARRIER.write(encode(pixels("P"), "GIF"), label), label)
    assert_exiftool_reads(twice, ".gif", label)


@pytest.mark.shared
def test_real_photo_as_gif(label: AigcLabel) -> None:
    from tests.conftest import shared_path
    from tests.formats.contract import payload_of

    with Image.open(shared_path("images", "matplotlib_logo2.png")) as img:
        data = encode(img.convert("RGB").quantize(64), "GIF", comment="made from matplotlib_logo2.png")
    out = CARRIER.write(data, label)
    assert _decode(out) == _decode(data)
    assert payload_of(CARRIER, out) == payload_of(CARRIER, data)
    assert b"made from matplotlib_logo2.png" in out
    assert [f.label for f in CARRIER.read(out)] == [label]
