"""Find the 短长短短 (Morse "AI") rhythm label by its tone envelope: any tone 500-2000 Hz, unit 60-150 ms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from synthguard.errors import UnsupportedFormat
from synthguard.explicit.audio import _as_2d
from synthguard.explicit.audio_codec import decode_audio, resample
from synthguard.formats.base import Modality
from synthguard.media import Media

FloatArray = npt.NDArray[np.float64]

RATE = 8000  # tones up to 2 kHz fit; everything above is irrelevant to the rhythm
WIN = 160  # 20 ms analysis window: short enough to resolve a 60 ms gap
NFFT = 256
HOP = 40  # 5 ms
BIN_HZ = RATE / NFFT
HALF_BAND = 2  # bins either side of the centre: the Hann main lobe of a 20 ms window
THRESHOLD = 0.35  # weakest tone segment minus strongest silence segment, in fractions of the frame's energy
SHRINK = 2  # frames cut from each segment end: the window smears every edge by about two hops
_HANN = np.hanning(WIN)


@dataclass(frozen=True)
class RhythmHit:
    """One rhythm label found: where (seconds), its tone, its unit and the match score (0-1)."""

    start_s: float
    end_s: float
    tone_hz: float
    unit_ms: float
    score: float

    def to_dict(self) -> dict[str, float]:
        """JSON-serialisable form."""
        return {
            "start_s": round(float(self.start_s), 3),
            "end_s": round(float(self.end_s), 3),
            "tone_hz": round(self.tone_hz, 1),
            "unit_ms": round(self.unit_ms, 1),
            "score": round(self.score, 3),
        }


def _segments(u: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(tone, silence) segments in frames relative to the first tone's start, for a unit of u frames."""
    tones = [(0, u), (2 * u, 5 * u), (8 * u, 9 * u), (10 * u, 11 * u)]
    silences = [(-2 * u, 0), (u, 2 * u), (5 * u, 8 * u), (9 * u, 10 * u), (11 * u, 13 * u)]

    def shrink(seg: tuple[int, int]) -> tuple[int, int]:
        return seg[0] + SHRINK, seg[1] - SHRINK

    return [shrink(s) for s in tones], [shrink(s) for s in silences]


def _tonal_ratio(mono8k: FloatArray, lo_hz: float, hi_hz: float) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """Per candidate centre bin and frame: energy within ±HALF_BAND bins over the frame's total energy."""
    x = np.concatenate([mono8k, np.zeros(WIN)])
    frames = np.lib.stride_tricks.sliding_window_view(x, WIN)[::HOP] * _HANN
    power = np.abs(np.fft.rfft(frames, n=NFFT, axis=1)) ** 2
    total = power.sum(axis=1)
    floor = 1e-4 * float(np.percentile(total, 99)) + 1e-12  # frames 40 dB below the loud ones count as silence
    centres = np.arange(int(np.ceil(lo_hz / BIN_HZ)), int(np.floor(hi_hz / BIN_HZ)) + 1)
    csum = np.concatenate([np.zeros((power.shape[0], 1)), np.cumsum(power, axis=1)], axis=1)
    band = csum[:, centres + HALF_BAND + 1] - csum[:, centres - HALF_BAND]
    return (band / (total + floor)[:, None]).T, centres


def detect_rhythm(
    samples: npt.ArrayLike,
    sample_rate: int,
    *,
    tone_range_hz: tuple[float, float] = (500.0, 2000.0),
    unit_range_s: tuple[float, float] = (0.060, 0.150),
) -> list[RhythmHit]:
    """Every 短长短短 rhythm in the samples ((frames,) or (frames, channels)), strongest first."""
    x = _as_2d(samples).mean(axis=1)
    if x.size < sample_rate * 11 * unit_range_s[0]:
        return []
    mono = resample(x, sample_rate, RATE)
    ratio, centres = _tonal_ratio(mono, *tone_range_hz)
    keep = ratio.max(axis=1) > THRESHOLD
    ratio, centres = ratio[keep], centres[keep]
    if not centres.size:
        return []
    n_frames = ratio.shape[1]
    u_lo = int(np.floor(unit_range_s[0] * RATE / HOP))
    u_hi = int(np.ceil(unit_range_s[1] * RATE / HOP))
    pad = 13 * u_hi
    padded = np.pad(ratio, ((0, 0), (pad, pad)))  # outside the file counts as silence
    csum = np.concatenate([np.zeros((ratio.shape[0], 1)), np.cumsum(padded, axis=1)], axis=1)
    starts = np.arange(n_frames) + pad
    best = np.full((ratio.shape[0], n_frames), -1.0)
    best_u = np.zeros((ratio.shape[0], n_frames), dtype=np.int64)
    for u in range(u_lo, u_hi + 1):
        tones, silences = _segments(u)
        weakest = np.full(best.shape, np.inf)
        loudest = np.full(best.shape, -np.inf)
        for a, b in tones:
            weakest = np.minimum(weakest, (csum[:, starts + b] - csum[:, starts + a]) / (b - a))
        for a, b in silences:
            loudest = np.maximum(loudest, (csum[:, starts + b] - csum[:, starts + a]) / (b - a))
        score = weakest - loudest
        better = score > best
        best[better], best_u[better] = score[better], u
    return _pick(best, best_u, centres, ratio)


def _pick(
    best: FloatArray, best_u: npt.NDArray[np.int64], centres: npt.NDArray[np.intp], ratio: FloatArray
) -> list[RhythmHit]:
    """Greedy non-maximum suppression over time: the strongest match, then the next one not overlapping it."""
    per_frame = best.max(axis=0)
    which = best.argmax(axis=0)
    hits: list[RhythmHit] = []
    taken = np.zeros(per_frame.size, dtype=bool)
    order = np.argsort(-per_frame)
    for t in order:
        if per_frame[t] < THRESHOLD:
            break
        if taken[t]:
            continue
        k = int(which[t])
        u = int(best_u[k, t])
        taken[max(0, t - 11 * u) : t + 11 * u] = True
        start = (t * HOP + WIN / 2) / RATE
        unit = u * HOP / RATE
        hits.append(RhythmHit(start, start + 11 * unit, _tone_hz(ratio, k, centres), 1000 * unit, float(per_frame[t])))
    return hits


def _tone_hz(ratio: FloatArray, k: int, centres: npt.NDArray[np.intp]) -> float:
    """Parabolic interpolation of the band ratio across neighbouring centres at the matched tone's strongest frames."""
    strongest = np.argsort(ratio[k])[-8:]
    if 0 < k < len(centres) - 1 and centres[k + 1] - centres[k - 1] == 2:
        a, b, c = (float(ratio[j, strongest].mean()) for j in (k - 1, k, k + 1))
        denom = a - 2 * b + c
        offset = 0.5 * (a - c) / denom if denom < 0 else 0.0
        return float((centres[k] + np.clip(offset, -0.5, 0.5)) * BIN_HZ)
    return float(centres[k] * BIN_HZ)


def rhythm_report(samples: npt.ArrayLike, sample_rate: int) -> dict[str, Any]:
    """The rhythm detector's result as a JSON-serialisable dict for a verification report."""
    hits = detect_rhythm(samples, sample_rate)
    return {
        "detector": "explicit-audio-rhythm",
        "found": bool(hits),
        "count": len(hits),
        "hits": [h.to_dict() for h in sorted(hits, key=lambda h: h.start_s)],
    }


def detect_audio_label(media: Media) -> dict[str, Any]:
    """Decode an audio file and report any 短长短短 rhythm label in it (JSON-serialisable)."""
    if media.sniffed.modality is not Modality.AUDIO:
        raise UnsupportedFormat(f"{media.format} is not an audio format", path=media.name)
    report = rhythm_report(*decode_audio(media))
    report["spoken"] = "not checked (needs speech recognition)"
    return report
