"""TIFF carrier: the contract over modes, byte orders, multi-page and BigTIFF; append-only writing; interop."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from synthguard.errors import CorruptInput
from synthguard.formats import exif
from synthguard.formats.tiff import TiffCarrier
from synthguard.label.model import AigcLabel
from tests.formats.contract import CarrierContract, payload_of
from tests.formats.test_exif import (
    VENDOR_JSON,
    assert_exiftool_reads,
    encode,
    exif_blob,
    frames,
    icc,
    metadata,
    packet_with,
    pixels,
)

CARRIER = TiffCarrier()


def _tiff(mode: str = "RGB", **params: object) -> bytes:
    return encode(pixels(mode, (21, 13)), "TIFF", **params)


def _pages() -> bytes:
    return encode([pixels("RGB", (12, 8), seed=s) for s in range(3)], "TIFF")


class TestTiffContract(CarrierContract):
    carrier = CARRIER
    format_name = "tiff"

    def samples(self) -> list[bytes]:
        return [
            _tiff(),
            _tiff("RGBA"),
            _tiff("L"),
            _tiff("P"),
            _tiff("CMYK"),
            _tiff("I;16"),
            encode(pixels("I;16", (9, 9)).convert("I;16B"), "TIFF"),
            _tiff("RGB", compression="tiff_lzw"),
            _pages(),
            _tiff("RGB", big_tiff=True),
        ]

    def decode(self, data: bytes) -> object:
        return frames(data)


def test_both_byte_orders_and_bigtiff_are_covered() -> None:
    heads = {s[:4] for s in TestTiffContract().samples()}
    assert {b"II*\0", b"MM\0*", b"II+\0"} <= heads


def test_new_tag_appends_and_leaves_existing_bytes(label: AigcLabel) -> None:
    data = _pages()
    out = CARRIER.write(data, label)
    assert out[8 : len(data)] == data[8:] and out[:4] == data[:4]
    tiff = exif.parse(out)
    assert tiff.first_offset() >= len(data)
    chain = tiff.chain()
    assert len(chain) == 3 and chain[0].get(exif.TAG_XMP) is not None
    assert [e.tag for e in chain[0].entries] == sorted(e.tag for e in chain[0].entries)
    with Image.open(io.BytesIO(out)) as img:
        assert img.n_frames == 3


def test_existing_xmp_with_padding_is_rewritten_in_place(label: AigcLabel) -> None:
    packet = '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>' + packet_with('dc:format="image/tiff"')
    packet += " " * 2048 + '<?xpacket end="w"?>'
    data = _tiff(tiffinfo={700: packet.encode()})
    out = CARRIER.write(data, label)
    assert len(out) == len(data)
    assert b'dc:format="image/tiff"' in out
    assert [f.label for f in CARRIER.read(out)] == [label]


def test_existing_small_xmp_is_appended_and_old_copy_cleared(label: AigcLabel, label2: AigcLabel) -> None:
    data = _tiff(tiffinfo={700: packet_with('dc:format="image/tiff"').encode()})
    once = CARRIER.write(data, label)
    twice = CARRIER.write(once, label2)
    assert twice.count(b"TC260:AIGC>") == 2  # open and close tag of the single property
    assert [f.label for f in CARRIER.read(twice)] == [label2]
    assert b'dc:format="image/tiff"' in twice


def test_exif_and_icc_preserved(label: AigcLabel) -> None:
    data = _tiff(exif=exif_blob(), icc_profile=icc())
    out = CARRIER.write(data, label)
    (icc_before, tags_before), (icc_after, tags_after) = metadata(data), metadata(out)
    assert icc_after == icc_before == icc()
    assert exif.TAG_XMP in tags_after
    assert {k: v for k, v in tags_after.items() if k != exif.TAG_XMP} == tags_before
    assert tags_after[0x010F] == "SynthguardCam"


def test_image_description_variant_read_and_superseded(label: AigcLabel) -> None:
    data = _tiff(tiffinfo={270: VENDOR_JSON})
    (found,) = CARRIER.read(data)
    assert not found.standard and "ImageDescription" in found.carrier
    out = CARRIER.write(data, label)
    assert [f.label for f in CARRIER.read(out)] == [label]
    assert payload_of(CARRIER, out) == payload_of(CARRIER, data)


def test_bad_strip_offsets_are_corrupt(label: AigcLabel) -> None:
    data = bytearray(_tiff())
    tiff = exif.parse(bytes(data))
    strips = tiff.chain()[0].get(273)
    assert strips is not None
    data[strips.value_pos : strips.value_pos + 4] = tiff.pack(0x7FFFFFF0, 4)
    with pytest.raises(CorruptInput, match="image data"):
        CARRIER.write(bytes(data), label)


def test_exiftool_reads_our_label(label: AigcLabel) -> None:
    for data in (_tiff(), encode(pixels("I;16", (9, 9)).convert("I;16B"), "TIFF"), _pages(), _tiff(big_tiff=True)):
        assert_exiftool_reads(CARRIER.write(data, label), ".tif", label)


@pytest.mark.shared
def test_real_photo_as_deflate_tiff(label: AigcLabel) -> None:
    from tests.conftest import shared_path

    with Image.open(shared_path("images", "skimage_camera.png")) as img:
        data = encode(img, "TIFF", compression="tiff_adobe_deflate", icc_profile=icc())
    out = CARRIER.write(data, label)
    assert frames(out) == frames(data)
    assert payload_of(CARRIER, out) == payload_of(CARRIER, data)
    assert [f.label for f in CARRIER.read(out)] == [label]
