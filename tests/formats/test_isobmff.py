"""MP4/MOV/M4A carrier: the contract, ffmpeg/ffprobe interop, offset patching and fragmented files."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import av
import pytest

from synthguard.errors import CorruptInput, SynthguardError
from synthguard.formats.bmff import Node, boxes, make_box
from synthguard.formats.isobmff import IsoBmffCarrier, _shift_chunks
from synthguard.label.model import AigcLabel, JsonShape
from tests.conftest import shared_path
from tests.formats.contract import CarrierContract

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg to make sample clips")

CARRIER = IsoBmffCarrier()
_VIDEO = ["-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=1"]
_AUDIO = ["-f", "lavfi", "-i", "sine=frequency=440:duration=1:sample_rate=22050"]
_H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "5"]
_AAC = ["-c:a", "aac", "-b:a", "32k"]
VENDOR = '{"AIGC":{"Label":"1","ContentProducer":"001191110102MACQD9K64010000","ProduceID":"vendor-7"}}'


def _ffmpeg(out: Path, *args: str) -> bytes:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args, str(out)], check=True)
    return out.read_bytes()


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Small clips made once per session with ffmpeg."""
    d = tmp_path_factory.mktemp("bmff")
    both = [*_VIDEO, *_AUDIO, *_H264, *_AAC]
    return {
        "mp4": _ffmpeg(d / "a.mp4", *both),
        "mp4_faststart": _ffmpeg(d / "b.mp4", *both, "-movflags", "faststart"),
        "mov": _ffmpeg(d / "c.mov", *both, "-movflags", "faststart"),
        "m4a": _ffmpeg(d / "d.m4a", *_AUDIO, *_AAC, "-f", "ipod"),
        "mdta_ref": _ffmpeg(
            d / "e.mp4",
            *both,
            "-movflags",
            "use_metadata_tags+faststart",
            "-metadata",
            f"AIGC={VENDOR}",
            "-metadata",
            "title=kept",
        ),
        "comment": _ffmpeg(d / "f.mp4", *both, "-metadata", f"comment={VENDOR}"),
        "3gp": _ffmpeg(d / "h.3gp", *both, "-f", "3gp"),
        "fragmented": _ffmpeg(d / "g.mp4", *both, "-movflags", "frag_keyframe+empty_moov"),
    }


def decode(data: bytes) -> list[Any]:
    """Every stream's packets (bytes, pts, dts) and every decoded frame's planes, with PyAV."""
    out: list[Any] = []
    with av.open(io.BytesIO(data)) as container:
        for packet in container.demux():
            if packet.size:
                out.append((packet.stream.index, packet.pts, packet.dts, bytes(packet)))
    if len(data) < 1_000_000:
        with av.open(io.BytesIO(data)) as container:
            for frame in container.decode(*container.streams):
                out.append(tuple(bytes(p) for p in frame.planes))
    return out


class _Clips:
    data: dict[str, bytes]

    @pytest.fixture(autouse=True)
    def _use(self, clips: dict[str, bytes]) -> None:
        self.data = clips

    def decode(self, data: bytes) -> Any:
        return decode(data)


class TestMp4Contract(_Clips, CarrierContract):
    carrier = CARRIER
    format_name = "mp4"

    def samples(self) -> list[bytes]:
        return [self.data["mp4_faststart"], self.data["mp4"]]


class TestMovContract(_Clips, CarrierContract):
    carrier = CARRIER
    format_name = "mov"

    def samples(self) -> list[bytes]:
        return [self.data["mov"]]


class TestM4aContract(_Clips, CarrierContract):
    carrier = CARRIER
    format_name = "m4a"

    def samples(self) -> list[bytes]:
        return [shared_path("audio", "c2pa-rs_sample1.m4a").read_bytes(), self.data["m4a"]]


def _ffprobe_tags(data: bytes, tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "probe.mp4"
    path.write_bytes(data)
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-of", "json", str(path)], capture_output=True, text=True, check=True
    )
    tags: dict[str, str] = json.loads(done.stdout)["format"].get("tags", {})
    return tags


def _plays_cleanly(data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "play.mp4"
    path.write_bytes(data)
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True, text=True, check=True
    )
    assert done.stderr == ""


@pytest.mark.parametrize("name", ["mp4", "mp4_faststart", "mov", "m4a", "3gp", "fragmented"])
def test_ffprobe_reads_our_tag(clips: dict[str, bytes], name: str, label: AigcLabel, tmp_path: Path) -> None:
    tags = _ffprobe_tags(CARRIER.write(clips[name], label), tmp_path)
    assert tags["AIGC"] == label.to_json(JsonShape.WRAPPED)


@pytest.mark.parametrize(("name", "fmt"), [("mp4", "mp4"), ("mov", "mov"), ("m4a", "m4a"), ("3gp", "3gp")])
def test_sniffed_format(clips: dict[str, bytes], name: str, fmt: str) -> None:
    sniffed = CARRIER.sniff(clips[name][:4096])
    assert sniffed is not None and sniffed.format == fmt


def test_ffmpeg_mdta_reference_is_read_and_replaced(clips: dict[str, bytes], label: AigcLabel, tmp_path: Path) -> None:
    found = CARRIER.read(clips["mdta_ref"])
    assert len(found) == 1 and found[0].standard
    assert found[0].label is not None and found[0].label.produce_id == "vendor-7"
    out = CARRIER.write(clips["mdta_ref"], label)
    assert [f.label for f in CARRIER.read(out)] == [label]
    assert out.count(b"mdtaAIGC") == 1
    tags = _ffprobe_tags(out, tmp_path)
    assert tags["AIGC"] == label.to_json() and tags["title"] == "kept"


def test_comment_variant_is_non_standard_and_superseded(clips: dict[str, bytes], label: AigcLabel) -> None:
    found = CARRIER.read(clips["comment"])
    assert len(found) == 1 and not found[0].standard
    assert found[0].label is not None and found[0].label.produce_id == "vendor-7"
    assert [(f.label, f.standard) for f in CARRIER.read(CARRIER.write(clips["comment"], label))] == [(label, True)]


def test_faststart_shifts_chunk_offsets_and_still_plays(
    clips: dict[str, bytes], label: AigcLabel, tmp_path: Path
) -> None:
    data = clips["mp4_faststart"]
    tops = [b.type for b in boxes(data)]
    assert tops.index(b"moov") < tops.index(b"mdat")
    out = CARRIER.write(data, label)
    old_mdat = next(b for b in boxes(data) if b.type == b"mdat")
    new_mdat = next(b for b in boxes(out) if b.type == b"mdat")
    assert new_mdat.start > old_mdat.start  # the media moved, so the stco entries had to move with it
    assert decode(out) == decode(data)
    _plays_cleanly(out, tmp_path)


def test_free_box_after_moov_absorbs_growth() -> None:
    data = shared_path("audio", "c2pa-rs_sample1.m4a").read_bytes()
    out = CARRIER.write(data, AigcLabel.first_write("001191440300708461136T1XGW3", "sg-free"))
    assert len(out) == len(data)
    assert [(b.type, b.start) for b in boxes(out) if b.type == b"mdat"] == [
        (b.type, b.start) for b in boxes(data) if b.type == b"mdat"
    ]


def test_stco_promoted_to_co64_on_overflow() -> None:
    body = b"\0\0\0\0" + (2).to_bytes(4, "big") + (100).to_bytes(4, "big") + (0xFFFFFF00).to_bytes(4, "big")
    shifted = _shift_chunks(Node(b"stco", body), threshold=50, delta=0x200)
    assert shifted.type == b"co64"
    assert shifted.body[8:] == (100 + 0x200).to_bytes(8, "big") + (0x1_0000_0100).to_bytes(8, "big")


def test_fragmented_file_is_handled(clips: dict[str, bytes], label: AigcLabel, tmp_path: Path) -> None:
    data = clips["fragmented"]
    assert any(b.type == b"moof" for b in boxes(data))
    out = CARRIER.write(data, label)
    assert decode(out) == decode(data)
    _plays_cleanly(out, tmp_path)


def test_dash_init_segment_is_labeled(label: AigcLabel, tmp_path: Path) -> None:
    data = shared_path("c2pa", "dashinit.mp4").read_bytes()
    out = CARRIER.write(data, label)
    assert [f.label for f in CARRIER.read(out)] == [label]
    assert _ffprobe_tags(out, tmp_path)["AIGC"] == label.to_json()


def test_media_segment_without_moov_is_refused() -> None:
    segment = make_box(b"styp", b"msdhmsdh") + make_box(b"moof", make_box(b"mfhd", bytes(8))) + make_box(b"mdat", b"x")
    with pytest.raises(SynthguardError, match="without moov"):
        CARRIER.write(segment, AigcLabel.first_write("001191440300708461136T1XGW3", "x"))


def test_real_c2pa_mp4_keeps_its_uuid_box(label: AigcLabel) -> None:
    data = shared_path("c2pa", "video1.mp4").read_bytes()
    out = CARRIER.write(data, label)
    uuids = [out[b.start : b.end] for b in boxes(out) if b.type == b"uuid"]
    assert uuids == [data[b.start : b.end] for b in boxes(data) if b.type == b"uuid"]
    assert decode(out) == decode(data)


def test_deep_nesting_is_corrupt_not_recursion() -> None:
    inner = b""
    for _ in range(200):
        inner = make_box(b"udta", inner)
    data = make_box(b"ftyp", b"isom\0\0\0\0isom") + make_box(b"moov", inner)
    with pytest.raises(CorruptInput):
        CARRIER.read(data)


@pytest.mark.parametrize("name", ["mp4", "mdta_ref"])
def test_mutagen_freeform_variant_is_read_and_superseded(
    clips: dict[str, bytes], name: str, label: AigcLabel, tmp_path: Path
) -> None:
    mp4 = pytest.importorskip("mutagen.mp4")
    path = tmp_path / "m.mp4"
    path.write_bytes(clips[name])
    tagged = mp4.MP4(str(path))
    if tagged.tags is None:
        tagged.add_tags()
    tagged.tags["----:com.apple.iTunes:AIGC"] = [VENDOR.encode()]
    tagged.save()
    data = path.read_bytes()
    variants = [f for f in CARRIER.read(data) if not f.standard]
    assert len(variants) == 1 and "AIGC" in variants[0].carrier
    assert variants[0].label is not None and variants[0].label.produce_id == "vendor-7"
    out = CARRIER.write(data, label)
    assert [(f.label, f.standard) for f in CARRIER.read(out)] == [(label, True)]
    assert decode(out) == decode(data)


def test_quicktime_text_atom_variant(label: AigcLabel, tmp_path: Path) -> None:
    data = _ffmpeg(tmp_path / "q.mov", *_VIDEO, *_H264, "-metadata", f"comment={VENDOR}")
    found = CARRIER.read(data)
    assert found and all(not f.standard and "text atom" in f.carrier for f in found)
    assert [(f.label, f.standard) for f in CARRIER.read(CARRIER.write(data, label))] == [(label, True)]
