"""OOXML carrier: the contract for docx/xlsx/pptx, raw-copy rewriting, zip bombs and exiftool interop."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from synthguard.errors import CorruptInput, InputTooLarge, SynthguardError, UnsupportedFormat
from synthguard.formats import registry
from synthguard.formats.ooxml import OoxmlCarrier, parse_zip
from synthguard.label.model import AigcLabel, JsonShape
from tests.formats.contract import CarrierContract

CARRIER = OoxmlCarrier()
CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
OFFICE_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
MAIN = {
    "docx": ("word/document.xml", "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"),
    "xlsx": ("xl/workbook.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"),
    "pptx": (
        "ppt/presentation.xml",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
    ),
}
OTHER_CUSTOM = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties" '
    'xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
    '<property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="2" name="Client">'
    "<vt:lpwstr>ACME &amp; Co</vt:lpwstr></property>"
    '<property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="5" name="aigc_old">'
    '<vt:lpwstr>{"Label":"1","ContentProducer":"x","ProduceID":"old"}</vt:lpwstr></property>'
    "</Properties>"
)


def package(kind: str, *, custom: str | None = None, extra: int = 3) -> bytes:
    """A small but well-formed package of this kind, built with zipfile."""
    main, ctype = MAIN[kind]
    overrides = f'<Override PartName="/{main}" ContentType="{ctype}"/>'
    rels = f'<Relationship Id="rId1" Type="{OFFICE_REL}" Target="{main}"/>'
    if custom is not None:
        overrides += (
            '<Override PartName="/docProps/custom.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.custom-properties+xml"/>'
        )
        rels += (
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/custom-properties" Target="docProps/custom.xml"/>'
        )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "[Content_Types].xml",
            f'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="{CT_NS}">'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            f'relationships+xml"/>{overrides}</Types>',
        )
        z.writestr(
            "_rels/.rels",
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{REL_NS}">{rels}</Relationships>',
        )
        z.writestr(main, f"<root>{'<p>text</p>' * 50}</root>")
        for i in range(extra):
            z.writestr(
                f"{main.split('/')[0]}/media/blob{i}.bin",
                bytes(range(256)) * (i + 1),
                compress_type=zipfile.ZIP_STORED if i % 2 else zipfile.ZIP_DEFLATED,
            )
        if custom is not None:
            z.writestr("docProps/custom.xml", custom)
    return buf.getvalue()


def members(data: bytes) -> dict[str, bytes]:
    """Every member's uncompressed bytes, read with zipfile (an independent reader)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.testzip() is None
        return {n: z.read(n) for n in z.namelist()}


class _Contract(CarrierContract):
    carrier = CARRIER

    def samples(self) -> list[bytes]:
        return [package(self.format_name), package(self.format_name, custom=OTHER_CUSTOM)]

    def decode(self, data: bytes) -> object:
        skip = {"docProps/custom.xml", "[Content_Types].xml", "_rels/.rels"}
        return {n: b for n, b in members(data).items() if n not in skip}


class TestDocxContract(_Contract):
    format_name = "docx"


class TestXlsxContract(_Contract):
    format_name = "xlsx"


class TestPptxContract(_Contract):
    format_name = "pptx"


def test_untouched_members_are_copied_raw(label: AigcLabel) -> None:
    data = package("docx")
    out = CARRIER.write(data, label)
    before, after = parse_zip(data), parse_zip(out)
    for m in before.members:
        if m.name in {"[Content_Types].xml", "_rels/.rels"}:
            continue
        n = after.get(m.name)
        assert n is not None
        assert out[n.data_start : n.end] == data[m.data_start : m.end]
    assert after.members[-1].name == "docProps/custom.xml"


def test_new_custom_part_is_registered(label: AigcLabel) -> None:
    out = members(CARRIER.write(package("xlsx"), label))
    assert b'PartName="/docProps/custom.xml"' in out["[Content_Types].xml"]
    assert b'Target="docProps/custom.xml"' in out["_rels/.rels"]
    custom = out["docProps/custom.xml"].decode()
    assert 'fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="2" name="AIGC"' in custom
    assert f"<vt:lpwstr>{label.to_json(JsonShape.WRAPPED)}</vt:lpwstr>" in custom


def test_merge_keeps_other_properties_and_uses_a_fresh_pid(label: AigcLabel, label2: AigcLabel) -> None:
    data = package("docx", custom=OTHER_CUSTOM)
    (old,) = list(CARRIER.read(data))
    assert not old.standard and old.label is not None and old.label.produce_id == "old"
    out = CARRIER.write(CARRIER.write(data, label), label2)
    parts = members(out)
    custom = parts["docProps/custom.xml"].decode()
    assert "<vt:lpwstr>ACME &amp; Co</vt:lpwstr>" in custom
    assert 'pid="3" name="AIGC"' in custom and "aigc_old" not in custom
    # content types and rels already named the part: they stay byte-identical
    assert parts["[Content_Types].xml"] == members(data)["[Content_Types].xml"]
    assert parts["_rels/.rels"] == members(data)["_rels/.rels"]
    assert [f.label for f in CARRIER.read(out)] == [label2]


def test_data_descriptor_members_are_copied(label: AigcLabel) -> None:
    class NoSeek(io.RawIOBase):
        def __init__(self) -> None:
            self.buf = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, b: object) -> int:
            self.buf += bytes(b)  # type: ignore[call-overload]
            return len(bytes(b))  # type: ignore[call-overload]

    sink = NoSeek()
    src = members(package("pptx"))
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in src.items():
            z.writestr(name, body)
    data = bytes(sink.buf)
    assert parse_zip(data).members[0].flags & 0x08
    out = CARRIER.write(data, label)
    assert [f.label for f in CARRIER.read(out)] == [label]
    assert members(out)["ppt/presentation.xml"] == src["ppt/presentation.xml"]


def test_sniff_by_content_types_and_name_hint() -> None:
    for kind in MAIN:
        assert CARRIER.sniff(package(kind)[:4096]).format == kind  # type: ignore[union-attr]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "not office")
    plain_zip = buf.getvalue()
    assert CARRIER.sniff(plain_zip) is None
    assert CARRIER.sniff(plain_zip, "report.DOCX").format == "docx"  # type: ignore[union-attr]
    assert registry().detect(package("pptx"))[0].name == "ooxml"  # type: ignore[index]


def test_zip_bomb_member_is_refused(label: AigcLabel) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in members(package("docx")).items():
            z.writestr(name, body)
        z.writestr("word/media/bomb.bin", b"\0" * (64 * 1024 * 1024))
    bomb = buf.getvalue()
    assert len(bomb) < 200_000
    for op in (CARRIER.read, lambda d: CARRIER.write(d, label), lambda d: list(CARRIER.content_payload(d))):
        with pytest.raises(InputTooLarge):
            op(bomb)


def test_lying_sizes_and_overlaps_are_corrupt() -> None:
    data = bytearray(package("docx"))
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24 : cd + 28] = (10).to_bytes(4, "little")  # understate the last member's size
    with pytest.raises(CorruptInput):
        list(CARRIER.content_payload(bytes(data)))
    dup = bytearray(package("docx"))
    first, second = dup.find(b"PK\x01\x02"), dup.rfind(b"PK\x01\x02")
    dup[second + 42 : second + 46] = dup[first + 42 : first + 46]  # two records, one local entry
    with pytest.raises(SynthguardError):
        CARRIER.read(bytes(dup))


def test_zip64_and_encryption_are_refused() -> None:
    data = bytearray(package("docx"))
    cd = data.find(b"PK\x01\x02")
    data[cd + 8 : cd + 10] = (1).to_bytes(2, "little")  # encrypted flag
    with pytest.raises(UnsupportedFormat):
        CARRIER.read(bytes(data))
    data = bytearray(package("docx"))
    eocd = data.rfind(b"PK\x05\x06")
    data[eocd + 16 : eocd + 20] = b"\xff\xff\xff\xff"
    with pytest.raises(UnsupportedFormat):
        CARRIER.read(bytes(data))


def _with_libraries(kind: str, tmp_path: Path) -> bytes:
    path = tmp_path / f"lib.{kind}"
    if kind == "docx":
        docx = pytest.importorskip("docx")
        doc = docx.Document()
        doc.add_paragraph("hello from python-docx")
        doc.save(path)
    elif kind == "xlsx":
        openpyxl = pytest.importorskip("openpyxl")
        wb = openpyxl.Workbook()
        wb.active["A1"] = "hello"  # type: ignore[index]
        wb.save(path)
    else:
        pptx = pytest.importorskip("pptx")
        pres = pptx.Presentation()
        pres.slides.add_slide(pres.slide_layouts[0]).shapes.title.text = "hello"
        pres.save(path)
    return path.read_bytes()


@pytest.mark.parametrize("kind", ["docx", "xlsx", "pptx"])
def test_library_files_still_open_after_labeling(kind: str, tmp_path: Path, label: AigcLabel) -> None:
    data = _with_libraries(kind, tmp_path)
    assert registry().detect(data)[1].format == kind  # type: ignore[index]
    out_path = tmp_path / f"out.{kind}"
    out_path.write_bytes(CARRIER.write(data, label))
    if kind == "docx":
        import docx

        assert docx.Document(str(out_path)).paragraphs[0].text == "hello from python-docx"
    elif kind == "xlsx":
        import openpyxl

        assert openpyxl.load_workbook(out_path).active["A1"].value == "hello"  # type: ignore[index]
    else:
        import pptx

        assert pptx.Presentation(str(out_path)).slides[0].shapes.title.text == "hello"
    assert [f.label for f in CARRIER.read(out_path.read_bytes())] == [label]


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")
@pytest.mark.parametrize("kind", ["docx", "xlsx", "pptx"])
def test_exiftool_reads_the_custom_property(kind: str, tmp_path: Path, label: AigcLabel) -> None:
    path = tmp_path / f"labeled.{kind}"
    path.write_bytes(CARRIER.write(package(kind, custom=OTHER_CUSTOM), label))
    run = subprocess.run(["exiftool", "-j", "-a", "-G1", str(path)], capture_output=True, check=True, text=True)
    tags = json.loads(run.stdout)[0]
    assert tags["XML:AIGC"] == label.to_json(JsonShape.WRAPPED)
    assert tags["XML:Client"] == "ACME & Co"
