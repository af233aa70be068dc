"""How much of a random magnitude pattern on time-frequency cells of a given size survives a speech codec.

A measurement behind the audio watermark's Limits (docs/watermark-audio.md, "Phone calls"): each speech clip
(the espeak-ng sentences and the two spoken recordings, 10 s each, at 16 kHz) gets a random +-a log-magnitude
pattern on cells of 0.5-3.25 kHz, the same energy for every cell size. Marked and unmarked clips both go
through the codec; "kept" is the mean log-energy step in the pattern's direction after the codec, over the
step before it, and "z" is the clip's statistic measured against the coded unmarked clip (a reference no
real detector has, so an upper bound).

    python benchmarks/audio_cell_retention.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.signal import istft, resample_poly, stft

from audio_attacks import codec, have_ffmpeg, load, loop_to
from watermark_audio import DATA, tts_clips

RATE = 16000
HOP_MS = 16  # STFT of 512 points at hop 256
BIN_HZ = RATE / 512
BAND_HZ = (500.0, 3250.0)
STEP = 0.1  # +-0.87 dB on every cell
CELLS = [(62.5, 32), (125.0, 64), (250.0, 64), (500.0, 96)]  # Hz x ms; the first is the watermark's own cell
_LINE = ["-ar", "8000", "-ac", "1", "-af", "highpass=f=300,lowpass=f=3400"]
CODECS = {
    "phone g711": lambda x: codec(x, RATE, [*_LINE, "-c:a", "pcm_mulaw"], "wav"),
    "phone gsm": lambda x: codec(x, RATE, [*_LINE, "-c:a", "libgsm"], "gsm"),
    "opus 12k": lambda x: codec(x, RATE, ["-ac", "1", "-c:a", "libopus", "-b:a", "12k"], "ogg"),
}

FloatArray = npt.NDArray[np.float64]


def _grid(hz: float, ms: int) -> tuple[int, int, int, int]:
    """Bins per cell, frames per cell, first bin and number of cell rows in the band."""
    per_band, per_time = round(hz / BIN_HZ), round(ms / HOP_MS)
    lo, hi = int(BAND_HZ[0] / BIN_HZ), int(BAND_HZ[1] / BIN_HZ)
    return per_band, per_time, lo, (hi - lo) // per_band


def cell_log_energy(x: FloatArray, hz: float, ms: int) -> FloatArray:
    """Log energy of each cell (band rows x time columns)."""
    per_band, per_time, lo, rows = _grid(hz, ms)
    power = np.abs(stft(x, RATE, nperseg=512, noverlap=256)[2]) ** 2
    power = power[lo : lo + rows * per_band]
    cols = power.shape[1] // per_time
    power = power[:, : cols * per_time].reshape(rows, per_band, cols, per_time).sum(axis=(1, 3))
    return np.asarray(np.log(power + 1e-12))


def marked(x: FloatArray, hz: float, ms: int, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
    """x with a random +-STEP log-magnitude pattern on the cells, and the pattern's signs."""
    per_band, per_time, lo, rows = _grid(hz, ms)
    spec = stft(x, RATE, nperseg=512, noverlap=256)[2]
    cols = spec.shape[1] // per_time
    sign = rng.choice([-1.0, 1.0], size=(rows, cols))
    gain = np.ones(spec.shape)
    pattern = np.repeat(np.repeat(sign, per_band, axis=0), per_time, axis=1)
    gain[lo : lo + rows * per_band, : cols * per_time] = np.exp(STEP * pattern)
    y = istft(spec * gain, RATE, nperseg=512, noverlap=256)[1]
    return np.asarray(y[: x.size]), sign


def through(name: str, x: FloatArray) -> FloatArray:
    """x through a codec and back at RATE."""
    y, rate = CODECS[name](x[:, None].astype(np.float32))
    return np.asarray(resample_poly(y[:, 0], RATE, rate))


def main() -> int:
    if not have_ffmpeg():
        print("skipped: needs the ffmpeg command")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        clips = tts_clips(Path(tmp)) + [
            (p.name, *load(p)) for p in sorted(DATA.iterdir()) if "alsa_Front" in p.name or "front-left" in p.name
        ]
    speech = [resample_poly(loop_to(x, r, 10.0).mean(axis=1), RATE, r) for _, x, r in clips]
    print(f"{len(speech)} speech clips of 10 s; a +-{STEP} log-magnitude pattern, the same energy for every cell size")
    print("| cells | " + " | ".join(f"{c}: kept / z" for c in CODECS) + " |")
    print("|---|" + "---:|" * len(CODECS))
    rng = np.random.default_rng(1)
    for hz, ms in CELLS:
        kept: dict[str, list[float]] = {c: [] for c in CODECS}
        zs: dict[str, list[float]] = {c: [] for c in CODECS}
        for x in speech:
            y, sign = marked(x, hz, ms, rng)
            before = cell_log_energy(y, hz, ms) - cell_log_energy(x, hz, ms)
            for name in CODECS:
                cx, cy = through(name, x), through(name, y)
                n = min(cx.size, cy.size)
                after = cell_log_energy(cy[:n], hz, ms) - cell_log_energy(cx[:n], hz, ms)
                m = min(after.shape[1], sign.shape[1])
                moved = after[:, :m] * sign[:, :m]
                kept[name].append(float(np.mean(moved) / np.mean(before[:, :m] * sign[:, :m])))
                zs[name].append(float(np.sum(moved) / np.sqrt(np.sum(after[:, :m] ** 2))))
        cells = " | ".join(f"{np.mean(kept[c]):.2f} / {np.mean(zs[c]):.1f}" for c in CODECS)
        print(f"| {hz:g} Hz x {ms} ms | {cells} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
