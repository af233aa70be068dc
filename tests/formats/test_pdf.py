"""PDF carrier: the contract, streams untouched by writing, the real broken-xref sample, encryption, exiftool."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import zlib
from pathlib import Path

import pikepdf
import pytest
from PIL import Image

from synthguard.errors import CorruptInput, InputTooLarge, UnsupportedFormat
from synthguard.formats import registry
from synthguard.formats.pdf import PdfCarrier
from synthguard.label.model import AigcLabel, JsonShape
from tests.conftest import REPO, shared_path
from tests.formats.contract import CarrierContract

CARRIER = PdfCarrier()
XMP_WITH_TITLE = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
    '<dc:title><rdf:Alt><rdf:li xml:lang="x-default">Kept title</rdf:li></rdf:Alt></dc:title>'
    '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)


def _bomb(size: int) -> bytes:
    comp = zlib.compressobj(1)
    chunk = b" " * (4 * 1024 * 1024)
    return b"".join(comp.compress(chunk) for _ in range(size // len(chunk))) + comp.flush()


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 8), (200, 30, 90)).save(buf, "JPEG")
    return buf.getvalue()


def make_pdf(*, xmp: bool = False, object_streams: bool = False, compress: bool = True) -> bytes:
    """A two-page PDF with text, a Flate RGB image and a JPEG image, built with pikepdf."""
    pdf = pikepdf.new()
    pixels = bytes((x * 7) % 256 for x in range(8 * 8 * 3))
    flate_img = pikepdf.Stream(
        pdf,
        zlib.compress(pixels),
        Type=pikepdf.Name.XObject,
        Subtype=pikepdf.Name.Image,
        Width=8,
        Height=8,
        ColorSpace=pikepdf.Name.DeviceRGB,
        BitsPerComponent=8,
        Filter=pikepdf.Name.FlateDecode,
    )
    jpeg_img = pikepdf.Stream(
        pdf,
        _jpeg(),
        Type=pikepdf.Name.XObject,
        Subtype=pikepdf.Name.Image,
        Width=16,
        Height=8,
        ColorSpace=pikepdf.Name.DeviceRGB,
        BitsPerComponent=8,
        Filter=pikepdf.Name.DCTDecode,
    )
    for i, img in enumerate((flate_img, jpeg_img)):
        page = pdf.add_blank_page(page_size=(200, 200))
        text = f"q 50 0 0 50 10 10 cm /Im{i} Do Q BT /F1 12 Tf 20 150 Td (page {i}) Tj ET".encode()
        body = zlib.compress(text) if compress else text
        page.obj.Contents = (
            pdf.make_stream(body, Filter=pikepdf.Name.FlateDecode) if compress else pdf.make_stream(body)
        )
        page.obj.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary({f"/Im{i}": img}))
    if xmp:
        pdf.Root.Metadata = pdf.make_stream(
            XMP_WITH_TITLE.encode(), Type=pikepdf.Name.Metadata, Subtype=pikepdf.Name.XML
        )
        pdf.docinfo["/Title"] = "Kept title"
    out = io.BytesIO()
    mode = pikepdf.ObjectStreamMode.generate if object_streams else pikepdf.ObjectStreamMode.disable
    pdf.save(out, object_stream_mode=mode, compress_streams=False)
    return out.getvalue()


def streams(data: bytes) -> list[tuple[bytes, bytes]]:
    """Raw and decoded bytes of every page content stream and image (pixels via PIL), read independently."""
    out: list[tuple[bytes, bytes]] = []
    with pikepdf.open(io.BytesIO(data)) as pdf:
        for page in pdf.pages:
            contents = page.obj.Contents
            for s in contents if isinstance(contents, pikepdf.Array) else [contents]:
                out.append((s.read_raw_bytes(), s.read_bytes()))
            xobjects = page.obj.Resources.XObject
            for name in sorted(xobjects.keys()):
                pixels = pikepdf.PdfImage(xobjects[name]).as_pil_image().tobytes()
                out.append((xobjects[name].read_raw_bytes(), pixels))
    return out


class TestPdfContract(CarrierContract):
    carrier = CARRIER
    format_name = "pdf"

    def samples(self) -> list[bytes]:
        return [make_pdf(), make_pdf(xmp=True, object_streams=True), make_pdf(compress=False)]

    def decode(self, data: bytes) -> object:
        return streams(data)


def test_info_and_xmp_both_hold_the_label(label: AigcLabel) -> None:
    out = CARRIER.write(make_pdf(xmp=True), label)
    with pikepdf.open(io.BytesIO(out)) as pdf:
        assert str(pdf.docinfo["/AIGC"]) == label.to_json(JsonShape.WRAPPED)
        assert str(pdf.docinfo["/Title"]) == "Kept title"
        packet = pdf.Root.Metadata.read_bytes().decode()
    assert "Kept title" in packet
    assert label.to_json(JsonShape.INNER).replace('"', "&quot;") in packet
    (found,) = CARRIER.read(out)
    assert "Info" in found.carrier and "XMP" in found.carrier


def test_disagreeing_copies_are_both_reported(label: AigcLabel, label2: AigcLabel) -> None:
    out = CARRIER.write(make_pdf(), label)
    with pikepdf.open(io.BytesIO(out)) as pdf:
        pdf.docinfo["/AIGC"] = label2.to_json()
        pdf.docinfo["/aigc_vendor"] = '{"Label":"1","ContentProducer":"x","ProduceID":"v"}'
        buf = io.BytesIO()
        pdf.save(buf)
    found = CARRIER.read(buf.getvalue())
    assert {f.label for f in found if f.standard} == {label, label2}
    assert any(not f.standard and f.label and f.label.produce_id == "v" for f in found)
    assert [f.label for f in CARRIER.read(CARRIER.write(buf.getvalue(), label))] == [label]


def test_streams_keep_their_raw_bytes_and_object_streams_survive(label: AigcLabel) -> None:
    data = make_pdf(xmp=True, object_streams=True)
    out = CARRIER.write(data, label)
    assert streams(out) == streams(data)  # raw bytes too: nothing was recompressed
    assert b"/ObjStm" in out


@pytest.mark.shared
def test_real_methol_sample_with_broken_xref(label: AigcLabel) -> None:
    truth = json.loads(shared_path("aigc-labeled", "GROUND_TRUTH.json").read_text())["methol_sample.pdf"]["aigc"]
    data = shared_path("aigc-labeled", "methol_sample.pdf").read_bytes()
    assert registry().detect(data)[0].name == "pdf"  # type: ignore[index]
    (found,) = CARRIER.read(data)
    assert found.standard and found.shape is JsonShape.WRAPPED
    assert found.label is not None and found.label.fields() == truth
    assert any("only in the Info dictionary" in n for n in found.notes)  # the XMP copy is missing
    assert [f.label for f in CARRIER.read(CARRIER.write(data, label))] == [label]


def test_password_protected_and_encrypted_pdfs_are_refused(label: AigcLabel) -> None:
    with pikepdf.open(io.BytesIO(make_pdf())) as pdf:
        locked, owner_only = io.BytesIO(), io.BytesIO()
        pdf.save(locked, encryption=pikepdf.Encryption(owner="o", user="u"))
        pdf.save(owner_only, encryption=pikepdf.Encryption(owner="o", user=""))
    for op in (CARRIER.read, lambda d: CARRIER.write(d, label)):
        with pytest.raises(UnsupportedFormat, match="password"):
            op(locked.getvalue())
    with pytest.raises(UnsupportedFormat, match="encrypted"):
        CARRIER.write(owner_only.getvalue(), label)
    assert CARRIER.read(owner_only.getvalue()) == []


def test_garbage_and_flate_bombs(label: AigcLabel) -> None:
    with pytest.raises(CorruptInput):
        CARRIER.read(b"%PDF-1.7\nnot really a pdf\n%%EOF\n")
    pdf = pikepdf.new()
    page = pdf.add_blank_page()
    page.obj.Contents = pdf.make_stream(_bomb(200 * 1024 * 1024), Filter=pikepdf.Name.FlateDecode)
    buf = io.BytesIO()
    pdf.save(buf, compress_streams=False)
    with pytest.raises(InputTooLarge):
        list(CARRIER.content_payload(buf.getvalue()))


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")
def test_exiftool_reads_xmp_and_info(tmp_path: Path, label: AigcLabel) -> None:
    path = tmp_path / "labeled.pdf"
    path.write_bytes(CARRIER.write(make_pdf(xmp=True), label))
    config = REPO / "tests" / "fixtures" / "exiftool-tc260.config"
    run = subprocess.run(
        ["exiftool", "-config", str(config), "-j", "-a", "-G1", str(path)], capture_output=True, check=True, text=True
    )
    tags = json.loads(run.stdout)[0]
    assert tags["XMP-TC260:AIGC"] == label.to_json(JsonShape.INNER)
    assert tags["PDF:AIGC"] == label.to_json(JsonShape.WRAPPED)
    assert tags["XMP-dc:Title"] == "Kept title"


@pytest.mark.shared
@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")
def test_exiftool_reads_the_relabelled_methol_sample(tmp_path: Path, label: AigcLabel) -> None:
    path = tmp_path / "methol.pdf"
    path.write_bytes(CARRIER.write(shared_path("aigc-labeled", "methol_sample.pdf").read_bytes(), label))
    config = REPO / "tests" / "fixtures" / "exiftool-tc260.config"
    run = subprocess.run(
        ["exiftool", "-config", str(config), "-j", "-a", "-G1", str(path)], capture_output=True, check=True, text=True
    )
    tags = json.loads(run.stdout)[0]
    assert tags["PDF:AIGC"] == label.to_json(JsonShape.WRAPPED)
    assert tags["XMP-TC260:AIGC"] == label.to_json(JsonShape.INNER)


def test_sniff_does_not_claim_text_that_mentions_the_header() -> None:
    text = b"# Notes\n\nA PDF starts with %PDF-1.7 and ends with %%EOF.\n"
    assert CARRIER.sniff(text) is None
    assert registry().detect(text, "notes.md")[0].name == "markdown"  # type: ignore[index]
    assert CARRIER.sniff(b"\x00\x01junk%PDF-1.4\n") is not None
    assert CARRIER.sniff(b"junk%PDF-1.4\n", "x.PDF") is not None
