"""Audible labels: rhythm timing, spoken speed, level without clipping, formats kept, per-turn chunks, detection."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from scipy.signal import hilbert

from synthguard.errors import CorruptInput, InputError, UnsupportedFormat
from synthguard.explicit.audio import (
    AudioLabelOptions,
    Mode,
    Position,
    Rhythm,
    Sound,
    label_audio,
    label_samples,
    label_sound,
    turn_label,
    wrap_turn,
)
from synthguard.explicit.detect_audio import detect_audio_label, detect_rhythm
from synthguard.media import Media
from tests.conftest import PRODUCER, shared_path

RNG = np.random.default_rng(7)


def _music(seconds: float, rate: int, channels: int, level: float = 0.3) -> np.ndarray:
    """Chords with a noise floor: not tonal at a single steady frequency, like real content."""
    t = np.arange(round(seconds * rate)) / rate
    x = sum(np.sin(2 * np.pi * f * t + p) for f, p in ((220, 0), (277.2, 1), (329.6, 2), (1318.5, 3))) / 4
    x = x * (0.6 + 0.4 * np.sin(2 * np.pi * 0.7 * t)) + 0.05 * RNG.standard_normal(t.size)
    return np.repeat((level * x)[:, None], channels, axis=1)


def _wav(x: np.ndarray, rate: int, subtype: str = "PCM_16", fmt: str = "WAV") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, rate, subtype=subtype, format=fmt)
    return buf.getvalue()


def _av_encode(x: np.ndarray, rate: int, muxer: str, codec: str, bit_rate: int) -> bytes:
    buf = io.BytesIO()
    layout = "mono" if x.shape[1] == 1 else "stereo"
    with av.open(buf, "w", format=muxer) as out:
        s = out.add_stream(codec, rate=rate, layout=layout)
        s.bit_rate = bit_rate
        data = np.ascontiguousarray(x.T, dtype=np.float32)
        for i in range(0, data.shape[1], 4096):
            frame = av.AudioFrame.from_ndarray(data[:, i : i + 4096], format="fltp", layout=layout)
            frame.sample_rate, frame.pts, frame.time_base = rate, i, Fraction(1, rate)
            out.mux(s.encode(frame))
        out.mux(s.encode(None))
    return buf.getvalue()


def _tone_edges(x: np.ndarray, rate: int) -> list[tuple[float, float]]:
    """Half-amplitude crossings of the analytic envelope: (start, end) of every tone, in seconds."""
    env = np.abs(hilbert(x))
    on = env > env.max() / 2
    edges = np.flatnonzero(np.diff(on.astype(np.int8)))
    starts, ends = edges[::2] + 1, edges[1::2] + 1
    return [(a / rate, b / rate) for a, b in zip(starts, ends, strict=True)]


@pytest.mark.parametrize("rhythm", [Rhythm(), Rhythm(tone_hz=700.0, unit_s=0.08), Rhythm(tone_hz=1800, unit_s=0.14)])
def test_rhythm_timing_measured_from_envelope(rhythm: Rhythm) -> None:
    rate = 48000
    out = label_samples(np.zeros(rate), rate, AudioLabelOptions(rhythm=rhythm))
    (start, end), *_ = out.spans
    edges = _tone_edges(out.samples[round(start * rate) : round(end * rate), 0], rate)
    assert len(edges) == 4
    for (a, b), (ea, eb) in zip(edges, rhythm.tones(), strict=True):
        assert abs(a - ea) < 0.002 and abs(b - eb) < 0.002
    u = rhythm.unit_s
    lengths = [b - a for a, b in edges]
    gaps = [edges[i + 1][0] - edges[i][1] for i in range(3)]
    assert np.allclose(lengths, [u, 3 * u, u, u], atol=0.002)  # short long short short
    assert np.allclose(gaps, [u, 3 * u, u], atol=0.002)  # A, letter gap, I


def test_rhythm_ramps_are_smooth() -> None:
    rate = 48000
    x = Rhythm().render(rate)
    env = np.abs(hilbert(x))
    first_on = np.flatnonzero(env > 0.1)[0]
    full = np.flatnonzero(env > 0.9)[0]
    assert (full - first_on) / rate > 0.0025  # 10-90 % of a 5 ms raised cosine is ~3 ms: a ramp, not a click
    assert abs(x[0]) < 1e-3 and abs(x[-1]) < 1e-3


def test_spoken_label_speed_within_normal_range() -> None:
    rate = 22050
    x = label_sound(rate, AudioLabelOptions(sound=Sound.SPOKEN))
    loud = np.flatnonzero(np.abs(x) > 0.01 * np.abs(x).max())
    seconds = (loud[-1] - loud[0]) / rate
    chars_per_minute = len("人工智能生成") * 60 / seconds
    assert 120 <= chars_per_minute <= 160


def test_spoken_label_spliced_into_file() -> None:
    rate = 16000
    data = _wav(_music(1.0, rate, 1), rate)
    result = label_audio(Media.from_bytes(data), PRODUCER, options=AudioLabelOptions(sound=Sound.SPOKEN))
    x, r = sf.read(io.BytesIO(result.data))
    (a, b), *_ = result.spans
    assert r == rate and 2.2 < b - a < 3.0 and x.shape[0] / rate > 1.0 + (b - a)


@pytest.mark.parametrize("mode", [Mode.SPLICE, Mode.MIX])
def test_full_scale_input_never_clips(mode: Mode) -> None:
    rate = 44100
    t = np.arange(3 * rate) / rate
    square = np.sign(np.sin(2 * np.pi * 100 * t))[:, None] * np.ones(2)
    out = label_samples(square, rate, AudioLabelOptions(mode=mode, positions=(Position.START, Position.END)))
    assert np.abs(out.samples).max() <= 1.0
    for a, b in out.spans:
        assert np.abs(out.samples[round(a * rate) : round(b * rate)]).max() < 0.99
    result = label_audio(Media.from_bytes(_wav(square, rate)), PRODUCER, options=AudioLabelOptions(mode=mode))
    ints, _ = sf.read(io.BytesIO(result.data), dtype="int16")
    a, b = (round(v * rate) for v in result.spans[0])
    assert np.abs(ints[a:b].astype(np.int32)).max() < 32767


def test_level_matches_loudest_second() -> None:
    rate = 32000
    quiet_then_loud = np.concatenate([_music(2.0, rate, 1, 0.02), _music(2.0, rate, 1, 0.2)])
    loudest = max(np.sqrt(np.mean(quiet_then_loud[i : i + rate] ** 2)) for i in range(0, 3 * rate + 1, rate // 2))
    out = label_samples(quiet_then_loud, rate)
    a, b = (round(v * rate) for v in out.spans[0])
    tone = out.samples[a:b, 0]
    env = np.abs(hilbert(tone))
    rms_on = np.sqrt(np.mean(tone[env > 0.5 * env.max()] ** 2))
    assert abs(20 * np.log10(rms_on / loudest)) < 0.5


@pytest.mark.parametrize(("rate", "channels"), [(8000, 1), (16000, 1), (22050, 2), (44100, 2), (48000, 2)])
def test_rate_and_channels_kept(rate: int, channels: int) -> None:
    x = _music(1.0, rate, channels)
    result = label_audio(Media.from_bytes(_wav(x, rate)), PRODUCER)
    y, r = sf.read(io.BytesIO(result.data), always_2d=True)
    assert r == rate and y.shape[1] == channels
    gap = round(AudioLabelOptions().gap_s * rate)
    assert y.shape[0] == x.shape[0] + round(Rhythm().duration * rate) + gap
    assert detect_rhythm(y, r)[0].start_s < 0.02
    assert Media.from_bytes(result.data).carrier.read(result.data)[0].label == result.metadata.label


def test_flac_kept_bit_depth() -> None:
    x = _music(1.0, 44100, 2)
    result = label_audio(Media.from_bytes(_wav(x, 44100, "PCM_24", "FLAC")), PRODUCER)
    info = sf.info(io.BytesIO(result.data))
    assert result.format == "flac" and info.subtype == "PCM_24" and info.channels == 2


def test_mix_keeps_length_and_middle_splice_lengthens() -> None:
    rate = 16000
    x = _music(4.0, rate, 2)
    mixed = label_samples(x, rate, AudioLabelOptions(mode=Mode.MIX, positions=(Position.MIDDLE,)))
    assert mixed.samples.shape == x.shape
    (a, b), *_ = mixed.spans
    assert abs((a + b) / 2 - 2.0) < 0.01
    spliced = label_samples(x, rate, AudioLabelOptions(positions=(Position.MIDDLE,)))
    assert spliced.samples.shape[0] > x.shape[0]
    hits = detect_rhythm(spliced.samples, rate)
    assert len(hits) == 1 and abs(hits[0].start_s - spliced.spans[0][0]) < 0.02


def test_per_turn_chunks() -> None:
    before = turn_label(24000, 1, dtype=np.int16)
    after = turn_label(24000, 2, side=Position.END)
    assert before.dtype == np.int16 and before.shape[1] == 1
    assert after.dtype == np.float32 and after.shape[1] == 2
    n_label = round(Rhythm().duration * 24000)
    assert np.all(before[n_label:] == 0) and np.all(after[: after.shape[0] - n_label] == 0)
    assert len(detect_rhythm(before, 24000)) == 1
    turn = (_music(1.5, 24000, 1)[:, 0] * 32767).astype(np.int16)
    wrapped = wrap_turn(turn, 24000, AudioLabelOptions(positions=(Position.START, Position.END)))
    assert wrapped.dtype == np.int16 and wrapped.ndim == 1
    assert wrapped.size == turn.size + 2 * (before.shape[0])
    assert len(detect_rhythm(wrapped, 24000)) == 2
    with pytest.raises(InputError):
        turn_label(24000, 1, side=Position.MIDDLE)


def test_detected_after_mp3_128k() -> None:
    rate = 44100
    labeled = label_samples(_music(3.0, rate, 2), rate, AudioLabelOptions(positions=(Position.END,)))
    mp3 = _av_encode(labeled.samples, rate, "mp3", "libmp3lame", 128000)
    report = detect_audio_label(Media.from_bytes(mp3))
    assert report["found"] and report["count"] == 1
    hit = report["hits"][0]
    assert abs(hit["start_s"] - labeled.spans[0][0]) < 0.06  # the MP3 encoder delay shifts it a little
    assert abs(hit["tone_hz"] - 1000) < 20 and abs(hit["unit_ms"] - 100) <= 10


@pytest.mark.parametrize(
    ("muxer", "codec", "fmt"), [("mp3", "libmp3lame", "mp3"), ("ipod", "aac", "m4a"), ("ogg", "libopus", "ogg-opus")]
)
def test_compressed_formats_relabelled(muxer: str, codec: str, fmt: str) -> None:
    rate = 48000
    src = _av_encode(_music(2.0, rate, 2), rate, muxer, codec, 96000)
    options = AudioLabelOptions(mode=Mode.MIX, rhythm=Rhythm(tone_hz=1500, unit_s=0.07))
    result = label_audio(Media.from_bytes(src), PRODUCER, options=options)
    assert result.format == fmt
    assert 0.6 < len(result.data) / len(src) < 1.6  # bitrate close to the input's
    report = detect_audio_label(Media.from_bytes(result.data))
    assert report["found"] and abs(report["hits"][0]["unit_ms"] - 70) <= 10


def test_ogg_vorbis_relabelled() -> None:
    rate = 44100
    src = _wav(_music(2.0, rate, 2), rate, "VORBIS", "OGG")
    result = label_audio(Media.from_bytes(src), PRODUCER, options=AudioLabelOptions(mode=Mode.MIX))
    assert result.format == "ogg-vorbis" and detect_audio_label(Media.from_bytes(result.data))["found"]


def test_short_file_splices_but_cannot_mix() -> None:
    rate = 16000
    data = _wav(_music(0.2, rate, 1), rate)
    result = label_audio(Media.from_bytes(data), PRODUCER)
    assert sf.info(io.BytesIO(result.data)).frames == round(0.2 * rate) + round(1.105 * rate) + round(0.25 * rate)
    with pytest.raises(InputError, match="too short to mix"):
        label_audio(Media.from_bytes(data), PRODUCER, options=AudioLabelOptions(mode=Mode.MIX))


def test_bad_inputs_raise_our_errors() -> None:
    wav = _wav(_music(1.0, 8000, 1), 8000)
    with pytest.raises(CorruptInput):
        label_audio(Media.from_bytes(wav[:44] + b"\xff" * 3), PRODUCER)
    mp3 = _av_encode(_music(1.0, 44100, 1), 44100, "mp3", "libmp3lame", 64000)
    with pytest.raises((CorruptInput, UnsupportedFormat)):
        label_audio(Media.from_bytes(mp3[:200] + bytes(RNG.integers(0, 256, 3000, dtype=np.uint8))), PRODUCER)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    with pytest.raises((UnsupportedFormat, CorruptInput)):
        label_audio(Media.from_bytes(png), PRODUCER)
    with pytest.raises(InputError):
        Rhythm(ramp_s=0.09)


def test_user_supplied_recording(tmp_path: Path) -> None:
    rate = 16000
    t = np.arange(rate) / rate
    own = tmp_path / "own.wav"
    sf.write(own, 0.5 * np.sin(2 * np.pi * 300 * t) * np.hanning(t.size), rate)
    out = label_samples(_music(1.0, 8000, 1), 8000, AudioLabelOptions(sound=Sound.SPOKEN, spoken=own))
    (a, b), *_ = out.spans
    assert abs((b - a) - 1.0) < 0.01


@pytest.mark.shared
def test_no_false_detection_on_real_recordings() -> None:
    folder = shared_path("audio")
    files = [p for p in sorted(folder.iterdir()) if p.suffix != ".md"]
    assert files
    for path in files:
        report = detect_audio_label(Media.open(path))
        assert not report["found"], (path.name, report["hits"])
