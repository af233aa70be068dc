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
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from synthguard.watermark import audio_dsp as dsp
from synthguard.watermark.audio_embed import AudioMark, embed_audio, embed_audio_or_presence, embed_audio_presence
from synthguard.watermark.audio_layout import (
    PERIOD_SLOTS,
    FloatArray,
    Layout,
    as_frames,
    band_weights,
    low_layout,
    presence_layouts,
    upper_layout,
    whole_periods,
)
from synthguard.watermark.audio_soft import BandCells, band_powers, feedback_weights, halves, soft_chips
from synthguard.watermark.payload import Payload, check_key, decode

__all__ = [
    "AudioMark",
    "Detection",
    "detect_audio",
    "embed_audio",
    "embed_audio_or_presence",
    "embed_audio_presence",
]

TIME_SCALES = tuple(1.0 + 0.01 * k for k in range(-6, 7))


PITCH_SCALES = tuple(s for s in TIME_SCALES if s != 1.0)  # frequency scales screened with the time axis kept


REFINE_STEPS = (-0.005, -0.0025, 0.0025, 0.005)


def _possible_scale_pairs() -> frozenset[tuple[float, float]]:
    """Every (time scale, frequency scale) the search can evaluate in full, whatever the audio.

    The refinements depend on the audio, so the p-value's union bound counts all of them, not only those
    a given search happened to evaluate.
    """
    pairs = set()
    for s in TIME_SCALES:
        for ds in (0.0, *REFINE_STEPS):
            pairs.add((round(s + ds, 6), 1.0))  # tempo
            if s != 1.0:
                pairs.add((round(s + ds, 6), round(1.0 / (s + ds), 6)))  # speed
    for s in PITCH_SCALES:
        for ds in (0.0, *REFINE_STEPS):
            pairs.add((1.0, round(s + ds, 6)))  # pitch
    return frozenset(pairs)


# Alignments the p-value's union bound counts per searched segment, for the payload's sync and again for
# the presence mark: every possible full evaluation (sub-cell phases x period offsets x 2 statistics) and
# the pitch screen (one phase, period offsets, one statistic).
SEARCH_HYPOTHESES = len(_possible_scale_pairs()) * 4 * PERIOD_SLOTS * 2 + len(PITCH_SCALES) * PERIOD_SLOTS


SEGMENT_SECONDS = 10.0


MAX_SEGMENTS = 6


MAX_DECODES = 12


CANDIDATES_PER_SEGMENT = 4


FEEDBACK_CANDIDATES = 2  # a segment's best alignments also get a second, slot-weighted decode


FEEDBACK_SLOTS = 7  # window (slots, 224 ms) of the per-slot mark-strength estimate


MIN_UPPER_SNR = 0.1  # the detector adds the upper band only when its halves show this chip SNR (noise: sd ~0.12)


SYNC_THRESHOLD = 1.25e-7  # plus the presence mark's and the tag's shares (below): at most 1e-6 in all


PRESENCE_THRESHOLD = 1.25e-7  # a presence-only mark is reported at this p-value (its own hypotheses)


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
    tried: int  # hypotheses the union bound counts for the payload layout's sync
    presence_z: float  # the best presence statistic over every alignment
    presence_tried: int


def _search(mono16: FloatArray, lay: Layout, up: Layout, presence: tuple[Layout, Layout] | None = None) -> _Searched:
    """Best alignment per evaluated time/frequency scale, the hypotheses counted, and the presence mark.

    Each alignment is scored twice, on the low band's sync cells alone and on both bands' together: the
    first serves audio whose upper band was cut or never marked, the second audio whose low band is
    drowned. Both count as hypotheses in the p-value's union bound. With presence layouts, every
    alignment is also scored (the same two ways) against them, as separate hypotheses. The count is
    SEARCH_HYPOTHESES for each, every alignment the search could score, not only those it did.
    """
    power = dsp.fine_power(mono16, dsp.ALL_BINS)
    bands = ((power[:, : dsp.LOW_BINS], dsp.FIRST_BIN, lay), (power, dsp.UPPER_FIRST_BIN, up))
    mixes = []
    for band_power, first, _ in bands:  # the prediction mix is a per-clip, per-band choice
        plain = dsp.slot_energies(dsp.cumulative(band_power @ band_weights(1.0, first)), 0.0, dsp.FINE_PER_SLOT)
        mixes.append(dsp.choose_mix(plain, dsp.energy_floor(plain)))
    cache: dict[tuple[float, int], tuple[FloatArray, float, FloatArray]] = {}
    found: list[_Candidate] = []
    presence_z = screen_bar = -math.inf
    done: set[tuple[float, float]] = set()  # the refinements around two neighbouring scales can coincide

    def features(k: int, scale: float, fs: float, phase: int) -> FloatArray:
        if (fs, k) not in cache:
            energy = bands[k][0] @ band_weights(fs, bands[k][1])
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
        folded: tuple[npt.NDArray[np.complex128], npt.NDArray[np.complex128]], layout: Layout
    ) -> tuple[FloatArray, FloatArray]:
        num = np.fft.irfft(np.sum(layout.sync_f * folded[0], axis=1), PERIOD_SLOTS)
        den = np.fft.irfft(np.sum(layout.sync_abs_f * folded[1], axis=1), PERIOD_SLOTS)
        return num, np.maximum(den, 1e-12)

    def scores(
        low: tuple[npt.NDArray[np.complex128], npt.NDArray[np.complex128]],
        upper: tuple[npt.NDArray[np.complex128], npt.NDArray[np.complex128]],
        layouts: tuple[Layout, Layout],
    ) -> FloatArray:
        """Every period offset scored on the low band alone, then on both bands."""
        num_low, den_low = correlate(low, layouts[0])
        num_up, den_up = correlate(upper, layouts[1])
        return np.concatenate([num_low / np.sqrt(den_low), (num_low + num_up) / np.sqrt(den_low + den_up)])

    def evaluate(scale: float, freq_scale: float) -> _Candidate | None:
        """Score every sub-cell phase and period offset at this scale; the best alignment, or None if seen."""
        nonlocal presence_z, screen_bar
        fs = round(freq_scale, 6)
        if (round(scale, 6), fs) in done:  # evaluated already: no duplicate candidate, no double count
            return None
        done.add((round(scale, 6), fs))
        best: _Candidate | None = None
        for phase in range(dsp.FINE_PER_SLOT):
            low = features(0, scale, fs, phase)
            if low.shape[0] == 0:
                continue
            low, upper = whole_periods(low), whole_periods(features(1, scale, fs, phase))
            folded = spectra(low), spectra(upper)
            z = scores(*folded, (lay, up))
            pz = scores(*folded, presence) if presence is not None else z[:0]
            if pz.size:
                presence_z = max(presence_z, float(np.max(pz)))
            if phase == 0:  # what the pitch screen measures: phase 0, low band alone
                screen_bar = max(
                    screen_bar, float(np.max(z[:PERIOD_SLOTS])), float(np.max(pz[:PERIOD_SLOTS], initial=-math.inf))
                )
            u = int(np.argmax(z)) % PERIOD_SLOTS
            if best is None or float(np.max(z)) > best.z:
                best = _Candidate(float(np.max(z)), scale, freq_scale, phase, u, low, upper)
        return best

    def screen(freq_scale: float) -> float:
        """A pitch hypothesis at sub-cell phase 0 on the low band alone: its best sync or presence z."""
        nonlocal presence_z
        low = features(0, 1.0, round(freq_scale, 6), 0)
        if low.shape[0] == 0:
            return -math.inf
        folded = spectra(whole_periods(low))
        num, den = correlate(folded, lay)
        best = float(np.max(num / np.sqrt(den)))
        if presence is not None:
            num, den = correlate(folded, presence[0])
            own = float(np.max(num / np.sqrt(den)))
            presence_z, best = max(presence_z, own), max(best, own)
        return best

    for s in TIME_SCALES:
        for scale, fs in ((s, 1.0), (s, 1.0 / s)) if s != 1.0 else ((s, 1.0),):
            if (cand := evaluate(scale, fs)) is not None:
                found.append(cand)
    found.sort(key=lambda c: -c.z)
    for top in found[:2]:
        speed = top.freq_scale != 1.0
        for ds in REFINE_STEPS:
            s = top.scale + ds
            if (cand := evaluate(s, 1.0 / s if speed else 1.0)) is not None:
                found.append(cand)
    # A pitch shift (frequency scaled, time kept) is screened cheaply; only a screen that beats every
    # tempo and speed alignment, measured the same cheap way, is searched in full with its refinements.
    pitch = max(((screen(s), s) for s in PITCH_SCALES), default=(-math.inf, 1.0))
    if pitch[0] > screen_bar:
        for ds in (0.0, *REFINE_STEPS):
            if (cand := evaluate(1.0, pitch[1] + ds)) is not None:
                found.append(cand)
    found.sort(key=lambda c: -c.z)
    return _Searched(found, SEARCH_HYPOTHESES, presence_z, SEARCH_HYPOTHESES)


def _low_band(cand: _Candidate, lay: Layout) -> BandCells:
    return BandCells(cand.cells, lay.ids, lay.sign, lay.half, cand.shift)


def _upper_band(cand: _Candidate, up: Layout) -> BandCells | None:
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
    cand: _Candidate, rank: int, lay: Layout, up: Layout, key: bytes, frames: int, budget: int
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
    x = as_frames(samples, sample_rate)
    mono16 = dsp.resample(dsp.mono(x), sample_rate, dsp.WORK_RATE)
    lay, up, presence = low_layout(key), upper_layout(key), presence_layouts(key)
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
