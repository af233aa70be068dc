"""JPEG: the label lives in an XMP packet in an APP1 segment; EXIF and COM vendor variants are read."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from synthguard.errors import CorruptInput, InputTooLarge, UnsupportedFormat
from synthguard.formats.base import Carrier, FoundLabel, Modality, Sniffed, need
from synthguard.formats.exif import EXIF_PREFIX, lenient_texts, supersede, variant_labels
from synthguard.formats.xmp import MAX_PACKET_BYTES, XmpError, XmpLabel, find_labels, merge_label
from synthguard.label.model import AigcLabel, parse_label_json

SOI = b"\xff\xd8"
APP0, APP1, SOS, EOI, COM = 0xE0, 0xE1, 0xDA, 0xD9, 0xFE
XMP_SIG = b"http://ns.adobe.com/xap/1.0/\0"
EXT_SIG = b"http://ns.adobe.com/xmp/extension/\0"
MAX_SEGMENT_PAYLOAD = 65533
MAX_XMP = MAX_SEGMENT_PAYLOAD - len(XMP_SIG)


@dataclass(frozen=True)
class Segment:
    """One marker segment; for SOS, end also covers the entropy-coded data that follows."""

    marker: int
    start: int
    end: int
    body_start: int
    body_end: int

    def body(self, data: bytes) -> bytes:
        """The segment's payload after the length field."""
        return data[self.body_start : self.body_end]


def _scan_end(data: bytes, pos: int) -> int:
    """Where the entropy-coded data starting at pos ends (the next real marker)."""
    size = len(data)
    while True:
        i = data.find(b"\xff", pos)
        need(0 <= i < size - 1, "truncated JPEG: entropy-coded data has no end (missing EOI)")
        nxt = data[i + 1]
        if nxt == 0xFF:
            pos = i + 1
        elif nxt == 0x00 or 0xD0 <= nxt <= 0xD7:
            pos = i + 2
        else:
            return i


def segments(data: bytes) -> list[Segment]:
    """Split a JPEG into marker segments from SOI to EOI, checking every length."""
    need(data[:2] == SOI, "not a JPEG (no SOI marker)")
    out = [Segment(0xD8, 0, 2, 2, 2)]
    pos, size = 2, len(data)
    while True:
        need(pos < size, "truncated JPEG: no EOI marker")
        need(data[pos] == 0xFF, f"JPEG marker expected at byte {pos}")
        start = pos
        while pos < size and data[pos] == 0xFF:
            pos += 1
        need(pos < size, "truncated JPEG: no EOI marker")
        marker = data[pos]
        pos += 1
        if marker == EOI:
            out.append(Segment(marker, start, pos, pos, pos))
            return out
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            out.append(Segment(marker, start, pos, pos, pos))
            continue
        need(marker not in {0x00, 0xD8}, f"invalid JPEG marker 0x{marker:02X} at byte {start}")
        need(pos + 2 <= size, f"truncated JPEG: segment 0x{marker:02X} at byte {start}")
        (length,) = struct.unpack_from(">H", data, pos)
        need(length >= 2, f"JPEG segment 0x{marker:02X} at byte {start} has length {length}")
        end = pos + length
        need(end <= size, f"truncated JPEG: segment 0x{marker:02X} at byte {start} runs past the end")
        if marker == SOS:
            scan_end = _scan_end(data, end)
            out.append(Segment(marker, start, scan_end, pos + 2, end))
            pos = scan_end
        else:
            out.append(Segment(marker, start, end, pos + 2, end))
            pos = end


def _packet(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptInput("JPEG XMP packet is not UTF-8") from None


def _hits(packet: str) -> list[XmpLabel]:
    try:
        return find_labels(packet)
    except XmpError as exc:
        raise CorruptInput(str(exc)) from None


def _extended_packet(data: bytes, segs: list[Segment]) -> str | None:
    """The Extended XMP packet assembled from its APP1 parts, when complete and decodable."""
    parts: dict[bytes, list[tuple[int, int, bytes]]] = {}
    for seg in segs:
        body = seg.body(data)
        if seg.marker != APP1 or not body.startswith(EXT_SIG) or len(body) < len(EXT_SIG) + 40:
            continue
        head = len(EXT_SIG)
        guid = body[head : head + 32]
        total, offset = struct.unpack_from(">II", body, head + 32)
        parts.setdefault(guid, []).append((offset, total, body[head + 40 :]))
    for chunks in parts.values():
        total = chunks[0][1]
        if total > MAX_PACKET_BYTES:
            continue
        buf, pos = bytearray(), 0
        for offset, claimed, piece in sorted(chunks, key=lambda c: c[0]):
            if offset != pos or claimed != total:
                break
            buf += piece
            pos += len(piece)
        if pos == total and b"AIGC" in buf:
            try:
                return bytes(buf).decode("utf-8")
            except UnicodeDecodeError:
                return None
    return None


def _lenient_hits(packet: str) -> list[XmpLabel]:
    try:
        return find_labels(packet)
    except XmpError:
        return []


def _is_label_text(text: str) -> bool:
    return "AIGC" in text and "{" in text


class JpegCarrier(Carrier):
    """Reads XMP, Extended XMP, EXIF and COM labels; writes one XMP TC260:AIGC property in APP1."""

    name = "jpeg"
    formats = ("jpeg",)
    extensions = (".jpg", ".jpeg", ".jpe", ".jfif")
    priority = 10

    def sniff(self, head: bytes, name: str | None = None) -> Sniffed | None:
        """SOI followed by a marker."""
        return Sniffed("jpeg", Modality.IMAGE, "image/jpeg") if head.startswith(b"\xff\xd8\xff") else None

    def read(self, data: bytes) -> list[FoundLabel]:
        """Labels in the main XMP packet (standard), Extended XMP, EXIF text tags and COM segments."""
        segs = segments(data)
        found: list[FoundLabel] = []
        main_seen = False
        for seg in segs:
            body = seg.body(data)
            if seg.marker == APP1 and body.startswith(XMP_SIG):
                for hit in _hits(_packet(body[len(XMP_SIG) :])):
                    found.append(
                        FoundLabel.from_parsed(
                            hit.parsed,
                            carrier=f"JPEG APP1 XMP / {hit.how}",
                            raw=hit.raw,
                            standard=hit.standard and not main_seen,
                        )
                    )
                main_seen = True
            elif seg.marker == APP1 and body.startswith(EXIF_PREFIX):
                found.extend(variant_labels(lenient_texts(body), "JPEG APP1"))
            elif seg.marker == COM:
                text = body.decode("utf-8", "replace").strip("\0 \t\r\n")
                if _is_label_text(text):
                    found.append(
                        FoundLabel.from_parsed(
                            parse_label_json(text),
                            carrier="JPEG COM segment (vendor variant)",
                            raw=text,
                            standard=False,
                        )
                    )
        extended = _extended_packet(data, segs)
        if extended is not None:
            for hit in _lenient_hits(extended):
                found.append(
                    FoundLabel.from_parsed(
                        hit.parsed, carrier=f"JPEG Extended XMP / {hit.how}", raw=hit.raw, standard=False
                    )
                )
        return found

    def write(self, data: bytes, label: AigcLabel) -> bytes:
        """Merge into the first XMP APP1 (or add one after APP0/EXIF); supersede vendor copies."""
        segs = segments(data)
        main: int | None = None
        packet: str | None = None
        drop: set[int] = set()
        patched: dict[int, bytes] = {}
        for i, seg in enumerate(segs):
            body = seg.body(data)
            if seg.marker == APP1 and body.startswith(XMP_SIG):
                text = _packet(body[len(XMP_SIG) :])
                if main is None:
                    main, packet = i, text
                elif _hits(text):
                    drop.add(i)
            elif seg.marker == APP1 and body.startswith(EXIF_PREFIX):
                texts = lenient_texts(body)
                if texts:
                    patched[i] = data[seg.start : seg.body_start] + supersede(body, texts)
            elif seg.marker == COM and _is_label_text(body.decode("utf-8", "replace")):
                drop.add(i)
        extended = _extended_packet(data, segs)
        if extended is not None and _lenient_hits(extended):
            raise UnsupportedFormat("this JPEG has an AIGC label in Extended XMP, which is read-only here")
        try:
            merged = merge_label(packet, label).encode("utf-8")
        except XmpError as exc:
            raise CorruptInput(str(exc)) from None
        if len(merged) > MAX_XMP:
            raise InputTooLarge(
                f"the merged XMP packet is {len(merged)} bytes but a JPEG APP1 segment holds at most "
                f"{MAX_XMP}; shrink the existing XMP (Extended XMP is not written)"
            )
        new = b"\xff\xe1" + struct.pack(">H", len(XMP_SIG) + len(merged) + 2) + XMP_SIG + merged
        insert = main
        if insert is None:
            insert = 1
            while insert < len(segs) and (
                segs[insert].marker == APP0
                or (segs[insert].marker == APP1 and segs[insert].body(data).startswith(EXIF_PREFIX))
            ):
                insert += 1
        out: list[bytes] = []
        for i, seg in enumerate(segs):
            if i == insert:
                out.append(new)
            if i == main or i in drop:
                continue
            out.append(patched.get(i, data[seg.start : seg.end]))
        out.append(data[segs[-1].end :])
        return b"".join(out)

    def content_payload(self, data: bytes) -> Iterator[bytes]:
        """Every segment except APPn and COM, with the entropy-coded data, from SOI to EOI."""
        for seg in segments(data):
            if not (0xE0 <= seg.marker <= 0xEF or seg.marker == COM):
                yield data[seg.start : seg.end]


CARRIERS = (JpegCarrier(),)
