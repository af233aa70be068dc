"""The audio detector's feature arithmetic: the fast forms give what their definitions give."""

from __future__ import annotations

import numpy as np
import pytest

from synthguard.watermark import audio_dsp as dsp


def _energies(rows: int, seed: int = 3) -> np.ndarray:
    """Band energies spread over several decades, as speech and music give."""
    return np.random.default_rng(seed).lognormal(0.0, 2.0, (rows, dsp.N_BANDS))


@pytest.mark.parametrize("rows", [2, 3, 17, 1250])
def test_noise_level_is_the_15th_percentile_of_each_band(rows: int) -> None:
    fine = _energies(rows)
    expected = np.percentile(fine, dsp.NOISE_PERCENTILE, axis=0) * dsp.FINE_PER_SLOT
    np.testing.assert_allclose(dsp.noise_level(fine)[0], expected, rtol=1e-12)


@pytest.mark.parametrize("start", [0.0, 1.0, 2.0, 3.0])
def test_whole_frame_slots_are_plain_sums_of_their_fine_frames(start: float) -> None:
    fine = _energies(101)
    slots = dsp.slot_energies(dsp.cumulative(fine), start, float(dsp.FINE_PER_SLOT))
    first = int(start)
    n = (fine.shape[0] - first) // dsp.FINE_PER_SLOT
    expected = fine[first : first + n * dsp.FINE_PER_SLOT].reshape(n, dsp.FINE_PER_SLOT, -1).sum(axis=1)
    assert slots.shape == expected.shape
    np.testing.assert_allclose(slots, expected, rtol=1e-12)


def test_whole_frame_slots_match_the_interpolated_ones_next_to_them() -> None:
    cum = dsp.cumulative(_energies(200))
    whole = dsp.slot_energies(cum, 2.0, 4.0)
    nearly = dsp.slot_energies(cum, 2.0 + 1e-12, 4.0)  # the interpolating path, a hair away
    np.testing.assert_allclose(whole[: nearly.shape[0]], nearly, rtol=1e-6, atol=1e-8)


def _padded_residuals(energy: np.ndarray, floor: float, mix: float) -> np.ndarray:
    """The definition: each cell's log energy minus the mix of its time and band neighbours' means, edges repeated."""
    log_e = np.log(energy + floor)
    rows = np.pad(log_e, ((1, 1), (0, 0)), mode="edge")
    cols = np.pad(log_e, ((0, 0), (1, 1)), mode="edge")
    in_time = 0.5 * (rows[:-2] + rows[2:])
    in_band = 0.5 * (cols[:, :-2] + cols[:, 2:])
    return log_e - mix * in_time - (1.0 - mix) * in_band


@pytest.mark.parametrize("rows", [2, 3, 312])
@pytest.mark.parametrize("mix", dsp.MIXES)
def test_residuals_equal_their_padded_definition_bit_for_bit(rows: int, mix: float) -> None:
    energy = _energies(rows)
    assert np.array_equal(dsp.raw_residuals(energy, 1e-3, mix), _padded_residuals(energy, 1e-3, mix))
    expected = dsp.CLIP * np.tanh(_padded_residuals(energy, 1e-3, mix) / dsp.CLIP)
    assert np.array_equal(dsp.residuals(energy, 1e-3, mix), expected)


def test_cell_features_are_soft_residuals_times_reliability_and_leave_the_energies_alone() -> None:
    energy = _energies(90)
    energy[5, 7] = -1e-18  # a fractional slot sum a hair below zero
    before = energy.copy()
    noise = dsp.noise_level(energy)
    expected = dsp.residuals(energy, 1e-3, 0.5) * (np.maximum(energy, 0) / (np.maximum(energy, 0) + noise))
    np.testing.assert_allclose(dsp.cell_features(energy, 1e-3, 0.5, noise), expected, rtol=1e-12, atol=1e-15)
    assert np.array_equal(energy, before)
