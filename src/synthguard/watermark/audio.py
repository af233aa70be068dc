"""Robust audio watermark: keyed multiplicative patchwork on 32 ms x 62.5 Hz cells of the 0.5-3.75 kHz band.

Each 2.88 s period of cells carries a keyed sync pattern and the 282 coded chips of the shared payload
framing (payload.py); the period repeats over the whole clip. The embedder scales every cell's STFT
magnitude by exp(+-a) and raises ``a`` where the host already works against a chip (informed embedding,
checked on the detector's own features). The detector searches time scale (tempo), time+frequency scale
(speed/resampling), sub-cell phase and period offset, then soft-combines every repetition; when a decode
fails, a second one weights each slot by its estimated mark strength (decision feedback).
See docs/watermark-audio.md for the design and the p-value derivation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from scipy.ndimage import minimum_filter1d, uniform_filter1d

from synthguard.errors import CapacityTooLow, InputError
from synthguard.watermark import audio_dsp as dsp
from synthguard.watermark.payload import CODED_BITS, Payload, check_key, decode, encode, keyed_rng

FloatArray = npt.NDArray[np.float64]

PERIOD_SLOTS = 90  # 2.88 s: any 3 s excerpt holds one full period
SYNC_GROUP = 8
SYNC_GROUPS = 100
MIN_SECONDS = 2.0
MIN_RATE = 8000
TARGET_SNR_DB = 23.5  # mark energy per 32 ms slot at strength 1 (measured segmental SNR is ~3 dB higher)
MAX_STRENGTH = 0.25  # largest log-magnitude step of any cell (+-2.2 dB)
QUALITY_SNR_DB = 25.6  # the whole mark is then scaled so the clip's segmental SNR lands here (goal: >= 25 dB)
GAIN_RANGE = (0.8, 2.0)  # limits of that scaling
MIN_BAND_SHARE = 1e-3  # embed refuses clips with less of their energy in 500-3750 Hz (see docs)
MIN_MARGIN = 1.25  # embed refuses clips whose marked self-check margin is lower (see docs)
TILT = 1.0  # relative step grows as (cell power / slot mean) ** -TILT
MARGIN = 0.0  # target mean log-residual per cell in the chip's direction
GIVE_UP = 1.0  # largest typical per-cell boost spent on one chip
ITERATIONS = 1
TIME_SCALES = tuple(1.0 + 0.01 * k for k in range(-6, 7))
REFINE_STEPS = (-0.005, -0.0025, 0.0025, 0.005)
SEGMENT_SECONDS = 10.0
MAX_SEGMENTS = 6
MAX_DECODES = 12
CANDIDATES_PER_SEGMENT = 4
FEEDBACK_CANDIDATES = 2  # a segment's best alignments also get a second, slot-weighted decode
FEEDBACK_SLOTS = 7  # window (slots, 224 ms) of the per-slot mark-strength estimate
SYNC_THRESHOLD = 2.8e-7  # plus the tag's share (below): at most 1e-6 false positives in all
TAG_FALSE_ACCEPT = 2.0**-24
# A candidate whose own sync p-value is at most LIST_GATE decodes the LIST_SIZE most likely frames (list
# Viterbi). Noise reaches the gate with probability <= LIST_GATE, so the extra frames add at most
# MAX_DECODES * (LIST_SIZE - 1) * LIST_GATE * 2**-24 (2.1e-9) to the MAX_DECODES * 2**-24 of the best paths.
LIST_SIZE = 4
LIST_GATE = 1e-3


@dataclass(frozen=True)
class Detection:
    """Detection result: present when p_value is small enough; payload when its keyed tag verified."""

    present: bool
    p_value: float
    payload: Payload | None
    where: tuple[float, float] | None  # seconds of the input where the mark was found


@dataclass(frozen=True)
class _Layout:
    ids: npt.NDArray[np.int64]  # (K, bands): chip index < CODED_BITS, or CODED_BITS + sync group
    sign: FloatArray  # (K, bands) keyed +-1 spreading sign
    sync: FloatArray  # (K, bands) sign on sync cells, 0 elsewhere
    sync_f: npt.NDArray[np.complex128]  # rfft of sync over the period axis
    sync_abs_f: npt.NDArray[np.complex128]


@lru_cache(maxsize=16)
def _layout(key: bytes) -> _Layout:
    rng = keyed_rng(key, "audio/layout/v1")
    n_cells = PERIOD_SLOTS * dsp.N_BANDS
    n_sync = SYNC_GROUP * SYNC_GROUPS
    perm = rng.permutation(n_cells)
    ids = np.empty(n_cells, dtype=np.int64)
    ids[perm[:n_sync]] = CODED_BITS + np.arange(n_sync) // SYNC_GROUP
    ids[perm[n_sync:]] = np.arange(n_cells - n_sync) % CODED_BITS
    sign = rng.choice(np.array([-1.0, 1.0]), size=n_cells)
    ids2, sign2 = ids.reshape(PERIOD_SLOTS, dsp.N_BANDS), sign.reshape(PERIOD_SLOTS, dsp.N_BANDS)
    sync = np.where(ids2 >= CODED_BITS, sign2, 0.0)
    return _Layout(ids2, sign2, sync, np.fft.rfft(sync, axis=0), np.fft.rfft(np.abs(sync), axis=0))


def _as_frames(samples: npt.ArrayLike, sample_rate: int) -> FloatArray:
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] == 0:
        raise InputError(f"audio samples must be frames x channels, got shape {x.shape}")
    if not isinstance(sample_rate, int) or sample_rate < MIN_RATE:
        raise InputError(f"audio sample rate must be an integer >= {MIN_RATE} Hz, got {sample_rate!r}")
    if not np.all(np.isfinite(x)):
        raise InputError("audio samples contain NaN or infinity")
    seconds = x.shape[0] / sample_rate
    if seconds < MIN_SECONDS:
        raise CapacityTooLow(f"audio too short for a watermark: {seconds:.2f} s < {MIN_SECONDS} s")
    return x


def _cells(mono16: FloatArray) -> FloatArray:
    """Cell energies at the embedder's own alignment (slot k = embedding frames 2k, 2k+1)."""
    shifted = np.concatenate([np.zeros(2 * dsp.FINE_HOP), mono16])
    energy = dsp.fine_power(shifted) @ _band_matrix(1.0)
    return dsp.slot_energies(dsp.cumulative(energy), 0.0, float(dsp.FINE_PER_SLOT))


@lru_cache(maxsize=64)
def _band_matrix(freq_scale: float) -> FloatArray:
    return dsp.band_matrix(freq_scale)


def embed_audio(
    samples: npt.ArrayLike,
    sample_rate: int,
    payload: Payload,
    key: bytes,
    strength: float = 1.0,
) -> npt.NDArray[np.float32]:
    """Embed payload in audio (frames x channels, float in [-1, 1]); returns float32 of the same shape."""
    key = check_key(key)
    if not 0.0 < strength <= 4.0:
        raise InputError(f"watermark strength must be in (0, 4], got {strength}")
    raw = np.asarray(samples)
    x = _as_frames(samples, sample_rate)
    x16 = dsp.resample(x, sample_rate, dsp.WORK_RATE)
    n16 = x16.shape[0]
    specs = [dsp.stft_embed(x16[:, c]) for c in range(x16.shape[1])]
    mono_spec = np.mean(specs, axis=0)
    mono16 = x16.mean(axis=1)

    lay = _layout(key)
    n_frames = mono_spec.shape[0]
    n_slots = (n_frames + 1) // 2
    pos = np.arange(n_slots) % PERIOD_SLOTS
    chips = encode(payload, key).astype(np.float64)
    want = np.concatenate([chips, np.ones(SYNC_GROUPS)])
    ids = lay.ids[pos]
    cell_chip = want[ids] * lay.sign[pos]  # (slots, bands) +-1 direction of each cell
    group = ids  # informed embedding per chip over the whole clip (per period costs too much energy)

    share = dsp.band_share(mono16, float(np.mean(x.mean(axis=1) ** 2)))
    if share < MIN_BAND_SHARE:
        raise CapacityTooLow(
            f"capacity too low: only {10 * math.log10(max(share, 1e-12)):.0f} dB of the clip's energy lies in "
            f"500-3750 Hz (< {10 * math.log10(MIN_BAND_SHARE):.0f} dB); noise 20 dB below the clip would drown the mark"
        )
    host = _cells(mono16)
    floor = dsp.energy_floor(host)
    if host.shape[0] == 0 or np.mean(host > 10 * floor) < 0.1:
        raise CapacityTooLow("capacity too low: the audio is (nearly) silent in the 500-3750 Hz band")
    mix = dsp.choose_mix(host, floor)
    r_host = dsp.raw_residuals(host, floor, mix)
    audible = host / (host + floor)  # a quiet cell's log energy barely moves however hard it is pushed

    cell_power, budget = _budget(mono_spec, n_slots, strength)
    cap = MAX_STRENGTH
    # quieter cells get a larger relative step: it costs less energy, and they are masked by louder ones
    tilt = (cell_power / np.maximum(cell_power.mean(axis=1, keepdims=True), 1e-30) + 0.05) ** -TILT
    amp = _fit(np.minimum(cap, 0.01 * tilt), cell_power, budget)
    fill = np.sqrt(budget / np.maximum(np.sum(cell_power * amp**2, axis=1), 1e-30))  # raise to the budget
    amp = _fit(np.minimum(cap, amp * fill[:, None]), cell_power, budget)
    for _ in range(ITERATIONS):
        w_mono = dsp.istft_embed(_mark_spec(mono_spec, amp * cell_chip), n16)
        marked = _cells(mono16 + w_mono)
        m = min(marked.shape[0], n_slots)
        r_raw = dsp.raw_residuals(marked, floor, mix)[:m]
        gain = float(np.sum((r_raw - r_host[:m]) * cell_chip[:m]) / max(np.sum(amp[:m]), 1e-12))
        gain = max(gain, 0.3)
        r_mark = dsp.residuals(marked, floor, mix)[:m]
        slope = dsp.residual_slope(marked, floor, mix)[:m] * audible[:m] * (amp[:m] < cap)
        g = group[:m].ravel()
        score = np.bincount(g, (r_mark * cell_chip[:m]).ravel(), minlength=group.max() + 1)
        count = np.bincount(g, minlength=group.max() + 1)
        weight = np.bincount(g, (slope**2).ravel(), minlength=group.max() + 1)
        step = np.maximum(MARGIN * count - score, 0.0) / np.maximum(weight, 1e-6) / gain
        # a chip the host opposes too strongly is left to the error-correcting code: fixing it would cost
        # more energy than correcting several others
        step[step * np.sqrt(weight / np.maximum(count, 1)) > GIVE_UP] = 0.0
        amp[:m] = np.minimum(amp[:m] + step[group[:m]] * slope, cap)
        amp = _fit(amp, cell_power, budget)

    mark = np.empty_like(x)
    mono_mark = np.zeros(n16)
    for c, spec in enumerate(specs):
        w16 = dsp.istft_embed(_mark_spec(spec, amp * cell_chip), n16)
        mono_mark += w16 / len(specs)
        w = dsp.resample(w16, dsp.WORK_RATE, sample_rate)
        mark[:, c] = np.pad(w, (0, max(0, x.shape[0] - w.size)))[: x.shape[0]]
    target = QUALITY_SNR_DB - 20.0 * math.log10(strength)
    gain = dsp.snr_gain(x, mark, sample_rate, target, GAIN_RANGE)
    mark *= gain
    margin = _self_check(mono16 + gain * mono_mark, floor, mix, lay, chips)
    if margin < MIN_MARGIN:
        raise CapacityTooLow(
            f"capacity too low: the marked clip's own chip margin is {margin:.2f} < {MIN_MARGIN} "
            "(too few active cells in 500-3750 Hz, or shorter than one 2.88 s period); a mark this weak would "
            "not survive ordinary processing (a higher strength lowers the quality below the 25 dB target)"
        )
    out = _limit(x + mark, max(1.0, float(np.max(np.abs(x)))))
    return out.astype(np.float32).reshape(raw.shape) if raw.ndim == 1 else out.astype(np.float32)


def _features(mono16: FloatArray, floor: float, mix: float) -> FloatArray:
    """The detector's weighted per-cell features at the embedder's own alignment."""
    shifted = np.concatenate([np.zeros(2 * dsp.FINE_HOP), mono16])
    fine = dsp.fine_power(shifted) @ _band_matrix(1.0)
    energy = dsp.slot_energies(dsp.cumulative(fine), 0.0, float(dsp.FINE_PER_SLOT))
    return dsp.cell_features(energy, floor, mix, dsp.noise_level(fine))


def _self_check(marked16: FloatArray, floor: float, mix: float, lay: _Layout, chips: FloatArray) -> float:
    """Chip margin of the marked clip at the embedder's alignment: mean over std of the soft chips times the chips."""
    cells = _features(marked16, floor, mix)
    n_per = cells.shape[0] // PERIOD_SLOTS
    if n_per == 0:
        return 0.0
    folded = cells[: n_per * PERIOD_SLOTS].reshape(n_per, PERIOD_SLOTS, dsp.N_BANDS).sum(axis=0)
    data = lay.ids < CODED_BITS
    soft = np.bincount(lay.ids[data], (folded * lay.sign)[data], minlength=CODED_BITS) * chips
    return float(np.mean(soft) / max(float(np.std(soft)), 1e-12))


def _budget(spec: npt.NDArray[np.complex128], n_slots: int, strength: float) -> tuple[FloatArray, FloatArray]:
    """Per-cell host power and per-slot mark energy allowed by the segmental SNR target."""
    power = spec.real**2 + spec.imag**2
    if power.shape[0] % 2:
        power = np.concatenate([power, np.zeros((1, power.shape[1]))])
    slots = power.reshape(-1, 2, power.shape[1]).sum(axis=1)[:n_slots]
    band = slots[:, dsp.FIRST_BIN : dsp.LAST_BIN].reshape(n_slots, dsp.N_BANDS, dsp.BINS_PER_BAND).sum(axis=2)
    allowed = slots.sum(axis=1) * 10 ** (-TARGET_SNR_DB / 10) * strength**2
    return band, allowed


def _fit(amp: FloatArray, cell_power: FloatArray, budget: FloatArray) -> FloatArray:
    """Scale each slot's amplitudes down to its energy budget (never up)."""
    energy = np.sum(cell_power * np.expm1(amp) ** 2, axis=1)
    scale = np.minimum(1.0, np.sqrt(budget / np.maximum(energy, 1e-30)))
    return np.asarray(amp * scale[:, None], dtype=np.float64)


def _mark_spec(spec: npt.NDArray[np.complex128], cell_amp: FloatArray) -> npt.NDArray[np.complex128]:
    """The watermark's spectrum: each in-band bin scaled by exp(amp) - 1 of its cell."""
    per_frame = np.repeat(cell_amp, 2, axis=0)[: spec.shape[0]]
    per_bin = np.repeat(per_frame, dsp.BINS_PER_BAND, axis=1)
    out = np.zeros_like(spec)
    out[:, dsp.FIRST_BIN : dsp.LAST_BIN] = spec[:, dsp.FIRST_BIN : dsp.LAST_BIN] * np.expm1(per_bin)
    return out


def _limit(y: FloatArray, ceiling: float) -> FloatArray:
    """Smooth local gain reduction so no sample exceeds ceiling (never hard clipping)."""
    peak = np.max(np.abs(y), axis=1)
    need = np.minimum(1.0, ceiling / np.maximum(peak, 1e-12))
    if need.min() >= 1.0:
        return y
    half = 64
    gain = uniform_filter1d(minimum_filter1d(need, 2 * half + 1), half + 1)
    gain = np.minimum(gain, need)  # guards the filters' edge handling
    return np.asarray(np.clip(y * gain[:, None], -ceiling, ceiling), dtype=np.float64)


@dataclass
class _Candidate:
    z: float
    scale: float
    freq_scale: float
    folded: FloatArray
    shift: int
    cells: FloatArray  # the unfolded features, padded to whole periods (for the feedback decode)


def _search(mono16: FloatArray, lay: _Layout) -> tuple[list[_Candidate], int]:
    """Best alignment per evaluated time/frequency scale; also the number of hypotheses tried."""
    power = dsp.fine_power(mono16)
    floor_cache: dict[float, tuple[FloatArray, float, FloatArray]] = {}
    plain = dsp.cumulative(power @ _band_matrix(1.0))
    plain_cells = dsp.slot_energies(plain, 0.0, float(dsp.FINE_PER_SLOT))
    mix = dsp.choose_mix(plain_cells, dsp.energy_floor(plain_cells))
    found: list[_Candidate] = []
    tried = 0
    done: set[tuple[float, float]] = set()  # the refinements around two neighbouring scales can coincide

    def evaluate(scale: float, freq_scale: float) -> None:
        nonlocal tried
        fs = round(freq_scale, 6)
        if (round(scale, 6), fs) in done:  # evaluated already: no duplicate candidate, no double count
            return
        done.add((round(scale, 6), fs))
        if fs not in floor_cache:
            energy = power @ _band_matrix(fs)
            cum = dsp.cumulative(energy)
            floor_cache[fs] = (cum, dsp.energy_floor(energy * dsp.FINE_PER_SLOT), dsp.noise_level(energy))
        cum, floor, noise = floor_cache[fs]
        best: _Candidate | None = None
        for phase in range(dsp.FINE_PER_SLOT):
            energy = dsp.slot_energies(cum, phase * scale, dsp.FINE_PER_SLOT * scale)
            cells = dsp.cell_features(energy, floor, mix, noise)
            if cells.shape[0] < PERIOD_SLOTS:
                continue
            pad = (-cells.shape[0]) % PERIOD_SLOTS
            cells = np.pad(cells, ((0, pad), (0, 0)))
            folded = cells.reshape(-1, PERIOD_SLOTS, dsp.N_BANDS).sum(axis=0)
            num = np.fft.irfft(np.sum(lay.sync_f * np.conj(np.fft.rfft(folded, axis=0)), axis=1), PERIOD_SLOTS)
            den = np.fft.irfft(np.sum(lay.sync_abs_f * np.conj(np.fft.rfft(folded**2, axis=0)), axis=1), PERIOD_SLOTS)
            z = num / np.sqrt(np.maximum(den, 1e-12))
            tried += PERIOD_SLOTS
            u = int(np.argmax(z))
            if best is None or z[u] > best.z:
                best = _Candidate(float(z[u]), scale, freq_scale, folded, u, cells)
        if best is not None:
            found.append(best)

    for s in TIME_SCALES:
        evaluate(s, 1.0)
        if s != 1.0:
            evaluate(s, 1.0 / s)
    found.sort(key=lambda c: -c.z)
    for top in found[:2]:
        speed = top.freq_scale != 1.0
        for ds in REFINE_STEPS:
            s = top.scale + ds
            evaluate(s, 1.0 / s if speed else 1.0)
    found.sort(key=lambda c: -c.z)
    return found, tried


def _soft_chips(cand: _Candidate, lay: _Layout) -> FloatArray:
    aligned = np.roll(cand.folded, cand.shift, axis=0) * lay.sign
    data = lay.ids < CODED_BITS
    return np.bincount(lay.ids[data], aligned[data], minlength=CODED_BITS).astype(np.float64)


def _reweighted(cand: _Candidate, lay: _Layout, soft: FloatArray) -> FloatArray:
    """Soft chips again with each slot weighted by its estimated mark strength (decision feedback).

    The first decode's soft chips (squashed to [-1, 1]) and the known sync signs give a tentative mark
    pattern; per slot, its correlation with the features over their power (both smoothed over a few slots)
    is the matched-filter weight of that slot, so slots drowned by added sound count less.
    """
    est = np.tanh(soft / max(float(np.std(soft)), 1e-12))
    cells = cand.cells
    rows = (np.arange(cells.shape[0]) % PERIOD_SLOTS + cand.shift) % PERIOD_SLOTS
    ids = lay.ids[rows]
    ref = lay.sign[rows] * np.where(ids < CODED_BITS, est[np.minimum(ids, CODED_BITS - 1)], 1.0)
    corr = uniform_filter1d(np.sum(cells * ref, axis=1), FEEDBACK_SLOTS, mode="nearest")
    power = uniform_filter1d(np.sum(cells**2, axis=1), FEEDBACK_SLOTS, mode="nearest")
    weight = np.maximum(corr, 0.0) / np.maximum(power, 1e-12)
    folded = (cells * weight[:, None]).reshape(-1, PERIOD_SLOTS, dsp.N_BANDS).sum(axis=0)
    return _soft_chips(_Candidate(cand.z, cand.scale, cand.freq_scale, folded, cand.shift, cells), lay)


def _segments(n: int) -> list[tuple[int, int]]:
    seg = int(SEGMENT_SECONDS * dsp.WORK_RATE)
    if n <= int(1.4 * seg):
        return [(0, n)]
    count = min(MAX_SEGMENTS, math.ceil(n / seg))
    starts = np.linspace(0, n - seg, count).astype(int)
    return [(int(s), int(s) + seg) for s in starts]


def detect_audio(samples: npt.ArrayLike, sample_rate: int, key: bytes) -> Detection:
    """Look for the keyed audio watermark; decodes the payload when its keyed tag verifies."""
    key = check_key(key)
    x = _as_frames(samples, sample_rate)
    mono16 = dsp.resample(x.mean(axis=1), sample_rate, dsp.WORK_RATE)
    lay = _layout(key)
    tried = 0
    decodes = 0
    best_z = -math.inf
    best_where: tuple[float, float] | None = None
    segments = _segments(mono16.size)
    for start, end in segments:
        cands, n = _search(mono16[start:end], lay)
        tried += n
        where = (start / dsp.WORK_RATE, min(end, mono16.size) / dsp.WORK_RATE)
        if cands and cands[0].z > best_z:
            best_z, best_where = cands[0].z, where
        for rank, cand in enumerate(cands[:CANDIDATES_PER_SEGMENT]):
            if decodes >= MAX_DECODES:
                break
            decodes += 1
            frames = LIST_SIZE if _sync_p(cand.z, tried) <= LIST_GATE else 1
            soft = _soft_chips(cand, lay)
            found = decode(soft, key, list_size=frames)
            if found is None and rank < FEEDBACK_CANDIDATES and decodes < MAX_DECODES:
                decodes += 1
                found = decode(_reweighted(cand, lay, soft), key, list_size=frames)
            if found is not None:
                return Detection(True, min(_tag_p(), _sync_p(cand.z, tried)), found, where)
    p = _sync_p(best_z, max(tried, 1))
    present = p <= SYNC_THRESHOLD
    return Detection(present, p, None, best_where if present else None)


def _tag_p() -> float:
    """Bound on noise passing the keyed tag in any decode: best paths, plus list frames behind the gate."""
    return MAX_DECODES * TAG_FALSE_ACCEPT * (1 + (LIST_SIZE - 1) * LIST_GATE)


def _sync_p(z: float, hypotheses: int) -> float:
    """Hoeffding bound exp(-z^2/2) on a Rademacher sum, times the hypotheses tried (union bound)."""
    if not math.isfinite(z) or z <= 0:
        return 1.0
    return min(1.0, hypotheses * math.exp(-0.5 * z * z))
