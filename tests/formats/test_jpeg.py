"""JPEG carrier: the contract, vendor variants (XMP attributes, EXIF UserComment, COM), limits and interop."""

from __future__ import annotations

import json
import struct

import pytest

from synthguard.errors import CorruptInput, InputTooLarge
from synthguard.formats.jpeg import XMP_SIG, JpegCarrier, segments
from synthguard.label.model import AigcLabel
from tests.conftest import shared_path
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

CARRIER = JpegCarrier()


def _jpeg(mode: str = "RGB", **params: object) -> bytes:
    return encode(pixels(mode, (48, 32)), "JPEG", quality=90, **params)


def _app1_xmp(packet: str) -> bytes:
    body = XMP_SIG + packet.encode()
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


class TestJpegContract(CarrierContract):
    carrier = CARRIER
    format_name = "jpeg"

    def samples(self) -> list[bytes]:
        return [
            _jpeg(),
            _jpeg("L"),
            _jpeg("CMYK"),
            _jpeg("RGB", progressive=True, exif=exif_blob(), icc_profile=icc()),
        ]

    def decode(self, data: bytes) -> object:
        return frames(data)


def test_inserted_after_app0_and_exif(label: AigcLabel) -> None:
    out = CARRIER.write(_jpeg(exif=exif_blob()), label)
    markers = [(s.marker, out[s.body_start : s.body_start + 6]) for s in segments(out)][:4]
    assert markers[1][0] == 0xE0
    assert markers[2] == (0xE1, b"Exif\0\0")
    assert markers[3] == (0xE1, XMP_SIG[:6])


def test_exif_and_icc_preserved(label: AigcLabel) -> None:
    data = _jpeg(exif=exif_blob(), icc_profile=icc())
    out = CARRIER.write(data, label)
    assert metadata(out) == metadata(data)
    assert metadata(out)[0] == icc()


def test_exif_user_comment_variant_read_and_superseded(label: AigcLabel) -> None:
    data = _jpeg(exif=exif_blob(comment=VENDOR_JSON))
    (found,) = CARRIER.read(data)
    assert not found.standard and "UserComment" in found.carrier
    assert found.label is not None and found.label.produce_id == "v-1"
    out = CARRIER.write(data, label)
    assert [f.label for f in CARRIER.read(out)] == [label]
    assert metadata(out)[1][0x010F] == "SynthguardCam"
    assert frames(out) == frames(data)


def test_com_segment_variant_read_and_dropped(label: AigcLabel) -> None:
    data = _jpeg(comment=VENDOR_JSON.encode())
    (found,) = CARRIER.read(data)
    assert not found.standard and found.carrier.startswith("JPEG COM")
    out = CARRIER.write(data, label)
    assert [f.label for f in CARRIER.read(out)] == [label]
    keep = _jpeg(comment=b"a plain comment")
    assert b"a plain comment" in CARRIER.write(keep, label)


def test_existing_xmp_is_merged_in_place(label: AigcLabel) -> None:
    packet = packet_with('dc:format="image/jpeg"')
    base = _jpeg()
    data = base[:2] + _app1_xmp(packet) + base[2:]
    out = CARRIER.write(data, label)
    assert out.count(XMP_SIG) == 1
    assert b'dc:format="image/jpeg"' in out
    assert segments(out)[1].marker == 0xE1


def test_packet_too_big_for_one_segment(label: AigcLabel) -> None:
    filler = "x" * 65200
    packet = packet_with(f'dc:source="{filler}"')
    base = _jpeg()
    with pytest.raises(InputTooLarge, match="APP1"):
        CARRIER.write(base[:2] + _app1_xmp(packet) + base[2:], label)


def test_missing_eoi_and_bad_length_are_corrupt() -> None:
    data = _jpeg()
    with pytest.raises(CorruptInput, match="EOI"):
        CARRIER.read(data[:-2])
    bad = bytearray(data)
    bad[4:6] = b"\xff\xff"
    with pytest.raises(CorruptInput):
        CARRIER.read(bytes(bad))


def test_exiftool_reads_our_label(label: AigcLabel) -> None:
    assert_exiftool_reads(CARRIER.write(_jpeg(exif=exif_blob()), label), ".jpg", label)


@pytest.mark.shared
def test_methol_vendor_xmp_matches_truth_and_is_superseded(label: AigcLabel) -> None:
    truth = json.loads(shared_path("aigc-labeled", "GROUND_TRUTH.json").read_text())["methol_sample.jpg"]
    data = shared_path("aigc-labeled", "methol_sample.jpg").read_bytes()
    found = CARRIER.read(data)
    assert found and not any(f.standard for f in found)
    assert {f.carrier.split(" / ")[1].split(",")[0] for f in found} == {
        "XMP TC260 fields as separate properties (vendor variant)",
        "XMP xmpKV:XmpKvBase64",
    }
    for f in found:
        assert f.label is not None
        assert f.label.fields() == truth["aigc"]
    out = CARRIER.write(data, label)
    assert [f.label for f in CARRIER.read(out)] == [label]
    assert frames(out) == frames(data)
    assert_exiftool_reads(out, ".jpg", label)


@pytest.mark.shared
def test_real_photo_payload_and_pixels_unchanged(label: AigcLabel) -> None:
    data = shared_path("images", "debian_plasma_desktop_screenshot_1920x1080.jpg").read_bytes()
    out = CARRIER.write(data, label)
    assert payload_of(CARRIER, out) == payload_of(CARRIER, data)
    assert frames(out) == frames(data)
    assert [f.label for f in CARRIER.read(out)] == [label]


def test_extended_xmp_label_is_read_but_not_rewritten(label: AigcLabel) -> None:
    from synthguard.errors import UnsupportedFormat
    from synthguard.formats.jpeg import EXT_SIG

    packet = packet_with(f"xmlns:TC260=\"http://www.tc260.org.cn/ns/AIGC/1.0/\" TC260:AIGC='{VENDOR_JSON}'")
    raw = packet.encode()
    half = len(raw) // 2
    segs = b""
    for offset, piece in ((0, raw[:half]), (half, raw[half:])):
        body = EXT_SIG + b"0" * 32 + struct.pack(">II", len(raw), offset) + piece
        segs += b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    base = _jpeg()
    data = base[:2] + segs + base[2:]
    (found,) = CARRIER.read(data)
    assert not found.standard and found.carrier.startswith("JPEG Extended XMP")
    assert found.label is not None and found.label.produce_id == "v-1"
    with pytest.raises(UnsupportedFormat, match="Extended XMP"):
        CARRIER.write(data, label)
