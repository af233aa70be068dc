"""TIFF: the label lives in XMP in IFD0 tag 700; existing data never moves, new bytes are appended."""

from __future__ import annotations

from collections.abc import Iterator

from synthguard.errors import CorruptInput, InputTooLarge
from synthguard.formats import exif
from synthguard.formats.base import Carrier, FoundLabel, Modality, Sniffed, need
from synthguard.formats.exif import TAG_XMP, TYPE_BYTE, TYPE_UNDEFINED, Entry, Ifd, Tiff
from synthguard.formats.xmp import XmpError, XmpLabel, find_labels, merge_label
from synthguard.label.model import AigcLabel

HEADS = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")
# Tags whose values define the decoded image; metadata tags (XMP, EXIF, IPTC, dates, text) are left out.
IMAGE_TAGS = frozenset(
    {
        254,
        255,
        256,
        257,
        258,
        259,
        262,
        263,
        266,
        274,
        277,
        278,
        280,
        281,
        284,
        290,
        291,
        317,
        318,
        319,
        320,
        321,
        322,
        323,
        332,
        333,
        334,
        338,
        339,
        340,
        341,
        347,
        529,
        530,
        531,
        532,
        34675,
    }
)
OFFSET_TAGS = {273: 279, 324: 325}


def _hits(packet: bytes) -> list[XmpLabel]:
    try:
        return find_labels(packet.decode("utf-8"))
    except (XmpError, UnicodeDecodeError) as exc:
        raise CorruptInput(f"TIFF XMP (tag 700) is not a readable XMP packet: {exc}") from None


def _xmp_entry(ifd0: Ifd) -> Entry | None:
    entry = ifd0.get(TAG_XMP)
    return entry if entry is not None and not entry.inline else None


def _exif_texts(data: bytes, tiff: Tiff) -> list[exif.ExifText]:
    try:
        return exif.label_texts(data, tiff=tiff)
    except CorruptInput:
        return []


def _pad(packet: bytes, size: int) -> bytes:
    """The packet grown to exactly size bytes with XML whitespace, inside the xpacket trailer when there is one."""
    spaces = b" " * (size - len(packet))
    at = packet.rfind(b"<?xpacket end")
    return packet[:at] + spaces + packet[at:] if at >= 0 else packet + spaces


def _strips(tiff: Tiff, ifd: Ifd) -> Iterator[bytes]:
    """The strip or tile data of one IFD, every range checked against the file."""
    for off_tag, count_tag in OFFSET_TAGS.items():
        offsets_entry, counts_entry = ifd.get(off_tag), ifd.get(count_tag)
        if offsets_entry is None:
            continue
        if counts_entry is None:
            raise CorruptInput(f"TIFF IFD at byte {ifd.offset} has offsets but no byte counts")
        offsets, counts = tiff.ints(offsets_entry), tiff.ints(counts_entry)
        need(len(offsets) == len(counts), f"TIFF IFD at byte {ifd.offset} has mismatched strip tables")
        for off, count in zip(offsets, counts, strict=True):
            need(off + count <= len(tiff.data), f"truncated TIFF: image data at byte {off} runs past the end")
            yield tiff.data[off : off + count]


class TiffCarrier(Carrier):
    """Reads XMP (tag 700) and EXIF text labels; writes one XMP TC260:AIGC property in IFD0."""

    name = "tiff"
    formats = ("tiff",)
    extensions = (".tif", ".tiff")
    priority = 20

    def sniff(self, head: bytes, name: str | None = None) -> Sniffed | None:
        """Classic or BigTIFF header in either byte order."""
        return Sniffed("tiff", Modality.IMAGE, "image/tiff") if head[:4] in HEADS else None

    def read(self, data: bytes) -> list[FoundLabel]:
        """Labels in IFD0's XMP (standard when typed BYTE or UNDEFINED) and EXIF text tags (variants)."""
        tiff = exif.parse(data)
        ifd0 = tiff.chain()[0]
        found: list[FoundLabel] = []
        entry = _xmp_entry(ifd0)
        if entry is not None:
            typed = entry.type in (TYPE_BYTE, TYPE_UNDEFINED)
            for hit in _hits(tiff.value(entry)):
                found.append(
                    FoundLabel.from_parsed(
                        hit.parsed,
                        carrier=f"TIFF IFD0 tag 700 XMP / {hit.how}",
                        raw=hit.raw,
                        standard=hit.standard and typed,
                    )
                )
        found.extend(exif.variant_labels(_exif_texts(data, tiff), "TIFF"))
        return found

    def write(self, data: bytes, label: AigcLabel) -> bytes:
        """Rewrite tag 700 in place when the packet fits, else append it (and a new IFD0 if the tag is new)."""
        tiff = exif.parse(data)
        chain = tiff.chain()
        for ifd in chain:
            for _ in _strips(tiff, ifd):
                pass
        ifd0 = chain[0]
        entry = ifd0.get(TAG_XMP)
        packet = tiff.value(entry) if entry is not None and not entry.inline else None
        if packet is not None:
            _hits(packet)
        try:
            merged = merge_label(None if packet is None else packet.decode("utf-8"), label).encode("utf-8")
        except XmpError as exc:
            raise CorruptInput(str(exc)) from None
        buf = bytearray(exif.supersede(data, _exif_texts(data, tiff)))
        typ = TYPE_UNDEFINED if entry is None or entry.type not in (TYPE_BYTE, TYPE_UNDEFINED) else entry.type
        if entry is not None and not entry.inline and len(merged) <= entry.size:
            buf[entry.value_pos : entry.value_pos + entry.size] = _pad(merged, entry.size)
            buf[entry.pos + 2 : entry.pos + 4] = tiff.pack(typ, 2)
            return bytes(buf)
        xmp_at = self._append(tiff, buf, merged)
        if entry is not None:
            if not entry.inline:
                buf[entry.value_pos : entry.value_pos + entry.size] = bytes(entry.size)
            field = entry.pos + 4
            buf[entry.pos + 2 : entry.pos + 4] = tiff.pack(typ, 2)
            buf[field : field + tiff.offset_size] = tiff.pack(len(merged), tiff.offset_size)
            buf[field + tiff.offset_size : field + 2 * tiff.offset_size] = tiff.pack(xmp_at, tiff.offset_size)
            return bytes(buf)
        new_entry = tiff.pack(TAG_XMP, 2) + tiff.pack(typ, 2) + tiff.pack(len(merged), tiff.offset_size)
        new_entry += tiff.pack(xmp_at, tiff.offset_size)
        raw = [(e.tag, bytes(buf[e.pos : e.pos + tiff.entry_size])) for e in ifd0.entries]
        raw.append((TAG_XMP, new_entry))
        raw.sort(key=lambda pair: pair[0])
        limit = 0xFFFF if not tiff.big else exif.MAX_ENTRIES
        need(len(raw) <= limit, "TIFF IFD0 has no room for another entry")
        count = tiff.pack(len(raw), 8 if tiff.big else 2)
        directory = count + b"".join(e for _, e in raw) + tiff.pack(ifd0.next_offset, tiff.offset_size)
        ifd_at = self._append(tiff, buf, directory)
        buf[tiff.first_pos : tiff.first_pos + tiff.offset_size] = tiff.pack(ifd_at, tiff.offset_size)
        return bytes(buf)

    @staticmethod
    def _append(tiff: Tiff, buf: bytearray, blob: bytes) -> int:
        """Append blob at a word boundary and return its offset."""
        if len(buf) % 2:
            buf.append(0)
        at = len(buf)
        if not tiff.big and at + len(blob) >= 1 << 32:
            raise InputTooLarge("the labelled TIFF would pass the 4 GiB limit of classic TIFF offsets")
        buf += blob
        return at

    def content_payload(self, data: bytes) -> Iterator[bytes]:
        """For every IFD: the image-defining entries (not XMP, EXIF, IPTC or text) and its strips or tiles."""
        tiff = exif.parse(data)
        for ifd in tiff.chain():
            yield b"IFD"
            for entry in ifd.entries:
                if entry.tag in IMAGE_TAGS:
                    yield tiff.pack(entry.tag, 2) + tiff.pack(entry.type, 2) + tiff.value(entry)
            yield from _strips(tiff, ifd)


CARRIERS = (TiffCarrier(),)
