"""WAV/RF64 carrier: the contract on generated and real files, ffprobe reading what we write."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from synthguard.errors import CorruptInput
from synthguard.formats.riff import RiffCarrier, make_chunk, parse
from synthguard.label.model import AigcLabel
from tests.conftest import SHARED_DATA
from tests.formats.contract import CarrierContract

REAL_WAV = SHARED_DATA / "audio" / "sound-icons_trumpet-12.wav"


def _ffmpeg_wav(tmp: Path, name: str, *args: str) -> bytes:
    if shutil.which("ffmpeg") is None:
        pytest.skip("needs ffmpeg to generate an RF64 sample")
    out = tmp / name
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=f=440:d=0.2:r=16000", *args, str(out)],
        check=True,
    )
    return out.read_bytes()


@cache
def _samples() -> tuple[bytes, ...]:
    rng = np.random.default_rng(7)
    made = []
    for subtype, channels in (("PCM_16", 1), ("PCM_24", 2), ("FLOAT", 2)):
        buf = io.BytesIO()
        sf.write(buf, rng.uniform(-0.5, 0.5, (1601, channels)), 8000, subtype=subtype, format="WAV")
        made.append(buf.getvalue())
    tmp = Path(__import__("tempfile").mkdtemp(prefix="sg-riff-"))
    made.append(_ffmpeg_wav(tmp, "rf64.wav", "-ac", "2", "-rf64", "always"))
    made.append(_ffmpeg_wav(tmp, "info.wav", "-metadata", "title=hello"))
    if REAL_WAV.exists():
        made.append(REAL_WAV.read_bytes())
    return tuple(made)


class TestWavContract(CarrierContract):
    carrier = RiffCarrier()
    format_name = "wav"

    def samples(self) -> list[bytes]:
        return [s for s in _samples() if s[:4] == b"RIFF"]

    def decode(self, data: bytes) -> object:
        arr, rate = sf.read(io.BytesIO(data), dtype="int32", always_2d=True)
        return rate, arr.shape, arr.tobytes()


class TestRf64Contract(TestWavContract):
    format_name = "rf64"

    def samples(self) -> list[bytes]:
        return [s for s in _samples() if s[:4] == b"RF64"]


def test_label_chunk_sits_before_data_and_other_chunks_kept(label: AigcLabel) -> None:
    data = next(s for s in _samples() if b"INFOINAM" in s)
    out = RiffCarrier().write(data, label)
    ids = [c.id for c in parse(out).chunks]
    assert ids.index(b"AIGC") == ids.index(b"data") - 1
    assert b"LIST" in ids and b"INFOINAM\x06\x00\x00\x00hello" in out


def test_extra_label_chunks_collapse_into_one(label: AigcLabel, label2: AigcLabel) -> None:
    data = RiffCarrier().write(_samples()[0], label)
    doubled = data + make_chunk(b"AIGC", label2.to_json().encode())
    doubled = doubled[:4] + (len(doubled) - 8).to_bytes(4, "little") + doubled[8:]
    assert len(RiffCarrier().read(doubled)) == 2
    assert [f.label for f in RiffCarrier().read(RiffCarrier().write(doubled, label2))] == [label2]


def test_odd_length_label_keeps_word_alignment(label: AigcLabel) -> None:
    odd = AigcLabel.first_write(label.content_producer, "sg-odd-00001")
    out = RiffCarrier().write(_samples()[0], odd)
    assert len(out) % 2 == 0
    assert parse(out).chunks[-1].id == b"data"


def test_riff_size_past_end_is_corrupt() -> None:
    data = bytearray(_samples()[0])
    data[4:8] = (len(data) + 100).to_bytes(4, "little")
    with pytest.raises(CorruptInput):
        parse(bytes(data))


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe")
@pytest.mark.parametrize("index", [0, 3])
def test_ffprobe_decodes_after_write(tmp_path: Path, label: AigcLabel, index: int) -> None:
    out = tmp_path / "labeled.wav"
    out.write_bytes(RiffCarrier().write(_samples()[index], label))
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    stream = json.loads(probe.stdout)["streams"][0]
    assert stream["codec_type"] == "audio"


@cache
def _avi(name: str, *args: str) -> bytes:
    if shutil.which("ffmpeg") is None:
        pytest.skip("needs ffmpeg to generate AVI samples")
    out = Path(__import__("tempfile").mkdtemp(prefix="sg-avi-")) / name
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=s=64x48:d=1:r=10",
            "-f",
            "lavfi",
            "-i",
            "sine=d=1:r=16000",
            *args,
            str(out),
        ],
        check=True,
    )
    return out.read_bytes()


class TestAviContract(CarrierContract):
    carrier = RiffCarrier()
    format_name = "avi"

    def samples(self) -> list[bytes]:
        return [
            _avi("a.avi", "-c:v", "mpeg4", "-c:a", "pcm_s16le", "-metadata", "title=hi"),
            _avi("b.avi", "-c:v", "mjpeg", "-an"),
        ]

    def decode(self, data: bytes) -> object:
        import av

        with av.open(io.BytesIO(data)) as container:
            return tuple(f.to_ndarray().tobytes() for f in container.decode(*container.streams))


def test_avi_label_written_in_place_and_read_by_ffprobe(tmp_path: Path, label: AigcLabel) -> None:
    if shutil.which("ffprobe") is None:
        pytest.skip("needs ffprobe")
    data = TestAviContract().samples()[0]
    out = RiffCarrier().write(data, label)
    assert len(out) == len(data)  # INFO grew into the JUNK after it: movi and idx1 did not move
    path = tmp_path / "labeled.avi"
    path.write_bytes(out)
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-of", "json", str(path)], check=True, capture_output=True, text=True
    )
    tags = json.loads(probe.stdout)["format"]["tags"]
    assert tags["AIGC"] == label.to_json()
    assert tags["title"] == "hi"


def test_avi_without_room_before_movi_is_refused(label: AigcLabel) -> None:
    from synthguard.errors import UnsupportedFormat

    data = TestAviContract().samples()[0].replace(b"JUNK", b"XXXX")
    with pytest.raises(UnsupportedFormat):
        RiffCarrier().write(data, label)
