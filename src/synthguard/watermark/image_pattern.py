"""The keyed tile: a pilot and a payload-modulated message, both as unit-magnitude Fourier coefficients.

The tile is TILE x TILE pixels and periodic, so repeating it across an image is seamless. Its spectrum
lives in the annulus BAND_LO..BAND_HI cycles per tile (about 0.05-0.2 cycles per pixel: low enough to
survive JPEG, blur and half-size resizing, high enough to stay out of the image's strongest content).
A keyed shuffle of the annulus's half-plane gives PILOT_FRACTION of the coefficients to the pilot (a
fixed keyed pattern used for synchronisation and the presence test) and the rest round-robin to the
CODED_BITS chips of the payload; every coefficient has a keyed phase.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from synthguard.watermark.payload import CODED_BITS, Payload, encode, keyed_rng

TILE = 128
BAND_LO = 6.0
BAND_HI = 26.0
PILOT_FRACTION = 0.34

F32 = npt.NDArray[np.float32]
C128 = npt.NDArray[np.complex128]
IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True)
class Pattern:
    """Keyed layout of one tile's spectrum (indices are flat positions in a TILE x TILE FFT)."""

    pilot_idx: IntArray  # half-plane pilot coefficients
    pilot_conj_idx: IntArray  # their conjugate partners
    pilot_phase: C128  # unit phasors for the half-plane pilot coefficients
    msg_idx: IntArray
    msg_conj_idx: IntArray
    msg_phase: C128
    msg_chip: IntArray  # which chip each message coefficient carries
    pilot_spectrum: C128  # full Hermitian spectrum of the pilot alone (TILE x TILE)

    @property
    def pilot_full_count(self) -> int:
        """Number of pilot coefficients in the full (two-sided) spectrum."""
        return 2 * int(self.pilot_idx.size)


def _half_plane_band() -> tuple[IntArray, IntArray]:
    freqs = np.fft.fftfreq(TILE, 1.0 / TILE)
    fy, fx = np.meshgrid(freqs, freqs, indexing="ij")
    radius = np.hypot(fy, fx)
    in_band = (radius >= BAND_LO) & (radius <= BAND_HI)
    half = (fy > 0) | ((fy == 0) & (fx > 0))
    rows, cols = np.nonzero(in_band & half)
    conj_rows, conj_cols = (-rows) % TILE, (-cols) % TILE
    return rows * TILE + cols, conj_rows * TILE + conj_cols


@lru_cache(maxsize=16)
def pattern_for(key: bytes) -> Pattern:
    """The keyed spectral layout for a key (cached)."""
    idx, conj_idx = _half_plane_band()
    rng = keyed_rng(key, "image/tile-layout")
    order = rng.permutation(idx.size)
    idx, conj_idx = idx[order], conj_idx[order]
    phases = np.exp(2j * np.pi * rng.random(idx.size))
    n_pilot = round(PILOT_FRACTION * idx.size)
    spectrum = np.zeros(TILE * TILE, dtype=np.complex128)
    spectrum[idx[:n_pilot]] = phases[:n_pilot]
    spectrum[conj_idx[:n_pilot]] = np.conj(phases[:n_pilot])
    n_msg = idx.size - n_pilot
    return Pattern(
        pilot_idx=idx[:n_pilot],
        pilot_conj_idx=conj_idx[:n_pilot],
        pilot_phase=phases[:n_pilot],
        msg_idx=idx[n_pilot:],
        msg_conj_idx=conj_idx[n_pilot:],
        msg_phase=phases[n_pilot:],
        msg_chip=np.arange(n_msg) % CODED_BITS,
        pilot_spectrum=spectrum.reshape(TILE, TILE),
    )


@lru_cache(maxsize=64)
def tile_for(key: bytes, payload: Payload) -> F32:
    """The unit-RMS spatial tile carrying the pilot and the payload's chips."""
    pat = pattern_for(key)
    chips = encode(payload, key).astype(np.float64)
    spectrum = pat.pilot_spectrum.reshape(-1).copy()
    values = pat.msg_phase * chips[pat.msg_chip]
    spectrum[pat.msg_idx] = values
    spectrum[pat.msg_conj_idx] = np.conj(values)
    tile = np.fft.ifft2(spectrum.reshape(TILE, TILE)).real
    tile /= np.sqrt(np.mean(tile**2))
    out: F32 = tile.astype(np.float32)
    out.setflags(write=False)
    return out


def chip_soft_values(whitened: C128, pat: Pattern) -> npt.NDArray[np.float64]:
    """Per-chip soft values from an aligned, whitened tile spectrum (flat TILE*TILE array)."""
    contrib = np.real(whitened[pat.msg_idx] * np.conj(pat.msg_phase))
    soft: npt.NDArray[np.float64] = np.bincount(pat.msg_chip, weights=contrib, minlength=CODED_BITS).astype(np.float64)
    return soft


def _radii(flat_idx: IntArray) -> npt.NDArray[np.float64]:
    freqs = np.fft.fftfreq(TILE, 1.0 / TILE)
    rows, cols = np.divmod(flat_idx, TILE)
    out: npt.NDArray[np.float64] = np.hypot(freqs[rows], freqs[cols])
    return out


def weighted_chip_soft_values(whitened: C128, pat: Pattern) -> npt.NDArray[np.float64]:
    """Per-chip soft values with each coefficient weighted by the signal the pilot shows at its frequency.

    Attacks (compression, blur, resizing) attenuate the mark unevenly across the band; the aligned pilot
    coefficients measure that attenuation as a function of radius (least-squares line), and weighting the
    message coefficients by it is the matched (maximum-ratio) combination.
    """
    pilot = np.real(whitened[pat.pilot_idx] * np.conj(pat.pilot_phase))
    r_pilot = _radii(pat.pilot_idx)
    design = np.stack([np.ones_like(r_pilot), r_pilot - (BAND_LO + BAND_HI) / 2], axis=1)
    coef, *_ = np.linalg.lstsq(design, pilot, rcond=None)
    r_msg = _radii(pat.msg_idx)
    level = coef[0] + coef[1] * (r_msg - (BAND_LO + BAND_HI) / 2)
    weight = np.clip(level, 0.05 * max(float(coef[0]), 1e-3), None)
    contrib = np.real(whitened[pat.msg_idx] * np.conj(pat.msg_phase)) * weight
    soft: npt.NDArray[np.float64] = np.bincount(pat.msg_chip, weights=contrib, minlength=CODED_BITS).astype(np.float64)
    return soft
