"""PNG: the label lives in XMP in an iTXt chunk with keyword XML:com.adobe.xmp."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from synthguard.errors import CorruptInput, InputTooLarge
from synthguard.formats.base import Carrier, FoundLabel, Modality, Sniffed, need
from synthguard.formats.exif import lenient_texts, supersede, variant_labels
from synthguard.formats.xmp import XmpError, find_labels, merge_label
from synthguard.label.model import AigcLabel, parse_label_json

SIGNATURE = b"\x89PNG\r\n\x1a\n"
XMP_KEYWORD = b"XML:com.adobe.xmp"
_TEXT_TYPES = {b"tEXt", b"iTXt", b"zTXt"}
_METADATA_TYPES = _TEXT_TYPES | {b"eXIf", b"tIME"}
MAX_INFLATED = 16 * 1024 * 1024


@dataclass(frozen=True)
class Chunk:
    """One PNG chunk: its type, data and where it sits in the file."""

    type: bytes
    data: bytes
    start: int
    end: int


def chunks(data: bytes) -> list[Chunk]:
    """Split a PNG into chunks, checking lengths, CRCs and the IHDR ... IEND order."""
    need(data[:8] == SIGNATURE, "not a PNG signature")
    out: list[Chunk] = []
    pos = 8
    size = len(data)
    while True:
        need(pos + 12 <= size, f"truncated PNG: chunk header at byte {pos} runs past the end")
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        need(length < 2**31, f"PNG chunk length {length} at byte {pos} is invalid")
        end = pos + 12 + length
        need(end <= size, f"truncated PNG: {ctype!r} chunk at byte {pos} runs past the end")
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : end])
        need(zlib.crc32(ctype + body) == crc, f"PNG {ctype!r} chunk at byte {pos} has a bad CRC")
        out.append(Chunk(ctype, body, pos, end))
        pos = end
        if ctype == b"IEND":
            break
    need(out[0].type == b"IHDR", "PNG does not start with IHDR")
    return out


def make_chunk(ctype: bytes, body: bytes) -> bytes:
    """Serialise a chunk with its length and CRC."""
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def _inflate(blob: bytes) -> bytes:
    d = zlib.decompressobj()
    try:
        out = d.decompress(blob, MAX_INFLATED)
    except zlib.error as exc:
        raise CorruptInput(f"compressed PNG text chunk is corrupt: {exc}") from None
    if d.unconsumed_tail:
        raise InputTooLarge(f"compressed PNG text chunk inflates past {MAX_INFLATED} bytes")
    return out


def text_chunk(chunk: Chunk) -> tuple[str, str]:
    """Keyword and text of a tEXt, zTXt or iTXt chunk."""
    keyword, sep, rest = chunk.data.partition(b"\0")
    need(bool(sep), f"PNG {chunk.type!r} chunk has no keyword terminator")
    key = keyword.decode("latin-1")
    if chunk.type == b"tEXt":
        return key, rest.decode("latin-1")
    if chunk.type == b"zTXt":
        need(len(rest) >= 1, "PNG zTXt chunk is truncated")
        return key, _inflate(rest[1:]).decode("latin-1")
    need(len(rest) >= 2, "PNG iTXt chunk is truncated")
    flag, _method = rest[0], rest[1]
    _lang, s1, rest2 = rest[2:].partition(b"\0")
    _translated, s2, text = rest2.partition(b"\0")
    need(bool(s1 and s2), "PNG iTXt chunk is truncated")
    raw = _inflate(text) if flag == 1 else text
    try:
        return key, raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptInput("PNG iTXt chunk text is not UTF-8") from None


def itxt(keyword: bytes, text: str) -> bytes:
    """An uncompressed iTXt chunk."""
    return make_chunk(b"iTXt", keyword + b"\0\0\0\0\0" + text.encode("utf-8"))


class PngCarrier(Carrier):
    """Reads XMP and vendor tEXt labels; writes one XMP TC260:AIGC property in iTXt."""

    name = "png"
    formats = ("png",)
    extensions = (".png", ".apng")
    priority = 10

    def sniff(self, head: bytes, name: str | None = None) -> Sniffed | None:
        """PNG signature."""
        return Sniffed("png", Modality.IMAGE, "image/png") if head.startswith(SIGNATURE) else None

    def read(self, data: bytes) -> list[FoundLabel]:
        """XMP TC260 labels plus tEXt/zTXt/iTXt chunks whose keyword names AIGC and eXIf text tags."""
        found: list[FoundLabel] = []
        for chunk in chunks(data):
            if chunk.type == b"eXIf":
                found.extend(variant_labels(lenient_texts(chunk.data), "PNG eXIf chunk"))
            if chunk.type not in _TEXT_TYPES:
                continue
            key, text = text_chunk(chunk)
            kind = chunk.type.decode()
            if key == XMP_KEYWORD.decode():
                try:
                    hits = find_labels(text)
                except XmpError as exc:
                    raise CorruptInput(str(exc)) from None
                for hit in hits:
                    found.append(
                        FoundLabel.from_parsed(
                            hit.parsed,
                            carrier=f"PNG {kind} XML:com.adobe.xmp / {hit.how}",
                            raw=hit.raw,
                            standard=hit.standard and chunk.type == b"iTXt",
                        )
                    )
            elif "AIGC" in key.upper():
                found.append(
                    FoundLabel.from_parsed(
                        parse_label_json(text),
                        carrier=f"PNG {kind} chunk keyword {key!r} (vendor variant)",
                        raw=text,
                        standard=False,
                    )
                )
        return found

    def write(self, data: bytes, label: AigcLabel) -> bytes:
        """Merge into the existing XMP iTXt or add one after IHDR; drop superseded vendor AIGC chunks."""
        parts = chunks(data)
        packet: str | None = None
        xmp_index: int | None = None
        drop: set[int] = set()
        patched: dict[int, bytes] = {}
        for i, chunk in enumerate(parts):
            if chunk.type == b"eXIf":
                texts = lenient_texts(chunk.data)
                if texts:
                    patched[i] = make_chunk(b"eXIf", supersede(chunk.data, texts))
            if chunk.type not in _TEXT_TYPES:
                continue
            key, text = text_chunk(chunk)
            if key == XMP_KEYWORD.decode():
                if xmp_index is None:
                    xmp_index, packet = i, text
                else:
                    drop.add(i)
            elif "AIGC" in key.upper():
                drop.add(i)
        try:
            merged = merge_label(packet, label)
        except XmpError as exc:
            raise CorruptInput(str(exc)) from None
        new = itxt(XMP_KEYWORD, merged)
        out = [SIGNATURE]
        for i, chunk in enumerate(parts):
            if i in drop:
                continue
            if i == xmp_index:
                out.append(new)
                continue
            out.append(patched.get(i, data[chunk.start : chunk.end]))
            if chunk.type == b"IHDR" and xmp_index is None:
                out.append(new)
        out.append(data[parts[-1].end :])
        return b"".join(out)

    def content_payload(self, data: bytes) -> Iterator[bytes]:
        """Type and data of every chunk that is not textual metadata."""
        for chunk in chunks(data):
            if chunk.type not in _METADATA_TYPES:
                yield chunk.type + chunk.data


CARRIERS = (PngCarrier(),)
