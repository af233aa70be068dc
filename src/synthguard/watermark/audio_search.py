"""The audio detector's alignment search: tempo, speed and pitch scales, sub-cell phases, period offsets.

Every alignment's folded features are scored against the keyed sync cells (and the presence mark's), on
the low band alone and on both bands. SEARCH_HYPOTHESES is the count the p-value's union bound uses; see
docs/watermark-audio.md (design step 6 and "p-value").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from synthguard.watermark import audio_dsp as dsp
from synthguard.watermark.audio_layout import PERIOD_SLOTS, FloatArray, Layout, band_rows, whole_periods

TIME_SCALES = tuple(1.0 + 0.01 * k for k in range(-6, 7))


# frequency scales screened, time axis kept: 0.79-1.26, four semitones either way
PITCH_SCALES = tuple(1.0 + 0.01 * k for k in range(-21, 27) if k != 0)


PITCH_FINALISTS = 2  # the best screens, if they beat every tempo and speed alignment, are evaluated in full


# sub-cell phases the pitch screen scores: with phase 0 alone a shift that also delayed the audio by half a
# cell (a voice changer's time stretch does) screened at noise level
SCREEN_PHASES = (0, 2)


# one band's folded features and their squares, conjugated FFTs along the period axis
Spectra = tuple[npt.NDArray[np.complex128], npt.NDArray[np.complex128]]


REFINE_STEPS = (-0.005, -0.0025, 0.0025, 0.005)


def possible_scale_pairs() -> frozenset[tuple[float, float]]:
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
# the pitch screen (its phases, period offsets, one statistic).
SEARCH_HYPOTHESES = (
    len(possible_scale_pairs()) * dsp.FINE_PER_SLOT * PERIOD_SLOTS * 2
    + len(PITCH_SCALES) * len(SCREEN_PHASES) * PERIOD_SLOTS
)


@dataclass
class Candidate:
    """The best alignment at one scale, with its features for decoding."""

    z: float
    scale: float
    freq_scale: float
    phase: int
    shift: int
    cells: FloatArray  # low band features, padded to whole periods (rows in input order)
    upper: FloatArray  # upper band features, same rows


class Searched(NamedTuple):
    """What a search found, and the hypotheses the union bound counts."""

    cands: list[Candidate]  # the best alignment per evaluated scale, best first
    tried: int  # hypotheses the union bound counts for the payload layout's sync
    presence_z: float  # the best presence statistic over every alignment
    presence_tried: int


def search(
    mono16: FloatArray,
    lay: Layout,
    up: Layout,
    presence: tuple[Layout, Layout] | None = None,
    settle: Callable[[Candidate], bool] | None = None,
) -> Searched:
    """Best alignment per evaluated time/frequency scale, the hypotheses counted, and the presence mark.

    settle, if given, sees the best tempo/speed alignment before pitch shifts are screened; when it returns
    True (the caller decoded the payload there) the search stops, and the presence statistic is partial.

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
        lo, hi, rows = band_rows(1.0, first)
        plain = dsp.slot_energies(dsp.cumulative(band_power[:, lo:hi] @ rows), 0.0, dsp.FINE_PER_SLOT)
        mixes.append(dsp.choose_mix(plain, dsp.energy_floor(plain)))
    cache: dict[tuple[float, int], tuple[FloatArray, float, FloatArray]] = {}
    found: list[Candidate] = []
    presence_z = screen_bar = -math.inf
    done: set[tuple[float, float]] = set()  # the refinements around two neighbouring scales can coincide

    def features(k: int, scale: float, fs: float, phase: int) -> FloatArray:
        if (fs, k) not in cache:
            lo, hi, rows = band_rows(fs, bands[k][1])  # the upper band's matrix is mostly zero rows
            energy = bands[k][0][:, lo:hi] @ rows
            cache[fs, k] = (
                dsp.cumulative(energy),
                dsp.energy_floor(energy * dsp.FINE_PER_SLOT),
                dsp.noise_level(energy),
            )
        cum, floor, noise = cache[fs, k]
        energy = dsp.slot_energies(cum, phase * scale, dsp.FINE_PER_SLOT * scale)
        return dsp.cell_features(energy, floor, mixes[k], noise)

    def spectra(*cells: FloatArray) -> list[Spectra]:
        """Each band's folded features and their squares, transformed along the period in one FFT call."""
        folded = [c.reshape(-1, PERIOD_SLOTS, dsp.N_BANDS).sum(axis=0) for c in cells]
        spec = np.conj(np.fft.rfft(np.concatenate([part for f in folded for part in (f, f**2)], axis=1), axis=0))
        n = dsp.N_BANDS
        return [
            (spec[:, 2 * i * n : (2 * i + 1) * n], spec[:, (2 * i + 1) * n : (2 * i + 2) * n])
            for i in range(len(cells))
        ]

    def correlate(
        pairs: list[tuple[Spectra, Layout]],
    ) -> FloatArray:
        """Numerator and denominator of each (band spectra, layout) pair's sync statistic at every period offset."""
        sums = []
        for (spec, spec_sq), layout in pairs:
            sums += [np.sum(layout.sync_f * spec, axis=1), np.sum(layout.sync_abs_f * spec_sq, axis=1)]
        out: FloatArray = np.fft.irfft(np.stack(sums, axis=1), PERIOD_SLOTS, axis=0)
        return out

    def scores(
        low: Spectra,
        upper: Spectra,
        layout_sets: list[tuple[Layout, Layout]],
    ) -> list[FloatArray]:
        """Every period offset scored on the low band alone, then on both bands, for each pair of layouts."""
        c = correlate([pair for lays in layout_sets for pair in ((low, lays[0]), (upper, lays[1]))])
        out = []
        for i in range(len(layout_sets)):
            num_low, den_low, num_up, den_up = (c[:, 4 * i + j] for j in range(4))
            den_low, den_up = np.maximum(den_low, 1e-12), np.maximum(den_up, 1e-12)
            out.append(np.concatenate([num_low / np.sqrt(den_low), (num_low + num_up) / np.sqrt(den_low + den_up)]))
        return out

    def evaluate(scale: float, freq_scale: float) -> Candidate | None:
        """Score every sub-cell phase and period offset at this scale; the best alignment, or None if seen."""
        nonlocal presence_z, screen_bar
        fs = round(freq_scale, 6)
        if (round(scale, 6), fs) in done:  # evaluated already: no duplicate candidate, no double count
            return None
        done.add((round(scale, 6), fs))
        best: Candidate | None = None
        for phase in range(dsp.FINE_PER_SLOT):
            low = features(0, scale, fs, phase)
            if low.shape[0] == 0:
                continue
            low, upper = whole_periods(low), whole_periods(features(1, scale, fs, phase))
            low_f, upper_f = spectra(low, upper)
            z, *rest = scores(low_f, upper_f, [(lay, up)] if presence is None else [(lay, up), presence])
            pz = rest[0] if rest else z[:0]
            if pz.size:
                presence_z = max(presence_z, float(np.max(pz)))
            if phase in SCREEN_PHASES:  # what the pitch screen measures: these phases, low band alone
                screen_bar = max(
                    screen_bar, float(np.max(z[:PERIOD_SLOTS])), float(np.max(pz[:PERIOD_SLOTS], initial=-math.inf))
                )
            u = int(np.argmax(z)) % PERIOD_SLOTS
            if best is None or float(np.max(z)) > best.z:
                best = Candidate(float(np.max(z)), scale, freq_scale, phase, u, low, upper)
        return best

    def screen(freq_scale: float) -> float:
        """A pitch hypothesis at the screen's sub-cell phases on the low band alone: its best sync or presence z."""
        nonlocal presence_z
        best = -math.inf
        for phase in SCREEN_PHASES:
            low = features(0, 1.0, round(freq_scale, 6), phase)
            if low.shape[0] == 0:
                continue
            (folded,) = spectra(whole_periods(low))
            c = correlate([(folded, lay)] if presence is None else [(folded, lay), (folded, presence[0])])
            z = c[:, 0::2] / np.sqrt(np.maximum(c[:, 1::2], 1e-12))
            best = max(best, float(np.max(z[:, 0])))
            if presence is not None:
                own = float(np.max(z[:, 1]))
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
    found.sort(key=lambda c: -c.z)
    if settle is not None and found and settle(found[0]):
        return Searched(found, SEARCH_HYPOTHESES, presence_z, SEARCH_HYPOTHESES)
    # A pitch shift (frequency scaled, time kept) is screened cheaply; only screens that beat every tempo
    # and speed alignment, measured the same cheap way, are evaluated in full, and the better of those is
    # refined. Two finalists, not one: on music shifted down, a spurious screen far off ties the true one.
    screened = sorted(((screen(s), s) for s in PITCH_SCALES), reverse=True)[:PITCH_FINALISTS]
    finalists = [cand for z, s in screened if z > screen_bar and (cand := evaluate(1.0, s)) is not None]
    if finalists:
        found.extend(finalists)
        best = max(finalists, key=lambda c: c.z).freq_scale
        for ds in REFINE_STEPS:
            if (cand := evaluate(1.0, best + ds)) is not None:
                found.append(cand)
    found.sort(key=lambda c: -c.z)
    return Searched(found, SEARCH_HYPOTHESES, presence_z, SEARCH_HYPOTHESES)
