"""Soft chips from one or two bands: plain sums, split-half weights, decision-feedback slot weights."""

from __future__ import annotations

import numpy as np

from synthguard.watermark.audio_soft import BandCells, feedback_weights, halves, matched_weight, soft_chips
from synthguard.watermark.payload import CODED_BITS

PERIOD, BANDS = 90, 52


def _band(rng: np.random.Generator, chips: np.ndarray, mark: float, noise: float, periods: int = 3) -> BandCells:
    ids = (np.arange(PERIOD * BANDS) % CODED_BITS).reshape(PERIOD, BANDS)
    sign = rng.choice([-1.0, 1.0], size=(PERIOD, BANDS))
    half = rng.random((PERIOD, BANDS)) < 0.5
    pattern = mark * chips[ids] * sign
    cells = np.tile(pattern, (periods, 1)) + noise * rng.standard_normal((periods * PERIOD, BANDS))
    return BandCells(cells, ids, sign, half, 0)


def test_one_band_soft_chips_are_the_plain_sums() -> None:
    rng = np.random.default_rng(1)
    chips = rng.choice([-1.0, 1.0], size=CODED_BITS)
    band = _band(rng, chips, 0.1, 1.0)
    a, b = halves(band)
    folded = band.cells.reshape(-1, PERIOD, BANDS).sum(axis=0) * band.sign
    assert np.allclose(soft_chips([band]), a + b)
    assert np.allclose(a + b, np.bincount(band.ids.ravel(), folded.ravel(), minlength=CODED_BITS))


def test_matched_weight_tracks_the_band_snr() -> None:
    rng = np.random.default_rng(2)
    chips = rng.choice([-1.0, 1.0], size=CODED_BITS)
    strong = matched_weight(*halves(_band(rng, chips, 0.3, 1.0)))
    weak = matched_weight(*halves(_band(rng, chips, 0.1, 1.0)))
    empty = matched_weight(*halves(_band(rng, chips, 0.0, 1.0)))
    assert strong > 2 * weak and weak > empty >= 0.0


def test_a_noise_band_does_not_spoil_a_good_one() -> None:
    rng = np.random.default_rng(3)
    chips = rng.choice([-1.0, 1.0], size=CODED_BITS)
    good, noise = _band(rng, chips, 0.15, 1.0), _band(rng, chips, 0.0, 5.0)
    alone = float(np.mean(np.sign(soft_chips([good])) == chips))
    both = float(np.mean(np.sign(soft_chips([good, noise])) == chips))
    naive = float(np.mean(np.sign(soft_chips([good]) + soft_chips([noise])) == chips))
    assert both >= alone - 0.03 and both > naive + 0.05


def test_feedback_weights_fall_on_slots_without_the_mark() -> None:
    rng = np.random.default_rng(4)
    chips = rng.choice([-1.0, 1.0], size=CODED_BITS)
    band = _band(rng, chips, 0.3, 0.5)
    drowned = band.cells.copy()
    drowned[100:160] = 3.0 * rng.standard_normal((60, BANDS))  # another sound covers these slots
    band = BandCells(drowned, band.ids, band.sign, band.half, 0)
    (weight,) = feedback_weights([band], soft_chips([band]), 7)
    assert float(np.mean(weight[110:150])) < 0.2 * float(np.mean(weight[:90]))
