"""Robust audio watermark: keyed multiplicative patchwork on 32 ms x 62.5 Hz cells of the 0.5-3.75 kHz band.

Each 2.88 s period of cells carries a keyed sync pattern and the 282 coded chips of the shared payload
framing (payload.py); the period repeats over the whole clip. Where the input rate allows, a second band of
data cells (3.75-7 kHz, no sync) carries the same chips with a small share of the energy; it is kept only
while the low band's own self-check margin holds, and the detector falls back on it when the low band
alone does not decode. The embedder scales every cell's STFT
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
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy.ndimage import minimum_filter1d, uniform_filter1d

from synthguard.errors import CapacityTooLow, InputError
from synthguard.watermark import audio_dsp as dsp
from synthguard.watermark.audio_soft import BandCells, band_powers, feedback_weights, halves, soft_chips
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
STRONG_UPPER_MARGIN = 1.0  # an upper band this strong on its own is kept whenever the low band stays >= MIN_MARGIN
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
UPPER_SHARE = 0.15  # the upper band's energy budget per slot, relative to the low band's
UPPER_GUARD = (1.35, 0.8)  # keep the upper band only if the low margin stays >= max(1.35, 0.8 x margin without)
MIN_UPPER_SNR = 0.1  # the detector adds the upper band only when its halves show this chip SNR (noise: sd ~0.12)
SYNC_THRESHOLD = 1.25e-7  # plus the presence mark's and the tag's shares (below): at most 1e-6 in all
PRESENCE_THRESHOLD = 1.25e-7  # a presence-only mark is reported at this p-value (its own hypotheses)
MIN_PRESENCE_Z = 10.0  # embed_audio_presence refuses a clip whose marked presence z is lower (see docs)
TAG_FALSE_ACCEPT = 2.0**-24
# A candidate whose own sync p-value is at most LIST_GATE decodes the LIST_SIZE most likely frames (list
# Viterbi). Noise reaches the gate with probability <= LIST_GATE, so the extra frames add at most
# MAX_DECODES * (LIST_SIZE - 1) * LIST_GATE * 2**-24 (2.1e-9) to the MAX_DECODES * 2**-24 of the best paths.
LIST_SIZE = 32
LIST_GATE = 1e-3


@dataclass(frozen=True)
class Detection:
    """Detection result: present when p_value is small enough; payload when its keyed tag verified."""

    present: bool
    p_value: float
    payload: Payload | None
    where: tuple[float, float] | None  # seconds of the input where the mark was found
    presence_only: bool = False  # the key's presence mark (embed_audio_presence): no payload to read


@dataclass(frozen=True)
class _Layout:
    ids: npt.NDArray[np.int64]  # (K, bands): chip index < CODED_BITS, or CODED_BITS + sync group
    sign: FloatArray  # (K, bands) keyed +-1 spreading sign
    sync: FloatArray  # (K, bands) sign on sync cells, 0 elsewhere
    sync_f: npt.NDArray[np.complex128]  # rfft of sync over the period axis
    sync_abs_f: npt.NDArray[np.complex128]
    half: npt.NDArray[np.bool_]  # (K, bands) keyed split of the cells, for the soft chips' SNR estimate


def _keyed_layout(key: bytes, purpose: str, n_sync: int) -> _Layout:
    rng = keyed_rng(key, purpose)
    n_cells = PERIOD_SLOTS * dsp.N_BANDS
    perm = rng.permutation(n_cells)
    ids = np.empty(n_cells, dtype=np.int64)
    ids[perm[:n_sync]] = CODED_BITS + np.arange(n_sync) // SYNC_GROUP
    ids[perm[n_sync:]] = np.arange(n_cells - n_sync) % CODED_BITS
    sign = rng.choice(np.array([-1.0, 1.0]), size=n_cells)
    ids2, sign2 = ids.reshape(PERIOD_SLOTS, dsp.N_BANDS), sign.reshape(PERIOD_SLOTS, dsp.N_BANDS)
    sync = np.where(ids2 >= CODED_BITS, sign2, 0.0)
    half = keyed_rng(key, purpose + "/halves").random((PERIOD_SLOTS, dsp.N_BANDS)) < 0.5
    return _Layout(ids2, sign2, sync, np.fft.rfft(sync, axis=0), np.fft.rfft(np.abs(sync), axis=0), half)


@lru_cache(maxsize=16)
def _layout(key: bytes) -> _Layout:
    """The low band's cells: sync groups and coded chips."""
    return _keyed_layout(key, "audio/layout/v1", SYNC_GROUP * SYNC_GROUPS)


@lru_cache(maxsize=16)
def _upper_layout(key: bytes) -> _Layout:
    """The upper band's cells: its own sync groups and the coded chips again."""
    return _keyed_layout(key, "audio/upper-layout/v1", SYNC_GROUP * SYNC_GROUPS)


@lru_cache(maxsize=16)
def _presence_layouts(key: bytes) -> tuple[_Layout, _Layout]:
    """Both bands' cells for the presence-only mark: every cell is a sync cell."""
    cells = PERIOD_SLOTS * dsp.N_BANDS
    return _keyed_layout(key, "audio/presence/v1", cells), _keyed_layout(key, "audio/presence-upper/v1", cells)


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


@lru_cache(maxsize=128)
def _band_matrix(freq_scale: float, first_bin: int = dsp.FIRST_BIN) -> FloatArray:
    return dsp.band_matrix(freq_scale, first_bin)


@dataclass
class _Host:
    """The input and what the embedder measured of it."""

    raw_shape: tuple[int, ...]
    x: FloatArray  # frames x channels at the input rate
    rate: int
    strength: float
    specs: list[npt.NDArray[np.complex128]]  # each channel's 16 kHz STFT
    mono_spec: npt.NDArray[np.complex128]  # their mean
    mono16: FloatArray
    n16: int
    pos: npt.NDArray[np.int64]  # each slot's place in the period
    cells: FloatArray  # host cell energies (slots x bands) at the embedder's alignment
    floor: float
    mix: float
    cell_power: FloatArray  # per-slot cell power of the low band (embedding STFT)
    upper_power: FloatArray
    budget: FloatArray  # per-slot mark energy allowed


def _analyse(samples: npt.ArrayLike, sample_rate: int, strength: float) -> _Host:
    """Check the input and measure what the embedder needs; CapacityTooLow for silence or an empty band."""
    if not 0.0 < strength <= 4.0:
        raise InputError(f"watermark strength must be in (0, 4], got {strength}")
    raw_shape = np.shape(samples)
    x = _as_frames(samples, sample_rate)
    x16 = dsp.resample(x, sample_rate, dsp.WORK_RATE)
    specs = [dsp.stft_embed(x16[:, c]) for c in range(x16.shape[1])]
    mono_spec = sum(specs[1:], specs[0]) / len(specs)
    mono16 = dsp.mono(x16)
    share = dsp.band_share(mono_spec, x16.shape[0], float(np.mean(dsp.mono(x) ** 2)))
    if share < MIN_BAND_SHARE:
        raise CapacityTooLow(
            f"capacity too low: only {10 * math.log10(max(share, 1e-12)):.0f} dB of the clip's energy lies in "
            f"500-3750 Hz (< {10 * math.log10(MIN_BAND_SHARE):.0f} dB); noise 20 dB below the clip would drown the mark"
        )
    cells = _cells(mono16)
    floor = dsp.energy_floor(cells)
    if cells.shape[0] == 0 or np.mean(cells > 10 * floor) < 0.1:
        raise CapacityTooLow("capacity too low: the audio is (nearly) silent in the 500-3750 Hz band")
    n_slots = (mono_spec.shape[0] + 1) // 2
    cell_power, upper_power, budget = _budget(mono_spec, n_slots, strength)
    return _Host(
        raw_shape, x, sample_rate, strength, specs, mono_spec, mono16, x16.shape[0], np.arange(n_slots) % PERIOD_SLOTS,
        cells, floor, dsp.choose_mix(cells, floor), cell_power, upper_power, budget,
    )  # fmt: skip


def _low_steps(h: _Host, cell_chip: FloatArray, group: npt.NDArray[np.int64]) -> FloatArray:
    """Tilted steps of the low band, then one informed pass: groups the host opposes are pushed back to zero."""
    cap = MAX_STRENGTH
    amp = dsp.tilted_steps(h.cell_power, h.budget, cap, TILT)
    r_host = dsp.raw_residuals(h.cells, h.floor, h.mix)
    audible = h.cells / (h.cells + h.floor)  # a quiet cell's log energy barely moves however hard it is pushed
    for _ in range(ITERATIONS):
        w_mono = dsp.istft_embed(_mark_spec(h.mono_spec, amp * cell_chip, dsp.FIRST_BIN), h.n16)
        marked = _cells(h.mono16 + w_mono)
        m = min(marked.shape[0], amp.shape[0])
        r_raw = dsp.raw_residuals(marked, h.floor, h.mix)[:m]
        gain = float(np.sum((r_raw - r_host[:m]) * cell_chip[:m]) / max(np.sum(amp[:m]), 1e-12))
        gain = max(gain, 0.3)
        r_mark = dsp.residuals(marked, h.floor, h.mix)[:m]
        slope = dsp.residual_slope(marked, h.floor, h.mix)[:m] * audible[:m] * (amp[:m] < cap)
        g = group[:m].ravel()
        score = np.bincount(g, (r_mark * cell_chip[:m]).ravel(), minlength=group.max() + 1)
        count = np.bincount(g, minlength=group.max() + 1)
        weight = np.bincount(g, (slope**2).ravel(), minlength=group.max() + 1)
        step = np.maximum(MARGIN * count - score, 0.0) / np.maximum(weight, 1e-6) / gain
        # a chip the host opposes too strongly is left to the error-correcting code: fixing it would cost
        # more energy than correcting several others
        step[step * np.sqrt(weight / np.maximum(count, 1)) > GIVE_UP] = 0.0
        amp[:m] = np.minimum(amp[:m] + step[group[:m]] * slope, cap)
        amp = dsp.fit_to_budget(amp, h.cell_power, h.budget)
    return amp


def _upper_steps(h: _Host) -> FloatArray:
    """Tilted steps of the upper band at its share of each slot's budget."""
    return dsp.tilted_steps(h.upper_power, UPPER_SHARE * h.budget, MAX_STRENGTH, TILT)


def _gain_for(h: _Host, mark16: FloatArray) -> float:
    """The gain that puts mark16, once at the input rate, at the target segmental SNR."""
    target = QUALITY_SNR_DB - 20.0 * math.log10(h.strength)
    host_energy = dsp.host_frame_energies(h.x, h.rate)
    mark_energy = dsp.mark_frame_energies(mark16, h.rate, host_energy.size)
    return dsp.snr_gain(host_energy, mark_energy, h.rate, target, GAIN_RANGE)


def _release(h: _Host, mark16: FloatArray) -> npt.NDArray[np.float32]:
    """The input plus the mark at the input rate, limited so that nothing clips, in the input's shape."""
    mark = dsp.resample(mark16, dsp.WORK_RATE, h.rate)
    mark = np.pad(mark, ((0, max(0, h.x.shape[0] - mark.shape[0])), (0, 0)))[: h.x.shape[0]]
    out = _limit(h.x + mark, max(1.0, float(np.max(np.abs(h.x)))))
    return out.astype(np.float32).reshape(h.raw_shape) if len(h.raw_shape) == 1 else out.astype(np.float32)


def embed_audio(
    samples: npt.ArrayLike,
    sample_rate: int,
    payload: Payload,
    key: bytes,
    strength: float = 1.0,
) -> npt.NDArray[np.float32]:
    """Embed payload in audio (frames x channels, float in [-1, 1]); returns float32 of the same shape."""
    key = check_key(key)
    h = _analyse(samples, sample_rate, strength)
    lay = _layout(key)
    chips = encode(payload, key).astype(np.float64)
    want = np.concatenate([chips, np.ones(SYNC_GROUPS)])
    ids = lay.ids[h.pos]
    cell_chip = want[ids] * lay.sign[h.pos]  # (slots, bands) +-1 direction of each cell
    # informed embedding per chip over the whole clip (per period costs too much energy)
    cell_amps = [_low_steps(h, cell_chip, ids) * cell_chip]
    if sample_rate >= dsp.UPPER_MIN_RATE:
        up = _upper_layout(key)
        cell_amps.append(_upper_steps(h) * want[up.ids[h.pos]] * up.sign[h.pos])
    marks = _band_marks(h.specs, cell_amps, h.n16)
    gain = _gain_for(h, marks[0])
    margin = _self_check(h.mono16 + gain * dsp.mono(marks[0]), h.floor, h.mix, lay, chips)
    if margin < MIN_MARGIN:
        raise CapacityTooLow(
            f"capacity too low: the marked clip's own chip margin is {margin:.2f} < {MIN_MARGIN} "
            "(too few active cells in 500-3750 Hz, or too short); a mark this weak would "
            "not survive ordinary processing (a higher strength lowers the quality below the 25 dB target)"
        )
    mark16 = marks[0] * gain
    if len(marks) > 1:  # the upper band shares the SNR allowance: keep it only if the low band stays strong
        both = marks[0] + marks[1]
        gain_both = _gain_for(h, both)
        marked_both = h.mono16 + gain_both * dsp.mono(both)
        margin_both = _self_check(marked_both, h.floor, h.mix, lay, chips)
        keep = margin_both >= max(UPPER_GUARD[0], UPPER_GUARD[1] * margin) or (
            margin_both >= MIN_MARGIN  # a strong upper band may take the low band down to the refusal line
            and _band_margin(marked_both, _upper_layout(key), dsp.UPPER_FIRST_BIN, chips) >= STRONG_UPPER_MARGIN
        )
        if keep:
            mark16 = both * gain_both
    return _release(h, mark16)


def embed_audio_presence(
    samples: npt.ArrayLike, sample_rate: int, key: bytes, strength: float = 1.0
) -> npt.NDArray[np.float32]:
    """Embed only the key's presence mark: for clips too short or too sparse for the payload.

    Every cell of the period carries a keyed sign, so the detector's statistic adds up over 4680 cells a
    period instead of the payload layout's 800 sync cells; detect_audio then reports presence_only=True
    and no payload. CapacityTooLow when even this mark would be too weak.
    """
    key = check_key(key)
    h = _analyse(samples, sample_rate, strength)
    low, upper = _presence_layouts(key)
    cell_chip = low.sign[h.pos]
    cell_amps = [_low_steps(h, cell_chip, low.ids[h.pos]) * cell_chip]
    if sample_rate >= dsp.UPPER_MIN_RATE:
        cell_amps.append(_upper_steps(h) * upper.sign[h.pos])
    marks = _band_marks(h.specs, cell_amps, h.n16)
    mark16 = sum(marks[1:], marks[0])
    mark16 = mark16 * _gain_for(h, mark16)
    z = _presence_z(h.mono16 + dsp.mono(mark16), low, (h.floor, h.mix))
    if z < MIN_PRESENCE_Z:
        raise CapacityTooLow(
            f"capacity too low: even the presence mark reaches only z = {z:.1f} < {MIN_PRESENCE_Z:g} "
            "(too few active cells in 500-3750 Hz)"
        )
    return _release(h, mark16)


@dataclass(frozen=True)
class AudioMark:
    """What embed_audio_or_presence wrote: the marked samples, and why only the presence mark if so."""

    samples: npt.NDArray[np.float32]
    carries_payload: bool
    note: str  # the payload's refusal when only the presence mark was embedded, else ""


def embed_audio_or_presence(
    samples: npt.ArrayLike, sample_rate: int, payload: Payload, key: bytes, strength: float = 1.0
) -> AudioMark:
    """The payload mark; where it does not fit (a short or sparse clip), the presence-only mark instead.

    CapacityTooLow (the payload's own refusal) only when neither fits.
    """
    try:
        return AudioMark(embed_audio(samples, sample_rate, payload, key, strength), True, "")
    except CapacityTooLow as refused:
        try:
            marked = embed_audio_presence(samples, sample_rate, key, strength)
        except CapacityTooLow:
            raise refused from None
        return AudioMark(marked, False, str(refused))


def _folded_features(marked16: FloatArray, first_bin: int, prior: tuple[float, float] | None) -> FloatArray | None:
    """One band's detector features at the embedder's alignment, folded by the period (None when empty).

    prior is the (floor, prediction mix) to use, e.g. the host's; without it both are taken from marked16.
    """
    shifted = np.concatenate([np.zeros(2 * dsp.FINE_HOP), marked16])
    matrix = _band_matrix(1.0, first_bin)
    fine = dsp.fine_power(shifted, matrix.shape[0]) @ matrix
    energy = dsp.slot_energies(dsp.cumulative(fine), 0.0, float(dsp.FINE_PER_SLOT))
    if prior is None:
        floor = dsp.energy_floor(energy)
        prior = (floor, dsp.choose_mix(energy, floor))
    cells = dsp.cell_features(energy, prior[0], prior[1], dsp.noise_level(fine))
    if cells.shape[0] == 0:
        return None
    # whole periods, as the thresholds were calibrated; a clip shorter than one period is padded to one
    n_per = max(1, cells.shape[0] // PERIOD_SLOTS)
    folded: FloatArray = _whole_periods(cells)[: n_per * PERIOD_SLOTS].reshape(n_per, PERIOD_SLOTS, dsp.N_BANDS).sum(0)
    return folded


def _band_margin(
    marked16: FloatArray, lay: _Layout, first_bin: int, chips: FloatArray, prior: tuple[float, float] | None = None
) -> float:
    """Chip margin (mean over std of the soft chips times the chips) of one band at the embedder's alignment."""
    folded = _folded_features(marked16, first_bin, prior)
    if folded is None:
        return 0.0
    data = lay.ids < CODED_BITS
    soft = np.bincount(lay.ids[data], (folded * lay.sign)[data], minlength=CODED_BITS) * chips
    return float(np.mean(soft) / max(float(np.std(soft)), 1e-12))


def _presence_z(marked16: FloatArray, lay: _Layout, prior: tuple[float, float]) -> float:
    """The low band's presence statistic (the detector's z) at the embedder's alignment."""
    folded = _folded_features(marked16, dsp.FIRST_BIN, prior)
    if folded is None:
        return 0.0
    return float(np.sum(folded * lay.sign) / math.sqrt(max(float(np.sum(folded**2)), 1e-24)))


def _self_check(marked16: FloatArray, floor: float, mix: float, lay: _Layout, chips: FloatArray) -> float:
    """The low band's chip margin of the marked clip, read with the host's floor and prediction mix."""
    return _band_margin(marked16, lay, dsp.FIRST_BIN, chips, (floor, mix))


def _budget(
    spec: npt.NDArray[np.complex128], n_slots: int, strength: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per-cell host power of the low and upper bands, and per-slot mark energy allowed by the SNR target."""
    power = spec.real**2 + spec.imag**2
    if power.shape[0] % 2:
        power = np.concatenate([power, np.zeros((1, power.shape[1]))])
    slots = power.reshape(-1, 2, power.shape[1]).sum(axis=1)[:n_slots]
    allowed = slots.sum(axis=1) * 10 ** (-TARGET_SNR_DB / 10) * strength**2
    return dsp.band_power(slots, dsp.FIRST_BIN), dsp.band_power(slots, dsp.UPPER_FIRST_BIN), allowed


def _band_marks(specs: list[npt.NDArray[np.complex128]], cell_amps: list[FloatArray], n16: int) -> list[FloatArray]:
    """Each band's mark at 16 kHz (samples x channels)."""
    first_bins = (dsp.FIRST_BIN, dsp.UPPER_FIRST_BIN)
    return [
        np.stack([dsp.istft_embed(_mark_spec(spec, amp, first), n16) for spec in specs], axis=1)
        for amp, first in zip(cell_amps, first_bins[: len(cell_amps)], strict=True)
    ]


def _mark_spec(spec: npt.NDArray[np.complex128], cell_amp: FloatArray, first_bin: int) -> npt.NDArray[np.complex128]:
    """The watermark's spectrum in one band: each of its bins scaled by exp(amp) - 1 of its cell."""
    last_bin = first_bin + dsp.BINS_PER_BAND * dsp.N_BANDS
    per_frame = np.repeat(cell_amp, 2, axis=0)[: spec.shape[0]]
    per_bin = np.repeat(per_frame, dsp.BINS_PER_BAND, axis=1)
    out = np.zeros_like(spec)
    out[:, first_bin:last_bin] = spec[:, first_bin:last_bin] * np.expm1(per_bin)
    return out


def _limit(y: FloatArray, ceiling: float) -> FloatArray:
    """Smooth local gain reduction so no sample exceeds ceiling (never hard clipping); y is changed in place."""
    if float(np.max(np.abs(y))) <= ceiling:
        return y
    peak = np.abs(y[:, 0])  # per-channel maxima: much faster than a reduction along the short axis
    for c in range(1, y.shape[1]):
        np.maximum(peak, np.abs(y[:, c]), out=peak)
    need = np.minimum(1.0, ceiling / np.maximum(peak, 1e-12))
    over = np.flatnonzero(need < 1.0)
    half = 64
    lo, hi = max(0, int(over[0]) - 4 * half), min(y.shape[0], int(over[-1]) + 4 * half + 1)
    part = need[lo:hi]  # the gain differs from 1 only within a window of the samples over the ceiling
    gain = uniform_filter1d(minimum_filter1d(part, 2 * half + 1), half + 1)
    gain = np.minimum(gain, part)  # guards the filters' edge handling
    y[lo:hi] = np.clip(y[lo:hi] * gain[:, None], -ceiling, ceiling)
    return y


@dataclass
class _Candidate:
    z: float
    scale: float
    freq_scale: float
    phase: int
    shift: int
    cells: FloatArray  # low band features, padded to whole periods (rows in input order)
    upper: FloatArray  # upper band features, same rows


class _Searched(NamedTuple):
    cands: list[_Candidate]  # the best alignment per evaluated scale, best first
    tried: int  # hypotheses scored for the payload layout's sync
    presence_z: float  # the best presence statistic over every alignment
    presence_tried: int


def _search(
    mono16: FloatArray, lay: _Layout, up: _Layout, presence: tuple[_Layout, _Layout] | None = None
) -> _Searched:
    """Best alignment per evaluated time/frequency scale, the number of hypotheses tried, and the presence mark.

    Each alignment is scored twice, on the low band's sync cells alone and on both bands' together: the
    first serves audio whose upper band was cut or never marked, the second audio whose low band is
    drowned. Both count as hypotheses in the p-value's union bound. With presence layouts, every
    alignment is also scored (the same two ways) against them, as separate hypotheses.
    """
    power = dsp.fine_power(mono16, dsp.ALL_BINS)
    bands = ((power[:, : dsp.LOW_BINS], dsp.FIRST_BIN, lay), (power, dsp.UPPER_FIRST_BIN, up))
    mixes = []
    for band_power, first, _ in bands:  # the prediction mix is a per-clip, per-band choice
        plain = dsp.slot_energies(dsp.cumulative(band_power @ _band_matrix(1.0, first)), 0.0, dsp.FINE_PER_SLOT)
        mixes.append(dsp.choose_mix(plain, dsp.energy_floor(plain)))
    cache: dict[tuple[float, int], tuple[FloatArray, float, FloatArray]] = {}
    found: list[_Candidate] = []
    tried = 0
    presence_z, presence_tried = -math.inf, 0
    done: set[tuple[float, float]] = set()  # the refinements around two neighbouring scales can coincide

    def features(k: int, scale: float, fs: float, phase: int) -> FloatArray:
        if (fs, k) not in cache:
            energy = bands[k][0] @ _band_matrix(fs, bands[k][1])
            cache[fs, k] = (
                dsp.cumulative(energy),
                dsp.energy_floor(energy * dsp.FINE_PER_SLOT),
                dsp.noise_level(energy),
            )
        cum, floor, noise = cache[fs, k]
        energy = dsp.slot_energies(cum, phase * scale, dsp.FINE_PER_SLOT * scale)
        return dsp.cell_features(energy, floor, mixes[k], noise)

    def spectra(cells: FloatArray) -> tuple[npt.NDArray[np.complex128], npt.NDArray[np.complex128]]:
        folded = cells.reshape(-1, PERIOD_SLOTS, dsp.N_BANDS).sum(axis=0)
        return np.conj(np.fft.rfft(folded, axis=0)), np.conj(np.fft.rfft(folded**2, axis=0))

    def correlate(
        folded: tuple[npt.NDArray[np.complex128], npt.NDArray[np.complex128]], layout: _Layout
    ) -> tuple[FloatArray, FloatArray]:
        num = np.fft.irfft(np.sum(layout.sync_f * folded[0], axis=1), PERIOD_SLOTS)
        den = np.fft.irfft(np.sum(layout.sync_abs_f * folded[1], axis=1), PERIOD_SLOTS)
        return num, np.maximum(den, 1e-12)

    def scores(
        low: tuple[npt.NDArray[np.complex128], npt.NDArray[np.complex128]],
        upper: tuple[npt.NDArray[np.complex128], npt.NDArray[np.complex128]],
        layouts: tuple[_Layout, _Layout],
    ) -> FloatArray:
        """Every period offset scored on the low band alone, then on both bands."""
        num_low, den_low = correlate(low, layouts[0])
        num_up, den_up = correlate(upper, layouts[1])
        return np.concatenate([num_low / np.sqrt(den_low), (num_low + num_up) / np.sqrt(den_low + den_up)])

    def evaluate(scale: float, freq_scale: float) -> None:
        nonlocal tried, presence_z, presence_tried
        fs = round(freq_scale, 6)
        if (round(scale, 6), fs) in done:  # evaluated already: no duplicate candidate, no double count
            return
        done.add((round(scale, 6), fs))
        best: _Candidate | None = None
        for phase in range(dsp.FINE_PER_SLOT):
            low = features(0, scale, fs, phase)
            if low.shape[0] == 0:
                continue
            low, upper = _whole_periods(low), _whole_periods(features(1, scale, fs, phase))
            folded = spectra(low), spectra(upper)
            z = scores(*folded, (lay, up))
            tried += z.size
            if presence is not None:
                pz = scores(*folded, presence)
                presence_z, presence_tried = max(presence_z, float(np.max(pz))), presence_tried + pz.size
            u = int(np.argmax(z)) % PERIOD_SLOTS
            if best is None or float(np.max(z)) > best.z:
                best = _Candidate(float(np.max(z)), scale, freq_scale, phase, u, low, upper)
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
    return _Searched(found, tried, presence_z, presence_tried)


def _whole_periods(cells: FloatArray) -> FloatArray:
    return np.pad(cells, ((0, (-cells.shape[0]) % PERIOD_SLOTS), (0, 0)))


def _low_band(cand: _Candidate, lay: _Layout) -> BandCells:
    return BandCells(cand.cells, lay.ids, lay.sign, lay.half, cand.shift)


def _upper_band(cand: _Candidate, up: _Layout) -> BandCells | None:
    """The upper band's features at the candidate's alignment, or None when its halves show no mark."""
    band = BandCells(cand.upper, up.ids, up.sign, up.half, cand.shift)
    mark_power, noise_power = band_powers(*halves(band))
    return band if mark_power > MIN_UPPER_SNR * noise_power else None


def _segments(n: int) -> list[tuple[int, int]]:
    seg = int(SEGMENT_SECONDS * dsp.WORK_RATE)
    if n <= int(1.4 * seg):
        return [(0, n)]
    count = min(MAX_SEGMENTS, math.ceil(n / seg))
    starts = np.linspace(0, n - seg, count).astype(int)
    return [(int(s), int(s) + seg) for s in starts]


def _decode_candidate(
    cand: _Candidate, rank: int, lay: _Layout, up: _Layout, key: bytes, frames: int, budget: int
) -> tuple[Payload | None, int]:
    """Decode the low band; then both (if the upper shows a mark); then with feedback weights. Also: decodes used."""
    bands = [_low_band(cand, lay)]
    soft = soft_chips(bands)
    found, used = decode(soft, key, list_size=frames), 1
    if found is None and used < budget:
        upper = _upper_band(cand, up)
        if upper is not None:
            bands.append(upper)
            soft = soft_chips(bands)
            found, used = decode(soft, key, list_size=frames), used + 1
    if found is None and rank < FEEDBACK_CANDIDATES and used < budget:
        weights = feedback_weights(bands, soft, FEEDBACK_SLOTS)
        found, used = decode(soft_chips(bands, weights), key, list_size=frames), used + 1
    return found, used


def detect_audio(samples: npt.ArrayLike, sample_rate: int, key: bytes) -> Detection:
    """Look for the keyed audio watermark; decodes the payload when its keyed tag verifies."""
    key = check_key(key)
    x = _as_frames(samples, sample_rate)
    mono16 = dsp.resample(dsp.mono(x), sample_rate, dsp.WORK_RATE)
    lay, up, presence = _layout(key), _upper_layout(key), _presence_layouts(key)
    tried = presence_tried = decodes = 0
    best_z = best_pz = -math.inf
    best_where: tuple[float, float] | None = None
    presence_where: tuple[float, float] | None = None
    segments = _segments(mono16.size)
    for k, (start, end) in enumerate(segments):
        cands, n, pz, pn = _search(mono16[start:end], lay, up, presence)
        tried, presence_tried = tried + n, presence_tried + pn
        where = (start / dsp.WORK_RATE, min(end, mono16.size) / dsp.WORK_RATE)
        if cands and cands[0].z > best_z:
            best_z, best_where = cands[0].z, where
        if pz > best_pz:
            best_pz, presence_where = pz, where
        # every segment gets its share of the decodes: a long clip's later segments are not starved
        budget = decodes + (MAX_DECODES - decodes) // (len(segments) - k)
        for rank, cand in enumerate(cands[:CANDIDATES_PER_SEGMENT]):
            if decodes >= budget:
                break
            frames = LIST_SIZE if _sync_p(cand.z, tried) <= LIST_GATE else 1
            found, used = _decode_candidate(cand, rank, lay, up, key, frames, budget - decodes)
            decodes += used
            if found is not None:
                return Detection(True, min(_tag_p(), _sync_p(cand.z, tried)), found, where)
    p = _sync_p(best_z, max(tried, 1))
    if p <= SYNC_THRESHOLD:
        return Detection(True, p, None, best_where)
    p_presence = _sync_p(best_pz, max(presence_tried, 1))
    if p_presence <= PRESENCE_THRESHOLD:
        return Detection(True, p_presence, None, presence_where, presence_only=True)
    return Detection(False, min(p, p_presence), None, None)


def _tag_p() -> float:
    """Bound on noise passing the keyed tag in any decode: best paths, plus list frames behind the gate."""
    return MAX_DECODES * TAG_FALSE_ACCEPT * (1 + (LIST_SIZE - 1) * LIST_GATE)


def _sync_p(z: float, hypotheses: int) -> float:
    """Hoeffding bound exp(-z^2/2) on a Rademacher sum, times the hypotheses tried (union bound)."""
    if not math.isfinite(z) or z <= 0:
        return 1.0
    return min(1.0, hypotheses * math.exp(-0.5 * z * z))
