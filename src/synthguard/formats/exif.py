"""A bounded TIFF/EXIF IFD reader shared by the TIFF, JPEG, WebP and PNG carriers, and EXIF vendor labels."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from synthguard.errors import CorruptInput
from synthguard.formats.base import FoundLabel, need
from synthguard.label.model import parse_label_json

TYPE_SIZES: dict[int, int] = {
    1: 1,
    2: 1,
    3: 2,
    4: 4,
    5: 8,
    6: 1,
    7: 1,
    8: 2,
    9: 4,
    10: 8,
    11: 4,
    12: 8,
    13: 4,
    16: 8,
    17: 8,
    18: 8,
}
TYPE_BYTE = 1
TYPE_SHORT = 3
TYPE_LONG = 4
TYPE_UNDEFINED = 7
TYPE_LONG8 = 16
TAG_IMAGE_DESCRIPTION = 0x010E
TAG_XMP = 700
TAG_EXIF_IFD = 0x8769
TAG_USER_COMMENT = 0x9286
TAG_XP_COMMENT = 0x9C9C
MAX_IFDS = 4096
MAX_ENTRIES = 65535
EXIF_PREFIX = b"Exif\0\0"


@dataclass(frozen=True)
class Entry:
    """One IFD entry: tag, type, count, where the entry sits and where its value bytes are."""

    tag: int
    type: int
    count: int
    pos: int
    value_pos: int
    size: int
    inline: bool


@dataclass(frozen=True)
class Ifd:
    """One image file directory: its entries and the pointer to the next one."""

    offset: int
    entries: tuple[Entry, ...]
    end: int
    next_pos: int
    next_offset: int

    def get(self, tag: int) -> Entry | None:
        """The first entry with this tag, if any."""
        for entry in self.entries:
            if entry.tag == tag:
                return entry
        return None


@dataclass(frozen=True)
class Tiff:
    """A parsed TIFF header over a buffer; IFDs are read on demand with every offset checked."""

    data: bytes
    order: str
    big: bool
    first_pos: int

    @property
    def entry_size(self) -> int:
        """Bytes per IFD entry (12 classic, 20 BigTIFF)."""
        return 20 if self.big else 12

    @property
    def offset_size(self) -> int:
        """Bytes per offset field (4 classic, 8 BigTIFF)."""
        return 8 if self.big else 4

    def uint(self, pos: int, size: int) -> int:
        """An unsigned integer of 1, 2, 4 or 8 bytes at pos, bounds-checked."""
        need(pos >= 0 and pos + size <= len(self.data), f"TIFF field at byte {pos} runs past the end")
        fmt = {1: "B", 2: "H", 4: "I", 8: "Q"}[size]
        value: int = struct.unpack_from(self.order + fmt, self.data, pos)[0]
        return value

    def pack(self, value: int, size: int) -> bytes:
        """An unsigned integer in this file's byte order."""
        return struct.pack(self.order + {2: "H", 4: "I", 8: "Q"}[size], value)

    def first_offset(self) -> int:
        """Offset of IFD0."""
        return self.uint(self.first_pos, self.offset_size)

    def ifd(self, offset: int) -> Ifd:
        """Read the IFD at offset, checking that it and every out-of-line value lie inside the buffer."""
        count_size = 8 if self.big else 2
        count = self.uint(offset, count_size)
        need(count <= MAX_ENTRIES, f"TIFF IFD at byte {offset} claims {count} entries")
        start = offset + count_size
        next_pos = start + count * self.entry_size
        need(next_pos + self.offset_size <= len(self.data), f"truncated TIFF: IFD at byte {offset}")
        entries: list[Entry] = []
        for i in range(count):
            pos = start + i * self.entry_size
            tag = self.uint(pos, 2)
            typ = self.uint(pos + 2, 2)
            n = self.uint(pos + 4, self.offset_size)
            field = pos + 4 + self.offset_size
            size = TYPE_SIZES.get(typ, 0) * n
            inline = size <= self.offset_size
            value_pos = field if inline else self.uint(field, self.offset_size)
            if not inline:
                need(
                    value_pos + size <= len(self.data),
                    f"TIFF tag {tag} value at byte {value_pos} ({size} bytes) runs past the end",
                )
            entries.append(Entry(tag, typ, n, pos, value_pos, size, inline))
        nxt = self.uint(next_pos, self.offset_size)
        return Ifd(offset, tuple(entries), next_pos + self.offset_size, next_pos, nxt)

    def chain(self) -> list[Ifd]:
        """IFD0 and every following IFD, refusing loops and absurd lengths."""
        out: list[Ifd] = []
        seen: set[int] = set()
        offset = self.first_offset()
        while offset:
            need(offset not in seen, f"TIFF IFD chain loops back to byte {offset}")
            need(len(out) < MAX_IFDS, f"TIFF has more than {MAX_IFDS} IFDs")
            seen.add(offset)
            ifd = self.ifd(offset)
            out.append(ifd)
            offset = ifd.next_offset
        need(bool(out), "TIFF has no IFD0")
        return out

    def value(self, entry: Entry) -> bytes:
        """The raw value bytes of an entry."""
        return self.data[entry.value_pos : entry.value_pos + entry.size]

    def ints(self, entry: Entry) -> list[int]:
        """The values of an integer-typed entry (BYTE, SHORT, LONG, IFD, LONG8)."""
        unit = {1: 1, 3: 2, 4: 4, 13: 4, 16: 8, 18: 8}.get(entry.type)
        if unit is None:
            raise CorruptInput(f"TIFF tag {entry.tag} has non-integer type {entry.type}")
        return [self.uint(entry.value_pos + i * unit, unit) for i in range(entry.count)]


def parse(data: bytes) -> Tiff:
    """Parse a classic or BigTIFF header (byte order II or MM)."""
    need(len(data) >= 8, "truncated TIFF header")
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None:
        raise CorruptInput("not a TIFF byte-order mark")
    (magic,) = struct.unpack_from(order + "H", data, 2)
    if magic == 42:
        return Tiff(data, order, False, 4)
    need(magic == 43, f"TIFF magic {magic} is neither 42 nor 43 (BigTIFF)")
    need(len(data) >= 16, "truncated BigTIFF header")
    size, zero = struct.unpack_from(order + "HH", data, 4)
    need(size == 8 and zero == 0, "BigTIFF header has an unsupported offset size")
    return Tiff(data, order, True, 8)


@dataclass(frozen=True)
class ExifText:
    """A text value in EXIF that carries an AIGC label, and where its bytes are."""

    where: str
    text: str
    start: int
    end: int


def _comment_text(raw: bytes, order: str) -> str:
    head, body = raw[:8], raw[8:]
    if head.startswith(b"UNICODE"):
        first, second = ("utf-16-le", "utf-16-be") if order == "<" else ("utf-16-be", "utf-16-le")
        text = body.decode(first, "replace")
        if "AIGC" not in text:
            text = body.decode(second, "replace")
    elif head.startswith((b"ASCII", b"JIS", b"\0\0\0\0\0\0\0\0")):
        text = body.decode("utf-8", "replace")
    else:
        text = raw.decode("utf-8", "replace")
    return text.strip("\0 \t\r\n")


def _is_label(text: str) -> bool:
    return "AIGC" in text and "{" in text


def label_texts(data: bytes, *, tiff: Tiff | None = None) -> list[ExifText]:
    """ImageDescription, XPComment and Exif UserComment values holding AIGC JSON (strict parsing)."""
    if tiff is None and data.startswith(EXIF_PREFIX):
        return [ExifText(t.where, t.text, t.start + 6, t.end + 6) for t in label_texts(data[6:])]
    tiff = tiff or parse(data)
    ifd0 = tiff.ifd(tiff.first_offset())
    out: list[ExifText] = []
    desc = ifd0.get(TAG_IMAGE_DESCRIPTION)
    if desc is not None and not desc.inline:
        text = tiff.value(desc).decode("utf-8", "replace").strip("\0 \t\r\n")
        if _is_label(text):
            out.append(ExifText("EXIF ImageDescription", text, desc.value_pos, desc.value_pos + desc.size))
    xp = ifd0.get(TAG_XP_COMMENT)
    if xp is not None and not xp.inline:
        text = tiff.value(xp).decode("utf-16-le", "replace").strip("\0 \t\r\n")
        if _is_label(text):
            out.append(ExifText("EXIF XPComment", text, xp.value_pos, xp.value_pos + xp.size))
    pointer = ifd0.get(TAG_EXIF_IFD)
    if pointer is not None and pointer.count >= 1:
        offsets = tiff.ints(pointer)
        if offsets and offsets[0] and offsets[0] != ifd0.offset:
            sub = tiff.ifd(offsets[0])
            uc = sub.get(TAG_USER_COMMENT)
            if uc is not None and not uc.inline:
                text = _comment_text(tiff.value(uc), tiff.order)
                if _is_label(text):
                    out.append(ExifText("EXIF UserComment", text, uc.value_pos, uc.value_pos + uc.size))
    return out


def variant_labels(texts: list[ExifText], where: str) -> list[FoundLabel]:
    """FoundLabels (non-standard) for EXIF texts found in a container."""
    return [
        FoundLabel.from_parsed(
            parse_label_json(t.text),
            carrier=f"{where} {t.where} (vendor variant)",
            raw=t.text,
            standard=False,
        )
        for t in texts
    ]


def lenient_texts(data: bytes) -> list[ExifText]:
    """label_texts, but an EXIF block that does not parse yields none (it must not block labelling)."""
    try:
        return label_texts(data)
    except CorruptInput:
        return []


def supersede(data: bytes, texts: list[ExifText]) -> bytes:
    """The block with each AIGC text value zeroed in place (same length, nothing moves)."""
    buf = bytearray(data)
    for t in texts:
        buf[t.start : t.end] = bytes(t.end - t.start)
    return bytes(buf)
