"""FLAC and Ogg Vorbis/Opus carrier: the contract, real files, mutagen and ffprobe reading what we write."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import av
import mutagen
import numpy as np
import pytest
import soundfile as sf

from synthguard.errors import CorruptInput
from synthguard.formats.vorbis import VorbisCommentCarrier, flac_blocks, ogg_pages, ogg_stream
from synthguard.label.model import AigcLabel
from tests.conftest import SHARED_DATA
from tests.formats.contract import CarrierContract
from tests.formats.tones import ffmpeg_tone

AUDIO = SHARED_DATA / "audio"
CARRIER = VorbisCommentCarrier()


def _made(name: str, *args: str) -> bytes:
    return ffmpeg_tone(name, "sine=f=440:d=0.4:r=48000", "-ac", "2", *args)


def _real(name: str) -> list[bytes]:
    path = AUDIO / name
    return [path.read_bytes()] if path.exists() else []


def _flac_without_padding() -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.linspace(-0.5, 0.5, 3000).reshape(-1, 1), 8000, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def _pcm(data: bytes) -> tuple[object, ...]:
    with av.open(io.BytesIO(data)) as container:
        frames = [f.to_ndarray().tobytes() for f in container.decode(audio=0)]
    return tuple(frames)


class TestFlacContract(CarrierContract):
    carrier = CARRIER
    format_name = "flac"
    # FLAC frames are not length-prefixed: a file cut inside the audio frames parses as a shorter stream.
    truncation_detectable = False

    def samples(self) -> list[bytes]:
        return [_made("a.flac", "-c:a", "flac", "-metadata", "artist=bob"), _flac_without_padding()]

    def decode(self, data: bytes) -> object:
        arr, rate = sf.read(io.BytesIO(data), dtype="int32", always_2d=True)
        return rate, arr.tobytes()


class TestOggVorbisContract(CarrierContract):
    carrier = CARRIER
    format_name = "ogg-vorbis"

    def samples(self) -> list[bytes]:
        return [
            _made("v.ogg", "-c:a", "libvorbis", "-metadata", "artist=bob"),
            *_real("freedesktop_audio-channel-front-left.oga"),
        ]

    def decode(self, data: bytes) -> object:
        return _pcm(data)


class TestOggOpusContract(CarrierContract):
    carrier = CARRIER
    format_name = "ogg-opus"

    def samples(self) -> list[bytes]:
        return [_made("o.opus", "-c:a", "libopus", "-b:a", "24k", "-metadata", "artist=bob")]

    def decode(self, data: bytes) -> object:
        return _pcm(data)


@pytest.mark.parametrize("name", ["v.ogg", "o.opus", "a.flac"])
def test_mutagen_reads_our_comment_and_keeps_others(tmp_path: Path, label: AigcLabel, name: str) -> None:
    codec = {"v.ogg": "libvorbis", "o.opus": "libopus", "a.flac": "flac"}[name]
    data = _made(name, "-c:a", codec, "-metadata", "artist=bob")
    out = tmp_path / name
    out.write_bytes(CARRIER.write(data, label))
    tags = mutagen.File(out)
    assert tags is not None
    assert tags["AIGC"] == [label.to_json()]
    assert tags["ARTIST"] == ["bob"]


def test_ffprobe_reads_ogg_label(tmp_path: Path, label: AigcLabel) -> None:
    if shutil.which("ffprobe") is None:
        pytest.skip("needs ffprobe")
    out = tmp_path / "o.opus"
    out.write_bytes(CARRIER.write(_made("o.opus", "-c:a", "libopus", "-b:a", "24k"), label))
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    assert json.loads(probe.stdout)["streams"][0]["tags"]["AIGC"] == label.to_json()


def test_flac_padding_keeps_audio_offset(label: AigcLabel) -> None:
    data = _made("a.flac", "-c:a", "flac", "-metadata", "artist=bob")
    out = CARRIER.write(data, label)
    assert flac_blocks(out)[2] == flac_blocks(data)[2]


def test_ogg_pages_renumbered_when_header_page_count_changes(label: AigcLabel) -> None:
    data = _made("v.ogg", "-c:a", "libvorbis", "-metadata", "artist=bob")
    # a long (but valid) ProduceID makes the comment header span several pages, then shrink back
    long_label = AigcLabel.first_write(label.content_producer, "p" * 70000)
    grown = CARRIER.write(data, long_label)
    shrunk = CARRIER.write(grown, label)
    counts = [len(ogg_stream(b).header_pages) for b in (data, grown, shrunk)]
    assert counts[1] > counts[0] == counts[2]
    for blob in (grown, shrunk):
        seqs = [p.seq for p in ogg_pages(blob)]
        assert seqs == list(range(len(seqs)))
        assert _pcm(blob) == _pcm(data)
    assert [f.label for f in CARRIER.read(grown)] == [long_label]


def test_bad_ogg_crc_is_corrupt() -> None:
    data = bytearray(_made("v.ogg", "-c:a", "libvorbis"))
    data[-10] ^= 0x55
    with pytest.raises(CorruptInput):
        CARRIER.read(bytes(data))


@pytest.mark.shared
@pytest.mark.parametrize("name", ["oxygen_Sys-Log-In.ogg", "yaru_system-ready.oga", "freedesktop_camera-shutter.oga"])
def test_real_ogg_files_round_trip(tmp_path: Path, label: AigcLabel, name: str) -> None:
    data = _real(name)
    if not data:
        pytest.skip(f"needs {AUDIO / name}")
    out = CARRIER.write(data[0], label)
    assert [f.label for f in CARRIER.read(out)] == [label]
    assert b"".join(CARRIER.content_payload(out)) == b"".join(CARRIER.content_payload(data[0]))
    (tmp_path / name).write_bytes(out)
    assert mutagen.File(tmp_path / name)["AIGC"] == [label.to_json()]
