"""The audio watermark on a video's sound, through the public API: the marked track, what is kept, what is refused."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from synthguard.errors import CorruptInput, InputError
from synthguard.watermark import Payload
from synthguard.watermark.audio import detect_audio
from synthguard.watermark.video_audio import detect_audio_track, mark_audio_track
from tests.watermark.test_audio import _music

KEY = b"video-audio-key-0123456789abcdef"
OTHER_KEY = b"another-key-0123456789abcdefghij"
PAYLOAD = Payload(producer=77, serial=0x1234_5678)
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command")


def make_video(
    path: Path,
    seconds: float,
    *,
    audio_seconds: float | None = None,
    webm: bool = False,
    size: tuple[int, int] = (160, 120),
) -> Path:
    """A moving texture at 5 fps with a stereo music-like track (AAC 128k in mp4, Opus in webm)."""
    rate = 48000 if webm else 44100
    rng = np.random.default_rng(11)
    base = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libvpx-vp9" if webm else "libx264", rate=5)
        vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
        aus = out.add_stream("libopus" if webm else "aac", rate=rate, layout="stereo") if audio_seconds != 0 else None
        if aus is not None:
            aus.bit_rate = 128000
        for i in range(round(seconds * 5)):
            frame = av.VideoFrame.from_ndarray(np.roll(base, 3 * i, axis=1), format="rgb24")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
        if aus is not None:
            music = np.ascontiguousarray(_music(audio_seconds or seconds, rate, seed=4).T)
            for k in range(0, music.shape[1], 960):
                af = av.AudioFrame.from_ndarray(music[:, k : k + 960], format="fltp", layout="stereo")
                af.sample_rate, af.pts, af.time_base = rate, k, Fraction(1, rate)
                out.mux(aus.encode(af))
            out.mux(aus.encode(None))
    return path


def packets(path: Path, kind: str) -> list[bytes]:
    with av.open(str(path)) as c:
        stream = c.streams.video[0] if kind == "video" else c.streams.audio[0]
        return [bytes(p) for p in c.demux(stream) if p.size]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("video-audio")


@pytest.fixture(scope="module")
def clip(work: Path) -> Path:
    return make_video(work / "clip.mp4", 10.0)


@pytest.fixture(scope="module")
def marked(clip: Path, work: Path) -> Path:
    before = clip.read_bytes()
    result = mark_audio_track(clip, work / "marked.mp4", PAYLOAD, KEY)
    assert result.marked and result.carries_payload and result.codec == "aac" and result.note == ""
    assert clip.read_bytes() == before
    return work / "marked.mp4"


def test_track_is_marked_and_the_pictures_are_copied(clip: Path, marked: Path) -> None:
    found = detect_audio_track(marked, KEY)
    assert found is not None and found.present and found.payload == PAYLOAD and found.p_value < 1e-6
    assert packets(marked, "video") == packets(clip, "video")  # no second encode of the pictures
    assert packets(marked, "audio") != packets(clip, "audio")


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe")
def test_ffprobe_sees_the_same_streams_and_duration(clip: Path, marked: Path) -> None:
    def streams(path: Path) -> list[dict[str, object]]:
        cmd = ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name,sample_rate,channels,duration"]
        out = subprocess.run([*cmd, "-of", "json", str(path)], capture_output=True, check=True, text=True).stdout
        return list(json.loads(out)["streams"])

    before, after = streams(clip), streams(marked)
    assert [(s["codec_type"], s["codec_name"]) for s in after] == [(s["codec_type"], s["codec_name"]) for s in before]
    audio_before, audio_after = before[1], after[1]
    assert (audio_after["sample_rate"], audio_after["channels"]) == (audio_before["sample_rate"], 2)
    assert abs(float(str(audio_after["duration"])) - float(str(audio_before["duration"]))) < 0.05


def test_unmarked_track_and_wrong_key_find_nothing(clip: Path, marked: Path) -> None:
    for path, key in ((clip, KEY), (marked, OTHER_KEY)):
        found = detect_audio_track(path, key)
        assert found is not None and not found.present and found.payload is None


@needs_ffmpeg
def test_ripped_soundtrack_still_carries_the_payload(marked: Path, work: Path) -> None:
    ripped = work / "ripped.mp3"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(marked), "-vn", "-b:a", "96k", str(ripped)], check=True)
    wav = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(ripped), "-f", "wav", "-"], capture_output=True, check=True
    )
    samples, rate = sf.read(io.BytesIO(wav.stdout), dtype="float32", always_2d=True)
    assert detect_audio(samples, rate, KEY).payload == PAYLOAD


def test_webm_opus_track_stays_opus(work: Path) -> None:
    src = make_video(work / "clip.webm", 6.0, webm=True)
    result = mark_audio_track(src, work / "marked.webm", PAYLOAD, KEY)
    assert result.marked and result.codec == "libopus"
    with av.open(str(work / "marked.webm")) as c:
        assert c.streams.audio[0].codec_context.name == "opus" and c.streams.audio[0].rate == 48000
    found = detect_audio_track(work / "marked.webm", KEY)
    assert found is not None and found.payload == PAYLOAD


def test_no_track_or_a_track_too_short_writes_nothing(work: Path) -> None:
    silent_film = make_video(work / "noaudio.mp4", 3.0, audio_seconds=0)
    assert mark_audio_track(silent_film, work / "out1.mp4", PAYLOAD, KEY).note == "no audio track"
    assert detect_audio_track(silent_film, KEY) is None
    short = make_video(work / "short.mp4", 3.0, audio_seconds=1.5)
    result = mark_audio_track(short, work / "out2.mp4", PAYLOAD, KEY)
    assert not result.marked and "too short" in result.note
    found = detect_audio_track(short, KEY)
    assert found is not None and not found.present
    assert not (work / "out1.mp4").exists() and not (work / "out2.mp4").exists()
    assert not list(work.glob("*.part"))


def test_bad_input(work: Path, clip: Path) -> None:
    truncated = work / "truncated.mp4"
    truncated.write_bytes(clip.read_bytes()[:2000])
    with pytest.raises(CorruptInput):
        mark_audio_track(truncated, work / "out3.mp4", PAYLOAD, KEY)
    with pytest.raises(CorruptInput):
        detect_audio_track(b"not a video at all", KEY)
    with pytest.raises(InputError, match="cannot write"):
        mark_audio_track(clip, work / "out.avi", PAYLOAD, KEY)
    assert not (work / "out3.mp4").exists()


def test_a_track_over_the_limit_is_left_alone(clip: Path, work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from synthguard.watermark import video_audio

    monkeypatch.setattr(video_audio, "MAX_TRACK_SECONDS", 5.0)
    result = mark_audio_track(clip, work / "long.mp4", PAYLOAD, KEY)
    assert not result.marked and "longer than" in result.note and result.seconds > 5.0
    assert not (work / "long.mp4").exists()


def test_a_track_too_short_for_the_payload_takes_the_presence_mark(work: Path) -> None:
    short = make_video(work / "line.mp4", 3.0, audio_seconds=2.2)
    result = mark_audio_track(short, work / "line_marked.mp4", PAYLOAD, KEY)
    assert result.marked and not result.carries_payload and "margin" in result.note
    found = detect_audio_track(work / "line_marked.mp4", KEY)
    assert found is not None and found.presence_only and found.payload is None
