"""GIF: the label lives in an XMP application extension ("XMP DataXMP" with the 258-byte magic trailer)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from synthguard.errors import CorruptInput
from synthguard.formats.base import Carrier, FoundLabel, Modality, Sniffed, need
from synthguard.formats.xmp import XmpError, XmpLabel, find_labels, merge_label
from synthguard.label.model import AigcLabel, parse_label_json

SIGNATURES = (b"GIF87a", b"GIF89a")
XMP_APP_ID = b"XMP DataXMP"
# Lets a reader that walks data sub-blocks skip the raw XMP text: every length byte lands on the terminator.
MAGIC_TRAILER = b"\x01" + bytes(range(255, -1, -1)) + b"\x00"
EXTENSION, IMAGE, TRAILER = 0x21, 0x2C, 0x3B
APPLICATION, COMMENT = 0xFF, 0xFE
ANIMATION_APPS = (b"NETSCAPE2.0", b"ANIMEXTS1.0")


@dataclass(frozen=True)
class Block:
    """One top-level GIF block: header, extension, image or trailer, and its byte range."""

    kind: int
    label: int
    start: int
    end: int
    app_id: bytes = b""


def _sub_blocks_end(data: bytes, pos: int) -> int:
    """Where the data sub-block sequence starting at pos ends (after its zero terminator)."""
    size = len(data)
    while True:
        need(pos < size, "truncated GIF: data sub-blocks run past the end")
        length = data[pos]
        pos += 1 + length
        if length == 0:
            return pos


def sub_block_data(data: bytes, pos: int, end: int) -> bytes:
    """The concatenated payload of the sub-blocks between pos and end."""
    out = bytearray()
    while pos < end:
        length = data[pos]
        out += data[pos + 1 : pos + 1 + length]
        pos += 1 + length
    return bytes(out)


def blocks(data: bytes) -> list[Block]:
    """Split a GIF into header (with global colour table), extensions, images and trailer."""
    need(data[:6] in SIGNATURES, "not a GIF signature")
    need(len(data) >= 13, "truncated GIF: logical screen descriptor")
    flags = data[10]
    head_end = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    need(head_end <= len(data), "truncated GIF: global colour table")
    out = [Block(0, 0, 0, head_end)]
    pos, size = head_end, len(data)
    while True:
        need(pos < size, "truncated GIF: no trailer")
        kind = data[pos]
        if kind == TRAILER:
            out.append(Block(TRAILER, 0, pos, pos + 1))
            return out
        if kind == EXTENSION:
            need(pos + 3 <= size, f"truncated GIF: extension at byte {pos}")
            label = data[pos + 1]
            app_id = b""
            if label == APPLICATION and data[pos + 2] == 11 and pos + 14 <= size:
                app_id = data[pos + 3 : pos + 14]
            end = _sub_blocks_end(data, pos + 2)
            out.append(Block(EXTENSION, label, pos, end, app_id))
        elif kind == IMAGE:
            need(pos + 10 <= size, f"truncated GIF: image descriptor at byte {pos}")
            local = data[pos + 9]
            table = 3 << ((local & 7) + 1) if local & 0x80 else 0
            lzw = pos + 10 + table
            need(lzw < size, f"truncated GIF: image at byte {pos}")
            out.append(Block(IMAGE, 0, pos, _sub_blocks_end(data, lzw + 1)))
        else:
            raise CorruptInput(f"unknown GIF block 0x{kind:02X} at byte {pos}")
        pos = out[-1].end


def _xmp_text(data: bytes, block: Block) -> str:
    raw = data[block.start + 14 : block.end]
    raw = raw[: -len(MAGIC_TRAILER)] if raw.endswith(MAGIC_TRAILER) else raw[:-1]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptInput("GIF XMP extension is not UTF-8") from None


def _hits(packet: str) -> list[XmpLabel]:
    try:
        return find_labels(packet)
    except XmpError as exc:
        raise CorruptInput(str(exc)) from None


def _comment(data: bytes, block: Block) -> str:
    return sub_block_data(data, block.start + 2, block.end).decode("utf-8", "replace").strip("\0 \t\r\n")


def _is_xmp(block: Block) -> bool:
    return block.kind == EXTENSION and block.label == APPLICATION and block.app_id == XMP_APP_ID


def _is_label_comment(data: bytes, block: Block) -> bool:
    if block.kind != EXTENSION or block.label != COMMENT:
        return False
    text = _comment(data, block)
    return "AIGC" in text and "{" in text


class GifCarrier(Carrier):
    """Reads XMP and comment-extension labels; writes one XMP TC260:AIGC property."""

    name = "gif"
    formats = ("gif",)
    extensions = (".gif",)
    priority = 10

    def sniff(self, head: bytes, name: str | None = None) -> Sniffed | None:
        """GIF87a or GIF89a signature."""
        return Sniffed("gif", Modality.IMAGE, "image/gif") if head[:6] in SIGNATURES else None

    def read(self, data: bytes) -> list[FoundLabel]:
        """Labels in the XMP application extension (standard) and in comment extensions (variants)."""
        found: list[FoundLabel] = []
        first = True
        for block in blocks(data):
            if _is_xmp(block):
                for hit in _hits(_xmp_text(data, block)):
                    found.append(
                        FoundLabel.from_parsed(
                            hit.parsed,
                            carrier=f"GIF XMP extension / {hit.how}",
                            raw=hit.raw,
                            standard=hit.standard and first,
                        )
                    )
                first = False
            elif _is_label_comment(data, block):
                text = _comment(data, block)
                found.append(
                    FoundLabel.from_parsed(
                        parse_label_json(text),
                        carrier="GIF comment extension (vendor variant)",
                        raw=text,
                        standard=False,
                    )
                )
        return found

    def write(self, data: bytes, label: AigcLabel) -> bytes:
        """Merge into the XMP extension or add one before the first frame; drop superseded copies."""
        parts = blocks(data)
        packet: str | None = None
        main: int | None = None
        drop: set[int] = set()
        for i, block in enumerate(parts):
            if _is_xmp(block):
                text = _xmp_text(data, block)
                if main is None:
                    main, packet = i, text
                elif _hits(text):
                    drop.add(i)
            elif _is_label_comment(data, block):
                drop.add(i)
        try:
            merged = merge_label(packet, label).encode("utf-8")
        except XmpError as exc:
            raise CorruptInput(str(exc)) from None
        need(b"\0" not in merged, "GIF XMP packet contains a NUL byte")
        new = b"\x21\xff\x0b" + XMP_APP_ID + merged + MAGIC_TRAILER
        insert = main
        if insert is None:
            insert = 1
            while parts[insert].kind == EXTENSION and parts[insert].label in (APPLICATION, COMMENT):
                insert += 1
        out = [b"GIF89a", data[6 : parts[0].end]]
        for i, block in enumerate(parts[1:], start=1):
            if i == insert:
                out.append(new)
            if i != main and i not in drop:
                out.append(data[block.start : block.end])
        out.append(data[parts[-1].end :])
        return b"".join(out)

    def content_payload(self, data: bytes) -> Iterator[bytes]:
        """Screen descriptor, colour tables, frames, control and animation blocks (not comments or XMP)."""
        parts = blocks(data)
        yield data[6 : parts[0].end]
        for block in parts[1:]:
            if block.kind == EXTENSION and (
                block.label == COMMENT or (block.label == APPLICATION and block.app_id not in ANIMATION_APPS)
            ):
                continue
            yield data[block.start : block.end]


CARRIERS = (GifCarrier(),)
