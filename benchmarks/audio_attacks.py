"""Audio attacks and clip loading for the audio watermark benchmark and tests (ffmpeg for codecs)."""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf
from scipy.signal import butter, resample_poly, sosfilt

Audio = tuple[npt.NDArray[np.float32], int]
Attack = Callable[[npt.NDArray[np.float32], int, np.random.Generator], Audio]

AUDIO_SUFFIXES = {".wav", ".ogg", ".oga", ".mp3", ".m4a", ".flac", ".opus"}


def have_ffmpeg() -> bool:
    """Whether ffmpeg is on PATH."""
    return shutil.which("ffmpeg") is not None


def _wav_bytes(x: npt.NDArray[np.float32], rate: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, rate, format="WAV", subtype="FLOAT")
    return buf.getvalue()


def _ffmpeg(data: bytes, in_args: list[str], out_args: list[str]) -> bytes:
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", *in_args, "-i", "pipe:0", *out_args, "pipe:1"]
    return subprocess.run(cmd, input=data, capture_output=True, check=True).stdout


def _to_float(data: bytes, in_args: list[str], extra: list[str] | None = None) -> Audio:
    wav = _ffmpeg(data, in_args, [*(extra or []), "-f", "wav", "-c:a", "pcm_f32le"])
    x, rate = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    return x, int(rate)


def load(path: Path) -> Audio:
    """Any audio file as float32 frames x channels at its own rate (via ffmpeg)."""
    return _to_float(path.read_bytes(), [])


def codec(x: npt.NDArray[np.float32], rate: int, encoder: list[str], fmt: str) -> Audio:
    """Encode with ffmpeg (encoder args, container fmt) and decode back to float."""
    coded = _ffmpeg(_wav_bytes(x, rate), ["-f", "wav"], [*encoder, "-f", fmt])
    return _to_float(coded, ["-f", "aac" if fmt == "adts" else fmt])  # the ADTS demuxer is named aac


def ffilter(x: npt.NDArray[np.float32], rate: int, graph: str) -> Audio:
    """Run an ffmpeg audio filter graph."""
    return _to_float(_wav_bytes(x, rate), ["-f", "wav"], ["-af", graph])


def _butter(x: npt.NDArray[np.float32], rate: int, cutoff: float, kind: str) -> Audio:
    if cutoff >= 0.49 * rate:
        return x, rate  # already band-limited below the cutoff
    sos = butter(8, cutoff, btype=kind, fs=rate, output="sos")
    return np.asarray(sosfilt(sos, x, axis=0), dtype=np.float32), rate


def _noise(x: npt.NDArray[np.float32], rate: int, rng: np.random.Generator, snr_db: float) -> Audio:
    power = float(np.mean(x.astype(np.float64) ** 2))
    noise = rng.standard_normal(x.shape) * np.sqrt(power / 10 ** (snr_db / 10))
    return (x + noise).astype(np.float32), rate


def _resample(x: npt.NDArray[np.float32], rate: int, new_rate: int) -> Audio:
    from math import gcd

    g = gcd(rate, new_rate)
    return np.asarray(resample_poly(x, new_rate // g, rate // g, axis=0), dtype=np.float32), new_rate


def _speed(x: npt.NDArray[np.float32], rate: int, factor: float) -> Audio:
    """Play faster by factor (pitch follows), like a tape or a naive resample."""
    return ffilter(x, rate, f"asetrate={round(rate * factor)},aresample={rate}")


def _pitch(x: npt.NDArray[np.float32], rate: int, factor: float) -> Audio:
    """Shift every frequency by factor and keep the tempo, as a voice changer does."""
    return ffilter(x, rate, f"asetrate={round(rate * factor)},aresample={rate},atempo={1 / factor:.6f}")


def _excerpt(x: npt.NDArray[np.float32], rate: int, rng: np.random.Generator, seconds: float) -> Audio:
    n = int(seconds * rate)
    start = int(rng.integers(0, max(1, x.shape[0] - n)))
    return x[start : start + n], rate


def _echo(x: npt.NDArray[np.float32], rate: int) -> Audio:
    d = int(0.12 * rate)
    y = x.astype(np.float64).copy()
    y[d:] += 0.5 * x[:-d]
    return (y / 1.5).astype(np.float32), rate


def make_mixer(other: npt.NDArray[np.float32], other_rate: int) -> Attack:
    """An attack mixing in another recording 10 dB below the clip."""

    def mix(x: npt.NDArray[np.float32], rate: int, rng: np.random.Generator) -> Audio:
        o, _ = _resample(other, other_rate, rate)
        o = o.mean(axis=1, keepdims=True)
        reps = int(np.ceil(x.shape[0] / o.shape[0])) + 1
        start = int(rng.integers(0, o.shape[0]))
        o = np.tile(o, (reps, 1))[start : start + x.shape[0]]
        px, po = float(np.mean(x.astype(np.float64) ** 2)), float(np.mean(o.astype(np.float64) ** 2)) + 1e-20
        return (x + o * np.sqrt(px / po / 10.0)).astype(np.float32), rate

    return mix


# a telephone line: 8 kHz mono, 300-3400 Hz
_PHONE_LINE = ["-ar", "8000", "-ac", "1", "-af", "highpass=f=300,lowpass=f=3400"]


ATTACKS: dict[str, Attack] = {
    "none": lambda x, r, g: (x, r),
    "mp3 128k": lambda x, r, g: codec(x, r, ["-c:a", "libmp3lame", "-b:a", "128k"], "mp3"),
    "mp3 64k": lambda x, r, g: codec(x, r, ["-c:a", "libmp3lame", "-b:a", "64k"], "mp3"),
    "aac 64k": lambda x, r, g: codec(x, r, ["-c:a", "aac", "-b:a", "64k"], "adts"),
    "opus 32k": lambda x, r, g: codec(x, r, ["-c:a", "libopus", "-b:a", "32k"], "ogg"),
    "resample 16k": lambda x, r, g: _resample(x, r, 16000),
    "resample 8k": lambda x, r, g: _resample(x, r, 8000),
    "speed 0.95": lambda x, r, g: _speed(x, r, 0.95),
    "speed 1.05": lambda x, r, g: _speed(x, r, 1.05),
    "tempo 0.95": lambda x, r, g: ffilter(x, r, "atempo=0.95"),
    "tempo 1.05": lambda x, r, g: ffilter(x, r, "atempo=1.05"),
    "pitch 0.95": lambda x, r, g: _pitch(x, r, 0.95),
    "pitch 1.05": lambda x, r, g: _pitch(x, r, 1.05),
    "pitch 0.8": lambda x, r, g: _pitch(x, r, 0.8),  # about four semitones down, a voice changer's larger shifts
    "pitch 1.25": lambda x, r, g: _pitch(x, r, 1.25),
    "pitch random": lambda x, r, g: _pitch(x, r, float(g.uniform(0.79, 1.26))),  # not in the default list
    "noise 20dB": lambda x, r, g: _noise(x, r, g, 20.0),
    "lowpass 4k": lambda x, r, g: _butter(x, r, 4000.0, "lowpass"),
    "highpass 300": lambda x, r, g: _butter(x, r, 300.0, "highpass"),
    "volume -10dB": lambda x, r, g: ((x * 10 ** (-0.5)).astype(np.float32), r),
    "volume +10dB": lambda x, r, g: ((x * 10**0.5).astype(np.float32), r),
    "excerpt 3s": lambda x, r, g: _excerpt(x, r, g, 3.0),
    "echo 120ms": lambda x, r, g: _echo(x, r),
    # not in the default list: a phone call (the voice-fraud path) and a low-rate speech codec, beyond the goals
    "phone g711": lambda x, r, g: codec(x, r, [*_PHONE_LINE, "-c:a", "pcm_mulaw"], "wav"),
    "phone gsm": lambda x, r, g: codec(x, r, [*_PHONE_LINE, "-c:a", "libgsm"], "gsm"),
    "phone g722": lambda x, r, g: codec(x, r, ["-ar", "16000", "-ac", "1", "-c:a", "g722"], "g722"),  # HD voice
    "opus 12k": lambda x, r, g: codec(x, r, ["-ac", "1", "-c:a", "libopus", "-b:a", "12k"], "ogg"),
}


# attacks a benchmark runs only when asked for by name
EXTRA_ATTACKS = ("pitch random", "phone g711", "phone gsm", "phone g722", "opus 12k")


# every other attack a benchmark runs unless told otherwise; the mixing attack is built by the benchmark from
# the shared music
DEFAULT_ATTACKS = ",".join(a for a in ATTACKS if a != "none" and a not in EXTRA_ATTACKS) + ",mix -10dB"


def chain_attacks(steps: list[Attack]) -> Attack:
    """One attack that runs steps in order, each on the previous one's output, with the same generator."""

    def run(x: npt.NDArray[np.float32], rate: int, g: np.random.Generator) -> Audio:
        for step in steps:
            x, rate = step(x, rate, g)
        return x, rate

    return run


def loop_to(x: npt.NDArray[np.float32], rate: int, seconds: float) -> npt.NDArray[np.float32]:
    """Repeat a short recording (with 0.2 s gaps) until it lasts seconds."""
    n = int(seconds * rate)
    if x.shape[0] >= n:
        return x[:n]
    gap = np.zeros((int(0.2 * rate), x.shape[1]), dtype=np.float32)
    unit = np.concatenate([x, gap])
    return np.tile(unit, (n // unit.shape[0] + 1, 1))[:n]
