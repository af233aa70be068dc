"""WebP: the label lives in an XMP chunk of the extended (VP8X) container, with the XMP flag set."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from synthguard.errors import CorruptInput
from synthguard.formats.base import Carrier, FoundLabel, Modality, Sniffed, need
from synthguard.formats.exif import lenient_texts, supersede, variant_labels
from synthguard.formats.xmp import XmpError, XmpLabel, find_labels, merge_label
from synthguard.label.model import AigcLabel

FLAG_ICC, FLAG_ALPHA, FLAG_EXIF, FLAG_XMP, FLAG_ANIM = 0x20, 0x10, 0x08, 0x04, 0x02
IMAGE_CHUNKS = (b"ANIM", b"ANMF", b"ALPH", b"VP8 ", b"VP8L")
CONTENT_CHUNKS = (b"ICCP", *IMAGE_CHUNKS)


@dataclass(frozen=True)
class Chunk:
    """One RIFF chunk: its FourCC, where it starts and ends (with padding) and where its data is."""

    fourcc: bytes
    start: int
    end: int
    data_start: int
    data_end: int

    def body(self, data: bytes) -> bytes:
        """The chunk's data without header or padding."""
        return data[self.data_start : self.data_end]


def chunks(data: bytes) -> tuple[list[Chunk], int]:
    """The chunks inside RIFF/WEBP and where the RIFF payload ends, with every size checked."""
    need(len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP", "not a RIFF WEBP file")
    (size,) = struct.unpack_from("<I", data, 4)
    end = 8 + size
    need(size >= 4, f"WebP RIFF size {size} is too small")
    need(end <= len(data), f"truncated WebP: RIFF claims {end} bytes, file has {len(data)}")
    out: list[Chunk] = []
    pos = 12
    while pos < end:
        need(pos + 8 <= end, f"truncated WebP: chunk header at byte {pos}")
        fourcc = data[pos : pos + 4]
        (length,) = struct.unpack_from("<I", data, pos + 4)
        data_end = pos + 8 + length
        need(data_end <= end, f"truncated WebP: chunk {fourcc!r} at byte {pos} runs past the end")
        out.append(Chunk(fourcc, pos, min(data_end + (length & 1), end), pos + 8, data_end))
        pos = out[-1].end
    need(bool(out) and out[0].fourcc in (b"VP8X", b"VP8 ", b"VP8L"), "WebP has no VP8/VP8L/VP8X chunk")
    return out, end


def bitstream_info(fourcc: bytes, body: bytes) -> tuple[int, int, bool]:
    """Width, height and alpha hint from a VP8 or VP8L bitstream header."""
    if fourcc == b"VP8 ":
        need(len(body) >= 10 and body[3:6] == b"\x9d\x01\x2a", "VP8 bitstream has no key-frame start code")
        w, h = struct.unpack_from("<HH", body, 6)
        return w & 0x3FFF, h & 0x3FFF, False
    need(len(body) >= 5 and body[0] == 0x2F, "VP8L bitstream has no signature")
    (bits,) = struct.unpack_from("<I", body, 1)
    return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool((bits >> 28) & 1)


def _canvas(data: bytes, parts: list[Chunk]) -> tuple[int, int]:
    first = parts[0]
    if first.fourcc == b"VP8X":
        body = first.body(data)
        need(len(body) >= 10, "WebP VP8X chunk is too short")
        return int.from_bytes(body[4:7], "little") + 1, int.from_bytes(body[7:10], "little") + 1
    w, h, _ = bitstream_info(first.fourcc, first.body(data))
    return w, h


def make_chunk(fourcc: bytes, body: bytes) -> bytes:
    """A RIFF chunk with its size and the padding byte for odd lengths."""
    return fourcc + struct.pack("<I", len(body)) + body + (b"\0" if len(body) & 1 else b"")


def _vp8x(flags: int, width: int, height: int) -> bytes:
    need(0 < width <= 1 << 24 and 0 < height <= 1 << 24, "WebP canvas size is out of range")
    return make_chunk(
        b"VP8X", bytes([flags, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    )


def _hits(body: bytes) -> list[XmpLabel]:
    try:
        return find_labels(body.decode("utf-8"))
    except (XmpError, UnicodeDecodeError) as exc:
        raise CorruptInput(f"WebP XMP chunk is not a readable XMP packet: {exc}") from None


class WebpCarrier(Carrier):
    """Reads XMP and EXIF labels; writes one XMP TC260:AIGC property, converting simple files to VP8X."""

    name = "webp"
    formats = ("webp",)
    extensions = (".webp",)
    priority = 10

    def sniff(self, head: bytes, name: str | None = None) -> Sniffed | None:
        """RIFF with form type WEBP."""
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            return Sniffed("webp", Modality.IMAGE, "image/webp")
        return None

    def read(self, data: bytes) -> list[FoundLabel]:
        """XMP chunk labels (standard when VP8X flags XMP) and EXIF chunk vendor variants."""
        parts, _ = chunks(data)
        head = parts[0].body(data)[:1]
        flagged = parts[0].fourcc == b"VP8X" and bool(head) and bool(head[0] & FLAG_XMP)
        found: list[FoundLabel] = []
        first_xmp = True
        for chunk in parts:
            if chunk.fourcc == b"XMP ":
                for hit in _hits(chunk.body(data)):
                    found.append(
                        FoundLabel.from_parsed(
                            hit.parsed,
                            carrier=f"WebP XMP chunk / {hit.how}",
                            raw=hit.raw,
                            standard=hit.standard and flagged and first_xmp,
                        )
                    )
                first_xmp = False
            elif chunk.fourcc == b"EXIF":
                found.extend(variant_labels(lenient_texts(chunk.body(data)), "WebP EXIF chunk"))
        return found

    def write(self, data: bytes, label: AigcLabel) -> bytes:
        """Merge into the XMP chunk or add one; a simple file becomes VP8X with its bitstream untouched."""
        parts, riff_end = chunks(data)
        packet: str | None = None
        out: list[tuple[bytes, bytes]] = []
        xmp_at: int | None = None
        for chunk in parts:
            body = chunk.body(data)
            if chunk.fourcc == b"XMP ":
                hits = _hits(body)
                if xmp_at is None:
                    xmp_at, packet = len(out), body.decode("utf-8")
                    out.append((chunk.fourcc, b""))
                elif not hits:
                    out.append((chunk.fourcc, body))
                continue
            if chunk.fourcc == b"EXIF":
                body = supersede(body, lenient_texts(body))
            out.append((chunk.fourcc, body))
        try:
            merged = merge_label(packet, label).encode("utf-8")
        except XmpError as exc:
            raise CorruptInput(str(exc)) from None
        if xmp_at is None:
            last = max((i for i, (cc, _) in enumerate(out) if cc in (*CONTENT_CHUNKS, b"EXIF", b"VP8X")), default=0)
            xmp_at = last + 1
            out.insert(xmp_at, (b"XMP ", merged))
        else:
            out[xmp_at] = (b"XMP ", merged)
        blob = b"".join(make_chunk(cc, body) for cc, body in self._extended(data, parts, out))
        return b"RIFF" + struct.pack("<I", len(blob) + 4) + b"WEBP" + blob + data[riff_end:]

    def _extended(self, data: bytes, parts: list[Chunk], out: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """The chunk list with a VP8X header whose flags match what the file holds."""
        present = {cc for cc, _ in out}
        flags = FLAG_XMP
        flags |= FLAG_EXIF if b"EXIF" in present else 0
        flags |= FLAG_ICC if b"ICCP" in present else 0
        if out[0][0] == b"VP8X":
            vp8x = out[0][1]
            need(len(vp8x) >= 10, "WebP VP8X chunk is too short")
            return [(b"VP8X", bytes([vp8x[0] | flags]) + vp8x[1:]), *out[1:]]
        w, h, alpha = bitstream_info(parts[0].fourcc, parts[0].body(data))
        flags |= FLAG_ALPHA if alpha else 0
        header = _vp8x(flags, w, h)
        iccp = [c for c in out if c[0] == b"ICCP"]
        rest = [c for c in out if c[0] != b"ICCP"]
        return [(b"VP8X", header[8:18]), *iccp, *rest]

    def content_payload(self, data: bytes) -> Iterator[bytes]:
        """The canvas size, then the ICC, animation and bitstream chunks (not VP8X flags, EXIF or XMP)."""
        parts, _ = chunks(data)
        w, h = _canvas(data, parts)
        yield b"canvas" + struct.pack("<II", w, h)
        for chunk in parts:
            if chunk.fourcc in CONTENT_CHUNKS:
                yield chunk.fourcc + chunk.body(data)


CARRIERS = (WebpCarrier(),)
