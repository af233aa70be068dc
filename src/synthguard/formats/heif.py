"""HEIF/HEIC/AVIF: the label is an XMP metadata item (mime, application/rdf+xml) describing the primary item."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from synthguard.errors import CorruptInput, UnsupportedFormat
from synthguard.formats.base import Carrier, FoundLabel, Modality, Sniffed, need
from synthguard.formats.bmff import (
    MAX_ENTRIES,
    Box,
    Iloc,
    IlocItem,
    Node,
    boxes,
    cstring,
    item_data,
    make_box,
    parse_iloc,
    serialise_iloc,
    shift_iloc,
    tree,
    u16,
    u32,
    uint,
)
from synthguard.formats.isobmff import HEIF_BRANDS, _shift_moov, brands
from synthguard.formats.xmp import XmpError, find_labels, merge_label
from synthguard.label.model import AigcLabel, parse_label_json

XMP_TYPE = "application/rdf+xml"
MAX_XMP = 16 * 1024 * 1024
PADDING = 1024
_NOT_IMAGES = {b"mime", b"Exif", b"uri "}
_AVIF = {b"avif", b"avis"}


def _sniff(head: bytes) -> Sniffed | None:
    found = brands(head)
    if found is None:
        return None
    major, compatible = found
    if major not in HEIF_BRANDS and not (HEIF_BRANDS.intersection(compatible) and major not in (b"isom", b"mp42")):
        return None
    if major in _AVIF or (major not in (b"heic", b"heix", b"heim", b"heis") and _AVIF.intersection(compatible)):
        return Sniffed("avif", Modality.IMAGE, "image/avif")
    return Sniffed("heic", Modality.IMAGE, "image/heic")


@dataclass(frozen=True)
class Info:
    """One item's entry in iinf: its id, type and (for mime items) content type."""

    item_id: int
    type: bytes
    content_type: str


def parse_infe(body: bytes) -> Info:
    """An infe body (versions 0-3)."""
    need(len(body) >= 8, "infe box is too short")
    version = body[0]
    if version < 2:
        item_id = u16(body, 4)
        _name, pos = cstring(body, 8, len(body))
        content, _ = cstring(body, pos, len(body))
        return Info(item_id, b"mime", content)
    width = 2 if version == 2 else 4
    item_id = uint(body, 4, width)
    pos = 4 + width + 2
    need(pos + 4 <= len(body), "infe box is truncated")
    itype = bytes(body[pos : pos + 4])
    _name, pos = cstring(body, pos + 4, len(body))
    content = cstring(body, pos, len(body))[0] if itype == b"mime" else ""
    return Info(item_id, itype, content)


def infe_xmp(item_id: int) -> bytes:
    """A version 2 (or 3 for wide ids) infe box for an XMP mime item."""
    version = 2 if item_id <= 0xFFFF else 3
    ident = item_id.to_bytes(2 if version == 2 else 4, "big")
    body = bytes([version, 0, 0, 0]) + ident + b"\0\0mime" + b"XMP\0" + XMP_TYPE.encode() + b"\0"
    return make_box(b"infe", body)


@dataclass
class Meta:
    """The parsed top-level meta box: tree, items, locations and primary item."""

    box: Box
    node: Node
    infos: list[Info]
    iloc: Iloc
    primary: int

    def idat(self) -> bytes | None:
        """The idat body, if any."""
        node = self.node.kid(b"idat")
        return node.body if node is not None else None

    def xmp_items(self) -> list[Info]:
        """The XMP metadata items, in iinf order."""
        return [i for i in self.infos if i.type == b"mime" and i.content_type.strip().lower() == XMP_TYPE]


def _iinf(body: bytes) -> list[Info]:
    need(len(body) >= 6, "iinf box is too short")
    pos = 6 if body[0] == 0 else 8
    count = u16(body, 4) if body[0] == 0 else u32(body, 4)
    need(count <= MAX_ENTRIES, "iinf entry count is implausible")
    return [parse_infe(body[b.body : b.end]) for b in boxes(body, pos, len(body)) if b.type == b"infe"]


def parse_meta(data: bytes) -> tuple[list[Box], int, Meta]:
    """Top-level boxes, the meta box's index and its parsed contents."""
    tops = boxes(data)
    index = next((i for i, b in enumerate(tops) if b.type == b"meta"), None)
    if index is None:
        raise UnsupportedFormat("HEIF file without a top-level meta box (an image sequence only?)")
    node = tree(data, tops[index], frozenset({b"meta"}))
    iinf, iloc, pitm = node.kid(b"iinf"), node.kid(b"iloc"), node.kid(b"pitm")
    need(iinf is not None and iloc is not None and pitm is not None, "HEIF meta lacks iinf, iloc or pitm")
    assert iinf is not None and iloc is not None and pitm is not None
    primary = uint(pitm.body, 4, 2 if pitm.body[:1] == b"\0" else 4)
    return tops, index, Meta(tops[index], node, _iinf(iinf.body), parse_iloc(iloc.body), primary)


def _data(data: bytes, meta: Meta, item_id: int, limit: int) -> bytes:
    loc = meta.iloc.find(item_id)
    need(loc is not None, f"item {item_id} has no iloc entry")
    assert loc is not None
    return item_data(data, loc, meta.idat(), limit)


def _packet(blob: bytes) -> str:
    return blob.rstrip(b"\0").decode("utf-8", "replace")


class HeifCarrier(Carrier):
    """Reads and writes the TC260 property in the XMP metadata item of HEIF/HEIC/AVIF images."""

    name = "heif"
    formats = ("heic", "avif")
    extensions = (".heic", ".heif", ".hif", ".avif")
    priority = 20

    def sniff(self, head: bytes, name: str | None = None) -> Sniffed | None:
        """ftyp with a HEIF or AVIF brand."""
        return _sniff(head)

    def read(self, data: bytes) -> list[FoundLabel]:
        """TC260 labels in every XMP item, and AIGC JSON inside Exif items (vendor variant)."""
        _, _, meta = parse_meta(data)
        found: list[FoundLabel] = []
        for info in meta.infos:
            if info in meta.xmp_items():
                try:
                    hits = find_labels(_packet(_data(data, meta, info.item_id, MAX_XMP)))
                except XmpError as exc:
                    raise CorruptInput(f"XMP item {info.item_id} is not well-formed: {exc}") from None
                for hit in hits:
                    where = f"HEIF XMP item {info.item_id} / {hit.how}"
                    found.append(FoundLabel.from_parsed(hit.parsed, carrier=where, raw=hit.raw, standard=hit.standard))
            elif info.type == b"Exif":
                text = _data(data, meta, info.item_id, MAX_XMP).decode("latin-1")
                at = text.find('{"AIGC"')
                if at >= 0:
                    try:
                        obj, _ = json.JSONDecoder().raw_decode(text, at)
                    except ValueError:
                        obj = text[at:]
                    raw = obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":"))
                    found.append(
                        FoundLabel.from_parsed(
                            parse_label_json(raw),
                            raw=raw,
                            standard=False,
                            carrier=f"HEIF Exif item {info.item_id} (vendor variant)",
                        )
                    )
        return found

    def write(self, data: bytes, label: AigcLabel) -> bytes:
        """Merge into the XMP item (in place when it fits) or add one; patch iloc when meta grows."""
        tops, index, meta = parse_meta(data)
        xmps = meta.xmp_items()
        old: bytes | None = _data(data, meta, xmps[0].item_id, MAX_XMP) if xmps else None
        try:
            merged = merge_label(_packet(old) if old is not None else None, label).encode("utf-8")
        except XmpError as exc:
            raise CorruptInput(f"the XMP item is not well-formed: {exc}") from None
        if xmps:
            loc = meta.iloc.find(xmps[0].item_id)
            assert loc is not None
            fitted = _fit(merged, loc)
            if fitted is not None:
                return _overwrite(data, meta, loc, fitted)
            return _relocate(data, tops, index, meta, loc, merged)
        return _relocate(data, tops, index, meta, None, merged)

    def content_payload(self, data: bytes) -> Iterator[bytes]:
        """Type and data of every image item (the primary first): the coded pixels."""
        _, _, meta = parse_meta(data)
        order = sorted(meta.infos, key=lambda i: (i.item_id != meta.primary, i.item_id))
        for info in order:
            if info.type not in _NOT_IMAGES:
                yield info.type + _data(data, meta, info.item_id, 2 * len(data) + 65536)


def _fit(packet: bytes, loc: IlocItem) -> bytes | None:
    """The packet padded to the old single extent's length, or None if it does not fit there."""
    if len(loc.extents) != 1 or loc.method not in (0, 1) or loc.extents[0][2] < len(packet):
        return None
    room = loc.extents[0][2] - len(packet)
    end = packet.rfind(b"<?xpacket end")
    at = end if end >= 0 else len(packet)
    return packet[:at] + b" " * room + packet[at:]


def _overwrite(data: bytes, meta: Meta, loc: IlocItem, packet: bytes) -> bytes:
    """Replace the XMP item's bytes in place: nothing moves."""
    start = loc.base + loc.extents[0][1]
    if loc.method == 1:
        idat = meta.node.kid(b"idat")
        assert idat is not None
        idat.body = idat.body[:start] + packet + idat.body[start + len(packet) :]
        new_meta = meta.node.serialise()
        need(len(new_meta) == meta.box.size, "idat changed size")
        return data[: meta.box.start] + new_meta + data[meta.box.end :]
    return data[:start] + packet + data[start + len(packet) :]


def _relocate(data: bytes, tops: list[Box], index: int, meta: Meta, loc: IlocItem | None, packet: bytes) -> bytes:
    """Store the packet in a new mdat at the end, point iloc at it, add the item if new; shift offsets."""
    out_data = bytearray(data)
    packet = _padded(packet)
    last = tops[-1]
    if (
        loc is not None
        and loc.method == 0
        and len(loc.extents) == 1
        and last.type == b"mdat"
        and index < len(tops) - 1
        and (loc.base + loc.extents[0][1], loc.extents[0][2]) == (last.body, last.end - last.body)
    ):
        del out_data[last.start :]  # our own trailing mdat from an earlier write: replace it
        tops = tops[:-1]
    elif loc is not None and loc.method == 0:
        for _, offset, length in loc.extents:
            start = loc.base + offset
            out_data[start : start + length] = b" " * length  # the old packet, now unreferenced
    elif loc is not None and loc.method == 1:
        idat = meta.node.kid(b"idat")
        assert idat is not None
        blank = bytearray(idat.body)
        for _, offset, length in loc.extents:
            blank[loc.base + offset : loc.base + offset + length] = b" " * length
        idat.body = bytes(blank)
    if loc is None:
        used = [i.item_id for i in meta.infos] + [i.item_id for i in meta.iloc.items] + [meta.primary]
        new_id = max(used, default=0) + 1
        if new_id > 0xFFFF:
            raise UnsupportedFormat("no free 16-bit item id for the XMP item")
        _add_item(meta, new_id)
        loc = IlocItem(new_id)
        meta.iloc.items.append(loc)
    loc.method, loc.ref_index, loc.base = 0, 0, 0
    last = tops[-1]
    tail = bytes(out_data[last.end :])
    need(not tail, "bytes after the last box")
    if last.size0:
        if last.size > 0xFFFFFFFF:
            raise UnsupportedFormat("the last box runs to the end of the file and is too large to close")
        out_data[last.start : last.start + 4] = last.size.to_bytes(4, "big")
    old_size = meta.box.size
    iloc_node = meta.node.kid(b"iloc")
    assert iloc_node is not None
    delta = 0
    new_meta = b""
    for _ in range(6):
        trial = Iloc(
            meta.iloc.version,
            meta.iloc.flags,
            meta.iloc.offset_size,
            meta.iloc.length_size,
            meta.iloc.base_size,
            meta.iloc.index_size,
            [IlocItem(i.item_id, i.method, i.ref_index, i.base, list(i.extents)) for i in meta.iloc.items],
        )
        shift_iloc(trial, meta.box.end, delta)
        placed = next(i for i in trial.items if i.item_id == loc.item_id)
        placed.base, placed.extents = 0, [(0, len(out_data) + delta + 8, len(packet))]
        iloc_node.body = serialise_iloc(trial)
        new_meta = meta.node.serialise()
        if len(new_meta) - old_size == delta:
            break
        delta = len(new_meta) - old_size
    need(len(new_meta) - old_size == delta, "iloc offsets did not settle")
    parts = [bytes(out_data[: meta.box.start]), new_meta]
    for box in tops[index + 1 :]:
        chunk = bytes(out_data[box.start : box.end])
        if delta and box.type == b"moov":
            chunk = _shift_moov(
                tree(chunk, boxes(chunk)[0], frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl"})),
                meta.box.end,
                delta,
            ).serialise()
            need(len(chunk) == box.size, "moov chunk offsets overflowed")
        parts.append(chunk)
    parts.append(make_box(b"mdat", packet))
    return b"".join(parts)


def _padded(packet: bytes) -> bytes:
    """The packet with whitespace padding before its trailer, so later edits can happen in place."""
    end = packet.rfind(b"<?xpacket end")
    at = end if end >= 0 else len(packet)
    return packet[:at] + b" " * PADDING + b"\n" + packet[at:]


def _add_item(meta: Meta, new_id: int) -> None:
    """Add an XMP infe to iinf and a cdsc reference from it to the primary item."""
    children = meta.node.children
    assert children is not None
    iinf = meta.node.kid(b"iinf")
    assert iinf is not None
    body = iinf.body
    if body[0] == 0:
        count = u16(body, 4) + 1
        need(count <= 0xFFFF, "iinf is full")
        iinf.body = body[:4] + count.to_bytes(2, "big") + body[6:] + infe_xmp(new_id)
    else:
        iinf.body = body[:4] + (u32(body, 4) + 1).to_bytes(4, "big") + body[8:] + infe_xmp(new_id)
    iref = meta.node.kid(b"iref")
    if iref is None:
        iref = Node(b"iref", b"\0\0\0\0")
        children.insert(children.index(iinf) + 1, iref)
    wide = iref.body[:1] != b"\0"
    ids = (new_id.to_bytes(4 if wide else 2, "big"), meta.primary.to_bytes(4 if wide else 2, "big"))
    need(wide or meta.primary <= 0xFFFF, "primary item id does not fit iref version 0")
    iref.body += make_box(b"cdsc", ids[0] + b"\0\x01" + ids[1])


CARRIERS = (HeifCarrier(),)
