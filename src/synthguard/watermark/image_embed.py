"""Adding the keyed tile to an image's colour planes within its SSIM and PSNR budgets.

The amplitude of the mark follows an SSIM-style texture mask: per pixel K·sqrt(2σ² + C2), where σ² is
the local variance, so every pixel loses about the same local SSIM. A first pass with that rule is
measured (luma SSIM with the usual Gaussian window, RGB PSNR), which calibrates how much of each budget a
unit of mark costs on this image. The plan then caps the amplitude at edges when that buys more
detector-side energy (the detector divides by the local contrast, so energy at strong edges counts for
little while costing much PSNR), and scales the whole mark until the binding target is met; each later
pass is measured again and its gain corrected.

Costs that do not depend on the mark (the host's luma, local variance, mask amplitude, SSIM statistics)
are computed once per image, so a pass is a saturated integer add, the squared error over every pixel and
three Gaussian filters of the change, with the SSIM map sampled on a grid. Tall images measure SSIM on
bands of rows, each filtered with its window's context so that its rows of the map are exact. The plain
first pass only calibrates the plan: on any image tall enough for thin bands it is never made whole, and
its costs are measured on a third of the rows (squared error) and on those bands (SSIM).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from synthguard.watermark import image_filters as filters
from synthguard.watermark.image_flat import concentration
from synthguard.watermark.image_pattern import TILE

F32 = npt.NDArray[np.float32]

SSIM_K = 0.135  # local amplitude per sqrt(2*var + C2): keeps local SSIM near 1 / (1 + K^2)
MASK_WINDOW = 5  # side of the box over which the local variance is measured
SSIM_C1 = (0.01 * 255) ** 2
SSIM_C2 = (0.03 * 255) ** 2
RMS_CAP = 2.45  # global RMS of the change at strength 1 before the plan (PSNR ~ 40.3 dB after rounding)
SSIM_TARGET = 0.9815  # the plan brings the measured luma SSIM here at strength 1 ...
PSNR_TARGET = 40.25  # ... or the RGB PSNR here, whichever binds first
MAX_GAIN = 1.6
# Largest change of any pixel, grey levels x strength. The mask alone lets text edges move by up to ~60
# levels, which speckles letters visibly; on the benchmark the ceiling costs no robustness.
CEILING = 12.0
GAIN_ROUNDS = 3  # planned passes at most, each measured and its gain corrected
# Per-pixel noise floor (grey levels squared) of the detector-side benefit of the mark: the whitening's own
# floor (4) plus what compression leaves. With 4 alone, flat areas look cheapest, and codecs smooth them.
DETECT_FLOOR = 30.0
CAP_QUANTILES = (0.99, 0.97, 0.94, 0.9, 0.85, 0.8, 0.7, 0.6)
_FIX_LOW, _FIX_HIGH = 0.98, 1.05  # a pass this close to its binding target is kept (targets have margin)
STRIP = 1024  # rows per strip on large images (bounded memory)
# Above this many pixels the per-strip amplitude and concentration are kept in half precision (an 80 MP
# image: 160 MB each instead of 320); up to it (8K UHD is 33 MP) in float32, which spares the conversions.
HALF_PRECISION_PIXELS = 40_000_000
# Samples of the SSIM map measured per image: the map is smooth over its 1.5-pixel window, so a stride
# keeping this many estimates the mean to ~2e-4 (the SSIM target has 1.5e-3 of margin).
SSIM_SAMPLES = 40_000
PLAN_SAMPLES = 10_000  # variance samples the plan scores its caps on
# Images taller than 3 x their bands measure SSIM on evenly spaced bands of BAND_ROWS rows (about
# BAND_PIXELS, at least MIN_BANDS bands) instead of everywhere; the squared error is still taken everywhere.
BAND_PIXELS = 300_000
BAND_ROWS = 16
MIN_BANDS = 16
CALIBRATION_BANDS = 16  # the plain pass of a shorter image: up to this many bands of CALIBRATION_ROWS rows,
CALIBRATION_ROWS = 8  # covering at most a quarter of the image with their context (at least 4 bands)
_MSE_SHARE = 3  # the plain pass's squared error is measured on one row in this many, drawn at random
_CONTEXT_ROWS = 5  # radius of SSIM's Gaussian window: a band's SSIM map is exact with this many rows around
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def luma(planes: npt.NDArray[Any]) -> F32:
    """Luma (BT.601 weights) of an (h, w, 1 or 3) float array; the plane itself when grey."""
    if planes.shape[2] == 1:
        grey: F32 = planes[..., 0].astype(np.float32, copy=False)
        return grey
    out: F32 = planes[..., :3].astype(np.float32, copy=False) @ _LUMA
    return out


def local_variance(y: F32) -> F32:
    """Variance of the luma over a MASK_WINDOW box around each pixel."""
    mean = filters.box(y, MASK_WINDOW)
    var: F32 = np.maximum(filters.box_of_squares(y, MASK_WINDOW) - mean * mean, 0.0)
    return var


def masking_amplitude(var: F32, strength: float) -> F32:
    """Per-pixel mark amplitude from the local variance (SSIM-style masking)."""
    amp: F32 = ((SSIM_K * strength) * np.sqrt(2.0 * var + SSIM_C2)).astype(np.float32, copy=False)
    return amp


def add_saturated(source: npt.NDArray[np.uint8], step: npt.NDArray[np.int16]) -> npt.NDArray[np.uint8]:
    """source (h, w, channels) plus step (h, w) on every channel, saturated to 0-255 (one OpenCV call)."""
    channels = source.shape[2]
    spread = step if channels == 1 else cv2.merge([step] * channels)
    out = np.asarray(cv2.add(np.ascontiguousarray(source), spread, dtype=cv2.CV_8U), dtype=np.uint8)
    return out.reshape(source.shape)


def _gauss(v: F32, step: int) -> F32:
    """SSIM's Gaussian window (sigma 1.5), evaluated on every step-th row and column."""
    return filters.gaussian_sampled(v, 1.5, 3.5, step)


def ssim_step(pixels: int) -> int:
    """Sampling step of the SSIM map: every pixel on small images, a stride keeping ~SSIM_SAMPLES on large."""
    return max(1, min(4, math.isqrt(pixels // SSIM_SAMPLES)))


@dataclass
class _Probe:
    """Where the SSIM map is measured: the host's luma on some rows and its Gaussian moments, sampled.

    Either the whole image, or bands of rows stacked one above the other, each with the window's radius of
    context rows around it, so that the stacked maps' inner rows are exactly those rows of the whole map.
    """

    rows: slice | npt.NDArray[np.intp]  # image rows held (stacked)
    at: slice | npt.NDArray[np.intp]  # rows of the stacked maps where the SSIM map is sampled
    step: int  # ... and every step-th column
    y: F32  # host luma on rows
    mean: F32  # Gaussian mean of y, sampled
    second: F32  # Gaussian mean of y^2, sampled
    spread: F32  # Gaussian-window variance of y (SSIM's sigma_x^2), sampled
    # The mask makes a pixel's SSIM loss proportional to the tile's energy around it, which varies from tile
    # row to tile row: a band probe's loss is scaled by the image's mean of that energy over the bands'.
    weight: float = 1.0

    def sample(self, v: F32) -> F32:
        """SSIM's Gaussian window over a stacked map, at the sampled points."""
        if isinstance(self.at, slice):
            return _gauss(v, self.step)
        sampled: F32 = filters.gaussian(v, 1.5, 3.5)[self.at, :: self.step]
        return sampled

    def ssim_loss(self, d: F32) -> float:
        """1 - mean SSIM over the sampled points when the luma on rows changes by d."""
        gd, gyd, gdd = self.sample(d), self.sample(self.y * d), self.sample(d * d)
        return self.weight * (1.0 - float(np.mean(_ssim_map(self.mean, self.second, self.spread, gd, gyd, gdd))))


def _probe(y: F32, rows: slice | npt.NDArray[np.intp], at: slice | npt.NDArray[np.intp], step: int) -> _Probe:
    probe = _Probe(rows, at, step, y, y, y, y)
    probe.mean, probe.second = probe.sample(y), probe.sample(y * y)
    probe.spread = probe.second - probe.mean * probe.mean
    return probe


@dataclass(frozen=True)
class Plan:
    """How the mark is scaled: amplitude cap (grey levels, inf for none) and the gain after the RMS cap."""

    cap: float = math.inf
    gain: float = 1.0


class Embedder:
    """Embeds one tile into one image's colour planes; the host's statistics are computed once."""

    def __init__(self, planes: npt.NDArray[Any], tile: F32, strength: float) -> None:
        self.planes = planes
        self.strength = strength
        self.ceiling = np.float32(CEILING * strength)
        h, w, _ = planes.shape
        reps = (math.ceil(min(h, STRIP + 8) / TILE) + 1, math.ceil(w / TILE))
        self.tiled = np.tile(tile, reps)
        self._mean_square: dict[float, float] = {}
        # Per strip: the masking amplitude, and the flat areas' concentration (image_flat; None: all textured).
        self.strips: list[npt.NDArray[Any]] = []
        self.flat: list[npt.NDArray[Any] | None] = []
        if h <= STRIP:  # one strip: its luma also serves a whole-image probe
            y = luma(planes)
            var = local_variance(y)
            self.strips.append(masking_amplitude(var, strength))
            self.flat.append(concentration(var, 0))
        else:
            kept = np.float16 if h * w > HALF_PRECISION_PIXELS else np.float32
            for r0 in range(0, h, STRIP):
                amp, flat = self._strip_amplitude(r0)
                self.strips.append(amp.astype(kept, copy=False))
                self.flat.append(None if flat is None else flat.astype(kept, copy=False))
        bands = _band_starts(h, w)
        if bands:
            self.probe = _band_probe(planes, bands, BAND_ROWS, self._row_energy())
            self.calibration: _Probe | None = self.probe
            return
        whole = y if h <= STRIP else luma(planes)
        step = ssim_step(h * w)
        self.probe = _probe(whole, slice(None), slice(None, None, step), step)
        # The plain pass only calibrates the plan (the planned passes are measured whole), so thin bands do.
        count = min(CALIBRATION_BANDS, h // (4 * (CALIBRATION_ROWS + 2 * _CONTEXT_ROWS)))
        starts = _spread(h, CALIBRATION_ROWS, count) if count >= 4 else []
        self.calibration = _band_probe(planes, starts, CALIBRATION_ROWS, self._row_energy(), whole) if starts else None

    def _row_energy(self) -> F32:
        """The plain mark's expected SSIM cost per image row, up to a factor: the tile row's energy seen
        through SSIM's window, times the row's mean squared flat concentration."""
        h, w, _ = self.planes.shape
        energy = _tile_row_energy(self.tiled, w)[np.arange(h) % TILE]
        for i, flat in enumerate(self.flat):
            if flat is not None:
                energy[i * STRIP : i * STRIP + flat.shape[0]] *= np.mean(np.square(flat, dtype=np.float32), axis=1)
        return energy

    def _strip_amplitude(self, r0: int) -> tuple[F32, F32 | None]:
        """Masking amplitude and flat concentration of the strip at row r0 (its variance sees 4 rows beyond)."""
        h = self.planes.shape[0]
        r1 = min(h, r0 + STRIP)
        h0, h1 = max(0, r0 - 4), min(h, r1 + 4)
        var = local_variance(luma(self.planes[h0:h1]))[r0 - h0 : r0 - h0 + (r1 - r0)]
        return masking_amplitude(var, self.strength), concentration(var, r0)

    def _delta(self, r0: int, r1: int, plan: Plan, scale: np.float32) -> F32:
        """The (unrounded) change of the luma on rows r0:r1 under a plan (r0:r1 within one strip)."""
        off = r0 % TILE
        strip, start = divmod(r0, STRIP)
        rows = slice(start, start + (r1 - r0))
        amp = self.strips[strip][rows].astype(np.float32, copy=False)
        flat = self.flat[strip]
        return self._mark(amp, self.tiled[off : off + (r1 - r0)], plan, scale, None if flat is None else flat[rows])

    def _mark(self, amp: F32, tiled: F32, plan: Plan, scale: np.float32, flat: npt.NDArray[Any] | None = None) -> F32:
        """Amplitude (capped by the plan, concentrated in flat areas) times the tile rows, scaled and held
        within the ceiling."""
        if plan.cap < math.inf:
            amp = np.minimum(amp, np.float32(plan.cap))
        if flat is not None:  # after the cap: the cap is meant for edges, not for the flat blocks
            amp = amp * flat
        delta: F32 = amp * tiled[:, : self.planes.shape[1]]
        delta *= scale
        np.clip(delta, -self.ceiling, self.ceiling, out=delta)
        return delta

    def _scale(self, plan: Plan) -> float:
        """Global factor: the RMS cap on the capped amplitude, times the plan's gain."""
        if plan.cap not in self._mean_square:
            cap = np.float32(plan.cap)
            capped = (a if plan.cap == math.inf else np.minimum(a, cap) for a in self.strips)
            total = sum(float(np.sum(np.square(a, dtype=np.float32))) for a in capped)
            self._mean_square[plan.cap] = total / sum(a.size for a in self.strips)
        ms = self._mean_square[plan.cap]
        rms_cap = RMS_CAP * self.strength
        return (min(1.0, rms_cap / math.sqrt(ms)) if ms > 0 else 1.0) * plan.gain

    def embed(self, plan: Plan, *, realised: bool = True) -> tuple[npt.NDArray[Any], float]:
        """Add the masked tile to every colour plane, strip by strip; returns output and effective RMS change.

        With realised=False the effective change is not measured (NaN is returned in its place).
        """
        planes = self.planes
        h = planes.shape[0]
        integer = planes.dtype == np.uint8
        out = np.empty_like(planes)
        scale = np.float32(self._scale(plan))
        signal = energy = count = 0.0
        for r0 in range(0, h, STRIP):
            r1 = min(h, r0 + STRIP)
            delta = self._delta(r0, r1, plan, scale)
            source = planes[r0:r1]
            if integer:
                # The host is integer, so rounding the sum is the host plus the rounded change.
                out[r0:r1] = add_saturated(source, np.rint(delta).astype(np.int16))
            else:
                out[r0:r1] = (source + delta[..., None]).astype(planes.dtype)
            if not realised:
                continue
            # The realised change (after rounding and clipping) on every 4th row: enough for its projection.
            realized = luma(out[r0:r1:4].astype(np.float32)) - luma(source[::4].astype(np.float32))
            signal += float(np.sum(realized * delta[::4]))
            energy += float(np.sum(delta[::4] ** 2))
            count += realized.size
        if not realised:
            return out, math.nan
        effective = signal / math.sqrt(energy * count) if energy > 0 else 0.0
        return out, effective

    def quality_loss(self, marked: npt.NDArray[np.uint8]) -> tuple[float, float]:
        """Luma SSIM loss (1 - mean SSIM, measured on the probe) and RGB mean squared error of an embedding."""
        p = self.probe
        mse = float(cv2.norm(marked, self.planes, cv2.NORM_L2SQR)) / marked.size
        d = luma(np.subtract(marked[p.rows], self.planes[p.rows], dtype=np.float32))  # luma is linear
        return p.ssim_loss(d), mse

    def calibrate(self) -> tuple[tuple[float, float], float, npt.NDArray[np.uint8] | None]:
        """Quality loss and effective RMS change of the plain pass, and its output when it was made whole.

        Unless the image is too short for bands, the plain pass is not made: its squared error and effective
        change are per-pixel sums, which one row drawn from every three gives (a fixed stride can beat with
        periodic content, as in a tiled wallpaper), and its SSIM is measured on bands of rows.
        """
        p, h = self.calibration, self.planes.shape[0]
        if p is None or isinstance(p.rows, slice):
            out, realized = self.embed(Plan())
            return self.quality_loss(out), realized, out
        scale = np.float32(self._scale(Plan()))
        change, delta = self._change_at(_mse_rows(h), scale)
        flat = change.reshape(-1)
        mse = float(flat @ flat) / flat.size
        energy = float(np.sum(delta * delta))
        effective = float(np.sum(luma(change) * delta)) / math.sqrt(energy * delta.size) if energy > 0 else 0.0
        return (p.ssim_loss(luma(self._change_at(p.rows, scale)[0])), mse), effective, None

    def _amplitude_at(self, rows: npt.NDArray[np.intp]) -> F32:
        """Masking amplitude (float32) of some rows, in order."""
        amp = self._gather(self.strips, rows)
        assert amp is not None
        return amp

    def _gather(self, strips: Sequence[npt.NDArray[Any] | None], rows: npt.NDArray[np.intp]) -> F32 | None:
        """Some rows (in order, float32) of a per-strip array; None if every strip concerned has none."""
        spanned = range(int(rows[0]) // STRIP, int(rows[-1]) // STRIP + 1)
        if all(strips[s] is None for s in spanned):
            return None
        parts = []
        for s in spanned:
            inside = rows[(rows >= s * STRIP) & (rows < (s + 1) * STRIP)] - s * STRIP
            strip = strips[s]
            parts.append(np.ones((inside.size, self.planes.shape[1]), np.float32) if strip is None else strip[inside])
        out: F32 = np.concatenate(parts).astype(np.float32, copy=False)
        return out

    def _change_at(self, rows: npt.NDArray[np.intp], scale: np.float32) -> tuple[F32, F32]:
        """The plain pass's realised change of the planes (float32) and its unrounded luma change, on some rows."""
        flat = self._gather(self.flat, rows)
        delta = self._mark(self._amplitude_at(rows), self.tiled[rows % TILE], Plan(), scale, flat)
        source = self.planes[rows]
        change: F32 = np.subtract(add_saturated(source, np.rint(delta).astype(np.int16)), source, dtype=np.float32)
        return change, delta

    def plan(self, loss: tuple[float, float]) -> Plan:
        """Amplitude cap and gain for the next pass, from the measured quality of a plain first pass.

        Each candidate cap is scored by the detector-side energy it buys once the gain brings the image
        to its SSIM or PSNR target, whichever binds first (costs calibrated by the first pass).
        """
        ssim_loss, mse = loss
        if ssim_loss <= 0 or mse <= 0:
            return Plan(gain=MAX_GAIN)
        amp_sample = self._amplitude_at(_mse_rows(self.planes.shape[0]))[:, ::2].reshape(-1)
        amp_sample = amp_sample[:: max(1, amp_sample.size // PLAN_SAMPLES)]  # about PLAN_SAMPLES score the caps
        var = np.maximum((np.square(amp_sample / (SSIM_K * self.strength)) - SSIM_C2) * 0.5, 0.0)
        masking = 2.0 * var + SSIM_C2
        amp = (SSIM_K * self.strength) * np.sqrt(masking)
        rms_cap = RMS_CAP * self.strength
        scale0 = min(1.0, rms_cap / math.sqrt(float(np.mean(amp * amp))))
        k_mse = mse / (float(np.mean(amp * amp)) * scale0**2)
        k_ssim = ssim_loss / (float(np.mean(amp * amp / masking)) * scale0**2)
        target_loss, target_mse = targets(self.strength)
        detect_weight = 1.0 / (var + DETECT_FLOOR)
        caps = np.array([math.inf, *np.quantile(amp, CAP_QUANTILES).tolist()])
        a2 = np.minimum(amp[None, :], caps[:, None]) ** 2  # one row per candidate cap
        mean_squares, ssim_costs = np.mean(a2, axis=1), np.mean(a2 / masking, axis=1)
        detector_energies = np.mean(a2 * detect_weight, axis=1)
        best = (-1.0, Plan())
        for cap, ms, ssim_cost, energy in zip(caps, mean_squares, ssim_costs, detector_energies, strict=True):
            scale = min(1.0, rms_cap / math.sqrt(ms))
            g_psnr = math.sqrt(target_mse / (k_mse * ms * scale**2))
            g_ssim = math.sqrt(target_loss / (k_ssim * ssim_cost * scale**2))
            gain = min(g_psnr, g_ssim, MAX_GAIN)
            benefit = gain**2 * scale**2 * energy
            if benefit > best[0] * 1.02:  # a cap must earn its keep
                best = (float(benefit), Plan(float(cap), float(gain)))
        return best[1]


def _ssim_map(mean: F32, second: F32, spread: F32, gd: F32, gyd: F32, gdd: F32) -> F32:
    """Local SSIM of host and marked luma from the host's Gaussian moments and those of the change d.

    gd, gyd, gdd are the Gaussian means of d, y*d and d*d; everything is sampled on the same grid.
    """
    my = mean + gd
    cross = second + gyd
    vy = 2.0 * cross - second + gdd - my * my
    cxy = cross - mean * my
    num = (2 * mean * my + SSIM_C1) * (2 * cxy + SSIM_C2)
    den = (mean * mean + my * my + SSIM_C1) * (spread + vy + SSIM_C2)
    ssim: F32 = np.asarray(num / den, dtype=np.float32)
    return ssim


def _mse_rows(h: int) -> npt.NDArray[np.intp]:
    """One row drawn from every _MSE_SHARE consecutive rows (fixed seed), in order."""
    starts = np.arange(0, h - _MSE_SHARE + 1, _MSE_SHARE)
    rows: npt.NDArray[np.intp] = starts + np.random.default_rng(h).integers(0, _MSE_SHARE, starts.size)
    return rows


def _band_probe(
    planes: npt.NDArray[Any], starts: list[int], band_rows: int, row_energy: F32, y: F32 | None = None
) -> _Probe:
    """A probe of bands of band_rows rows starting at starts, stacked with their context rows (y: whole luma).

    row_energy is the mark's expected SSIM cost per image row; the bands' loss is scaled by its mean over the
    image against its mean over the measured rows.
    """
    h, w, _ = planes.shape
    spans = [(max(0, r0 - _CONTEXT_ROWS), r0, min(h, r0 + band_rows + _CONTEXT_ROWS)) for r0 in starts]
    rows = np.concatenate([np.arange(a0, a1) for a0, _, a1 in spans])
    step = ssim_step(len(starts) * band_rows * w)
    at, measured, top = [], [], 0
    for a0, r0, a1 in spans:
        at.append(top + np.arange(r0 - a0, r0 - a0 + band_rows, step))
        measured.append(np.arange(r0, r0 + band_rows, step))
        top += a1 - a0
    probe = _probe(luma(planes[rows]) if y is None else y[rows], rows, np.concatenate(at), step)
    sampled = float(np.mean(row_energy[np.concatenate(measured)]))
    probe.weight = float(np.mean(row_energy)) / sampled if sampled > 0 else 1.0
    return probe


def _tile_row_energy(tiled: F32, w: int) -> F32:
    """Mean square of each tile row over the image's width, smoothed by SSIM's window (circularly)."""
    energy = np.mean(np.square(tiled[:TILE, :w]), axis=1)
    kernel = filters.gaussian_kernel(1.5, 3.5)
    r = kernel.size // 2
    wrapped = np.concatenate([energy[-r:], energy, energy[:r]])
    smoothed: F32 = np.convolve(wrapped, kernel, mode="valid").astype(np.float32)
    return smoothed


def _band_starts(h: int, w: int) -> list[int]:
    """First rows of the probe's bands, evenly spaced; none when they would cover over a third of the image."""
    bands = max(MIN_BANDS, math.ceil(BAND_PIXELS / (BAND_ROWS * w)))
    if 3 * bands * (BAND_ROWS + 2 * _CONTEXT_ROWS) > h:
        return []
    return _spread(h, BAND_ROWS, bands)


def _spread(h: int, band_rows: int, count: int) -> list[int]:
    """First rows of count bands of band_rows rows spread evenly from the top to the bottom of h rows."""
    return [round(i * (h - band_rows) / (count - 1)) for i in range(count)]


def targets(strength: float) -> tuple[float, float]:
    """The SSIM loss and squared error the embedding aims at for a strength."""
    return (1.0 - SSIM_TARGET) * strength**2, 255.0**2 * 10 ** (-PSNR_TARGET / 10) * strength**2


def correction(loss: tuple[float, float], strength: float) -> float:
    """Amplitude factor that brings a measured (SSIM loss, MSE) to the target that binds first."""
    target_loss, target_mse = targets(strength)
    g_ssim = math.sqrt(target_loss / loss[0]) if loss[0] > 0 else MAX_GAIN
    g_psnr = math.sqrt(target_mse / loss[1]) if loss[1] > 0 else MAX_GAIN
    return min(g_ssim, g_psnr)


def embed_within_budget(planes: npt.NDArray[Any], tile: F32, strength: float) -> tuple[npt.NDArray[Any], float]:
    """The marked planes at the planned amplitude, and the effective RMS change of the plain first pass."""
    embedder = Embedder(planes, tile, strength)
    if planes.dtype != np.uint8:  # float and 16-bit grey: the plain rule only
        return embedder.embed(Plan())
    loss, realized, plain = embedder.calibrate()
    plan = embedder.plan(loss)
    if plain is not None and not (plan.gain > 1.03 or plan.gain < 1.0 or plan.cap < math.inf):
        return plain, realized
    for _ in range(GAIN_ROUNDS):
        out, _ = embedder.embed(plan, realised=False)
        fix = correction(embedder.quality_loss(out), strength)
        if _FIX_LOW <= fix <= _FIX_HIGH or (fix > 1.0 and plan.gain >= MAX_GAIN):
            break
        plan = Plan(plan.cap, min(plan.gain * fix, MAX_GAIN))
    return out, realized
