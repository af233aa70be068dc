"""MP4/MOV/M4A/3GP: the label is the mdta key AIGC in moov/udta/meta, its UTF-8 JSON value in ilst."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from synthguard.errors import UnsupportedFormat
from synthguard.formats.base import Carrier, FoundLabel, Modality, Sniffed, need
from synthguard.formats.bmff import (
    MAX_ENTRIES,
    Box,
    Node,
    boxes,
    make_box,
    tree,
    u16,
    u32,
)
from synthguard.label.model import AigcLabel, JsonShape, parse_label_json

KEY = "AIGC"
MDTA = b"mdta"
MAX_VALUE = 1024 * 1024
_MOOV_CONTAINERS = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl", b"udta", b"meta"})
_FRAGMENT_CONTAINERS = frozenset({b"moof", b"traf", b"mfra"})
HEIF_BRANDS = frozenset(
    {
        b"heic",
        b"heix",
        b"heim",
        b"heis",
        b"hevc",
        b"hevx",
        b"mif1",
        b"msf1",
        b"mif2",
        b"avif",
        b"avis",
        b"avci",
        b"avcs",
        b"jpeg",
        b"jpgs",
    }
)
_M4A = frozenset({b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "})
_MOV = frozenset({b"qt  "})
_MP4 = frozenset(
    {
        b"isom",
        b"iso2",
        b"iso3",
        b"iso4",
        b"iso5",
        b"iso6",
        b"iso7",
        b"iso8",
        b"iso9",
        b"mp41",
        b"mp42",
        b"avc1",
        b"dash",
        b"M4V ",
        b"M4VH",
        b"M4VP",
        b"mmp4",
        b"msnv",
        b"MSNV",
        b"f4v ",
        b"XAVC",
        b"NDAS",
        b"NDSC",
        b"ndsc",
        b"ndxh",
        b"cmfc",
        b"cmfs",
        b"MiHA",
        b"MiHB",
    }
)
_LOOSE_MOV_HEAD = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
_DATA_UTF8 = 1


def brands(head: bytes) -> tuple[bytes, list[bytes]] | None:
    """Major and compatible brands of a leading ftyp box, or None."""
    if len(head) < 16 or head[4:8] != b"ftyp":
        return None
    size = min(int.from_bytes(head[:4], "big"), len(head), 4096)
    if size < 16:
        return None
    return head[8:12], [head[i : i + 4] for i in range(16, size - 3, 4)]


def _format(head: bytes) -> tuple[str, Modality, str] | None:
    found = brands(head)
    if found is None:
        if len(head) >= 8 and head[4:8] in _LOOSE_MOV_HEAD and int.from_bytes(head[:4], "big") in range(8, 2**31):
            return "mov", Modality.VIDEO, "video/quicktime"
        return None
    major, compatible = found
    if major in HEIF_BRANDS:
        return None
    if major in _M4A:
        return "m4a", Modality.AUDIO, "audio/mp4"
    if major in _MOV:
        return "mov", Modality.VIDEO, "video/quicktime"
    if major.startswith((b"3gp", b"3g2", b"3ge", b"3gg", b"3gs", b"3gr")):
        return "3gp", Modality.VIDEO, "video/3gpp"
    if major in _MP4 or (not HEIF_BRANDS.intersection(compatible) and _MP4.intersection(compatible)):
        return "mp4", Modality.VIDEO, "video/mp4"
    return None


# --- keys / ilst -----------------------------------------------------------------------------------


def handler(meta: Node) -> bytes:
    """The handler type of a meta box ('mdta', 'mdir', ...), or b'' without hdlr."""
    hdlr = meta.kid(b"hdlr")
    return hdlr.body[8:12] if hdlr is not None and len(hdlr.body) >= 12 else b""


def parse_keys(body: bytes) -> list[tuple[bytes, str]]:
    """(namespace, name) of every key in a keys box body."""
    count = u32(body, 4)
    need(count <= MAX_ENTRIES and count * 8 <= len(body), "keys entry count is implausible")
    out: list[tuple[bytes, str]] = []
    pos = 8
    for _ in range(count):
        size = u32(body, pos)
        need(8 <= size <= len(body) - pos, "keys entry runs past the box")
        out.append((body[pos + 4 : pos + 8], body[pos + 8 : pos + size].decode("utf-8", "replace")))
        pos += size
    return out


def serialise_keys(keys: list[tuple[bytes, str]]) -> bytes:
    """A keys box body (full-box header included)."""
    entries = b"".join(make_box(ns, name.encode("utf-8")) for ns, name in keys)
    return b"\0\0\0\0" + len(keys).to_bytes(4, "big") + entries


@dataclass(frozen=True)
class Item:
    """One ilst entry: its box type (a key index for mdta) and its sub-boxes."""

    type: bytes
    raw: bytes
    parts: tuple[Box, ...]

    def value(self) -> str | None:
        """The text of the first data atom, if it decodes as UTF-8."""
        for part in self.parts:
            if part.type == b"data" and part.end - part.body >= 8:
                blob = self.raw[part.body + 8 : part.end]
                if len(blob) > MAX_VALUE:
                    return None
                try:
                    return blob.decode("utf-8")
                except UnicodeDecodeError:
                    return None
        return None

    def freeform_name(self) -> str:
        """The name of a '----' freeform item (mean is ignored)."""
        for part in self.parts:
            if part.type == b"name" and part.end - part.body >= 4:
                return self.raw[part.body + 4 : part.end].decode("utf-8", "replace")
        return ""


def parse_ilst(body: bytes) -> list[Item]:
    """The items of an ilst body."""
    out: list[Item] = []
    for box in boxes(body):
        raw = body[box.start : box.end]
        out.append(Item(box.type, raw, tuple(boxes(raw, box.body - box.start, len(raw)))))
    return out


def data_atom(text: str) -> bytes:
    """A data atom holding UTF-8 text (well-known type 1, default locale)."""
    return make_box(b"data", _DATA_UTF8.to_bytes(4, "big") + b"\0\0\0\0" + text.encode("utf-8"))


def _looks_like_label(text: str) -> bool:
    return "AIGC" in text and text.lstrip().startswith("{")


def _qt_text(node: Node) -> str | None:
    """The first string of a QuickTime udta text atom (16-bit length, 16-bit language, text)."""
    body = node.body
    if len(body) < 4:
        return None
    size = u16(body, 0)
    if size > len(body) - 4:
        return None
    return body[4 : 4 + size].decode("utf-8", "replace")


# --- the carrier ----------------------------------------------------------------------------------


@dataclass
class _Hit:
    """A label-bearing place in moov, for reading and for superseding on write."""

    where: str
    raw: str
    standard: bool


class IsoBmffCarrier(Carrier):
    """Reads and writes the mdta AIGC key in moov/udta/meta; vendor ilst/udta AIGC variants are read."""

    name = "isobmff"
    formats = ("mp4", "mov", "m4a", "3gp")
    extensions = (".mp4", ".m4v", ".mov", ".qt", ".m4a", ".m4b", ".3gp", ".3g2")
    priority = 20
    shape = JsonShape.WRAPPED

    def sniff(self, head: bytes, name: str | None = None) -> Sniffed | None:
        """ftyp brands (HEIF/AVIF brands are left to the heif carrier); QuickTime files without ftyp."""
        found = _format(head)
        return Sniffed(*found) if found else None

    def _moov(self, data: bytes) -> tuple[list[Box], int, Node]:
        tops = boxes(data)
        moovs = [i for i, b in enumerate(tops) if b.type == b"moov"]
        if not moovs:
            if any(b.type in (b"moof", b"styp") for b in tops):
                raise UnsupportedFormat(
                    "a media segment without moov (fragment only): the label belongs in "
                    "the initialisation segment's moov"
                )
            need(False, "no moov box: not a complete ISO BMFF movie")
        need(len(moovs) == 1, "more than one moov box")
        return tops, moovs[0], tree(data, tops[moovs[0]], _MOOV_CONTAINERS)

    def read(self, data: bytes) -> list[FoundLabel]:
        """The mdta AIGC key under moov/udta/meta (standard) and AIGC variants elsewhere in moov."""
        _, _, moov = self._moov(data)
        return [
            FoundLabel.from_parsed(parse_label_json(h.raw), carrier=h.where, raw=h.raw, standard=h.standard)
            for h in _hits(moov)
        ]

    def write(self, data: bytes, label: AigcLabel) -> bytes:
        """Set the single mdta AIGC value (replacing any), drop superseded variants, patch shifted offsets."""
        tops, index, moov = self._moov(data)
        old = tops[index]
        _set_label(moov, label.to_json(self.shape))
        new_moov = moov.serialise()
        growth = len(new_moov) - old.size
        parts: list[bytes] = []
        following = tops[index + 1] if index + 1 < len(tops) else None
        absorb = (
            following is not None
            and following.type in (b"free", b"skip")
            and not following.size0
            and following.size - growth >= 8
            and following.size - growth < 2**32
        )
        delta = 0 if absorb or growth == 0 else growth
        if delta:
            for _ in range(4):
                new_moov = _shift_moov(moov, old.end, delta).serialise()
                if len(new_moov) - old.size == delta:
                    break
                delta = len(new_moov) - old.size
            need(len(new_moov) - old.size == delta, "chunk offsets did not settle")
            _check_fragment_refs(tops, index, data)
        for i, box in enumerate(tops):
            if i == index:
                parts.append(new_moov)
            elif absorb and following is not None and i == index + 1:
                parts.append(make_box(box.type, bytes(following.size - growth - 8)))
            elif delta and box.type in _FRAGMENT_CONTAINERS:
                parts.append(_shift_fragment(data, box, old.end, delta))
            else:
                parts.append(data[box.start : box.end])
        parts.append(data[tops[-1].end :])
        return b"".join(parts)

    def content_payload(self, data: bytes) -> Iterator[bytes]:
        """The bodies of every mdat box: the media samples, unchanged by metadata edits."""
        for box in boxes(data):
            if box.type == b"mdat":
                yield data[box.body : box.end]


def _metas(moov: Node) -> Iterator[tuple[str, Node, bool]]:
    """Every meta box that may hold labels, with its path and whether it is the standard place."""
    for udta in moov.kids(b"udta"):
        for meta in udta.kids(b"meta"):
            yield "moov/udta/meta", meta, True
    for meta in moov.kids(b"meta"):
        yield "moov/meta", meta, False


def _classify(item: Item, keys: list[tuple[bytes, str]] | None) -> tuple[str, bool] | None:
    """(name, is the AIGC mdta key) for an item that carries a label, else None."""
    idx = int.from_bytes(item.type, "big")
    if keys is not None and 1 <= idx <= len(keys):
        namespace, name = keys[idx - 1]
        return (name, name == KEY and namespace == MDTA) if "AIGC" in name.upper() else None
    value = item.value()
    if value is None:
        return None
    name = item.freeform_name() if item.type == b"----" else item.type.decode("latin-1")
    return (name, False) if "AIGC" in name.upper() or _looks_like_label(value) else None


def _keys_of(meta: Node) -> list[tuple[bytes, str]] | None:
    """The mdta keys of a meta box, or None when it is not an mdta meta."""
    if handler(meta) != MDTA:
        return None
    keys_box = meta.kid(b"keys")
    return parse_keys(keys_box.body) if keys_box is not None else []


def _hits(moov: Node) -> list[_Hit]:
    out: list[_Hit] = []
    for path, meta, standard_place in _metas(moov):
        ilst = meta.kid(b"ilst")
        if ilst is None:
            continue
        keys = _keys_of(meta)
        for item in parse_ilst(ilst.body):
            found = _classify(item, keys)
            if found is None:
                continue
            name, is_key = found
            standard = standard_place and is_key
            kind = "mdta key" if is_key or (keys is not None and item.type[:1] == b"\0") else "ilst item"
            where = f"{path} {kind} {name!r}" + ("" if standard else " (vendor variant)")
            out.append(_Hit(where, item.value() or "", standard))
    for udta in moov.kids(b"udta"):
        for atom in udta.children or []:
            if atom.children is None and atom.type[:1] == b"\xa9":
                text = _qt_text(atom)
                if text is not None and _looks_like_label(text):
                    name = atom.type.decode("latin-1")
                    out.append(_Hit(f"moov/udta {name!r} text atom (vendor variant)", text, False))
    return out


def _new_mdta_meta() -> Node:
    hdlr = Node(b"hdlr", b"\0" * 8 + MDTA + b"\0" * 12 + b"\0")
    return Node(b"meta", children=[hdlr, Node(b"keys", serialise_keys([])), Node(b"ilst", b"")], prefix=b"\0" * 4)


def _set_label(moov: Node, label_json: str) -> None:
    """Write value under the mdta AIGC key; remove every other label-bearing item it supersedes."""
    children = moov.children
    assert children is not None
    udta = moov.kid(b"udta")
    if udta is None:
        udta = Node(b"udta", children=[])
        children.append(udta)
    assert udta.children is not None
    target = next((m for m in udta.kids(b"meta") if handler(m) == MDTA and m.kid(b"ilst") and m.kid(b"keys")), None)
    if target is None:
        target = _new_mdta_meta()
        metas = udta.kids(b"meta")
        at = udta.children.index(metas[-1]) + 1 if metas else len(udta.children)
        udta.children.insert(at, target)
    placed = False
    for _, meta, _ in _metas(moov):
        ilst = meta.kid(b"ilst")
        if ilst is None:
            continue
        keys = _keys_of(meta)
        kept: list[bytes] = []
        for item in parse_ilst(ilst.body):
            found = _classify(item, keys)
            if found is not None and found[1] and meta is target and not placed:
                kept.append(make_box(item.type, data_atom(label_json)))
                placed = True
            elif found is None:
                kept.append(item.raw)
            # else: superseded by the single standard label
        ilst.body = b"".join(kept)
    if not placed:
        keys_box = target.kid(b"keys")
        ilst = target.kid(b"ilst")
        assert keys_box is not None and ilst is not None
        keys = parse_keys(keys_box.body)
        index = next((i + 1 for i, (ns, name) in enumerate(keys) if ns == MDTA and name == KEY), 0)
        if not index:
            keys.append((MDTA, KEY))
            keys_box.body = serialise_keys(keys)
            index = len(keys)
        ilst.body += make_box(index.to_bytes(4, "big"), data_atom(label_json))
    udta.children[:] = [
        a
        for a in udta.children
        if not (a.children is None and a.type[:1] == b"\xa9" and _looks_like_label(_qt_text(a) or ""))
    ]


# --- offset patching ------------------------------------------------------------------------------


def _moved(offset: int, threshold: int, delta: int) -> int:
    return offset + delta if offset >= threshold else offset


def _shift_chunks(node: Node, threshold: int, delta: int) -> Node:
    """A stco/co64 box with offsets at or after threshold moved; stco becomes co64 if one overflows."""
    body = node.body
    wide = node.type == b"co64"
    width = 8 if wide else 4
    count = u32(body, 4)
    need(count <= MAX_ENTRIES and 8 + count * width <= len(body), f"{node.type!r} entry count is implausible")
    offsets = [
        _moved(int.from_bytes(body[8 + i * width : 8 + (i + 1) * width], "big"), threshold, delta) for i in range(count)
    ]
    need(all(o >= 0 for o in offsets), "chunk offset would become negative")
    if not wide and any(o > 0xFFFFFFFF for o in offsets):
        wide, width = True, 8
    table = b"".join(o.to_bytes(width, "big") for o in offsets)
    return Node(
        b"co64" if wide else b"stco",
        body[:8] + table + body[8 + count * (8 if node.type == b"co64" else 4) :],
    )


def _shift_moov(node: Node, threshold: int, delta: int, depth: int = 0) -> Node:
    """A copy of a moov subtree with every chunk offset past threshold moved by delta."""
    need(depth <= 16, "moov nesting is too deep")
    if node.type in (b"stco", b"co64") and node.children is None:
        return _shift_chunks(node, threshold, delta)
    if node.children is None:
        return node
    kids = [_shift_moov(c, threshold, delta, depth + 1) for c in node.children]
    return Node(node.type, children=kids, prefix=node.prefix, suffix=node.suffix, usertype=node.usertype)


def _check_fragment_refs(tops: list[Box], index: int, data: bytes) -> None:
    """Refuse layouts whose relative references would break when moov changes size."""
    for box in tops[:index]:
        if box.type == b"sidx":
            raise UnsupportedFormat(
                "fragmented MP4 with a sidx before moov: its relative offsets would break when moov grows"
            )
    del data


def _shift_fragment(data: bytes, box: Box, threshold: int, delta: int) -> bytes:
    """A moof (tfhd base-data-offset) or mfra (tfra moof offsets) box with absolute offsets moved."""
    node = tree(data, box, _FRAGMENT_CONTAINERS)
    for leaf in node.walk():
        body = leaf.body
        if leaf.type == b"tfhd" and len(body) >= 16 and body[3] & 1:
            base = _moved(int.from_bytes(body[8:16], "big"), threshold, delta)
            leaf.body = body[:8] + base.to_bytes(8, "big") + body[16:]
        elif leaf.type == b"tfra":
            leaf.body = _shift_tfra(body, threshold, delta)
    return node.serialise()


def _shift_tfra(body: bytes, threshold: int, delta: int) -> bytes:
    """A tfra body with its moof offsets moved."""
    need(len(body) >= 16, "tfra box is too short")
    version = body[0]
    sizes = u32(body, 8)
    extra = ((sizes >> 4 & 3) + 1) + ((sizes >> 2 & 3) + 1) + ((sizes & 3) + 1)
    count = u32(body, 12)
    width = 8 if version == 1 else 4
    entry = 2 * width + extra
    need(count <= MAX_ENTRIES and 16 + count * entry <= len(body), "tfra entry count is implausible")
    out = bytearray(body)
    for i in range(count):
        pos = 16 + i * entry + width
        moved = _moved(int.from_bytes(body[pos : pos + width], "big"), threshold, delta)
        if moved > 0xFFFFFFFF and width == 4:
            raise UnsupportedFormat("tfra moof offset would overflow 32 bits")
        out[pos : pos + width] = moved.to_bytes(width, "big")
    return bytes(out)


CARRIERS = (IsoBmffCarrier(),)
