"""ISO base media file format (ISO/IEC 14496-12) boxes: a bounded parser, an editable tree and iloc."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from synthguard.errors import InputTooLarge, UnsupportedFormat
from synthguard.formats.base import need

MAX_DEPTH = 24
MAX_ENTRIES = 1 << 22  # bound on table entry counts (iloc items, keys, chunk offsets)


@dataclass(frozen=True)
class Box:
    """One box as found in the bytes: its type and where its header, body and end are."""

    type: bytes
    start: int
    body: int
    end: int
    usertype: bytes | None = None
    size0: bool = False  # the size field was 0 ("extends to the end of the file")

    @property
    def size(self) -> int:
        """Total length of the box, header included."""
        return self.end - self.start


def u16(data: bytes, pos: int) -> int:
    """Big-endian uint16 at pos, or CorruptInput if it runs past the end."""
    need(pos >= 0 and pos + 2 <= len(data), "truncated box: 16-bit field runs past the end")
    return int.from_bytes(data[pos : pos + 2], "big")


def u32(data: bytes, pos: int) -> int:
    """Big-endian uint32 at pos, or CorruptInput if it runs past the end."""
    need(pos >= 0 and pos + 4 <= len(data), "truncated box: 32-bit field runs past the end")
    return int.from_bytes(data[pos : pos + 4], "big")


def uint(data: bytes, pos: int, width: int) -> int:
    """Big-endian unsigned integer of 0, 4 or 8 bytes (0 bytes reads as 0)."""
    need(width in (0, 1, 2, 4, 8), f"invalid field width {width}")
    need(pos >= 0 and pos + width <= len(data), "truncated box: field runs past the end")
    return int.from_bytes(data[pos : pos + width], "big") if width else 0


def read_box(data: bytes, pos: int, end: int) -> Box:
    """The box whose header starts at pos, which must end by end."""
    need(pos + 8 <= end, f"truncated box header at byte {pos}")
    size = u32(data, pos)
    btype = bytes(data[pos + 4 : pos + 8])
    head = 8
    size0 = False
    if size == 1:
        need(pos + 16 <= end, f"truncated 64-bit box header at byte {pos}")
        size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        head = 16
    elif size == 0:
        size = end - pos
        size0 = True
    usertype = None
    if btype == b"uuid":
        need(pos + head + 16 <= end, f"truncated uuid box header at byte {pos}")
        usertype = bytes(data[pos + head : pos + head + 16])
        head += 16
    need(size >= head, f"box {btype!r} at byte {pos} has size {size}, smaller than its header")
    need(pos + size <= end, f"truncated file: box {btype!r} at byte {pos} runs past its container")
    return Box(btype, pos, pos + head, pos + size, usertype, size0)


def boxes(data: bytes, start: int = 0, end: int | None = None) -> list[Box]:
    """The sibling boxes filling data[start:end]; a tail shorter than a header must be zero padding."""
    stop = len(data) if end is None else end
    out: list[Box] = []
    pos = start
    while pos < stop:
        if stop - pos < 8:
            need(not any(data[pos:stop]), f"{stop - pos} stray bytes at byte {pos} are not a box")
            break
        box = read_box(data, pos, stop)
        out.append(box)
        pos = box.end
    return out


def find(found: list[Box], btype: bytes) -> Box | None:
    """The first box of a type in a sibling list."""
    return next((b for b in found if b.type == btype), None)


def header(btype: bytes, body_len: int, usertype: bytes | None = None) -> bytes:
    """A box header for a body of body_len bytes (64-bit size when the 32-bit one would overflow)."""
    extra = usertype or b""
    total = 8 + len(extra) + body_len
    if total <= 0xFFFFFFFF:
        return struct.pack(">I4s", total, btype) + extra
    return struct.pack(">I4sQ", 1, btype, total + 8) + extra


def make_box(btype: bytes, body: bytes, usertype: bytes | None = None) -> bytes:
    """Serialise one box."""
    return header(btype, len(body), usertype) + body


def full_box(btype: bytes, version: int, flags: int, body: bytes) -> bytes:
    """Serialise a full box: version byte and 24-bit flags before the body."""
    return make_box(btype, bytes([version]) + flags.to_bytes(3, "big") + body)


@dataclass
class Node:
    """An editable box: a leaf keeps its body; a container keeps a prefix, children and padding."""

    type: bytes
    body: bytes = b""
    children: list[Node] | None = None
    prefix: bytes = b""
    suffix: bytes = b""
    usertype: bytes | None = None

    def serialise(self) -> bytes:
        """The box's bytes with a fresh size header."""
        if self.children is None:
            return make_box(self.type, self.body, self.usertype)
        inner = b"".join(c.serialise() for c in self.children)
        return make_box(self.type, self.prefix + inner + self.suffix, self.usertype)

    def kids(self, btype: bytes) -> list[Node]:
        """Children of a type."""
        return [c for c in self.children or [] if c.type == btype]

    def kid(self, btype: bytes) -> Node | None:
        """The first child of a type."""
        return next(iter(self.kids(btype)), None)

    def walk(self, depth: int = 0) -> Iterator[Node]:
        """This node and every descendant, depth first."""
        need(depth <= MAX_DEPTH, "box nesting is too deep")
        yield self
        for child in self.children or []:
            yield from child.walk(depth + 1)


def meta_prefix_len(data: bytes, body: int, end: int) -> int:
    """4 when a meta box is a full box (ISO), 0 for the QuickTime form whose first child follows at once."""
    if end - body >= 8 and data[body + 4 : body + 8] in (b"hdlr", b"keys", b"ilst", b"pitm"):
        return 0
    need(end - body >= 4, "meta box is too short")
    return 4


def tree(
    data: bytes,
    box: Box,
    containers: frozenset[bytes],
    depth: int = 0,
    *,
    prefixes: dict[bytes, int] | None = None,
) -> Node:
    """An editable tree of box, descending into the container types listed."""
    need(depth <= MAX_DEPTH, f"box nesting deeper than {MAX_DEPTH} levels")
    if box.type not in containers:
        return Node(box.type, bytes(data[box.body : box.end]), usertype=box.usertype)
    skip = (prefixes or {}).get(box.type, 0)
    if box.type == b"meta":
        skip = meta_prefix_len(data, box.body, box.end)
    need(box.body + skip <= box.end, f"{box.type!r} box is too short")
    kids: list[Node] = []
    pos = box.body + skip
    suffix = b""
    while pos < box.end:
        if box.end - pos < 8:
            need(not any(data[pos : box.end]), f"stray bytes at the end of {box.type!r}")
            suffix = bytes(data[pos : box.end])
            break
        if box.type == b"udta" and u32(data, pos) == 0:
            suffix = bytes(data[pos : box.end])  # QuickTime udta may end with a zero terminator
            need(not any(suffix), "udta has bytes after its zero terminator")
            break
        child = read_box(data, pos, box.end)
        kids.append(tree(data, child, containers, depth + 1, prefixes=prefixes))
        pos = child.end
    return Node(
        box.type,
        children=kids,
        prefix=bytes(data[box.body : box.body + skip]),
        suffix=suffix,
        usertype=box.usertype,
    )


def cstring(data: bytes, pos: int, end: int) -> tuple[str, int]:
    """A NUL-terminated UTF-8 string (an unterminated one runs to end) and the position after it."""
    stop = data.find(b"\0", pos, end)
    stop = end if stop < 0 else stop
    return data[pos:stop].decode("utf-8", "replace"), min(stop + 1, end)


# --- iloc (item location) ---------------------------------------------------------------------------


@dataclass
class IlocItem:
    """One item's location: construction method, base offset and (index, offset, length) extents."""

    item_id: int
    method: int = 0
    ref_index: int = 0
    base: int = 0
    extents: list[tuple[int, int, int]] = field(default_factory=list)


@dataclass
class Iloc:
    """The item location box, with its field widths."""

    version: int
    flags: int
    offset_size: int
    length_size: int
    base_size: int
    index_size: int
    items: list[IlocItem]

    def find(self, item_id: int) -> IlocItem | None:
        """The location entry of an item."""
        return next((i for i in self.items if i.item_id == item_id), None)


def parse_iloc(body: bytes) -> Iloc:
    """Parse an iloc body (full-box header included)."""
    need(len(body) >= 6, "iloc box is too short")
    version = body[0]
    if version > 2:
        raise UnsupportedFormat(f"iloc version {version} is not supported")
    flags = int.from_bytes(body[1:4], "big")
    off_size, len_size = body[4] >> 4, body[4] & 15
    base_size, idx_size = body[5] >> 4, body[5] & 15
    idx_size = idx_size if version in (1, 2) else 0
    for width in (off_size, len_size, base_size, idx_size):
        need(width in (0, 4, 8), f"iloc field width {width} is invalid")
    pos = 6
    if version < 2:
        count, pos = u16(body, pos), pos + 2
    else:
        count, pos = u32(body, pos), pos + 4
    need(count <= MAX_ENTRIES and count * 2 <= len(body), "iloc item count is implausible")
    items: list[IlocItem] = []
    for _ in range(count):
        width = 2 if version < 2 else 4
        item = IlocItem(uint(body, pos, width))
        pos += width
        if version in (1, 2):
            item.method, pos = u16(body, pos) & 15, pos + 2
        item.ref_index, pos = u16(body, pos), pos + 2
        item.base, pos = uint(body, pos, base_size), pos + base_size
        n, pos = u16(body, pos), pos + 2
        need(n * (off_size + len_size + idx_size) <= len(body) - pos, "iloc extents run past the box")
        for _ in range(n):
            index, pos = uint(body, pos, idx_size), pos + idx_size
            offset, pos = uint(body, pos, off_size), pos + off_size
            length, pos = uint(body, pos, len_size), pos + len_size
            item.extents.append((index, offset, length))
        items.append(item)
    return Iloc(version, flags, off_size, len_size, base_size, idx_size, items)


def _width(values: list[int], current: int) -> int:
    top = max(values, default=0)
    if top > 0xFFFFFFFF:
        return 8
    return max(current, 4) if top else current


def serialise_iloc(iloc: Iloc) -> bytes:
    """An iloc box, widening offset/length/base fields (and the version) when values need it."""
    offs = [o for i in iloc.items for _, o, _ in i.extents]
    lens = [n for i in iloc.items for _, _, n in i.extents]
    off_size, len_size = _width(offs, iloc.offset_size), _width(lens, iloc.length_size)
    base_size = _width([i.base for i in iloc.items], iloc.base_size)
    version = iloc.version
    if version == 0 and any(i.method for i in iloc.items):
        version = 1
    if version < 2 and (len(iloc.items) > 0xFFFF or any(i.item_id > 0xFFFF for i in iloc.items)):
        version = 2
    idx = iloc.index_size if version else 0
    body = bytearray([off_size << 4 | len_size, base_size << 4 | idx])
    body += len(iloc.items).to_bytes(2 if version < 2 else 4, "big")
    for item in iloc.items:
        body += item.item_id.to_bytes(2 if version < 2 else 4, "big")
        if version:
            body += item.method.to_bytes(2, "big")
        body += item.ref_index.to_bytes(2, "big") + item.base.to_bytes(base_size, "big")
        need(len(item.extents) <= 0xFFFF, "too many iloc extents")
        body += len(item.extents).to_bytes(2, "big")
        for index, offset, length in item.extents:
            body += index.to_bytes(idx, "big") + offset.to_bytes(off_size, "big")
            body += length.to_bytes(len_size, "big")
    return bytes([version]) + iloc.flags.to_bytes(3, "big") + bytes(body)


def shift_iloc(iloc: Iloc, threshold: int, delta: int) -> None:
    """Move every file-offset extent (construction method 0, this file) at or after threshold by delta."""
    for item in iloc.items:
        if item.method != 0 or item.ref_index != 0 or not delta or not item.extents:
            continue
        absolute = [item.base + off for _, off, _ in item.extents]
        moved = [a + delta if a >= threshold else a for a in absolute]
        if all(a >= threshold for a in absolute):
            item.base += delta
        else:
            item.base = 0
            item.extents = [(ix, m, n) for (ix, _, n), m in zip(item.extents, moved, strict=True)]
        need(item.base >= 0, "iloc offset would become negative")


def item_data(data: bytes, iloc_item: IlocItem, idat: bytes | None, limit: int) -> bytes:
    """The bytes of one item (construction methods 0 and 1), bounded by limit."""
    if iloc_item.ref_index != 0:
        raise UnsupportedFormat("item data in an external file (data_reference_index) is not supported")
    if iloc_item.method == 0:
        source = data
    elif iloc_item.method == 1:
        need(idat is not None, "item stored in idat but the meta box has no idat")
        source = idat or b""
    else:
        raise UnsupportedFormat(f"item construction method {iloc_item.method} is not supported")
    out = bytearray()
    for _, offset, length in iloc_item.extents or [(0, 0, 0)]:
        start = iloc_item.base + offset
        stop = len(source) if length == 0 else start + length
        need(start <= stop <= len(source), "item data lies past the end of the file")
        if stop - start + len(out) > limit:
            raise InputTooLarge(f"item data exceeds {limit} bytes")
        out += source[start:stop]
    return bytes(out)
