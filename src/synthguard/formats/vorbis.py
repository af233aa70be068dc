"""FLAC and Ogg Vorbis/Opus: the label is the Vorbis comment AIGC=<json>."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from synthguard.errors import CorruptInput, InputTooLarge, UnsupportedFormat
from synthguard.formats.base import Carrier, FoundLabel, Modality, Sniffed, need
from synthguard.label.model import AigcLabel, JsonShape, parse_label_json

KEY = "AIGC"
_MAX_BLOCK = (1 << 24) - 1
_STREAMINFO, _PADDING, _COMMENT = 0, 1, 4
_REV8 = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))
_NO_GRANULE = 0xFFFFFFFFFFFFFFFF


# --- Vorbis comment block (shared) ---------------------------------------------------------------


@dataclass(frozen=True)
class Comments:
    """A Vorbis comment structure: vendor string, the comments as raw bytes, and bytes after them."""

    vendor: bytes
    items: tuple[bytes, ...]
    tail: bytes


def parse_comments(body: bytes, start: int = 0) -> Comments:
    """Parse a little-endian Vorbis comment structure starting at `start`."""
    need(start + 4 <= len(body), "Vorbis comment header is truncated")
    (vlen,) = struct.unpack_from("<I", body, start)
    pos = start + 4 + vlen
    need(pos + 4 <= len(body), "Vorbis comment vendor string runs past the end")
    vendor = body[start + 4 : pos]
    (count,) = struct.unpack_from("<I", body, pos)
    pos += 4
    need(count <= (len(body) - pos) // 4, f"Vorbis comment count {count} exceeds the block")
    items: list[bytes] = []
    for _ in range(count):
        need(pos + 4 <= len(body), "Vorbis comment list is truncated")
        (n,) = struct.unpack_from("<I", body, pos)
        need(pos + 4 + n <= len(body), "a Vorbis comment runs past the end of its block")
        items.append(body[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return Comments(vendor, tuple(items), body[pos:])


def build_comments(vendor: bytes, items: list[bytes]) -> bytes:
    """Serialise a vendor string and comments (no framing byte)."""
    out = [struct.pack("<I", len(vendor)), vendor, struct.pack("<I", len(items))]
    for item in items:
        out += [struct.pack("<I", len(item)), item]
    return b"".join(out)


def _key(item: bytes) -> str:
    return item.partition(b"=")[0].decode("ascii", "replace").upper()


def labels_in(comments: Comments, where: str) -> list[FoundLabel]:
    """AIGC=<json> is standard; any other key naming AIGC is a vendor variant."""
    found: list[FoundLabel] = []
    for item in comments.items:
        key = _key(item)
        if KEY not in key:
            continue
        try:
            raw = item.partition(b"=")[2].decode("utf-8")
        except UnicodeDecodeError:
            raise CorruptInput(f"{where} comment {key} is not UTF-8") from None
        standard = key == KEY
        carrier = f"{where} comment {KEY}" if standard else f"{where} comment {key!r} (vendor variant)"
        found.append(FoundLabel.from_parsed(parse_label_json(raw), carrier=carrier, raw=raw, standard=standard))
    return found


def relabel(comments: Comments, label: AigcLabel) -> list[bytes]:
    """The comments with every AIGC-named one dropped and one AIGC=<json> appended."""
    kept = [item for item in comments.items if KEY not in _key(item)]
    return [*kept, f"{KEY}=".encode() + label.to_json(JsonShape.WRAPPED).encode("ascii")]


# --- FLAC --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """One FLAC metadata block: type, where it starts, where its body starts and where it ends."""

    type: int
    start: int
    body_start: int
    end: int


def _id3_skip(data: bytes) -> int:
    if data[:3] != b"ID3" or len(data) < 10:
        return 0
    size = 0
    for b in data[6:10]:
        size = (size << 7) | (b & 0x7F)
    return 10 + size + (10 if data[5] & 0x10 else 0)


def flac_blocks(data: bytes) -> tuple[int, list[Block], int]:
    """The offset of fLaC, the metadata blocks, and where the audio frames start."""
    base = _id3_skip(data)
    need(data[base : base + 4] == b"fLaC", "not a FLAC stream (no fLaC marker)")
    blocks: list[Block] = []
    pos = base + 4
    while True:
        need(pos + 4 <= len(data), "truncated FLAC: metadata block header runs past the end")
        head = data[pos]
        (length,) = struct.unpack(">I", b"\0" + data[pos + 1 : pos + 4])
        end = pos + 4 + length
        need(end <= len(data), f"truncated FLAC: metadata block at byte {pos} runs past the end")
        need(head & 0x7F != 127, f"FLAC metadata block at byte {pos} has the invalid type 127")
        blocks.append(Block(head & 0x7F, pos, pos + 4, end))
        pos = end
        if head & 0x80:
            break
    need(
        blocks[0].type == _STREAMINFO and blocks[0].end - blocks[0].body_start == 34,
        "FLAC does not start with a 34-byte STREAMINFO block",
    )
    if pos < len(data):
        need(
            len(data) - pos >= 2 and data[pos] == 0xFF and data[pos + 1] & 0xFE == 0xF8,
            f"FLAC audio does not start with a frame sync at byte {pos}",
        )
    return base, blocks, pos


def _block(btype: int, body: bytes, last: bool) -> bytes:
    if len(body) > _MAX_BLOCK:
        raise InputTooLarge(f"FLAC metadata block would be {len(body)} bytes (limit {_MAX_BLOCK})")
    return bytes([btype | (0x80 if last else 0)]) + len(body).to_bytes(3, "big") + body


def flac_write(data: bytes, label: AigcLabel) -> bytes:
    """Replace the first VORBIS_COMMENT (drop others), resizing PADDING so the audio stays put."""
    base, blocks, audio = flac_blocks(data)
    comment_blocks = [b for b in blocks if b.type == _COMMENT]
    old = (
        parse_comments(data[: comment_blocks[0].end], comment_blocks[0].body_start)
        if comment_blocks
        else Comments(b"synthguard", (), b"")
    )
    body = build_comments(old.vendor, relabel(old, label))
    delta = 4 + len(body) - sum(b.end - b.start for b in comment_blocks)
    parts: list[tuple[int, bytes]] = []
    for block in blocks:
        if block.type == _COMMENT:
            if block is comment_blocks[0]:
                parts.append((_COMMENT, body))
            continue
        parts.append((block.type, data[block.body_start : block.end]))
        if block.type == _STREAMINFO and not comment_blocks:
            parts.append((_COMMENT, body))
    for i, (btype, pbody) in enumerate(parts):
        if btype == _PADDING and delta:
            if len(pbody) >= delta:
                parts[i] = (btype, bytes(len(pbody) - delta))
            elif len(pbody) + 4 == delta:
                del parts[i]
            break
    out = [data[: base + 4]]
    out += [_block(t, b, i == len(parts) - 1) for i, (t, b) in enumerate(parts)]
    out.append(data[audio:])
    return b"".join(out)


# --- Ogg ---------------------------------------------------------------------------------------


def ogg_crc(page: bytes) -> int:
    """The Ogg page CRC (polynomial 0x04C11DB7, unreflected, zero init) via zlib on bit-reversed bytes."""
    raw = zlib.crc32(page.translate(_REV8), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{raw:032b}"[::-1], 2)


@dataclass(frozen=True)
class Page:
    """One Ogg page: header fields, lacing values and the byte range of the whole page."""

    start: int
    end: int
    flags: int
    granule: int
    serial: int
    seq: int
    lacing: bytes

    @property
    def body_start(self) -> int:
        """Where the segment data begins."""
        return self.start + 27 + len(self.lacing)


def ogg_pages(data: bytes) -> list[Page]:
    """Every page, checking capture pattern, version, lengths and CRC."""
    pages: list[Page] = []
    pos = 0
    while pos < len(data):
        need(data[pos : pos + 4] == b"OggS", f"no Ogg page at byte {pos}")
        need(pos + 27 <= len(data), "truncated Ogg page header")
        version, flags, granule, serial, seq, crc, nseg = struct.unpack_from("<BBQIIIB", data, pos + 4)
        need(version == 0, f"Ogg page version {version} at byte {pos}")
        lacing = data[pos + 27 : pos + 27 + nseg]
        need(len(lacing) == nseg, "truncated Ogg lacing table")
        end = pos + 27 + nseg + sum(lacing)
        need(end <= len(data), f"truncated Ogg page at byte {pos}")
        page = bytearray(data[pos:end])
        page[22:26] = b"\0\0\0\0"
        need(ogg_crc(bytes(page)) == crc, f"Ogg page at byte {pos} has a bad CRC")
        pages.append(Page(pos, end, flags, granule, serial, seq, lacing))
        pos = end
    need(bool(pages), "empty Ogg file")
    return pages


@dataclass(frozen=True)
class OggStream:
    """The first logical stream: its codec, header packets, and page indices of its header pages."""

    codec: str
    serial: int
    pages: list[Page]
    header_pages: list[int]
    packets: list[bytes]


def _codec(first_packet: bytes) -> str | None:
    if first_packet.startswith(b"\x01vorbis"):
        return "vorbis"
    if first_packet.startswith(b"OpusHead"):
        return "opus"
    return None


def ogg_stream(data: bytes) -> OggStream:
    """Parse the first logical stream's header packets (3 for Vorbis, 2 for Opus)."""
    pages = ogg_pages(data)
    first = pages[0]
    need(bool(first.flags & 0x02), "first Ogg page is not a beginning-of-stream page")
    serial = first.serial
    packets: list[bytes] = []
    current = bytearray()
    header_pages: list[int] = []
    wanted = 3
    codec = ""
    for index, page in enumerate(pages):
        if page.serial != serial:
            continue
        header_pages.append(index)
        pos = page.body_start
        for i, lace in enumerate(page.lacing):
            current += data[pos : pos + lace]
            pos += lace
            if lace < 255:
                packets.append(bytes(current))
                current.clear()
                if len(packets) == 1:
                    codec = _codec(packets[0]) or ""
                    if not codec:
                        raise UnsupportedFormat("Ogg stream is neither Vorbis nor Opus")
                    wanted = 3 if codec == "vorbis" else 2
                    if i != len(page.lacing) - 1:
                        raise CorruptInput("Ogg identification header does not end its page")
                if len(packets) == wanted:
                    if i != len(page.lacing) - 1:
                        raise UnsupportedFormat("Ogg audio data shares a page with the headers")
                    return OggStream(codec, serial, pages, header_pages, packets)
    raise CorruptInput("truncated Ogg stream: header packets incomplete")


def _comment_offset(stream: OggStream) -> int:
    packet = stream.packets[1]
    if stream.codec == "vorbis":
        need(packet.startswith(b"\x03vorbis"), "Ogg Vorbis second packet is not the comment header")
        return 7
    need(packet.startswith(b"OpusTags"), "Ogg Opus second packet is not OpusTags")
    return 8


def ogg_comments(stream: OggStream) -> Comments:
    """The comment header of the stream."""
    return parse_comments(stream.packets[1], _comment_offset(stream))


def _paginate(packets: list[bytes], serial: int, seq: int) -> list[bytes]:
    segments: list[tuple[bytes, bool]] = []  # (segment bytes, ends a packet)
    for packet in packets:
        for off in range(0, len(packet) // 255 * 255, 255):
            segments.append((packet[off : off + 255], False))
        segments.append((packet[len(packet) // 255 * 255 :], True))
    pages: list[bytes] = []
    for i in range(0, len(segments), 255):
        chunk = segments[i : i + 255]
        ends = any(e for _, e in chunk)
        flags = 0x01 if i and not segments[i - 1][1] else 0
        head = struct.pack(
            "<4sBBQIIIB",
            b"OggS",
            0,
            flags,
            0 if ends else _NO_GRANULE,
            serial,
            seq + len(pages),
            0,
            len(chunk),
        )
        page = bytearray(head + bytes(len(s) for s, _ in chunk) + b"".join(s for s, _ in chunk))
        struct.pack_into("<I", page, 22, ogg_crc(bytes(page)))
        pages.append(bytes(page))
    return pages


def ogg_write(data: bytes, label: AigcLabel) -> bytes:
    """Rebuild the comment packet, repaginate the header pages and renumber the stream's later pages."""
    stream = ogg_stream(data)
    comments = ogg_comments(stream)
    off = _comment_offset(stream)
    body = build_comments(comments.vendor, relabel(comments, label))
    tail = comments.tail
    if stream.codec == "vorbis":
        need(tail[:1] == b"\x01", "Vorbis comment header lacks its framing bit")
        body += tail[:1]
        tail = tail[1:]
    new_packet = stream.packets[1][:off] + body + tail
    bos = stream.pages[stream.header_pages[0]]
    new_pages = _paginate([new_packet, *stream.packets[2:]], stream.serial, bos.seq + 1)
    shift = len(new_pages) - (len(stream.header_pages) - 1)
    last_header = stream.header_pages[-1]
    skip = set(stream.header_pages[1:])
    out: list[bytes] = []
    for index, page in enumerate(stream.pages):
        if index in skip:
            if index == last_header:
                out += new_pages
            continue
        raw = data[page.start : page.end]
        if page.serial == stream.serial and index > last_header and shift:
            buf = bytearray(raw)
            struct.pack_into("<II", buf, 18, (page.seq + shift) & 0xFFFFFFFF, 0)
            struct.pack_into("<I", buf, 22, ogg_crc(bytes(buf)))
            raw = bytes(buf)
        out.append(raw)
    return b"".join(out)


def ogg_audio_packets(data: bytes) -> Iterator[bytes]:
    """The stream's packets after its headers, reassembled from the lacing."""
    stream = ogg_stream(data)
    current = bytearray()
    for page in stream.pages[stream.header_pages[-1] + 1 :]:
        if page.serial != stream.serial:
            continue
        pos = page.body_start
        for lace in page.lacing:
            current += data[pos : pos + lace]
            pos += lace
            if lace < 255:
                yield bytes(current)
                current.clear()
    if current:
        yield bytes(current)


# --- the carrier -------------------------------------------------------------------------------


def _ogg_sniff(head: bytes) -> str | None:
    if not head.startswith(b"OggS") or len(head) < 28:
        return None
    nseg = head[26]
    codec = _codec(head[27 + nseg : 27 + nseg + 8])
    return None if codec is None else f"ogg-{codec}"


class VorbisCommentCarrier(Carrier):
    """FLAC VORBIS_COMMENT blocks and Ogg Vorbis/Opus comment headers."""

    name = "vorbis"
    formats = ("flac", "ogg-vorbis", "ogg-opus")
    extensions = (".flac", ".ogg", ".oga", ".opus")
    priority = 30

    def sniff(self, head: bytes, name: str | None = None) -> Sniffed | None:
        """fLaC (optionally after an ID3v2 tag) or an Ogg BOS page of Vorbis or Opus."""
        skip = _id3_skip(head)
        if head[skip : skip + 4] == b"fLaC":
            return Sniffed("flac", Modality.AUDIO, "audio/flac")
        fmt = _ogg_sniff(head)
        if fmt is None:
            return None
        return Sniffed(fmt, Modality.AUDIO, "audio/ogg" if fmt == "ogg-vorbis" else "audio/opus")

    def _is_flac(self, data: bytes) -> bool:
        if data.startswith(b"OggS"):
            return False
        if data[_id3_skip(data) :][:4] == b"fLaC":
            return True
        raise UnsupportedFormat("neither FLAC nor Ogg")

    def read(self, data: bytes) -> list[FoundLabel]:
        """Every comment whose name contains AIGC."""
        if self._is_flac(data):
            _, blocks, _ = flac_blocks(data)
            found: list[FoundLabel] = []
            for block in blocks:
                if block.type == _COMMENT:
                    comments = parse_comments(data[: block.end], block.body_start)
                    found += labels_in(comments, "FLAC VORBIS_COMMENT")
            return found
        stream = ogg_stream(data)
        return labels_in(ogg_comments(stream), f"Ogg {stream.codec.capitalize()}")

    def write(self, data: bytes, label: AigcLabel) -> bytes:
        """One AIGC comment, every other comment, block and audio byte kept."""
        return flac_write(data, label) if self._is_flac(data) else ogg_write(data, label)

    def content_payload(self, data: bytes) -> Iterator[bytes]:
        """FLAC: the audio frames. Ogg: the audio packets."""
        if self._is_flac(data):
            yield data[flac_blocks(data)[2] :]
        else:
            yield from ogg_audio_packets(data)


CARRIERS = (VorbisCommentCarrier(),)
