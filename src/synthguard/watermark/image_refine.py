"""Lattice refinement from the drift of the pilot's position across the image.

If the lattice is slightly wrong (scale, rotation, aspect, shear), the tile coordinates assigned to the
pixels drift linearly with position. Folding the two halves of the image separately and locating the
pilot in each (sub-pixel) measures that drift along columns (left/right) and rows (top/bottom); the
linear map that cancels it gives the corrected lattice.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from synthguard.watermark.image_pattern import TILE, Pattern
from synthguard.watermark.image_sync import Lattice, fold_lattice

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


def _inverse_dihedral(tile: F64, k: int) -> F64:
    """Undo image_sync.dihedral(tile, k)."""
    out = tile[:, ::-1] if k >= 4 else tile
    return np.rot90(out, -(k % 4))


def _pilot_tile(pat: Pattern, k: int) -> npt.NDArray[np.complex128]:
    """Spectrum of the pilot as it appears in an untransformed fold whose dihedral transform k matches it."""
    spatial = np.fft.ifft2(pat.pilot_spectrum).real
    return np.fft.fft2(_inverse_dihedral(spatial, k))


def locate(tile: F64, pilot: npt.NDArray[np.complex128]) -> tuple[float, float, float]:
    """Sub-pixel circular shift (row, col) of the pilot in a folded tile, and the peak height."""
    spec = np.fft.fft2(tile)
    white = spec / (np.abs(spec) + 1e-9)
    corr = np.fft.ifft2(white * np.conj(pilot)).real
    r, c = np.unravel_index(int(np.argmax(corr)), corr.shape)

    def offset(m1: float, m0: float, p1: float) -> float:
        den = m1 - 2 * m0 + p1
        return 0.0 if den >= 0 else float(np.clip(0.5 * (m1 - p1) / den, -0.5, 0.5))

    dr = offset(corr[(r - 1) % TILE, c], corr[r, c], corr[(r + 1) % TILE, c])
    dc = offset(corr[r, (c - 1) % TILE], corr[r, c], corr[r, (c + 1) % TILE])
    return r + dr, c + dc, float(corr[r, c])


def _wrap(d: F64) -> F64:
    out: F64 = (d + TILE / 2) % TILE - TILE / 2
    return out


def refine_lattice(white: F32, lattice: Lattice, pat: Pattern, transform: int) -> Lattice:
    """The lattice corrected for the linear drift of the pilot between image halves."""
    h, w = white.shape
    pilot = _pilot_tile(pat, transform)
    o_r, o_c = h // 2, w // 2
    halves = {
        "left": (white[:, : w // 2], (o_r, o_c)),
        "right": (white[:, w // 2 :], (o_r, o_c - w // 2)),
        "top": (white[: h // 2], (o_r, o_c)),
        "bottom": (white[h // 2 :], (o_r - h // 2, o_c)),
    }
    pos = {name: np.array(locate(fold_lattice(arr, lattice, org), pilot)[:2]) for name, (arr, org) in halves.items()}
    # Drift of the pilot (tile px) per image px along columns and rows.
    d_col = _wrap(pos["right"] - pos["left"]) / (w / 2)
    d_row = _wrap(pos["bottom"] - pos["top"]) / (h / 2)
    inv = np.linalg.inv(np.array([lattice.a, lattice.b], dtype=np.float64).T / TILE)
    drift = np.stack([d_row, d_col], axis=1)  # tile (r, c) per image (row, col)
    basis = np.linalg.inv(inv - drift) * TILE
    return Lattice((float(basis[0, 0]), float(basis[1, 0])), (float(basis[0, 1]), float(basis[1, 1])))
