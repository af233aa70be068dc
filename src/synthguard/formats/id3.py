"""MP3: the label is an ID3v2 TXXX frame with description AIGC holding the JSON."""

from __future__ import annotations

import base64
import binascii
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from synthguard.errors import CorruptInput, InputTooLarge, UnsupportedFormat
from synthguard.formats.base import Carrier, FoundLabel, Modality, Sniffed, need
from synthguard.label.model import AigcLabel, JsonShape, parse_label_json

DESCRIPTION = "AIGC"
BASE64_DESCRIPTIONS = {"XMPKVBASE64"}
MAX_INFLATED = 16 * 1024 * 1024
NEW_TAG_PADDING = 1024
_TXXX = {2: "TXX", 3: "TXXX", 4: "TXXX"}
_SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_BITRATES = {
    (3, 3): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (3, 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (3, 1): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 3): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (2, 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}


def syncsafe(raw: bytes) -> int:
    """A 28-bit (or 35-bit) integer stored 7 bits per byte."""
    value = 0
    for b in raw:
        value = (value << 7) | (b & 0x7F)
    return value


def to_syncsafe(value: int) -> bytes:
    """Four bytes of 7 bits each."""
    if value >= 1 << 28:
        raise InputTooLarge(f"ID3v2 size {value} exceeds 256 MiB")
    return bytes((value >> shift) & 0x7F for shift in (21, 14, 7, 0))


def unsync_decode(raw: bytes) -> bytes:
    """Undo ID3 unsynchronisation (0xFF 0x00 -> 0xFF)."""
    return raw.replace(b"\xff\x00", b"\xff")


@dataclass(frozen=True)
class Frame:
    """One ID3v2 frame: its ID, the two flag bytes (empty for v2.2) and the stored body."""

    id: str
    flags: bytes
    body: bytes


@dataclass(frozen=True)
class Tag:
    """A leading ID3v2 tag: version, header flags, its frames and where it ends in the file."""

    version: int
    flags: int
    size: int
    frames: list[Frame]
    end: int


def tag_end(head: bytes) -> int:
    """The length of a leading ID3v2 tag (0 if there is none)."""
    if len(head) < 10 or head[:3] != b"ID3":
        return 0
    return 10 + syncsafe(head[6:10]) + (10 if head[3] == 4 and head[5] & 0x10 else 0)


def parse_tag(data: bytes) -> Tag | None:
    """Parse a leading ID3v2.2/2.3/2.4 tag, bounded by the file."""
    if data[:3] != b"ID3":
        return None
    need(len(data) >= 10, "truncated ID3v2 header")
    version, _rev, flags = data[3], data[4], data[5]
    if version not in (2, 3, 4):
        raise UnsupportedFormat(f"ID3v2.{version} is not supported")
    need(all(b < 0x80 for b in data[6:10]), "ID3v2 size is not syncsafe")
    size = syncsafe(data[6:10])
    end = tag_end(data)
    need(end <= len(data), f"truncated ID3v2 tag: {size} bytes declared, file too short")
    body = data[10 : 10 + size]
    if flags & 0x80 and version < 4:
        body = unsync_decode(body)
    pos = 0
    if flags & 0x40:
        if version == 2:
            return Tag(version, flags, size, [], end)  # v2.2 whole-tag compression: no scheme defined
        need(len(body) >= 4, "truncated ID3v2 extended header")
        ext = struct.unpack(">I", body[:4])[0] + 4 if version == 3 else syncsafe(body[:4])
        need(4 <= ext <= len(body), "ID3v2 extended header runs past the tag")
        pos = ext
    hlen = 6 if version == 2 else 10
    frames: list[Frame] = []
    while pos + hlen <= len(body) and body[pos] != 0:
        fid = body[pos : pos + (3 if version == 2 else 4)]
        if not all(48 <= b <= 57 or 65 <= b <= 90 for b in fid):
            break  # junk after the last frame is treated as padding, as common readers do
        if version == 2:
            fsize, fflags = int.from_bytes(body[pos + 3 : pos + 6], "big"), b""
        elif version == 3:
            fsize, fflags = struct.unpack(">I", body[pos + 4 : pos + 8])[0], body[pos + 8 : pos + 10]
        else:
            fsize, fflags = syncsafe(body[pos + 4 : pos + 8]), body[pos + 8 : pos + 10]
        need(pos + hlen + fsize <= len(body), f"ID3v2 frame {fid!r} runs past the end of the tag")
        frames.append(Frame(fid.decode("ascii"), fflags, body[pos + hlen : pos + hlen + fsize]))
        pos += hlen + fsize
    return Tag(version, flags, size, frames, end)


def frame_data(tag: Tag, frame: Frame) -> bytes | None:
    """The frame's content with grouping, length, unsynchronisation and compression undone (None if encrypted)."""
    body = frame.body
    if tag.version == 2:
        return body
    f = frame.flags[1]
    if tag.version == 3:
        compressed, encrypted = bool(f & 0x80), bool(f & 0x40)
        skip = (4 if compressed else 0) + (1 if encrypted else 0) + (1 if f & 0x20 else 0)
    else:
        compressed, encrypted = bool(f & 0x08), bool(f & 0x04)
        skip = (1 if f & 0x40 else 0) + (1 if encrypted else 0) + (4 if f & 0x01 else 0)
        if f & 0x02 or tag.flags & 0x80:
            body = unsync_decode(body)
    if encrypted:
        return None
    need(len(body) >= skip, f"ID3v2 frame {frame.id} is shorter than its flag fields")
    body = body[skip:]
    if compressed:
        d = zlib.decompressobj()
        try:
            body = d.decompress(body, MAX_INFLATED)
        except zlib.error:
            raise CorruptInput(f"ID3v2 frame {frame.id} has corrupt compressed data") from None
        if d.unconsumed_tail:
            raise InputTooLarge(f"ID3v2 frame {frame.id} inflates past {MAX_INFLATED} bytes")
    return body


def _decode(enc: int, raw: bytes) -> str:
    codec = {0: "latin-1", 1: "utf-16", 2: "utf-16-be", 3: "utf-8"}.get(enc)
    need(codec is not None, f"ID3v2 text encoding {enc} is invalid")
    try:
        return raw.decode(str(codec))
    except UnicodeDecodeError:
        raise CorruptInput("ID3v2 text is not valid in its declared encoding") from None


def parse_txxx(data: bytes) -> tuple[str, str]:
    """Description and value of a TXXX/TXX frame."""
    need(len(data) >= 1, "empty ID3v2 TXXX frame")
    enc, rest = data[0], data[1:]
    if enc in (1, 2):
        cut = next((i for i in range(0, len(rest) - 1, 2) if rest[i : i + 2] == b"\0\0"), -1)
        need(cut >= 0, "ID3v2 TXXX description is not terminated")
        desc, value = rest[:cut], rest[cut + 2 :]
        if enc == 1 and value[:2] not in (b"\xff\xfe", b"\xfe\xff") and desc[:2] in (b"\xff\xfe", b"\xfe\xff"):
            value = desc[:2] + value  # some writers put the BOM only before the description
    else:
        desc, sep, value = rest.partition(b"\0")
        need(bool(sep), "ID3v2 TXXX description is not terminated")
    return _decode(enc, desc), _decode(enc, value).rstrip("\0")


def _label_frame(tag: Tag, frame: Frame) -> FoundLabel | None:
    if frame.id != _TXXX[tag.version]:
        return None
    content = frame_data(tag, frame)
    if content is None:
        return None
    desc, value = parse_txxx(content)
    key = desc.strip().upper()
    where = f"ID3v2.{tag.version} {frame.id}"
    if key == DESCRIPTION:
        return FoundLabel.from_parsed(
            parse_label_json(value), carrier=f"{where} {DESCRIPTION}", raw=value, standard=True
        )
    if key in BASE64_DESCRIPTIONS:
        try:
            text = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return None
        parsed = parse_label_json(text)
        if parsed.label is None:
            return None
        return FoundLabel.from_parsed(
            parsed, carrier=f"{where} {desc!r} base64 JSON (vendor variant)", raw=value, standard=False
        )
    if DESCRIPTION in key:
        return FoundLabel.from_parsed(
            parse_label_json(value), carrier=f"{where} {desc!r} (vendor variant)", raw=value, standard=False
        )
    return None


def _frame_bytes(version: int, frame: Frame) -> bytes:
    size = to_syncsafe(len(frame.body)) if version == 4 else struct.pack(">I", len(frame.body))
    return frame.id.encode("ascii") + size + frame.flags


def audio_end(data: bytes, start: int) -> int:
    """Where the audio ends: before a trailing ID3v1 tag and an APEv2 tag."""
    end = len(data)
    if end - start >= 128 and data[end - 128 : end - 125] == b"TAG":
        end -= 128
    if end - start >= 32 and data[end - 32 : end - 24] == b"APETAGEX":
        size, _items, flags = struct.unpack_from("<III", data, end - 20)
        total = size + (32 if flags & 0x80000000 else 0)
        need(32 <= total <= end - start, "APE tag size runs past the audio")
        end -= total
    return end


def frame_length(header: bytes) -> int | None:
    """Byte length of the MPEG audio frame starting with this 4-byte header, or None if not a header."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version, layer = (header[1] >> 3) & 3, (header[1] >> 1) & 3
    bitrate_index, rate_index, padding = header[2] >> 4, (header[2] >> 2) & 3, (header[2] >> 1) & 1
    if version == 1 or layer == 0 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    table = _BITRATES[(3, layer) if version == 3 else (2, 3 if layer == 3 else 2)]
    bitrate = table[bitrate_index - 1] * 1000
    rate = _SAMPLE_RATES[version][rate_index]
    if layer == 3:
        return (12 * bitrate // rate + padding) * 4
    if layer == 1 and version != 3:
        return 72 * bitrate // rate + padding
    return 144 * bitrate // rate + padding


def looks_like_mpeg_audio(head: bytes, pos: int = 0, frames: int = 3) -> bool:
    """True when consecutive frame headers chain from pos (at least two, unless the data ends)."""
    seen = 0
    while seen < frames:
        length = frame_length(head[pos : pos + 4])
        if length is None:
            return False
        seen += 1
        pos += length
        if pos + 4 > len(head):
            return seen >= 2 or pos == len(head)
    return True


class Id3Carrier(Carrier):
    """Reads TXXX labels (standard and vendor variants) in ID3v2.2-2.4; writes a v2.3/v2.4 TXXX:AIGC."""

    name = "id3"
    formats = ("mp3",)
    extensions = (".mp3", ".mp2", ".mpga")
    priority = 40

    def sniff(self, head: bytes, name: str | None = None) -> Sniffed | None:
        """An ID3v2 tag not followed by FLAC or ADTS, or chained MPEG audio frame headers."""
        mp3 = Sniffed("mp3", Modality.AUDIO, "audio/mpeg")
        end = tag_end(head)
        if end:
            after = head[end : end + 4]
            if after.startswith(b"fLaC") or (len(after) >= 2 and after[0] == 0xFF and after[1] & 0xF6 == 0xF0):
                return None
            return mp3 if head[3] in (2, 3, 4) else None
        return mp3 if looks_like_mpeg_audio(head) else None

    def read(self, data: bytes) -> list[FoundLabel]:
        """Every TXXX frame carrying a label; ID3v1 is ignored (it has no room for one)."""
        tag = self._tag(data)
        if tag is None:
            return []
        return [found for frame in tag.frames if (found := _label_frame(tag, frame)) is not None]

    def write(self, data: bytes, label: AigcLabel) -> bytes:
        """Replace label frames with one TXXX:AIGC, keep every other frame and the tag version."""
        tag = self._tag(data)
        if tag is not None and tag.version == 2:
            raise UnsupportedFormat("writing into an ID3v2.2 tag is not supported (its frame IDs differ)")
        version = 3 if tag is None else tag.version
        flags = 0 if tag is None else tag.flags & 0x10  # keep a v2.4 footer; unsync/ext header are undone
        value = b"\0" + DESCRIPTION.encode() + b"\0" + label.to_json(JsonShape.WRAPPED).encode("ascii")
        new = Frame("TXXX", b"\0\0", value)
        frames: list[Frame] = []
        placed = False
        for frame in [] if tag is None else tag.frames:
            if tag is not None and _label_frame(tag, frame) is not None:
                if not placed:
                    frames.append(new)
                    placed = True
                continue
            if tag is not None and version == 4 and tag.flags & 0x80:
                # v2.4 tag-wide unsynchronisation is now said per frame, as the header flag is cleared
                frames.append(Frame(frame.id, frame.flags[:1] + bytes([frame.flags[1] | 0x02]), frame.body))
                continue
            frames.append(frame)
        if not placed:
            frames.append(new)
        body = b"".join(_frame_bytes(version, f) + f.body for f in frames)
        if not flags & 0x10:
            old = 0 if tag is None else tag.size
            body += bytes(old - len(body) if len(body) <= old else NEW_TAG_PADDING)
        size = to_syncsafe(len(body))
        out = b"ID3" + bytes([version, 0, flags]) + size + body
        if flags & 0x10:
            out += b"3DI" + bytes([version, 0, flags]) + size
        return out + data[0 if tag is None else tag.end :]

    def content_payload(self, data: bytes) -> Iterator[bytes]:
        """Everything after the ID3v2 tag and before a trailing APE or ID3v1 tag."""
        tag = self._tag(data)
        start = 0 if tag is None else tag.end
        yield data[start : audio_end(data, start)]

    def _tag(self, data: bytes) -> Tag | None:
        tag = parse_tag(data)
        if tag is None and not looks_like_mpeg_audio(data[:8192]):
            raise UnsupportedFormat("no ID3v2 tag and no MPEG audio frame sync at the start")
        return tag


CARRIERS = (Id3Carrier(),)
