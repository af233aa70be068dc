"""Soft chips of the audio watermark from one or two bands of cell features, and their decision-feedback weights.

A band's features are folded by the period and summed per chip in two keyed halves of its cells. The halves
share the mark and not (to first order) the noise, so their product estimates the band's mark power; the
bands are then combined with matched-filter weights (mark amplitude over noise power). With one band the
soft chips are the plain sums.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.ndimage import uniform_filter1d

from synthguard.watermark.payload import CODED_BITS

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class BandCells:
    """One band's features at a candidate alignment and the keyed layout they are read with."""

    cells: FloatArray  # (whole periods x period slots, bands) features in input order
    ids: npt.NDArray[np.int64]  # (period slots, bands) chip index, >= CODED_BITS for sync cells
    sign: FloatArray  # (period slots, bands) keyed +-1
    half: npt.NDArray[np.bool_]  # (period slots, bands) keyed split of the cells into two halves
    shift: int  # period offset of the alignment


def _rows(band: BandCells) -> npt.NDArray[np.int64]:
    period = band.ids.shape[0]
    return np.asarray((np.arange(band.cells.shape[0]) % period + band.shift) % period)


def halves(band: BandCells, slot_weight: FloatArray | None = None) -> tuple[FloatArray, FloatArray]:
    """Per-chip sums of the band's data cells over its two keyed halves (slots optionally weighted)."""
    period = band.ids.shape[0]
    cells = band.cells if slot_weight is None else band.cells * slot_weight[:, None]
    folded = cells.reshape(-1, period, cells.shape[1]).sum(axis=0)
    aligned = np.roll(folded, band.shift, axis=0) * band.sign
    data = band.ids < CODED_BITS
    first, second = data & band.half, data & ~band.half
    a = np.bincount(band.ids[first], aligned[first], minlength=CODED_BITS)
    b = np.bincount(band.ids[second], aligned[second], minlength=CODED_BITS)
    return a.astype(np.float64), b.astype(np.float64)


def band_powers(a: FloatArray, b: FloatArray) -> tuple[float, float]:
    """Mark power and noise power of the soft chips a + b, estimated from the agreement of the halves a and b."""
    mark_power = max(4.0 * float(np.mean(a * b)), 0.0)
    return mark_power, max(float(np.mean((a + b) ** 2)) - mark_power, 1e-12)


def matched_weight(a: FloatArray, b: FloatArray) -> float:
    """Mark amplitude over noise power of the soft chips a + b: the weight of their band when bands are combined."""
    mark_power, noise_power = band_powers(a, b)
    return float(np.sqrt(mark_power) / noise_power)


def soft_chips(bands: list[BandCells], slot_weights: list[FloatArray] | None = None) -> FloatArray:
    """Soft chips of one band (plain sums) or several (each weighted by its matched weight)."""
    parts = [halves(band, None if slot_weights is None else slot_weights[k]) for k, band in enumerate(bands)]
    if len(parts) == 1:
        return parts[0][0] + parts[0][1]
    return np.asarray(sum(matched_weight(a, b) * (a + b) for a, b in parts), dtype=np.float64)


def feedback_weights(bands: list[BandCells], soft: FloatArray, window: int) -> list[FloatArray]:
    """Per band, each slot's estimated mark strength given a first decode's soft chips (decision feedback).

    The soft chips (squashed to [-1, 1]) and the known sync signs give a tentative mark pattern; per slot,
    its correlation with the features over their power (both smoothed over window slots) is the
    matched-filter weight of that slot, so slots drowned by added sound count less.
    """
    est = np.tanh(soft / max(float(np.std(soft)), 1e-12))
    weights = []
    for band in bands:
        rows = _rows(band)
        ids = band.ids[rows]
        ref = band.sign[rows] * np.where(ids < CODED_BITS, est[np.minimum(ids, CODED_BITS - 1)], 1.0)
        corr = uniform_filter1d(np.sum(band.cells * ref, axis=1), window, mode="nearest")
        power = uniform_filter1d(np.sum(band.cells**2, axis=1), window, mode="nearest")
        weights.append(np.maximum(corr, 0.0) / np.maximum(power, 1e-12))
    return weights
