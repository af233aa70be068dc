"""Synchronisation for the tiled image mark: whitening, lattice estimation, folding, pilot search.

The mark repeats with period TILE, so the whitened image's autocorrelation has peaks on a lattice
whose basis vectors are the tile's edges after whatever scaling, rotation or shearing the image went
through. Detection maps the image back onto tile coordinates with that lattice, folds it into one
tile (summing every repetition) and finds the remaining translation and dihedral transform (flips,
quarter turns) by correlating against the keyed pilot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
from scipy import fft as sfft
from scipy import ndimage

from synthguard.watermark import image_filters as filters
from synthguard.watermark.image_pattern import BAND_HI, BAND_LO, TILE, Pattern

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

SYNC_WINDOW = 768  # side of the centre window used for the autocorrelation (pixels of the input)
CANVAS_MAX = 1024  # side of the largest canonical canvas folded (tile pixels)
MEDIAN_SIDE = 5  # host estimate window at scale 1 (pixels)
NORM_SIGMA = 3.0  # contrast-normalisation window at scale 1 (the box has this Gaussian's variance)
MIN_SCALE, MAX_SCALE = 0.42, 2.2
MAX_LATTICE_CANDIDATES = 6
_POOL = 40  # lattices built from autocorrelation peaks before the band check picks the candidates
_HALF_DIAGONAL_SHARE = 0.4  # half-diagonal peaks this strong (relative) mean the finer lattice is the real one


@dataclass(frozen=True)
class Lattice:
    """Image-pixel displacements (row, col) of one tile step along tile rows (a) and tile columns (b)."""

    a: tuple[float, float]
    b: tuple[float, float]

    @property
    def scale(self) -> float:
        """Mean tile side in image pixels over TILE."""
        return float((np.hypot(*self.a) + np.hypot(*self.b)) / (2 * TILE))

    @property
    def rotation_deg(self) -> float:
        """Rotation of the tile's column axis, degrees counter-clockwise as displayed."""
        return float(np.degrees(np.arctan2(-self.b[0], self.b[1])))

    def is_identity(self, tol: float = 0.02) -> bool:
        """True when the lattice is the unscaled, unrotated tile grid (within tol pixels per pixel)."""
        ident = np.array([[TILE, 0.0], [0.0, TILE]])
        return bool(np.max(np.abs(np.array([self.a, self.b]) - ident)) <= tol * TILE)


IDENTITY = Lattice((float(TILE), 0.0), (0.0, float(TILE)))


def whiten(y: F32, scale: float = 1.0) -> F32:
    """Subtract an edge-preserving estimate of the host and contrast-normalise; clips outliers.

    The host estimate is a median over MEDIAN_SIDE x MEDIAN_SIDE pixels (widened with the lattice scale):
    it keeps the steps of text, borders and cartoon outlines, so they leave little in the residual,
    while the fine-grained mark is removed from the estimate and stays in the residual. A linear
    high-pass would leave every edge's ringing there and drown the mark nearby.
    """
    y = np.asarray(y, dtype=np.float32)
    side = max(3, round(MEDIAN_SIDE * scale) | 1)
    # OpenCV's median needs 8 bits for windows above 5; the residual keeps y's own precision.
    grey = np.clip(np.rint(y), 0, 255).astype(np.uint8)
    high = y - cv2.medianBlur(grey, side).astype(np.float32)
    return _normalise(high, NORM_SIGMA * scale)


def whiten_linear(y: F32, scale: float = 1.0) -> F32:
    """The linear variant of whiten: a Gaussian high-pass (sigma 3) instead of the median's residual.

    It leaves edges' ringing in the residual much as a codec leaves noise in flat areas, so the mark's
    strength by this measure predicts what survives compression; the embedder's self-check uses it.
    """
    y = np.asarray(y, dtype=np.float32)
    high = y - filters.gaussian(y, 3.0 * scale, truncate=3.0)
    return _normalise(high, 6.0 * scale)


def _normalise(high: F32, sigma: float) -> F32:
    """Divide by the local RMS (a box with a sigma Gaussian's variance: far cheaper) and clip to +-3."""
    size = max(3, round(sigma * 12**0.5) | 1)
    energy = filters.box_of_squares(high, size)
    out = high / np.sqrt(energy + np.float32(4.0))
    res: F32 = np.clip(out, -3.0, 3.0, out=out)
    return res


def _centre(arr: F32, side: int) -> F32:
    h, w = arr.shape
    top, left = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return arr[top : top + side, left : left + side]


def _refine_peak(acf: F64, r: int, c: int) -> tuple[float, float]:
    """Sub-pixel peak position by a separable parabola fit."""
    h, w = acf.shape

    def offset(m1: float, m0: float, p1: float) -> float:
        den = m1 - 2 * m0 + p1
        return 0.0 if den >= 0 else float(np.clip(0.5 * (m1 - p1) / den, -0.5, 0.5))

    if 0 < r < h - 1 and 0 < c < w - 1:
        return r + offset(acf[r - 1, c], acf[r, c], acf[r + 1, c]), c + offset(acf[r, c - 1], acf[r, c], acf[r, c + 1])
    return float(r), float(c)


def _local_peak(acf: F64, centre: tuple[int, int], pos: tuple[float, float], radius: int) -> tuple[float, float]:
    r0, c0 = round(pos[0]) + centre[0], round(pos[1]) + centre[1]
    h, w = acf.shape
    rs, re = max(1, r0 - radius), min(h - 1, r0 + radius + 1)
    cs, ce = max(1, c0 - radius), min(w - 1, c0 + radius + 1)
    if rs >= re or cs >= ce:
        return pos
    patch = acf[rs:re, cs:ce]
    pr, pc = np.unravel_index(int(np.argmax(patch)), patch.shape)
    rr, cc = _refine_peak(acf, rs + int(pr), cs + int(pc))
    return rr - centre[0], cc - centre[1]


def _refine_vector(acf: F64, centre: tuple[int, int], vec: tuple[float, float], limit: float) -> tuple[float, float]:
    """Average the vector over its multiples inside the window, weighting far (precise) ones more."""
    est = np.array(_local_peak(acf, centre, vec, 2))
    num, den = est.copy(), 1.0
    m = 2
    while m * np.hypot(*est) <= limit:
        found = np.array(_local_peak(acf, centre, (est[0] * m, est[1] * m), 2))
        num += found  # found / m weighted by m
        den += m
        est = num / den
        m += 1
    return float(est[0]), float(est[1])


def estimate_lattices(white: F32) -> list[Lattice]:
    """Candidate tile lattices from the autocorrelation of the whitened image, best first."""
    win = _centre(white, SYNC_WINDOW)
    h, w = win.shape
    max_lag = int(MAX_SCALE * TILE * 1.5)
    fft_shape = (sfft.next_fast_len(h + max_lag, real=True), sfft.next_fast_len(w + max_lag, real=True))
    shape = fft_shape
    spec = sfft.rfft2(win - win.mean(), shape, workers=1)
    power = np.abs(spec) ** 2
    # Spectral whitening: the image's smooth spectrum flattens out, the mark's line spectrum stays.
    power /= ndimage.uniform_filter(power, 9) + 1e-12
    acf = sfft.irfft2(power, shape, workers=1)
    acf = np.fft.fftshift(acf)
    reach = int(MAX_SCALE * TILE * 1.5) + 8  # multiples used by the refinement stay inside this box
    cr, cc = shape[0] // 2, shape[1] // 2
    acf = acf[max(0, cr - reach) : cr + reach, max(0, cc - reach) : cc + reach]
    shape = acf.shape
    centre = (cr - max(0, cr - reach), cc - max(0, cc - reach))
    rows = np.arange(shape[0])[:, None] - centre[0]
    cols = np.arange(shape[1])[None, :] - centre[1]
    radius = np.hypot(rows, cols)
    usable = (radius >= MIN_SCALE * TILE) & (radius <= MAX_SCALE * TILE * 1.05)
    # Only lags where the window overlaps itself by at least half make reliable peaks.
    usable &= (np.abs(rows) <= h // 2) & (np.abs(cols) <= w // 2)
    # Half-plane: the autocorrelation is symmetric.
    usable &= (cols > 0) | ((cols == 0) & (rows > 0))
    # Local maxima only where usable (plus the filter's margin): the full box costs several times more.
    r_lo, r_hi = max(0, centre[0] - h // 2 - 2), min(shape[0], centre[0] + h // 2 + 3)
    c_lo, c_hi = max(0, centre[1] - 2), min(shape[1], centre[1] + w // 2 + 3)
    box = acf[r_lo:r_hi, c_lo:c_hi]
    local_max = np.zeros(shape, dtype=bool)
    local_max[r_lo:r_hi, c_lo:c_hi] = box == ndimage.maximum_filter(box, size=5)
    cand = np.nonzero(usable & local_max)
    if cand[0].size == 0:
        return []
    values = acf[cand]
    noise = float(np.std(acf[usable])) + 1e-12
    order = np.argsort(values)[::-1][:80]
    limit = 0.5 * min(h, w)

    def at(r: float, c: float) -> float:
        rr, cc = round(r) + centre[0], round(c) + centre[1]
        if not (0 < rr < shape[0] - 1 and 0 < cc < shape[1] - 1):
            return 0.0
        return float(acf[rr - 1 : rr + 2, cc - 1 : cc + 2].max())

    # Score each peak by how well the lattice it implies is populated (p, its quarter turn, their sums).
    scored = []
    for i in order:
        if values[i] < 3.0 * noise:
            break
        r, c = float(cand[0][i] - centre[0]), float(cand[1][i] - centre[1])
        # min(): a straight edge gives a strong peak along one direction only, a lattice along both.
        score = min(values[i], at(c, -r)) + min(at(r + c, c - r), at(r - c, c + r))
        scored.append((score, i))
    scored.sort(reverse=True)

    def build(vec: tuple[float, float]) -> Lattice:
        angle = np.degrees(np.arctan2(-vec[0], vec[1]))  # counter-clockwise from +column
        # Bring the vector to the column axis (angle in (-45, 45]), the other basis is a quarter turn.
        for _ in range(int(np.floor((angle + 45.0) / 90.0)) % 4):
            vec = (vec[1], -vec[0])  # rotate clockwise by 90 degrees in (row, col) display terms
        b = _refine_vector(acf, centre, vec, limit)
        a = _refine_vector(acf, centre, (b[1], -b[0]), limit)  # tile-row step: a quarter turn of b
        return Lattice(a=a, b=b)

    out: list[Lattice] = []
    bases = np.empty((0, 4))
    for _, i in scored:
        lat = build((float(cand[0][i] - centre[0]), float(cand[1][i] - centre[1])))
        # A peak on the diagonal of the true lattice builds a coarser lattice rotated by 45 degrees; when
        # both half-diagonals are peaks too, the finer lattice may be the real one. Both are tried: the
        # finer one first when its peaks are about as strong as this one (weaker ones are often the
        # content's own periods).
        half_p = ((lat.a[0] + lat.b[0]) / 2, (lat.a[1] + lat.b[1]) / 2)
        half_m = ((lat.b[0] - lat.a[0]) / 2, (lat.b[1] - lat.a[1]) / 2)
        options = [lat]
        half = min(at(*half_p), at(*half_m))
        if half >= 3.0 * noise and np.hypot(*half_m) >= MIN_SCALE * TILE:
            finer = build(half_m)
            options = [finer, lat] if half >= _HALF_DIAGONAL_SHARE * float(values[i]) else [lat, finer]
        for option in options:
            if not MIN_SCALE <= option.scale <= MAX_SCALE:
                continue
            if abs(np.hypot(*option.a) / max(np.hypot(*option.b), 1e-9) - 1) > 0.35:
                continue
            flat = np.array([*option.a, *option.b])
            if np.any(np.max(np.abs(bases - flat), axis=1) < 0.03 * TILE):
                continue
            out.append(option)
            bases = np.vstack([bases, flat])
        if len(out) >= _POOL:
            break
    # Periodic content makes autocorrelation peaks of its own, often stronger than the mark's. The mark
    # alone fills every point of its reciprocal grid inside the band: rank by the median there (stable
    # sort, so ties keep the autocorrelation's order).
    fill = _band_fill(power, fft_shape, out)
    ranked = sorted(range(len(out)), key=lambda j: -fill[j])
    return [out[j] for j in ranked[:MAX_LATTICE_CANDIDATES]]


def _band_fill(power: F64, shape: tuple[int, int], lattices: list[Lattice]) -> F64:
    """Median whitened power (3x3 maximum) of an rfft2 over each lattice's reciprocal grid in the mark's band."""
    if not lattices:
        return np.zeros(0)
    basis = np.array([[lat.a, lat.b] for lat in lattices], dtype=np.float64).transpose(0, 2, 1)
    freq = np.linalg.inv(basis).transpose(0, 2, 1) @ _BAND_UV  # (lattice, row/col, point), cycles per px
    sign = np.where(freq[:, 1] < 0, -1.0, 1.0)  # the other half-plane by Hermitian symmetry
    br = np.rint(freq[:, 0] * sign * shape[0]).astype(np.int64)
    bc = np.rint(freq[:, 1] * sign * shape[1]).astype(np.int64)
    ok = (bc + 1 < power.shape[1]) & (np.abs(freq[:, 0]) < 0.5)
    bc = np.where(ok, bc, 0)
    best = np.zeros(br.shape)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            np.maximum(best, power[(br + dr) % shape[0], np.abs(bc + dc)], out=best)
    best[~ok] = np.nan
    out: F64 = np.nan_to_num(np.nanmedian(best, axis=1), nan=0.0)
    return out


def _band_uv() -> F64:
    k = np.arange(-int(BAND_HI), int(BAND_HI) + 1, dtype=np.float64)
    u, v = np.meshgrid(k, k, indexing="ij")
    rad = np.hypot(u, v)
    keep = (rad >= BAND_LO) & (rad <= BAND_HI) & ((v > 0) | ((v == 0) & (u > 0)))
    uv: F64 = np.stack([u[keep], v[keep]])
    return uv


_BAND_UV = _band_uv()  # half-plane (u, v) cycles per tile of the mark's band


def canonical_canvas(y: F32, lattice: Lattice) -> tuple[F32, npt.NDArray[np.bool_]]:
    """Resample luma onto tile coordinates (centre of the image at the canvas centre) and a validity mask."""
    h, w = y.shape
    if lattice.is_identity(tol=0.002):
        crop = _centre(y, CANVAS_MAX)
        return crop, np.ones(crop.shape, dtype=bool)
    basis = np.array([lattice.a, lattice.b]).T / TILE  # image (row, col) per tile (row, col)
    inv = np.linalg.inv(basis)
    corners = np.array([[0, 0], [0, w], [h, 0], [h, w]], dtype=np.float64) - [h / 2, w / 2]
    extent = np.abs(corners @ inv.T).max(axis=0) * 2
    side_r = int(min(CANVAS_MAX, extent[0]))
    side_c = int(min(CANVAS_MAX, extent[1]))
    tr = np.arange(side_r, dtype=np.float64) - side_r / 2
    tc = np.arange(side_c, dtype=np.float64) - side_c / 2
    grid_r, grid_c = np.meshgrid(tr, tc, indexing="ij")
    img_r = basis[0, 0] * grid_r + basis[0, 1] * grid_c + h / 2
    img_c = basis[1, 0] * grid_r + basis[1, 1] * grid_c + w / 2
    valid = (img_r >= 0) & (img_r <= h - 1) & (img_c >= 0) & (img_c <= w - 1)
    fill = float(y.mean())
    canvas = ndimage.map_coordinates(y, [img_r, img_c], order=1, mode="constant", cval=fill, prefilter=False)
    return canvas.astype(np.float32, copy=False), valid


def fold(white: F32, valid: npt.NDArray[np.bool_]) -> F64:
    """Average every tile-sized block of the canvas into one TILE x TILE tile (valid pixels only)."""
    h, w = white.shape
    ph, pw = -h % TILE, -w % TILE
    data = np.pad(np.where(valid, white, 0.0), ((0, ph), (0, pw)))
    count = np.pad(valid.astype(np.float64), ((0, ph), (0, pw)))
    rows, cols = data.shape[0] // TILE, data.shape[1] // TILE
    total = data.reshape(rows, TILE, cols, TILE).sum(axis=(0, 2))
    n = count.reshape(rows, TILE, cols, TILE).sum(axis=(0, 2))
    out: F64 = np.where(n > 0, total / np.maximum(n, 1.0), 0.0)
    return out


def _fold_blocks(white: F32, o_r: int, o_c: int) -> F64:
    """fold_lattice for the identity lattice: sum the image's TILE x TILE blocks, then shift by the origin."""
    h, w = white.shape
    data = np.pad(white, ((0, -h % TILE), (0, -w % TILE)))
    rows, cols = data.shape[0] // TILE, data.shape[1] // TILE
    total = data.reshape(rows, TILE, cols, TILE).sum(axis=(0, 2), dtype=np.float64)
    # Blocks covering each tile cell: (full block rows + 1 where the last partial one reaches it) x (same for columns).
    n = np.outer(h // TILE + (np.arange(TILE) < h % TILE), w // TILE + (np.arange(TILE) < w % TILE)).astype(np.float64)
    out: F64 = np.where(n > 0, total / np.maximum(n, 1.0), 0.0)
    return np.roll(out, (-o_r, -o_c), axis=(0, 1))


def fold_lattice(white: F32, lattice: Lattice, origin: tuple[float, float] | None = None) -> F64:
    """Fold a whitened image straight onto the tile under a lattice (pixels splatted to tile cells).

    origin is the array position (row, col) of tile coordinate 0; the array's centre by default.
    """
    h, w = white.shape
    o_r, o_c = (h // 2, w // 2) if origin is None else origin
    if lattice == IDENTITY and float(o_r).is_integer() and float(o_c).is_integer():
        return _fold_blocks(white, int(o_r), int(o_c))
    inv = np.linalg.inv(np.array([lattice.a, lattice.b], dtype=np.float64).T / TILE)  # tile (r, c) per image px
    size = TILE * TILE
    total: F64
    n: F64
    if lattice.scale >= 0.8:  # at least ~one pixel per tile cell: nearest cell is enough
        # Fixed point (16 fractional bits): integer adds and shifts instead of float rounding.
        one = 1 << 16
        ri = np.arange(h, dtype=np.float64) - o_r
        ci = np.arange(w, dtype=np.float64) - o_c
        fr_row, fr_col = np.rint(inv[0, 0] * one * ri).astype(np.int32), np.rint(inv[0, 1] * one * ci).astype(np.int32)
        fc_row, fc_col = np.rint(inv[1, 0] * one * ri).astype(np.int32), np.rint(inv[1, 1] * one * ci).astype(np.int32)
        half = np.int32(one // 2)
        cell_r = ((fr_row[:, None] + (fr_col + half)[None, :]) >> 16) & (TILE - 1)
        cell_c = ((fc_row[:, None] + (fc_col + half)[None, :]) >> 16) & (TILE - 1)
        cell = (cell_r * TILE + cell_c).reshape(-1)
        values = white.reshape(-1).astype(np.float64)
        total = np.bincount(cell, weights=values, minlength=size).astype(np.float64)
        n = np.bincount(cell, minlength=size).astype(np.float64)
    else:  # downscaled: bilinear splat so that every cell is reached
        r = np.arange(h, dtype=np.float32) - np.float32(o_r)
        c = np.arange(w, dtype=np.float32) - np.float32(o_c)
        tr = np.float32(inv[0, 0]) * r[:, None] + np.float32(inv[0, 1]) * c[None, :]
        tc = np.float32(inv[1, 0]) * r[:, None] + np.float32(inv[1, 1]) * c[None, :]
        r0, c0 = np.floor(tr), np.floor(tc)
        fr, fc = (tr - r0).reshape(-1), (tc - c0).reshape(-1)
        cell = ((r0.astype(np.int32) & (TILE - 1)) * TILE + (c0.astype(np.int32) & (TILE - 1))).reshape(-1)
        v32 = white.reshape(-1).astype(np.float32, copy=False)
        total, n = np.zeros((TILE, TILE)), np.zeros((TILE, TILE))
        # Splat every corner share onto the base cell and move it to its neighbour afterwards (a roll of
        # the whole tile): one cell index instead of four.
        for dr, dc, wgt in ((0, 0, (1 - fr) * (1 - fc)), (0, 1, (1 - fr) * fc), (1, 0, fr * (1 - fc)), (1, 1, fr * fc)):
            part = np.bincount(cell, weights=v32 * wgt, minlength=size).reshape(TILE, TILE)
            total += np.roll(part, (dr, dc), axis=(0, 1))
            n += np.roll(np.bincount(cell, weights=wgt, minlength=size).reshape(TILE, TILE), (dr, dc), axis=(0, 1))
        total, n = total.reshape(-1), n.reshape(-1)
    out: F64 = np.where(n > 0, total / np.maximum(n, 1e-9), 0.0).reshape(TILE, TILE)
    return out


@dataclass(frozen=True)
class PilotHit:
    """The best pilot alignment of a folded tile: z statistic, dihedral transform, circular shift."""

    z: float
    transform: int
    shift: tuple[int, int]
    whitened: npt.NDArray[np.complex128]  # flat, aligned, whitened spectrum for the message read


def dihedral(tile: F64, k: int) -> F64:
    """One of the 8 symmetries of the square: k quarter turns, mirrored when k >= 4."""
    out = np.rot90(tile, k % 4)
    return out[:, ::-1] if k >= 4 else out


def _phase_only(spec: npt.NDArray[np.complex128]) -> npt.NDArray[np.complex128]:
    mag = np.abs(spec)
    out: npt.NDArray[np.complex128] = spec / (mag + 1e-9 * (mag.max() + 1e-30))
    return out


def search_pilot(tile: F64, pat: Pattern, transforms: range = range(8)) -> PilotHit:
    """Correlate the folded tile against the pilot under every dihedral transform and shift."""
    sd = np.sqrt(pat.pilot_full_count)
    # Real tiles: half spectra (rfft) give the same correlation at half the cost.
    pilot_half = np.conj(pat.pilot_spectrum[:, : TILE // 2 + 1])
    best_z, best_k, best_flat = -math.inf, 0, 0
    for k in transforms:
        white = _phase_only(np.fft.rfft2(dihedral(tile, k)))
        corr = np.fft.irfft2(white * pilot_half, s=(TILE, TILE))
        flat = int(np.argmax(corr))
        z = float(corr.flat[flat]) * TILE * TILE / sd
        if z > best_z:
            best_z, best_k, best_flat = z, k, flat
    sr, sc = divmod(best_flat, TILE)
    fr = np.fft.fftfreq(TILE, 1.0 / TILE)
    ramp = np.outer(np.exp(2j * np.pi * fr * sr / TILE), np.exp(2j * np.pi * fr * sc / TILE))
    white = _phase_only(np.fft.fft2(dihedral(tile, best_k)))
    return PilotHit(z=best_z, transform=best_k, shift=(sr, sc), whitened=(white * ramp).reshape(-1))
