"""PDF: the label lives in the XMP metadata stream (TC260:AIGC) and in the Info dictionary key /AIGC."""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TypeVar

import pikepdf

from synthguard.errors import CorruptInput, InputTooLarge, SynthguardError, UnsupportedFormat
from synthguard.formats.base import Carrier, FoundLabel, Modality, Sniffed, need
from synthguard.formats.xmp import MAX_PACKET_BYTES, XmpError, find_labels, merge_label
from synthguard.label.model import AigcLabel, JsonShape, ParsedLabel, parse_label_json

MAX_FILE = 512 * 1024 * 1024
MAX_STREAM = 128 * 1024 * 1024  # one decoded stream
MAX_PAYLOAD = 1024 * 1024 * 1024  # all decoded streams of a file together
MAX_FORM_DEPTH = 12
MAX_OTHER_FILTER = 64 * 1024
INFO_KEY = "/AIGC"
INFO_SHAPE = JsonShape.WRAPPED  # as the one Info /AIGC seen in the wild (methol/aigc-checker) stores it
# qpdf surfaces hostile-input failures through several Python exception types; all mean "corrupt".
_PDF_ERRORS = (
    pikepdf.PikepdfError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    RuntimeError,
    NotImplementedError,
    OverflowError,
    RecursionError,
    UnicodeError,
)
T = TypeVar("T")


def _with_pdf(data: bytes, action: Callable[[pikepdf.Pdf], T]) -> T:
    """Open with qpdf (which repairs broken xref tables), run action, and map library errors to ours."""
    if len(data) > MAX_FILE:
        raise InputTooLarge(f"PDF is larger than {MAX_FILE} bytes")
    need(b"%PDF-" in data[:1024], "not a PDF: no %PDF- header")
    # qpdf rebuilds a cut-off file from what is left, so a missing end marker is the truncation signal
    need(b"%%EOF" in data[-1024:], "truncated PDF: no %%EOF marker at the end")
    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            return action(pdf)
    except SynthguardError:
        raise
    except pikepdf.PasswordError:
        raise UnsupportedFormat("PDF is password-protected; it cannot be read or labelled") from None
    except _PDF_ERRORS as exc:
        raise CorruptInput(f"PDF cannot be parsed: {exc}") from None


def _filters(stream: pikepdf.Stream) -> list[str]:
    raw = stream.get("/Filter")
    if raw is None:
        return []
    items = list(raw) if isinstance(raw, pikepdf.Array) else [raw]
    return [str(f) for f in items]


def stream_data(stream: pikepdf.Stream, *, decode_any: bool = False) -> bytes:
    """Inflated data for unfiltered or Flate-only streams (bounded); the encoded bytes for other filters."""
    raw = stream.read_raw_bytes()
    filters = _filters(stream)
    if not filters:
        return bytes(raw)
    if filters in (["/FlateDecode"], ["/Fl"]):
        d = zlib.decompressobj()
        try:
            out = d.decompress(raw, MAX_STREAM)
        except zlib.error as exc:
            raise CorruptInput(f"PDF Flate stream is corrupt: {exc}") from None
        if d.unconsumed_tail:
            raise InputTooLarge(f"PDF stream inflates past {MAX_STREAM} bytes")
        return out
    if not decode_any:
        return bytes(raw)
    # other filters (LZW, ASCII85, RunLength...) go through qpdf unbounded, so only for small streams
    if len(raw) > MAX_OTHER_FILTER:
        raise UnsupportedFormat(f"PDF metadata stream with filters {filters} is too large to decode safely")
    return bytes(stream.read_bytes())


def _xmp_text(pdf: pikepdf.Pdf) -> str | None:
    meta = pdf.Root.get("/Metadata")
    if not isinstance(meta, pikepdf.Stream):
        return None
    blob = stream_data(meta, decode_any=True)
    if len(blob) > MAX_PACKET_BYTES:
        raise InputTooLarge("PDF XMP metadata stream is too large")
    for bom, codec in ((b"\xfe\xff", "utf-16-be"), (b"\xff\xfe", "utf-16-le")):
        if blob.startswith(bom):
            return blob[2:].decode(codec, "replace")
    return blob.decode("utf-8", "replace").lstrip("\ufeff")


def _info(pdf: pikepdf.Pdf) -> pikepdf.Dictionary | None:
    info = pdf.trailer.get("/Info")
    return info if isinstance(info, pikepdf.Dictionary) else None


def _read(pdf: pikepdf.Pdf) -> list[FoundLabel]:
    info_hits: list[FoundLabel] = []
    info = _info(pdf) or pikepdf.Dictionary()
    for key in list(info.keys()):
        if "AIGC" not in key.upper():
            continue
        value = info[key]
        standard = key == INFO_KEY
        where = f"PDF Info {key}" + ("" if standard else " (vendor variant)")
        if isinstance(value, pikepdf.String):
            text = str(value)
            info_hits.append(FoundLabel.from_parsed(parse_label_json(text), carrier=where, raw=text, standard=standard))
        else:
            info_hits.append(
                FoundLabel.from_parsed(
                    ParsedLabel(None, None, (f"{key} is not a string",)), carrier=where, raw=repr(value), standard=False
                )
            )
    xmp_hits: list[FoundLabel] = []
    packet = _xmp_text(pdf)
    if packet is not None:
        try:
            hits = find_labels(packet)
        except XmpError as exc:
            raise CorruptInput(f"PDF XMP metadata: {exc}") from None
        xmp_hits = [
            FoundLabel.from_parsed(h.parsed, carrier=f"PDF XMP / {h.how}", raw=h.raw, standard=h.standard) for h in hits
        ]
    return _combine(info_hits, xmp_hits, encrypted=pdf.is_encrypted)


def _combine(info_hits: list[FoundLabel], xmp_hits: list[FoundLabel], *, encrypted: bool) -> list[FoundLabel]:
    """One finding when the Info and XMP copies agree (the standard form); every finding otherwise."""
    info_std = [f for f in info_hits if f.standard]
    xmp_std = [f for f in xmp_hits if f.standard]
    note = ("PDF is encrypted (owner password only)",) if encrypted else ()
    if len(info_std) == 1 and len(xmp_std) == 1 and info_std[0].label and info_std[0].label == xmp_std[0].label:
        a, b = info_std[0], xmp_std[0]
        both = replace(
            a,
            carrier=f"{a.carrier} + {b.carrier}",
            problems=a.problems + tuple(p for p in b.problems if p not in a.problems),
            notes=note + a.notes + tuple(n for n in b.notes if n not in a.notes),
        )
        return [both] + [f for f in info_hits + xmp_hits if f is not a and f is not b]
    out = info_hits + xmp_hits
    if len(info_std) + len(xmp_std) == 1:
        only = "Info dictionary" if info_std else "XMP metadata"
        lone = (info_std or xmp_std)[0]
        out = [
            replace(f, notes=(*note, f"label only in the {only}; the other PDF copy is missing", *f.notes))
            if f is lone
            else f
            for f in out
        ]
    return out


def _write(pdf: pikepdf.Pdf, label: AigcLabel) -> bytes:
    if pdf.is_encrypted:
        raise UnsupportedFormat("PDF is encrypted; decrypt it before labelling (re-encryption is not done)")
    try:
        packet = merge_label(_xmp_text(pdf), label)
    except XmpError as exc:
        raise CorruptInput(f"PDF XMP metadata: {exc}") from None
    meta = pdf.Root.get("/Metadata")
    if isinstance(meta, pikepdf.Stream):
        meta.write(packet.encode("utf-8"))  # uncompressed, so XMP scanners that skip Flate still see it
    else:
        new = pikepdf.Stream(pdf, packet.encode("utf-8"))
        new.Type = pikepdf.Name.Metadata
        new.Subtype = pikepdf.Name.XML
        pdf.Root.Metadata = pdf.make_indirect(new)
    info = _info(pdf)
    if info is None:
        info = pdf.make_indirect(pikepdf.Dictionary())
        pdf.trailer.Info = info
    for key in list(info.keys()):
        if "AIGC" in key.upper():
            del info[key]
    info[INFO_KEY] = pikepdf.String(label.to_json(INFO_SHAPE))
    out = io.BytesIO()
    pdf.save(
        out,
        compress_streams=False,
        stream_decode_level=pikepdf.StreamDecodeLevel.none,
        object_stream_mode=pikepdf.ObjectStreamMode.preserve,
        recompress_flate=False,
        normalize_content=False,
        linearize=False,
        fix_metadata_version=False,
        deterministic_id=True,
    )
    return out.getvalue()


def _payload(pdf: pikepdf.Pdf) -> list[bytes]:
    parts: list[bytes] = []
    total = 0
    seen: set[tuple[int, int]] = set()

    def add(tag: bytes, stream: pikepdf.Stream) -> None:
        nonlocal total
        blob = stream_data(stream)
        total += len(blob)
        if total > MAX_PAYLOAD:
            raise InputTooLarge(f"PDF content inflates past {MAX_PAYLOAD} bytes")
        parts.append(tag + b"\0" + blob)

    def resources(res: object, depth: int) -> None:
        if not isinstance(res, pikepdf.Dictionary) or depth > MAX_FORM_DEPTH:
            return
        xobjects = res.get("/XObject")
        if not isinstance(xobjects, pikepdf.Dictionary):
            return
        for name in sorted(xobjects.keys()):
            xobj = xobjects[name]
            if not isinstance(xobj, pikepdf.Stream) or (xobj.objgen != (0, 0) and xobj.objgen in seen):
                continue
            seen.add(xobj.objgen)
            subtype = xobj.get("/Subtype")
            if subtype == pikepdf.Name.Image:
                add(b"image " + name.encode(), xobj)
            elif subtype == pikepdf.Name.Form:
                add(b"form " + name.encode(), xobj)
                resources(xobj.get("/Resources"), depth + 1)

    for number, page in enumerate(pdf.pages):
        contents = page.obj.get("/Contents")
        streams = list(contents) if isinstance(contents, pikepdf.Array) else [contents]
        for stream in streams:
            if isinstance(stream, pikepdf.Stream):
                add(f"page {number} content".encode(), stream)
        resources(page.obj.get("/Resources"), 0)
    return parts


def _is_text(prefix: bytes) -> bool:
    try:
        prefix.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\0" not in prefix


class PdfCarrier(Carrier):
    """Reads Info /AIGC (and vendor keys) and XMP TC260:AIGC; writes both, leaving every content stream as is."""

    name = "pdf"
    formats = ("pdf",)
    extensions = (".pdf",)
    priority = 50

    def sniff(self, head: bytes, name: str | None = None) -> Sniffed | None:
        """%PDF- at the start, or later in the first KiB after binary junk or with a .pdf name."""
        at = head.find(b"%PDF-", 0, 1024)
        if at < 0:
            return None
        # a text file that merely mentions %PDF- near its start must not be claimed
        if at > 0 and not (name or "").lower().endswith(".pdf") and _is_text(head[:at]):
            return None
        return Sniffed("pdf", Modality.DOCUMENT, "application/pdf")

    def read(self, data: bytes) -> list[FoundLabel]:
        """Info keys naming AIGC and XMP TC260 labels; agreeing Info and XMP copies are one finding."""
        return _with_pdf(data, _read)

    def write(self, data: bytes, label: AigcLabel) -> bytes:
        """Set Info /AIGC (wrapped JSON) and merge TC260:AIGC into the XMP; streams are copied, not recoded."""
        return _with_pdf(data, lambda pdf: _write(pdf, label))

    def content_payload(self, data: bytes) -> Iterator[bytes]:
        """Each page's content streams, then its image and form XObjects (inflated when Flate-only)."""
        yield from _with_pdf(data, _payload)


CARRIERS = (PdfCarrier(),)
