"""WebP carrier: the contract, simple-to-extended conversion, animation, EXIF/ICC kept, interop."""

from __future__ import annotations

import pytest

from synthguard.errors import CorruptInput
from synthguard.formats.webp import FLAG_ALPHA, FLAG_XMP, WebpCarrier, chunks, make_chunk
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

CARRIER = WebpCarrier()


def _fourccs(data: bytes) -> list[bytes]:
    return [c.fourcc for c in chunks(data)[0]]


def _lossy() -> bytes:
    return encode(pixels("RGB", (41, 23)), "WEBP", quality=80)


def _lossless_alpha() -> bytes:
    return encode(pixels("RGBA", (17, 9)), "WEBP", lossless=True)


def _animated() -> bytes:
    return encode([pixels("RGBA", (24, 16), seed=s) for s in range(3)], "WEBP", duration=50, loop=0)


class TestWebpContract(CarrierContract):
    carrier = CARRIER
    format_name = "webp"

    def samples(self) -> list[bytes]:
        return [
            _lossy(),
            _lossless_alpha(),
            encode(pixels("RGBA", (30, 20)), "WEBP", quality=70),
            _animated(),
            encode(pixels("RGB"), "WEBP", exif=exif_blob(), icc_profile=icc()),
        ]

    def decode(self, data: bytes) -> object:
        return frames(data)


def test_simple_files_become_vp8x_with_bitstream_untouched(label: AigcLabel) -> None:
    for data, alpha in ((_lossy(), False), (_lossless_alpha(), True)):
        (first,) = chunks(data)[0]
        assert first.fourcc in (b"VP8 ", b"VP8L")
        out = CARRIER.write(data, label)
        parts, end = chunks(out)
        assert [c.fourcc for c in parts] == [b"VP8X", first.fourcc, b"XMP "]
        assert end == len(out) and len(out) % 2 == 0
        assert parts[1].body(out) == first.body(data)
        flags = out[parts[0].data_start]
        assert flags & FLAG_XMP and bool(flags & FLAG_ALPHA) == alpha


def test_chunk_order_with_exif_icc_and_animation(label: AigcLabel) -> None:
    data = encode(pixels("RGB"), "WEBP", exif=exif_blob(), icc_profile=icc())
    out = CARRIER.write(data, label)
    assert _fourccs(out) == [b"VP8X", b"ICCP", b"VP8 ", b"EXIF", b"XMP "]
    assert metadata(out) == metadata(data)
    anim = CARRIER.write(_animated(), label)
    order = _fourccs(anim)
    assert order[:2] == [b"VP8X", b"ANIM"] and order[-1] == b"XMP " and order.count(b"ANMF") == 3


def test_existing_xmp_merged_and_exif_variant_superseded(label: AigcLabel) -> None:
    data = encode(pixels("RGB"), "WEBP", exif=exif_blob(comment=VENDOR_JSON), xmp=packet_with('dc:format="x"'))
    found = CARRIER.read(data)
    assert [f.standard for f in found] == [False]
    out = CARRIER.write(data, label)
    assert [f.label for f in CARRIER.read(out)] == [label]
    assert _fourccs(out).count(b"XMP ") == 1
    assert b'dc:format="x"' in out
    assert metadata(out)[1][0x010F] == "SynthguardCam"


def test_xmp_without_flag_is_not_standard(label: AigcLabel) -> None:
    out = bytearray(CARRIER.write(_lossy(), label))
    out[chunks(bytes(out))[0][0].data_start] &= ~FLAG_XMP
    (found,) = CARRIER.read(bytes(out))
    assert not found.standard


def test_odd_chunk_padding_riff_size_and_trailing_bytes(label: AigcLabel) -> None:
    data = _lossy()
    extra = make_chunk(b"ZZZZ", b"abc")
    assert len(extra) == 12
    assert _fourccs(data + extra) == _fourccs(data)
    assert CARRIER.write(data + extra, label).endswith(extra)
    grown = data[:4] + (int.from_bytes(data[4:8], "little") + 12).to_bytes(4, "little") + data[8:] + extra
    assert _fourccs(grown)[-1] == b"ZZZZ"
    assert _fourccs(CARRIER.write(grown, label))[-2:] == [b"XMP ", b"ZZZZ"]
    with pytest.raises(CorruptInput, match="RIFF claims"):
        CARRIER.read(grown[:-12])


def test_exiftool_reads_our_label(label: AigcLabel) -> None:
    assert_exiftool_reads(CARRIER.write(_lossy(), label), ".webp", label)
    assert_exiftool_reads(CARRIER.write(_animated(), label), ".webp", label)


@pytest.mark.shared
def test_real_webp_payload_unchanged(label: AigcLabel) -> None:
    data = shared_path("images", "gnome_wood-d_4096.webp").read_bytes()
    out = CARRIER.write(data, label)
    assert payload_of(CARRIER, out) == payload_of(CARRIER, data)
    assert [f.label for f in CARRIER.read(out)] == [label]
    assert_exiftool_reads(out, ".webp", label)
