"""Embedding the audio watermark: the payload mark, the presence-only mark, and the fallback from one to the other.

Each cell's STFT magnitude is scaled by exp(+-a): tilted steps within each 32 ms slot's energy budget, one
informed pass on the detector's own features, an upper band where the rate allows it, one gain that puts
the clip at the target segmental SNR, and a limiter instead of clipping. A self-check on the marked clip
refuses marks too weak to survive ordinary processing. See docs/watermark-audio.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import numpy.typing as npt
from scipy.ndimage import minimum_filter1d, uniform_filter1d

from synthguard.errors import CapacityTooLow, InputError, InputTooLarge
from synthguard.watermark import audio_dsp as dsp
from synthguard.watermark.audio_layout import (
    PERIOD_SLOTS,
    SYNC_GROUPS,
    FloatArray,
    Layout,
    as_frames,
    band_weights,
    host_cells,
    low_layout,
    presence_layouts,
    upper_layout,
    whole_periods,
)
from synthguard.watermark.payload import CODED_BITS, Payload, check_key, encode

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


UPPER_SHARE = 0.15  # the upper band's energy budget per slot, relative to the low band's


UPPER_GUARD = (1.35, 0.8)  # keep the upper band only if the low margin stays >= max(1.35, 0.8 x margin without)


_SILENT = "capacity too low: the audio is (nearly) silent in the 500-3750 Hz band"
CHUNK_PERIODS = 20  # a clip over 1.5 chunks (57.6 s each) is marked chunk by chunk, so memory stays bounded
MAX_SECONDS = 30 * 60.0  # longer audio is refused (InputTooLarge): the caller holds it decoded in memory
MIN_PRESENCE_Z = 10.0  # embed_audio_presence refuses a clip whose marked presence z is lower (see docs)


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
    x = as_frames(samples, sample_rate)
    x16 = dsp.resample(x, sample_rate, dsp.WORK_RATE)
    specs = [dsp.stft_embed(x16[:, c]) for c in range(x16.shape[1])]
    mono_spec = sum(specs[1:], specs[0]) / len(specs)
    mono16 = dsp.mono(x16)
    power = float(np.mean(dsp.mono(x) ** 2))
    if power < 1e-12:  # below -120 dBFS
        raise CapacityTooLow(_SILENT)
    share = dsp.band_share(mono_spec, x16.shape[0], power)
    if share < MIN_BAND_SHARE:
        raise CapacityTooLow(
            f"capacity too low: only {10 * math.log10(max(share, 1e-12)):.0f} dB of the clip's energy lies in "
            f"500-3750 Hz (< {10 * math.log10(MIN_BAND_SHARE):.0f} dB); noise 20 dB below the clip would drown the mark"
        )
    cells = host_cells(mono16)
    floor = dsp.energy_floor(cells)
    if cells.shape[0] == 0 or np.mean(cells > 10 * floor) < 0.1:
        raise CapacityTooLow(_SILENT)
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
        marked = host_cells(h.mono16 + w_mono)
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


def _spans(frames: int, rate: int) -> list[tuple[int, int]]:
    """The sample ranges a clip is marked in: whole periods each (so the pattern runs on), the last taking the rest."""
    size = CHUNK_PERIODS * PERIOD_SLOTS * 2 * dsp.EMBED_HOP / dsp.WORK_RATE * rate
    if frames < 1.5 * size:
        return [(0, frames)]
    edges = [round(k * size) for k in range(int(frames / size))] + [frames]
    return list(pairwise(edges))


def _chunked(
    samples: npt.ArrayLike, rate: int, mark: Callable[[FloatArray, str], npt.NDArray[np.float32]]
) -> npt.NDArray[np.float32]:
    """mark(part, where) over each span of the clip, in one output of the input's shape."""
    x = as_frames(samples, rate)
    if x.shape[0] > MAX_SECONDS * rate:
        raise InputTooLarge(
            f"audio of {x.shape[0] / rate / 60:.0f} min is over the watermark's {MAX_SECONDS / 60:g} min"
        )
    spans = _spans(x.shape[0], rate)
    if len(spans) == 1:
        return mark(x, "").reshape(np.shape(samples))
    out = np.empty(x.shape, dtype=np.float32)
    for a, b in spans:
        out[a:b] = mark(x[a:b], f" (in {a / rate:.1f}-{b / rate:.1f} s)")
    return out.reshape(np.shape(samples))


def _refused_at(where: str) -> Callable[[CapacityTooLow], CapacityTooLow]:
    return lambda exc: CapacityTooLow(f"{exc}{where}") if where else exc


def embed_audio(
    samples: npt.ArrayLike,
    sample_rate: int,
    payload: Payload,
    key: bytes,
    strength: float = 1.0,
) -> npt.NDArray[np.float32]:
    """Embed payload in audio (frames x channels, float in [-1, 1]); returns float32 of the same shape.

    A long clip is marked in chunks of whole periods; CapacityTooLow names the chunk that could not carry it.
    """
    key = check_key(key)

    def mark(part: FloatArray, where: str) -> npt.NDArray[np.float32]:
        try:
            return _embed_payload(_analyse(part, sample_rate, strength), payload, key)
        except CapacityTooLow as exc:
            raise _refused_at(where)(exc) from None

    return _chunked(samples, sample_rate, mark)


def _embed_payload(h: _Host, payload: Payload, key: bytes) -> npt.NDArray[np.float32]:
    """The payload mark on one analysed clip or chunk."""
    lay = low_layout(key)
    chips = encode(payload, key).astype(np.float64)
    want = np.concatenate([chips, np.ones(SYNC_GROUPS)])
    ids = lay.ids[h.pos]
    cell_chip = want[ids] * lay.sign[h.pos]  # (slots, bands) +-1 direction of each cell
    # informed embedding per chip over the whole clip (per period costs too much energy)
    cell_amps = [_low_steps(h, cell_chip, ids) * cell_chip]
    if h.rate >= dsp.UPPER_MIN_RATE:
        up = upper_layout(key)
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
            and _band_margin(marked_both, upper_layout(key), dsp.UPPER_FIRST_BIN, chips) >= STRONG_UPPER_MARGIN
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

    def mark(part: FloatArray, where: str) -> npt.NDArray[np.float32]:
        try:
            return _embed_presence(_analyse(part, sample_rate, strength), key)
        except CapacityTooLow as exc:
            raise _refused_at(where)(exc) from None

    return _chunked(samples, sample_rate, mark)


def _embed_presence(h: _Host, key: bytes) -> npt.NDArray[np.float32]:
    """The presence mark on one analysed clip or chunk."""
    low, upper = presence_layouts(key)
    cell_chip = low.sign[h.pos]
    cell_amps = [_low_steps(h, cell_chip, low.ids[h.pos]) * cell_chip]
    if h.rate >= dsp.UPPER_MIN_RATE:
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

    A long clip is decided chunk by chunk, and a chunk that fits neither (a silent passage) stays as it
    was. CapacityTooLow (the payload's own refusal) only when no part takes either mark.
    """
    key = check_key(key)
    kinds: list[str] = []
    reasons: list[str] = []

    def mark(part: FloatArray, where: str) -> npt.NDArray[np.float32]:
        payload_refused = False
        try:
            h = _analyse(part, sample_rate, strength)  # once for both marks
            try:
                marked = _embed_payload(h, payload, key)
                kinds.append("payload")
                return marked
            except CapacityTooLow as refused:
                reasons.append(f"{refused}{where}")
                payload_refused = True
            marked = _embed_presence(h, key)
            kinds.append("presence")
            return marked
        except CapacityTooLow as refused:  # the analysis refused (silence, an empty band), or presence did
            if not payload_refused:
                reasons.append(f"{refused}{where}")
            if not where:  # the whole clip: refuse with the payload's reason
                raise CapacityTooLow(reasons[0]) from None
            kinds.append("none")
            return part.astype(np.float32)

    out = _chunked(samples, sample_rate, mark)
    if all(kind == "none" for kind in kinds):
        raise CapacityTooLow(reasons[0])
    if len(kinds) == 1:
        return AudioMark(out, kinds[0] == "payload", "" if kinds[0] == "payload" else reasons[0])
    note = ""
    if any(kind != "payload" for kind in kinds):
        counts = {k: kinds.count(k) for k in ("payload", "presence", "none")}
        note = (
            f"of {len(kinds)} chunks, {counts['payload']} carry the payload, {counts['presence']} only the presence "
            f"mark and {counts['none']} no mark; first refusal: {reasons[0]}"
        )
    return AudioMark(out, "payload" in kinds, note)


def _folded_features(marked16: FloatArray, first_bin: int, prior: tuple[float, float] | None) -> FloatArray | None:
    """One band's detector features at the embedder's alignment, folded by the period (None when empty).

    prior is the (floor, prediction mix) to use, e.g. the host's; without it both are taken from marked16.
    """
    shifted = np.concatenate([np.zeros(2 * dsp.FINE_HOP), marked16])
    matrix = band_weights(1.0, first_bin)
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
    folded: FloatArray = whole_periods(cells)[: n_per * PERIOD_SLOTS].reshape(n_per, PERIOD_SLOTS, dsp.N_BANDS).sum(0)
    return folded


def _band_margin(
    marked16: FloatArray, lay: Layout, first_bin: int, chips: FloatArray, prior: tuple[float, float] | None = None
) -> float:
    """Chip margin (mean over std of the soft chips times the chips) of one band at the embedder's alignment."""
    folded = _folded_features(marked16, first_bin, prior)
    if folded is None:
        return 0.0
    data = lay.ids < CODED_BITS
    soft = np.bincount(lay.ids[data], (folded * lay.sign)[data], minlength=CODED_BITS) * chips
    return float(np.mean(soft) / max(float(np.std(soft)), 1e-12))


def _presence_z(marked16: FloatArray, lay: Layout, prior: tuple[float, float]) -> float:
    """The low band's presence statistic (the detector's z) at the embedder's alignment."""
    folded = _folded_features(marked16, dsp.FIRST_BIN, prior)
    if folded is None:
        return 0.0
    return float(np.sum(folded * lay.sign) / math.sqrt(max(float(np.sum(folded**2)), 1e-24)))


def _self_check(marked16: FloatArray, floor: float, mix: float, lay: Layout, chips: FloatArray) -> float:
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
