"""Matroska/WebM carrier: the contract on ffmpeg-made files, ffprobe reading the tag, frames unchanged."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tempfile
import zlib
from functools import cache
from pathlib import Path

import av
import pytest

from synthguard.errors import CorruptInput
from synthguard.formats.ebml import VOID, children, element, encode_size, read_element, void
from synthguard.formats.matroska import (
    CLUSTER,
    CRC32,
    CUES,
    SEEKHEAD,
    TAGS,
    MatroskaCarrier,
    label_tag,
    layout,
)
from synthguard.label.model import AigcLabel
from tests.formats.contract import CarrierContract

CARRIER = MatroskaCarrier()
_SRC = ["-f", "lavfi", "-i", "testsrc=s=64x48:d=1:r=10", "-f", "lavfi", "-i", "sine=d=1:r=48000"]


@cache
def _made(name: str, *args: str) -> bytes:
    if shutil.which("ffmpeg") is None:
        pytest.skip("needs ffmpeg to generate samples")
    out = Path(tempfile.mkdtemp(prefix="sg-mkv-")) / name
    cmd = ["ffmpeg", "-v", "error", "-y", *_SRC, *args]
    if name.startswith("pipe"):
        data = subprocess.run([*cmd, "-f", "matroska", "pipe:1"], check=True, capture_output=True).stdout
        out.write_bytes(data)
    else:
        subprocess.run([*cmd, str(out)], check=True)
    return out.read_bytes()


def _mkv() -> bytes:
    return _made("a.mkv", "-c:v", "mpeg4", "-c:a", "flac", "-metadata", "title=hi")


def _frames(data: bytes) -> tuple[bytes, ...]:
    with av.open(io.BytesIO(data)) as container:
        return tuple(f.to_ndarray().tobytes() for f in container.decode(*container.streams))


def _probe_tags(tmp: Path, data: bytes) -> dict[str, str]:
    if shutil.which("ffprobe") is None:
        pytest.skip("needs ffprobe")
    path = tmp / "probe.mkv"
    path.write_bytes(data)
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-of", "json", str(path)], check=True, capture_output=True, text=True
    ).stdout
    tags: dict[str, str] = json.loads(out)["format"].get("tags", {})
    return tags


class TestMkvContract(CarrierContract):
    carrier = CARRIER
    format_name = "mkv"

    def samples(self) -> list[bytes]:
        return [
            _mkv(),
            _made("b.mkv", "-c:v", "ffv1", "-pix_fmt", "yuv420p", "-an", "-fflags", "+bitexact", "-map_metadata", "-1"),
            _made("pipe.mkv", "-c:v", "mpeg4", "-c:a", "pcm_s16le"),
        ]

    def decode(self, data: bytes) -> object:
        return _frames(data)


class TestWebmContract(CarrierContract):
    carrier = CARRIER
    format_name = "webm"

    def samples(self) -> list[bytes]:
        return [
            _made("vp9.webm", "-c:v", "libvpx-vp9", "-c:a", "libopus", "-b:v", "50k"),
            _made("vp8.webm", "-c:v", "libvpx", "-c:a", "libvorbis", "-b:v", "50k"),
        ]

    def decode(self, data: bytes) -> object:
        return _frames(data)


@pytest.mark.parametrize("name", ["a.mkv", "vp9.webm", "vp8.webm"])
def test_ffprobe_reads_label_and_other_tags(tmp_path: Path, label: AigcLabel, label2: AigcLabel, name: str) -> None:
    data = {"a.mkv": _mkv}.get(name, lambda: _made(name))()
    once = CARRIER.write(data, label)
    tags = _probe_tags(tmp_path, once)
    assert tags["AIGC"] == label.to_json()
    assert tags.get("ENCODER") or tags.get("encoder")
    assert _probe_tags(tmp_path, CARRIER.write(once, label2))["AIGC"] == label2.to_json()


def test_clusters_and_cues_never_move(label: AigcLabel) -> None:
    data = _mkv()
    before = [(el.id, el.start) for el in layout(data).top if el.id in (CLUSTER, CUES)]
    for out in (CARRIER.write(data, label), CARRIER.write(CARRIER.write(data, label), label)):
        assert [(el.id, el.start) for el in layout(out).top if el.id in (CLUSTER, CUES)] == before


def test_seekhead_points_at_new_tags_with_valid_crc(label: AigcLabel) -> None:
    out = CARRIER.write(_mkv(), label)
    lay = layout(out)
    tags = [el for el in lay.top if el.id == TAGS]
    assert len(tags) == 1
    head = next(el for el in lay.top if el.id == SEEKHEAD)
    kids = children(out, head)
    if kids[0].id == CRC32:
        assert out[kids[0].data_start : kids[0].end] == zlib.crc32(out[kids[0].end : head.end]).to_bytes(4, "little")
    positions = []
    for seek in kids[1:] if kids[0].id == CRC32 else kids:
        fields = {c.id: out[c.data_start : c.end] for c in children(out, seek)}
        if fields[0x53AB] == bytes.fromhex("1254C367"):
            positions.append(int.from_bytes(fields[0x53AC], "big") + lay.segment.data_start)
    assert positions == [tags[0].start]


def test_tags_rewritten_in_place_when_void_follows(tmp_path: Path, label: AigcLabel) -> None:
    data = _mkv()
    lay = layout(data)
    old = next(el for el in lay.top if el.id == TAGS)
    roomy = data[: old.end] + void(600) + data[old.end :]
    seg = lay.segment
    roomy = roomy[: seg.data_start - seg.size_len] + encode_size(seg.size + 600, seg.size_len) + roomy[seg.data_start :]
    # the inserted Void shifts Clusters, so only structure and the label are checked on this file
    out = CARRIER.write(roomy, label)
    assert len(out) == len(roomy)
    assert [el.start for el in layout(out).top if el.id == TAGS] == [old.start]
    assert [f.label for f in CARRIER.read(out)] == [label]


def _with_tag_name(data: bytes, name: bytes, value: str) -> bytes:
    """Replace the Tags at the end of the Segment by one SimpleTag with this TagName, fixing the Segment size."""
    lay = layout(data)
    tags = lay.top[-1]
    assert tags.id == TAGS and tags.end == lay.segment.end == len(data)
    simple = element(0x45A3, name) + element(0x4487, value.encode())
    head = data[: tags.start] + element(TAGS, element(0x7373, element(0x63C0, b"") + element(0x67C8, simple)))
    seg = lay.segment
    grown = encode_size(seg.size + len(head) - len(data), seg.size_len)
    return head[: seg.data_start - seg.size_len] + grown + head[seg.data_start :]


def test_vendor_tagname_is_read_and_superseded(tmp_path: Path, label: AigcLabel, label2: AigcLabel) -> None:
    data = CARRIER.write(_mkv(), label)
    assert [f.standard for f in CARRIER.read(_with_tag_name(data, b"aigc", label.to_json()))] == [True]
    vendor = _with_tag_name(data, b"AIGC_ext", label.to_json())
    found = CARRIER.read(vendor)
    assert [(f.standard, f.label) for f in found] == [(False, label)]
    out = CARRIER.write(vendor, label2)
    assert [(f.standard, f.label) for f in CARRIER.read(out)] == [(True, label2)]
    assert _probe_tags(tmp_path, out)["AIGC"] == label2.to_json()


def test_label_tag_shape(label: AigcLabel) -> None:
    tag = label_tag(label)
    el = read_element(tag, 0, len(tag))
    assert [c.id for c in children(tag, el)] == [0x63C0, 0x67C8]


def test_segment_past_end_is_corrupt() -> None:
    data = _mkv()
    with pytest.raises(CorruptInput):
        CARRIER.read(data[: len(data) - 1])
    assert VOID == 0xEC
