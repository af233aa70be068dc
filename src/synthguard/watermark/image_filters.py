"""Separable smoothing filters for float32 images, faster than scipy.ndimage's along the row axis.

scipy.ndimage filters the strided axis 0 line by line, which is several times slower than axis 1 on
large images. Here axis 1 goes through scipy and axis 0 is a weighted sum of shifted row blocks, with
the same 'reflect' border (edge sample repeated), so the results match scipy's to float rounding.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import ndimage

F32 = npt.NDArray[np.float32]


def _rows(x: F32, weights: npt.NDArray[np.float64]) -> F32:
    """Correlate along axis 0 with an odd-length symmetric kernel, reflecting at the borders."""
    r = weights.size // 2
    h = x.shape[0]
    if r >= h:  # tiny images: scipy handles deep reflection
        out: F32 = ndimage.correlate1d(x, weights.astype(np.float32), axis=0, mode="reflect")
        return out
    pad = np.pad(x, ((r, r), (0, 0)), mode="symmetric")
    # The kernels are symmetric: add each mirrored pair of rows first, then weight it (half the multiplies).
    acc = pad[r : r + h] * np.float32(weights[r])
    pair = np.empty_like(acc)
    for i in range(r):
        np.add(pad[i : i + h], pad[2 * r - i : 2 * r - i + h], out=pair)
        pair *= np.float32(weights[i])
        acc += pair
    res: F32 = acc.astype(np.float32, copy=False)
    return res


def box(x: F32, size: int) -> F32:
    """Mean over a size x size box (size odd), like ndimage.uniform_filter with mode 'reflect'."""
    x = np.asarray(x, dtype=np.float32)
    across = ndimage.uniform_filter1d(x, size, axis=1, mode="reflect")
    return _rows(across, np.full(size, 1.0 / size))


def gaussian(x: F32, sigma: float, truncate: float = 3.0) -> F32:
    """Gaussian smoothing, like ndimage.gaussian_filter with mode 'reflect'."""
    x = np.asarray(x, dtype=np.float32)
    across = ndimage.gaussian_filter1d(x, sigma, axis=1, truncate=truncate, mode="reflect")
    return _rows(across, _kernel(sigma, truncate))


def _kernel(sigma: float, truncate: float) -> npt.NDArray[np.float64]:
    radius = int(truncate * sigma + 0.5)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    normalised: npt.NDArray[np.float64] = kernel / kernel.sum()
    return normalised


def gaussian_sampled(x: F32, sigma: float, truncate: float, step: int) -> F32:
    """gaussian(x, sigma, truncate)[::step, ::step], computed only at those samples."""
    x = np.asarray(x, dtype=np.float32)
    kernel = _kernel(sigma, truncate)
    r = kernel.size // 2
    h, w = x.shape
    if step == 1 or r >= min(h, w):
        return gaussian(x, sigma, truncate)[::step, ::step]
    rows = np.pad(x, ((r, r), (0, 0)), mode="symmetric")
    acc = rows[r : r + h : step] * np.float32(kernel[r])
    for i in range(r):
        acc += (rows[i : i + h : step] + rows[2 * r - i : 2 * r - i + h : step]) * np.float32(kernel[i])
    cols = np.pad(acc, ((0, 0), (r, r)), mode="symmetric")
    out = cols[:, r : r + w : step] * np.float32(kernel[r])
    for i in range(r):
        out += (cols[:, i : i + w : step] + cols[:, 2 * r - i : 2 * r - i + w : step]) * np.float32(kernel[i])
    res: F32 = out.astype(np.float32, copy=False)
    return res
