"""WAV (RIFF, RF64, BW64): a top-level chunk AIGC holding the JSON. AVI: an AIGC sub-chunk in LIST/INFO."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from synthguard.errors import CorruptInput, UnsupportedFormat
from synthguard.formats.base import Carrier, FoundLabel, Modality, Sniffed, need
from synthguard.label.model import AigcLabel, JsonShape, parse_label_json

LABEL_ID = b"AIGC"
_FORMS = {b"RIFF": "wav", b"RF64": "rf64", b"BW64": "bw64"}
_CONTENT_IDS = {b"fmt ", b"data"}
_UNKNOWN32 = 0xFFFFFFFF


@dataclass(frozen=True)
class Chunk:
    """One top-level chunk: its ID, where its body sits and where it ends (pad byte included)."""

    id: bytes
    start: int
    body_start: int
    body_end: int
    end: int


@dataclass(frozen=True)
class Wave:
    """A parsed WAV: its form, chunks, the ds64 body (RF64/BW64) and the bytes after the RIFF chunk."""

    form: bytes
    chunks: list[Chunk]
    riff_end: int


def _ds64_sizes(data: bytes, chunk: Chunk) -> tuple[int, int]:
    need(chunk.body_end - chunk.body_start >= 28, "RF64 ds64 chunk is too short")
    riff_size, data_size = struct.unpack_from("<QQ", data, chunk.body_start)
    return riff_size, data_size


def parse(data: bytes) -> Wave:
    """Split a WAV into top-level chunks, checking every size against the file."""
    need(len(data) >= 12, "truncated WAV: no RIFF header")
    form = data[:4]
    if form not in _FORMS:
        raise UnsupportedFormat("not a RIFF/RF64/BW64 file")
    if data[8:12] != b"WAVE":
        raise UnsupportedFormat(f"RIFF form {data[8:12]!r} is not WAVE")
    (riff_size,) = struct.unpack_from("<I", data, 4)
    chunks: list[Chunk] = []
    data_size64: int | None = None
    pos = 12
    limit = len(data)
    if form == b"RIFF":
        riff_end = 8 + riff_size
        need(riff_end <= limit + 1, f"truncated WAV: RIFF size {riff_size} runs past the end")
        limit = min(riff_end, limit)
    while pos + 8 <= limit:
        cid = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        if cid == b"data" and size == _UNKNOWN32 and data_size64 is not None:
            size = data_size64
        body_end = pos + 8 + size
        need(body_end <= limit, f"truncated WAV: {cid!r} chunk at byte {pos} runs past the end")
        end = min(body_end + (size & 1), limit)  # a missing final pad byte is tolerated
        chunk = Chunk(cid, pos, pos + 8, body_end, end)
        if cid == b"ds64" and not chunks and form != b"RIFF":
            riff64, data_size64 = _ds64_sizes(data, chunk)
            if riff_size == _UNKNOWN32:
                need(8 + riff64 <= len(data) + 1, "truncated RF64: ds64 RIFF size runs past the end")
                limit = min(8 + riff64, len(data))
        chunks.append(chunk)
        pos = end
    need(pos == limit, f"truncated WAV: {limit - pos} stray bytes at byte {pos}")
    if form != b"RIFF":
        need(bool(chunks) and chunks[0].id == b"ds64", "RF64/BW64 file has no leading ds64 chunk")
    need(any(c.id == b"fmt " for c in chunks), "WAV has no fmt chunk")
    need(any(c.id == b"data" for c in chunks), "WAV has no data chunk")
    return Wave(form, chunks, limit)


def make_chunk(cid: bytes, body: bytes) -> bytes:
    """A chunk with its little-endian size and a pad byte when the body length is odd."""
    return cid + struct.pack("<I", len(body)) + body + (b"\0" if len(body) & 1 else b"")


def _is_avi(data: bytes) -> bool:
    return data[:4] == b"RIFF" and data[8:12] == b"AVI "


def _text(body: bytes) -> str:
    try:
        return body.rstrip(b"\0").decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptInput("RIFF AIGC chunk is not UTF-8") from None


def sub_chunks(data: bytes, start: int, limit: int) -> list[Chunk]:
    """The chunks between start and limit (a RIFF or LIST body), every size checked."""
    out: list[Chunk] = []
    pos = start
    while pos + 8 <= limit:
        cid = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body_end = pos + 8 + size
        need(body_end <= limit, f"truncated RIFF: {cid!r} chunk at byte {pos} runs past its parent")
        out.append(Chunk(cid, pos, pos + 8, body_end, min(body_end + (size & 1), limit)))
        pos = out[-1].end
    need(pos == limit, f"truncated RIFF: {limit - pos} stray bytes at byte {pos}")
    return out


def list_type(data: bytes, chunk: Chunk) -> bytes:
    """The form type of a LIST chunk (empty for other chunks)."""
    return data[chunk.body_start : chunk.body_start + 4] if chunk.id == b"LIST" else b""


def avi_chunks(data: bytes) -> tuple[list[Chunk], int]:
    """The top-level chunks of the first RIFF 'AVI ' chunk and where it ends (AVIX extensions follow)."""
    need(len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"AVI ", "not an AVI file")
    end = 8 + struct.unpack_from("<I", data, 4)[0]
    need(end <= len(data), "truncated AVI: RIFF size runs past the end")
    chunks = sub_chunks(data, 12, end)
    need(any(list_type(data, c) == b"movi" for c in chunks), "AVI has no movi list")
    return chunks, end


def _avi_infos(data: bytes, chunks: list[Chunk]) -> list[Chunk]:
    return [c for c in chunks if list_type(data, c) == b"INFO"]


def _junk(total: int) -> bytes:
    return make_chunk(b"JUNK", bytes(total - 8))


def avi_write(data: bytes, label: AigcLabel) -> bytes:
    """Rewrite LIST/INFO with one AIGC sub-chunk inside the existing INFO and JUNK space before movi."""
    chunks, _ = avi_chunks(data)
    infos = _avi_infos(data, chunks)
    kept: list[bytes] = []
    for info in infos[:1]:
        kept = [data[c.start : c.end] for c in sub_chunks(data, info.body_start + 4, info.body_end) if c.id != LABEL_ID]
    value = label.to_json(JsonShape.WRAPPED).encode("ascii") + b"\0"
    new = make_chunk(b"LIST", b"INFO" + b"".join(kept) + make_chunk(LABEL_ID, value))
    movi = next(i for i, c in enumerate(chunks) if list_type(data, c) == b"movi")
    edits: dict[int, tuple[int, bytes]] = {}
    for info in infos[1:]:
        rest = [data[c.start : c.end] for c in sub_chunks(data, info.body_start + 4, info.body_end) if c.id != LABEL_ID]
        body = make_chunk(b"LIST", b"INFO" + b"".join(rest))
        gap = info.end - info.start - len(body)
        edits[info.start] = (info.end, body + (_junk(gap) if gap else b""))
    spots: list[tuple[int, int]] = []
    if infos and infos[0].start < chunks[movi].start:
        first = next(i for i, c in enumerate(chunks) if c.start == infos[0].start)
        end = chunks[first].end
        for c in chunks[first + 1 : movi]:
            if c.id != b"JUNK" or c.start != end:
                break
            end = c.end
        spots.append((infos[0].start, end))
    spots += [(c.start, c.end) for c in chunks[:movi] if c.id == b"JUNK"]
    for start, end in spots:
        gap = end - start - len(new)
        if gap == 0 or gap >= 8:
            if infos and start != infos[0].start:
                edits[infos[0].start] = (infos[0].end, _junk(infos[0].end - infos[0].start))
            edits[start] = (end, new + (_junk(gap) if gap else b""))
            break
    else:
        raise UnsupportedFormat(
            "AVI has no LIST/INFO or JUNK space before movi for the label "
            "(inserting one would move the frames and their index)"
        )
    out: list[bytes] = []
    pos = 0
    for start in sorted(edits):
        end, replacement = edits[start]
        out += [data[pos:start], replacement]
        pos = end
    out.append(data[pos:])
    return b"".join(out)


class RiffCarrier(Carrier):
    """Reads and writes the AIGC chunk of WAV, RF64 and BW64 files and the LIST/INFO AIGC of AVI."""

    name = "riff"
    formats = ("wav", "rf64", "bw64", "avi")
    extensions = (".wav", ".wave", ".bwf", ".rf64", ".avi")
    priority = 30

    def sniff(self, head: bytes, name: str | None = None) -> Sniffed | None:
        """RIFF/RF64/BW64 header with form WAVE, or RIFF form AVI."""
        if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
            return Sniffed("avi", Modality.VIDEO, "video/x-msvideo")
        if len(head) >= 12 and head[:4] in _FORMS and head[8:12] == b"WAVE":
            return Sniffed(_FORMS[head[:4]], Modality.AUDIO, "audio/wav")
        return None

    def read(self, data: bytes) -> list[FoundLabel]:
        """Every top-level AIGC chunk (WAV) or LIST/INFO AIGC sub-chunk (AVI)."""
        found: list[FoundLabel] = []
        if _is_avi(data):
            chunks, _ = avi_chunks(data)
            for info in _avi_infos(data, chunks):
                for sub in sub_chunks(data, info.body_start + 4, info.body_end):
                    if sub.id == LABEL_ID:
                        raw = _text(data[sub.body_start : sub.body_end])
                        found.append(
                            FoundLabel.from_parsed(
                                parse_label_json(raw), carrier="AVI LIST/INFO AIGC", raw=raw, standard=True
                            )
                        )
            return found
        for chunk in parse(data).chunks:
            if chunk.id == LABEL_ID:
                raw = _text(data[chunk.body_start : chunk.body_end])
                found.append(
                    FoundLabel.from_parsed(parse_label_json(raw), carrier="WAV RIFF chunk AIGC", raw=raw, standard=True)
                )
        return found

    def write(self, data: bytes, label: AigcLabel) -> bytes:
        """Replace the first AIGC chunk (dropping any others) or insert one before the data chunk."""
        if _is_avi(data):
            return avi_write(data, label)
        wave = parse(data)
        new = make_chunk(LABEL_ID, label.to_json(JsonShape.WRAPPED).encode("ascii"))
        has_label = any(c.id == LABEL_ID for c in wave.chunks)
        out = bytearray(data[:12])
        placed = False
        for chunk in wave.chunks:
            raw = data[chunk.start : chunk.end]
            if chunk.id == LABEL_ID:
                if not placed:
                    out += new
                    placed = True
                continue
            if chunk.id == b"data" and not has_label and not placed:
                out += new
                placed = True
            if chunk.end - chunk.body_end == 0 and (chunk.body_end - chunk.body_start) & 1:
                raw += b"\0"  # restore a missing pad byte so the label chunk stays aligned
            out += raw
        riff_size = len(out) - 8
        if wave.form == b"RIFF":
            need(riff_size <= _UNKNOWN32 - 1, "WAV would exceed 4 GiB; use RF64")
            struct.pack_into("<I", out, 4, riff_size)
        elif struct.unpack_from("<I", out, 4)[0] == _UNKNOWN32:
            struct.pack_into("<Q", out, 20, riff_size)  # ds64 riffSize, right after the ds64 header
        else:
            struct.pack_into("<I", out, 4, riff_size)
        return bytes(out) + data[wave.riff_end :]

    def content_payload(self, data: bytes) -> Iterator[bytes]:
        """WAV: the fmt and data chunks (ID and body). AVI: the hdrl and movi lists."""
        if _is_avi(data):
            for chunk in avi_chunks(data)[0]:
                if list_type(data, chunk) in (b"hdrl", b"movi"):
                    yield data[chunk.start : chunk.end]
            return
        for chunk in parse(data).chunks:
            if chunk.id in _CONTENT_IDS:
                yield chunk.id + data[chunk.body_start : chunk.body_end]


CARRIERS = (RiffCarrier(),)
