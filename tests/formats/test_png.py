"""PNG carrier: the contract, real labeled files, and exiftool reading what we write."""

from __future__ import annotations

import io
import zlib

import pytest
from PIL import Image

from synthguard.formats.png import PngCarrier, itxt, make_chunk
from synthguard.label.model import AigcLabel, JsonShape
from tests.conftest import shared_path
from tests.formats.contract import CarrierContract


def _png(mode: str = "RGB", size: tuple[int, int] = (64, 48)) -> bytes:
    img = Image.new(mode, size)
    img.putdata(
        [
            ((x * 7) % 256, (x * 3) % 256, (x * 11) % 256)[: len(mode)] if mode != "L" else x % 256
            for x in range(size[0] * size[1])
        ]
    )
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


class TestPngContract(CarrierContract):
    carrier = PngCarrier()
    format_name = "png"

    def samples(self) -> list[bytes]:
        return [_png(), _png("L"), _png("RGBA", (17, 5))]

    def decode(self, data: bytes) -> object:
        with Image.open(io.BytesIO(data)) as img:
            return img.mode, img.size, img.tobytes()


def test_vendor_text_chunk_is_read_as_non_standard() -> None:
    data = _png()
    raw = '{"Label":"1",\n"ContentProducer":"001191440300708461136T1XGW3",\n"ProduceID":"x1"}'
    tampered = data[:33] + make_chunk(b"tEXt", b"AIGC\0" + raw.encode()) + data[33:]
    found = PngCarrier().read(tampered)
    assert len(found) == 1
    assert not found[0].standard
    assert found[0].label is not None and found[0].label.produce_id == "x1"


def test_write_supersedes_vendor_chunk_and_keeps_other_xmp(label: AigcLabel) -> None:
    packet = (
        '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"??><x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" dc:format="image/png"/>'
        '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    )
    data = _png()
    data = data[:33] + itxt(b"XML:com.adobe.xmp", packet) + make_chunk(b"tEXt", b"AIGC\0{}") + data[33:]
    out = PngCarrier().write(data, label)
    assert b'dc:format="image/png"' in out
    assert [f.label for f in PngCarrier().read(out)] == [label]


def test_bad_crc_is_corrupt() -> None:
    data = bytearray(_png())
    data[40] ^= 0xFF
    from synthguard.errors import CorruptInput

    with pytest.raises(CorruptInput):
        PngCarrier().read(bytes(data))


def test_zip_bomb_text_chunk_is_bounded() -> None:
    from synthguard.errors import InputTooLarge

    bomb = zlib.compress(b"a" * (64 * 1024 * 1024), 9)
    data = _png()
    data = data[:33] + make_chunk(b"zTXt", b"AIGC\0\0" + bomb) + data[33:]
    with pytest.raises(InputTooLarge):
        PngCarrier().read(data)


@pytest.mark.shared
@pytest.mark.parametrize("name", ["doubao_black_1x1_1.png", "jimeng_cap_A.png", "adam-sm1th_3.png"])
def test_real_labeled_png_matches_ground_truth(name: str) -> None:
    import json

    truth = json.loads(shared_path("aigc-labeled", "GROUND_TRUTH.json").read_text())[name]["aigc"]
    found = PngCarrier().read(shared_path("aigc-labeled", name).read_bytes())
    assert len(found) == 1
    assert found[0].label is not None
    assert found[0].label.fields() == truth
    assert found[0].shape in (JsonShape.INNER, JsonShape.WRAPPED)


def test_exif_user_comment_variant_read_and_superseded(label: AigcLabel) -> None:
    from tests.formats.test_exif import VENDOR_JSON, encode, exif_blob, frames, metadata, pixels

    data = encode(pixels("RGB"), "PNG", exif=exif_blob(comment=VENDOR_JSON))
    (found,) = PngCarrier().read(data)
    assert not found.standard and found.carrier.startswith("PNG eXIf chunk EXIF UserComment")
    out = PngCarrier().write(data, label)
    assert [f.label for f in PngCarrier().read(out)] == [label]
    assert metadata(out)[1][0x010F] == "SynthguardCam"
    assert frames(out) == frames(data)
