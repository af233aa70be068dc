"""A bounded EBML (Matroska/WebM) element reader and writer: IDs, sizes, elements and Void padding."""

from __future__ import annotations

from dataclasses import dataclass

from synthguard.errors import CorruptInput, InputTooLarge
from synthguard.formats.base import need

VOID = 0xEC
CRC32 = 0xBF
MAX_CHILDREN = 1_000_000


@dataclass(frozen=True)
class Element:
    """One element: ID, where its header starts, where its data starts and ends, and its size-field width."""

    id: int
    start: int
    data_start: int
    end: int
    size_len: int
    unknown_size: bool = False

    @property
    def size(self) -> int:
        """Length of the element's data."""
        return self.end - self.data_start


def read_id(data: bytes, pos: int, limit: int) -> tuple[int, int]:
    """An element ID (marker bits kept) and its length in bytes (1 to 4)."""
    need(pos < limit, f"truncated EBML: element ID at byte {pos} runs past the end")
    first = data[pos]
    length = next((i + 1 for i in range(4) if first & (0x80 >> i)), 0)
    need(length > 0, f"invalid EBML element ID at byte {pos}")
    need(pos + length <= limit, f"truncated EBML: element ID at byte {pos} runs past the end")
    return int.from_bytes(data[pos : pos + length], "big"), length


def read_size(data: bytes, pos: int, limit: int) -> tuple[int | None, int]:
    """An element data size (None when it is the reserved 'unknown' value) and its width (1 to 8)."""
    need(pos < limit, f"truncated EBML: element size at byte {pos} runs past the end")
    first = data[pos]
    length = next((i + 1 for i in range(8) if first & (0x80 >> i)), 0)
    need(length > 0, f"invalid EBML size at byte {pos}")
    need(pos + length <= limit, f"truncated EBML: element size at byte {pos} runs past the end")
    value = int.from_bytes(data[pos : pos + length], "big") & ((1 << (7 * length)) - 1)
    if value == (1 << (7 * length)) - 1:
        return None, length
    return value, length


def read_element(data: bytes, pos: int, limit: int, *, allow_unknown: bool = False) -> Element:
    """The element at pos, whose data must end by limit (unknown sizes run to limit when allowed)."""
    eid, id_len = read_id(data, pos, limit)
    size, size_len = read_size(data, pos + id_len, limit)
    data_start = pos + id_len + size_len
    if size is None:
        need(allow_unknown, f"EBML element 0x{eid:X} at byte {pos} has an unknown size here")
        return Element(eid, pos, data_start, limit, size_len, unknown_size=True)
    need(data_start + size <= limit, f"truncated EBML: element 0x{eid:X} at byte {pos} runs past its parent")
    return Element(eid, pos, data_start, data_start + size, size_len)


def children(data: bytes, parent: Element) -> list[Element]:
    """The direct children of a known-size element."""
    out: list[Element] = []
    pos = parent.data_start
    while pos < parent.end:
        need(len(out) < MAX_CHILDREN, "EBML element has too many children")
        child = read_element(data, pos, parent.end)
        out.append(child)
        pos = child.end
    return out


def encode_id(eid: int) -> bytes:
    """An element ID as stored (its marker bits are part of the value)."""
    return eid.to_bytes((eid.bit_length() + 7) // 8, "big")


def encode_size(value: int, width: int | None = None) -> bytes:
    """A data size in the given width, or the shortest width that is not the reserved all-ones value."""
    widths = [width] if width else range(1, 9)
    for w in widths:
        if value <= (1 << (7 * w)) - 2:
            return ((1 << (7 * w)) | value).to_bytes(w, "big")
    raise InputTooLarge(f"EBML size {value} does not fit in {width or 8} bytes")


def element(eid: int, body: bytes) -> bytes:
    """A complete element."""
    return encode_id(eid) + encode_size(len(body)) + body


def uint_element(eid: int, value: int) -> bytes:
    """An unsigned-integer element in the fewest bytes."""
    return element(eid, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def read_uint(data: bytes, el: Element) -> int:
    """An unsigned-integer element's value (at most 8 bytes)."""
    need(el.size <= 8, f"EBML integer element 0x{el.id:X} is longer than 8 bytes")
    return int.from_bytes(data[el.data_start : el.end], "big")


def read_text(data: bytes, el: Element) -> str:
    """A UTF-8 or ASCII string element, trailing NULs removed."""
    try:
        return data[el.data_start : el.end].rstrip(b"\0").decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptInput(f"EBML string element 0x{el.id:X} is not UTF-8") from None


def void(total: int) -> bytes:
    """A Void element exactly total bytes long (total >= 2)."""
    need(total >= 2, "no Void element fits in fewer than 2 bytes")
    for width in range(1, 9):
        body = total - 1 - width
        if 0 <= body <= (1 << (7 * width)) - 2:
            return bytes([VOID]) + encode_size(body, width) + bytes(body)
    raise InputTooLarge(f"Void of {total} bytes is too large")


def fits(need_len: int, room: int) -> bool:
    """Whether need_len bytes fit in room with the remainder expressible as a Void (0 or at least 2)."""
    return need_len == room or room - need_len >= 2
