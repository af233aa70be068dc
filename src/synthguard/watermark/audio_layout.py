"""The audio watermark's period, keyed cell layouts and input framing, shared by the embedder and the detector."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from synthguard.errors import CapacityTooLow, InputError
from synthguard.watermark import audio_dsp as dsp
from synthguard.watermark.payload import CODED_BITS, keyed_rng

FloatArray = npt.NDArray[np.float64]

PERIOD_SLOTS = 90  # 2.88 s: any 3 s excerpt holds one full period


SYNC_GROUP = 8


SYNC_GROUPS = 100


MIN_SECONDS = 2.0


MIN_RATE = 8000


@dataclass(frozen=True)
class Layout:
    ids: npt.NDArray[np.int64]  # (K, bands): chip index < CODED_BITS, or CODED_BITS + sync group
    sign: FloatArray  # (K, bands) keyed +-1 spreading sign
    sync: FloatArray  # (K, bands) sign on sync cells, 0 elsewhere
    sync_f: npt.NDArray[np.complex128]  # rfft of sync over the period axis
    sync_abs_f: npt.NDArray[np.complex128]
    half: npt.NDArray[np.bool_]  # (K, bands) keyed split of the cells, for the soft chips' SNR estimate


def keyed_layout(key: bytes, purpose: str, n_sync: int) -> Layout:
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
    return Layout(ids2, sign2, sync, np.fft.rfft(sync, axis=0), np.fft.rfft(np.abs(sync), axis=0), half)


@lru_cache(maxsize=16)
def low_layout(key: bytes) -> Layout:
    """The low band's cells: sync groups and coded chips."""
    return keyed_layout(key, "audio/layout/v1", SYNC_GROUP * SYNC_GROUPS)


@lru_cache(maxsize=16)
def upper_layout(key: bytes) -> Layout:
    """The upper band's cells: its own sync groups and the coded chips again."""
    return keyed_layout(key, "audio/upper-layout/v1", SYNC_GROUP * SYNC_GROUPS)


@lru_cache(maxsize=16)
def presence_layouts(key: bytes) -> tuple[Layout, Layout]:
    """Both bands' cells for the presence-only mark: every cell is a sync cell."""
    cells = PERIOD_SLOTS * dsp.N_BANDS
    return keyed_layout(key, "audio/presence/v1", cells), keyed_layout(key, "audio/presence-upper/v1", cells)


def as_frames(samples: npt.ArrayLike, sample_rate: int) -> FloatArray:
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


def host_cells(mono16: FloatArray) -> FloatArray:
    """Cell energies at the embedder's own alignment (slot k = embedding frames 2k, 2k+1)."""
    shifted = np.concatenate([np.zeros(2 * dsp.FINE_HOP), mono16])
    energy = dsp.fine_power(shifted) @ band_weights(1.0)
    return dsp.slot_energies(dsp.cumulative(energy), 0.0, float(dsp.FINE_PER_SLOT))


@lru_cache(maxsize=128)
def band_weights(freq_scale: float, first_bin: int = dsp.FIRST_BIN) -> FloatArray:
    return dsp.band_matrix(freq_scale, first_bin)


@lru_cache(maxsize=128)
def band_rows(freq_scale: float, first_bin: int = dsp.FIRST_BIN) -> tuple[int, int, FloatArray]:
    """The bins [lo, hi) that band_weights actually uses, and its rows for them (the rest are zero)."""
    matrix = band_weights(freq_scale, first_bin)
    used = np.flatnonzero(matrix.any(axis=1))
    lo, hi = int(used[0]), int(used[-1]) + 1
    return lo, hi, np.ascontiguousarray(matrix[lo:hi])


def whole_periods(cells: FloatArray) -> FloatArray:
    """cells padded with zero rows to whole periods (cells itself when no row is missing; do not modify it)."""
    pad = (-cells.shape[0]) % PERIOD_SLOTS
    if pad == 0:
        return cells
    out = np.zeros((cells.shape[0] + pad, cells.shape[1]))
    out[: cells.shape[0]] = cells
    return out
