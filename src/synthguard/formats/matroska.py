"""Matroska and WebM: the label is Segment/Tags/Tag/SimpleTag with TagName AIGC and the JSON as TagString.

Writing never moves Clusters or Cues: the Tags element is rewritten in place when it fits (Void pads the
rest), else the old Tags becomes a Void and the new one goes into a big enough Void before the first
Cluster or at the end of the Segment, with the SeekHead updated when it has room.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from synthguard.errors import SynthguardError, UnsupportedFormat
from synthguard.formats.base import Carrier, FoundLabel, Modality, Sniffed, need
from synthguard.formats.ebml import (
    CRC32,
    VOID,
    Element,
    children,
    element,
    encode_id,
    encode_size,
    fits,
    read_element,
    read_id,
    read_text,
    uint_element,
    void,
)
from synthguard.label.model import AigcLabel, JsonShape, parse_label_json

EBML_HEADER, DOCTYPE = 0x1A45DFA3, 0x4282
SEGMENT, SEEKHEAD, SEEK, SEEK_ID, SEEK_POSITION = 0x18538067, 0x114D9B74, 0x4DBB, 0x53AB, 0x53AC
INFO, TRACKS, CLUSTER, CUES, CHAPTERS, ATTACHMENTS = (
    0x1549A966,
    0x1654AE6B,
    0x1F43B675,
    0x1C53BB6B,
    0x1043A770,
    0x1941A469,
)
TAGS, TAG, TARGETS, SIMPLE_TAG, TAG_NAME, TAG_STRING = 0x1254C367, 0x7373, 0x63C0, 0x67C8, 0x45A3, 0x4487
_TOP = {SEEKHEAD, INFO, TRACKS, CLUSTER, CUES, CHAPTERS, ATTACHMENTS, TAGS, EBML_HEADER, SEGMENT}
NAME = "AIGC"


@dataclass(frozen=True)
class Layout:
    """The file's EBML header doc type, its first Segment and the Segment's top-level children."""

    doctype: str
    segment: Element
    top: list[Element]


def _doctype(data: bytes, header: Element) -> str:
    for child in children(data, header):
        if child.id == DOCTYPE:
            return read_text(data, child)
    return "matroska"


def _cluster_end(data: bytes, cluster: Element, limit: int) -> int:
    """Where an unknown-size Cluster ends: at the next top-level element or the end of its parent."""
    pos = cluster.data_start
    while pos < limit:
        eid, _ = read_id(data, pos, limit)
        if eid in _TOP:
            break
        pos = read_element(data, pos, limit).end
    return pos


def layout(data: bytes) -> Layout:
    """Parse the EBML header and the first Segment's top level, bounding every size by the file."""
    need(data[:4] == encode_id(EBML_HEADER), "not an EBML file")
    header = read_element(data, 0, len(data))
    doctype = _doctype(data, header)
    if doctype not in ("matroska", "webm"):
        raise UnsupportedFormat(f"EBML doc type {doctype!r} is not Matroska or WebM")
    pos = header.end
    while True:
        el = read_element(data, pos, len(data), allow_unknown=True)
        if el.id == SEGMENT:
            break
        need(el.id == VOID and not el.unknown_size, "no Segment after the EBML header")
        pos = el.end
    segment = el
    top: list[Element] = []
    pos = segment.data_start
    while pos < segment.end:
        el = read_element(data, pos, segment.end, allow_unknown=True)
        if el.unknown_size:
            if el.id != CLUSTER:
                raise UnsupportedFormat(f"unknown-size element 0x{el.id:X} inside the Segment")
            end = _cluster_end(data, el, segment.end)
            el = Element(el.id, el.start, el.data_start, end, el.size_len, unknown_size=True)
        top.append(el)
        pos = el.end
    return Layout(doctype, segment, top)


def with_crc(eid: int, body: bytes, crc: bool) -> bytes:
    """An element, led by a fresh CRC-32 child over the rest of its data when the original had one."""
    if crc:
        body = element(CRC32, zlib.crc32(body).to_bytes(4, "little")) + body
    return element(eid, body)


def _has_crc(data: bytes, el: Element) -> bool:
    kids = children(data, el)
    return bool(kids) and kids[0].id == CRC32


def _simple_tags(data: bytes, tag: Element) -> list[tuple[Element, str, str | None]]:
    """Each top-level SimpleTag of a Tag with its TagName and TagString."""
    out: list[tuple[Element, str, str | None]] = []
    for st in children(data, tag):
        if st.id != SIMPLE_TAG:
            continue
        name, value = "", None
        for field in children(data, st):
            if field.id == TAG_NAME:
                name = read_text(data, field)
            elif field.id == TAG_STRING:
                value = read_text(data, field)
        out.append((st, name, value))
    return out


def _is_label(name: str) -> bool:
    return NAME in name.upper()


def _tags_without_labels(data: bytes, tags: Element) -> tuple[bytes, bool]:
    """The Tags body with every AIGC SimpleTag (and Tags left empty, CRC-32 and Void) removed."""
    body: list[bytes] = []
    changed = False
    for tag in children(data, tags):
        if tag.id in (CRC32, VOID):
            changed = True
            continue
        if tag.id != TAG:
            body.append(data[tag.start : tag.end])
            continue
        simple = _simple_tags(data, tag)
        drop = {st.start for st, name, _ in simple if _is_label(name)}
        if not drop:
            body.append(data[tag.start : tag.end])
            continue
        changed = True
        if len(drop) == len(simple):
            continue
        kept = [data[c.start : c.end] for c in children(data, tag) if c.start not in drop and c.id != CRC32]
        body.append(element(TAG, b"".join(kept)))
    return b"".join(body), changed


def label_tag(label: AigcLabel) -> bytes:
    """A segment-level Tag holding one SimpleTag AIGC with the wrapped JSON."""
    simple = element(TAG_NAME, NAME.encode()) + element(TAG_STRING, label.to_json(JsonShape.WRAPPED).encode())
    return element(TAG, element(TARGETS, b"") + element(SIMPLE_TAG, simple))


def _voids_after(top: list[Element], index: int) -> int:
    """The end of the run of Void elements directly after top[index]."""
    end = top[index].end
    for el in top[index + 1 :]:
        if el.id != VOID or el.start != end:
            break
        end = el.end
    return end


def _seekhead(data: bytes, lay: Layout, tags_pos: int, used: set[int]) -> tuple[int, int, bytes] | None:
    """An edit pointing the first SeekHead's Tags entry at tags_pos, if the SeekHead and its Voids have room."""
    index = next((i for i, el in enumerate(lay.top) if el.id == SEEKHEAD), None)
    if index is None:
        return None
    head = lay.top[index]
    entries: list[bytes] = []
    for seek in children(data, head):
        if seek.id != SEEK:
            continue
        target = next((c for c in children(data, seek) if c.id == SEEK_ID), None)
        if target is not None and data[target.data_start : target.end] == encode_id(TAGS):
            continue
        entries.append(data[seek.start : seek.end])
    rel = tags_pos - lay.segment.data_start
    entries.append(element(SEEK, element(SEEK_ID, encode_id(TAGS)) + uint_element(SEEK_POSITION, rel)))
    new = with_crc(SEEKHEAD, b"".join(entries), _has_crc(data, head))
    room_end = head.end
    for el in lay.top[index + 1 :]:
        if el.id != VOID or el.start != room_end or el.start in used:
            break
        room_end = el.end
    if not fits(len(new), room_end - head.start):
        return None
    return (
        head.start,
        room_end,
        new + (void(room_end - head.start - len(new)) if room_end - head.start > len(new) else b""),
    )


def _apply(data: bytes, edits: list[tuple[int, int, bytes]], insert_at: int, insert: bytes) -> bytes:
    out: list[bytes] = []
    pos = 0
    for start, end, replacement in sorted(edits):
        need(start >= pos, "overlapping Matroska edits")
        out += [data[pos:start], replacement]
        pos = end
    if insert:
        need(insert_at >= pos, "Matroska insertion point inside an edit")
        out += [data[pos:insert_at], insert]
        pos = insert_at
    out.append(data[pos:])
    return b"".join(out)


def write_label(data: bytes, label: AigcLabel) -> bytes:
    """The file with one AIGC SimpleTag, nothing before the end of the Segment moved."""
    lay = layout(data)
    edits: list[tuple[int, int, bytes]] = []
    tag_indices = [i for i, el in enumerate(lay.top) if el.id == TAGS]
    for i in tag_indices[1:]:
        el = lay.top[i]
        body, changed = _tags_without_labels(data, el)
        if changed:
            rebuilt = encode_id(TAGS) + encode_size(len(body), el.size_len) + body
            edits.append(
                (
                    el.start,
                    el.end,
                    rebuilt + (void(el.end - el.start - len(rebuilt)) if el.end - el.start > len(rebuilt) else b""),
                )
            )
    body = b""
    if tag_indices:
        body, _ = _tags_without_labels(data, lay.top[tag_indices[0]])
    new = with_crc(TAGS, body + label_tag(label), bool(tag_indices) and _has_crc(data, lay.top[tag_indices[0]]))
    used: set[int] = set()
    insert = b""
    if tag_indices:
        first = lay.top[tag_indices[0]]
        room_end = _voids_after(lay.top, tag_indices[0])
        if fits(len(new), room_end - first.start):
            slack = room_end - first.start - len(new)
            edits.append((first.start, room_end, new + (void(slack) if slack else b"")))
            return _apply(data, edits, 0, b"")
        edits.append((first.start, first.end, void(first.end - first.start)))
        used.add(first.start)
    first_cluster = next((el.start for el in lay.top if el.id == CLUSTER), lay.segment.end)
    spot = next(
        (
            el
            for el in lay.top
            if el.id == VOID and el.start < first_cluster and el.start not in used and fits(len(new), el.end - el.start)
        ),
        None,
    )
    if spot is not None:
        used.add(spot.start)
        slack = spot.end - spot.start - len(new)
        edits.append((spot.start, spot.end, new + (void(slack) if slack else b"")))
        tags_pos = spot.start
    else:
        insert, tags_pos = new, lay.segment.end
        if not lay.segment.unknown_size:
            seg = lay.segment
            size_at = seg.data_start - seg.size_len
            edits.append((size_at, seg.data_start, encode_size(seg.size + len(new), seg.size_len)))
    seek = _seekhead(data, lay, tags_pos, used)
    if seek is not None:
        edits.append(seek)
    return _apply(data, edits, lay.segment.end, insert)


class MatroskaCarrier(Carrier):
    """Reads SimpleTags named AIGC in every Tags element; writes one without moving Clusters."""

    name = "matroska"
    formats = ("mkv", "webm")
    extensions = (".mkv", ".mka", ".mk3d", ".webm")
    priority = 30

    def sniff(self, head: bytes, name: str | None = None) -> Sniffed | None:
        """EBML header with doc type matroska or webm."""
        if not head.startswith(encode_id(EBML_HEADER)):
            return None
        try:
            header = read_element(head, 0, len(head))
            doctype = _doctype(head, header)
        except SynthguardError:  # a head cut short inside the EBML header is not ours to judge
            return None
        if doctype == "webm":
            return Sniffed("webm", Modality.VIDEO, "video/webm")
        if doctype == "matroska":
            return Sniffed("mkv", Modality.VIDEO, "video/x-matroska")
        return None

    def read(self, data: bytes) -> list[FoundLabel]:
        """SimpleTag TagName AIGC is standard; other TagNames containing AIGC are vendor variants."""
        lay = layout(data)
        found: list[FoundLabel] = []
        for tags in (el for el in lay.top if el.id == TAGS):
            for tag in (c for c in children(data, tags) if c.id == TAG):
                for _, name, value in _simple_tags(data, tag):
                    if not _is_label(name) or value is None:
                        continue
                    standard = name.upper() == NAME
                    where = "Matroska Tags/Tag/SimpleTag " + (NAME if standard else f"{name!r} (vendor variant)")
                    found.append(
                        FoundLabel.from_parsed(parse_label_json(value), carrier=where, raw=value, standard=standard)
                    )
        return found

    def write(self, data: bytes, label: AigcLabel) -> bytes:
        """One AIGC SimpleTag; every other tag, track, cluster and cue kept in place."""
        return write_label(data, label)

    def content_payload(self, data: bytes) -> Iterator[bytes]:
        """The Tracks element (codec setup) and every Cluster (the coded frames)."""
        for el in layout(data).top:
            if el.id in (TRACKS, CLUSTER):
                yield data[el.start : el.end]


CARRIERS = (MatroskaCarrier(),)
