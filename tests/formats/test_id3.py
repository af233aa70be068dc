"""MP3/ID3v2 carrier: the contract, hand-built tag variants, the real vendor file, mutagen reading ours."""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import zlib
from pathlib import Path

import av
import pytest
from mutagen.id3 import ID3

from synthguard.errors import CorruptInput, UnsupportedFormat
from synthguard.formats import registry
from synthguard.formats.id3 import Id3Carrier, parse_tag, syncsafe, to_syncsafe
from synthguard.label.model import AigcLabel, JsonShape
from tests.conftest import SHARED_DATA, shared_path
from tests.formats.contract import CarrierContract
from tests.formats.tones import ffmpeg_tone

CARRIER = Id3Carrier()
REAL_MP3 = SHARED_DATA / "audio" / "c2pa-rs_sample1.mp3"


def _mp3(name: str, *args: str) -> bytes:
    return ffmpeg_tone(name, "sine=f=440:d=0.5:r=22050", "-c:a", "libmp3lame", "-b:a", "32k", *args)


def _audio() -> bytes:
    """Bare MPEG frames (no tags, no Xing header)."""
    return _mp3("raw.mp3", "-id3v2_version", "0", "-write_xing", "0")


def _tag(version: int, frames: bytes, flags: int = 0, footer: bool = False) -> bytes:
    head = b"ID3" + bytes([version, 0, flags]) + to_syncsafe(len(frames))
    return head + frames + (b"3DI" + head[3:] if footer else b"")


def _frame(version: int, fid: bytes, body: bytes, flags: bytes = b"\0\0") -> bytes:
    if version == 2:
        return fid + len(body).to_bytes(3, "big") + body
    size = to_syncsafe(len(body)) if version == 4 else len(body).to_bytes(4, "big")
    return fid + size + flags + body


def _txxx(desc: str, value: str, enc: int = 0) -> bytes:
    codec = {0: "latin-1", 1: "utf-16", 3: "utf-8"}[enc]
    term = b"\0\0" if enc == 1 else b"\0"
    return bytes([enc]) + desc.encode(codec) + term + value.encode(codec)


class TestMp3Contract(CarrierContract):
    carrier = CARRIER
    format_name = "mp3"
    # MPEG audio frames carry no container length: a file cut between frames is a valid shorter stream,
    # and a cut inside the last frame is what decoders routinely skip; only a cut ID3v2 tag is detectable.
    truncation_detectable = False

    def samples(self) -> list[bytes]:
        made = [
            _mp3("v3.mp3", "-id3v2_version", "3", "-metadata", "artist=bob", "-metadata", "comment=hi"),
            _mp3("v4.mp3", "-id3v2_version", "4", "-metadata", "title=t", "-write_id3v1", "1"),
            _audio(),
        ]
        return made + ([REAL_MP3.read_bytes()[:400_000]] if REAL_MP3.exists() else [])

    def decode(self, data: bytes) -> object:
        with av.open(io.BytesIO(data), format="mp3") as container:
            return tuple(f.to_ndarray().tobytes() for f in container.decode(audio=0))


@pytest.mark.parametrize("version", [3, 4])
def test_mutagen_reads_our_txxx_and_other_frames(tmp_path: Path, label: AigcLabel, version: int) -> None:
    data = _mp3(f"m{version}.mp3", "-id3v2_version", str(version), "-metadata", "artist=bob")
    out = tmp_path / "labeled.mp3"
    out.write_bytes(CARRIER.write(data, label))
    tags = ID3(out)
    assert tags.version[1] == version
    assert tags.getall("TXXX:AIGC")[0].text == [label.to_json()]
    assert str(tags["TPE1"]) == "bob"


def test_ffprobe_reads_the_label(tmp_path: Path, label: AigcLabel) -> None:
    if shutil.which("ffprobe") is None:
        pytest.skip("needs ffprobe")
    out = tmp_path / "labeled.mp3"
    out.write_bytes(CARRIER.write(_audio(), label))
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-of", "json", str(out)], check=True, capture_output=True, text=True
    )
    assert json.loads(probe.stdout)["format"]["tags"]["AIGC"] == label.to_json()


def test_new_tag_is_v23_and_tag_size_kept_when_it_fits(label: AigcLabel, label2: AigcLabel) -> None:
    once = CARRIER.write(_audio(), label)
    assert once[:4] == b"ID3\x03"
    twice = CARRIER.write(once, label2)
    assert len(twice) == len(once)


def test_v23_unsynchronised_tag_with_extended_header(label: AigcLabel) -> None:
    value = '{"AIGC":{"Label":"1","ContentProducer":"P\xff","ProduceID":"x"}}'
    frames = _frame(3, b"TPE1", b"\0bob\xff") + _frame(3, b"TXXX", _txxx("AIGC", value))
    ext = b"\0\0\0\x06" + bytes(6)
    raw = (ext + frames).replace(b"\xff", b"\xff\x00")
    data = _tag(3, raw, flags=0xC0) + _audio()
    found = CARRIER.read(data)
    assert [f.raw for f in found] == [value]
    out = CARRIER.write(data, label)
    tag = parse_tag(out)
    assert tag is not None and tag.flags == 0
    assert [f.id for f in tag.frames] == ["TPE1", "TXXX"]
    assert tag.frames[0].body == b"\0bob\xff"


def test_v24_frame_flags_and_footer(label: AigcLabel) -> None:
    inner = _txxx("AIGC", label.to_json(), enc=3)
    packed = zlib.compress(inner)
    # grouping (0x40), compression (0x08) and data-length indicator (0x01)
    body = b"\x07" + to_syncsafe(len(inner)) + packed
    frames = _frame(4, b"TXXX", body, b"\0\x49") + _frame(4, b"TIT2", b"\x03song")
    data = _tag(4, frames, flags=0x10, footer=True) + _audio()
    assert [f.label for f in CARRIER.read(data)] == [label]
    out = CARRIER.write(data, label)
    end = 10 + syncsafe(out[6:10])
    assert out[5] == 0x10 and out[end : end + 3] == b"3DI"
    assert ID3(io.BytesIO(out)).getall("TXXX:AIGC")[0].text == [label.to_json()]
    assert str(ID3(io.BytesIO(out))["TIT2"]) == "song"


def test_v22_txx_is_read_but_not_written(label: AigcLabel) -> None:
    data = _tag(2, _frame(2, b"TXX", _txxx("AIGC", label.to_json(JsonShape.INNER), enc=1))) + _audio()
    found = CARRIER.read(data)
    assert [(f.label, f.standard, f.shape) for f in found] == [(label, True, JsonShape.INNER)]
    with pytest.raises(UnsupportedFormat):
        CARRIER.write(data, label)


def test_base64_vendor_variant_is_superseded(label: AigcLabel) -> None:
    b64 = base64.b64encode(label.to_json().encode()).decode()
    data = _tag(3, _frame(3, b"TXXX", _txxx("XmpKvBase64", b64)) + _frame(3, b"TALB", b"\0album")) + _audio()
    found = CARRIER.read(data)
    assert len(found) == 1 and not found[0].standard and found[0].label == label
    out = CARRIER.write(data, label)
    assert [(f.standard, f.label) for f in CARRIER.read(out)] == [(True, label)]
    assert str(ID3(io.BytesIO(out))["TALB"]) == "album"


def test_payload_stops_before_id3v1_and_ape(label: AigcLabel) -> None:
    audio = _audio()
    ape = b"APETAGEX" + (2000).to_bytes(4, "little") + (32).to_bytes(4, "little") + bytes(16)
    data = audio + ape + b"TAG" + bytes(125)
    assert b"".join(CARRIER.content_payload(data)) == audio
    assert b"".join(CARRIER.content_payload(CARRIER.write(data, label))) == audio


def test_cut_tag_is_corrupt(label: AigcLabel) -> None:
    data = CARRIER.write(_audio(), label)
    with pytest.raises(CorruptInput):
        CARRIER.write(data[:100], label)


def test_flac_with_id3_prefix_is_not_claimed_as_mp3() -> None:
    head = _tag(3, _frame(3, b"TIT2", b"\0x")) + b"fLaC" + bytes(40)
    assert CARRIER.sniff(head) is None


def test_sniffs_bare_frames() -> None:
    assert registry().detect(_audio()) is not None
    assert CARRIER.sniff(b"\xff\xfb" + bytes(100)) is None


@pytest.mark.shared
def test_real_vendor_file_matches_ground_truth(label: AigcLabel) -> None:
    truth = json.loads(shared_path("aigc-labeled", "GROUND_TRUTH.json").read_text())["methol_sample.mp3"]
    data = shared_path("aigc-labeled", "methol_sample.mp3").read_bytes()
    found = CARRIER.read(data)
    standard = [f for f in found if f.standard]
    assert len(standard) == 1 and standard[0].shape is JsonShape.WRAPPED
    assert standard[0].label is not None and standard[0].label.fields() == truth["aigc"]
    assert all(f.label is not None and f.label.fields() == truth["aigc"] for f in found)
    out = CARRIER.write(data, label)
    assert [f.label for f in CARRIER.read(out)] == [label]
    assert b"".join(CARRIER.content_payload(out)) == b"".join(CARRIER.content_payload(data))
