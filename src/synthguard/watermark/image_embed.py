"""Adding the keyed tile to an image's colour planes within its SSIM and PSNR budgets.

The amplitude of the mark follows an SSIM-style texture mask: per pixel K·sqrt(2σ² + C2), where σ² is
the local variance, so every pixel loses about the same local SSIM. A first pass with that rule is
measured (luma SSIM with the usual Gaussian window, RGB PSNR), which calibrates how much of each budget a
unit of mark costs on this image. The plan then caps the amplitude at edges when that buys more
detector-side energy (the detector divides by the local contrast, so energy at strong edges counts for
little while costing much PSNR), and scales the whole mark until the binding target is met; each later
pass is measured again and its gain corrected.

Costs that do not depend on the mark (the host's luma, local variance, mask amplitude, SSIM statistics)
are computed once per image, so a pass is an integer add and three Gaussian filters evaluated only on a
sampled grid of the SSIM map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from synthguard.watermark import image_filters as filters
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
_PROBE_ROWS = 256
# Samples of the SSIM map measured per image: the map is smooth over its 1.5-pixel window, so a stride
# keeping this many estimates the mean to ~2e-4 (the SSIM target has 1.5e-3 of margin).
SSIM_SAMPLES = 40_000
WHOLE_PROBE_PIXELS = 12_000_000  # up to this size the whole image is measured (its luma kept: 48 MB)
PLAN_SAMPLES = 20_000  # variance samples the plan scores its caps on
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
    var: F32 = np.maximum(filters.box(y * y, MASK_WINDOW) - mean * mean, 0.0)
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
    """One band of measured rows: the host's luma and the mark-independent SSIM statistics."""

    rows: slice
    y: F32
    step: int  # the SSIM map is evaluated on every step-th row and column
    mean: F32  # Gaussian mean of y, sampled
    second: F32  # Gaussian mean of y^2, sampled
    spread: F32  # Gaussian-window variance of y (SSIM's sigma_x^2), sampled
    var: F32  # local variance (masking), every second pixel


def _probe(planes: npt.NDArray[Any], rows: slice, step: int, var: F32, y: F32 | None = None) -> _Probe:
    y = luma(planes[rows].astype(np.float32)) if y is None else y
    mean, second = _gauss(y, step), _gauss(y * y, step)
    return _Probe(rows, y, step, mean, second, second - mean * mean, var[::2, ::2])


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
        if h <= STRIP:  # one strip: its local variance also serves the single probe
            y = luma(planes)
            var = local_variance(y)
            self.strips = [masking_amplitude(var, strength)]
            self.probes = [_probe(planes, slice(0, h), ssim_step(h * w), var, y)]
            return
        # Large images keep the amplitude in half precision (an 80 MP image: 160 MB instead of 320).
        self.strips = [self._strip_amplitude(r0).astype(np.float16) for r0 in range(0, h, STRIP)]
        if h * w <= WHOLE_PROBE_PIXELS:
            self.probes = [_probe(planes, slice(0, h), ssim_step(h * w), self._variance(0, h))]
        else:
            step = ssim_step(4 * _PROBE_ROWS * w)
            self.probes = [
                _probe(planes, slice(s, s + _PROBE_ROWS), step, self._variance(s, s + _PROBE_ROWS))
                for s in _band_starts(h, _PROBE_ROWS)
            ]

    def _strip_amplitude(self, r0: int) -> F32:
        """Masking amplitude of the strip starting at row r0 (its variance sees 4 rows beyond each end)."""
        h = self.planes.shape[0]
        r1 = min(h, r0 + STRIP)
        h0, h1 = max(0, r0 - 4), min(h, r1 + 4)
        var = local_variance(luma(self.planes[h0:h1]))
        return masking_amplitude(var, self.strength)[r0 - h0 : r0 - h0 + (r1 - r0)]

    def _variance(self, r0: int, r1: int) -> F32:
        """Local variance of rows r0:r1 recovered from the stored amplitude (the plan needs no more precision)."""
        rows, r = [], r0
        while r < r1:
            strip, off = divmod(r, STRIP)
            n = min(r1 - r, STRIP - off)
            rows.append(self.strips[strip][off : off + n])
            r += n
        amp = np.concatenate(rows).astype(np.float32) / np.float32(SSIM_K * self.strength)
        var: F32 = np.maximum((amp * amp - np.float32(SSIM_C2)) * np.float32(0.5), np.float32(0.0))
        return var

    def _scale(self, plan: Plan) -> float:
        """Global factor: the RMS cap on the capped amplitude, times the plan's gain."""
        if plan.cap not in self._mean_square:
            cap = np.float32(plan.cap)
            total = sum(float(np.sum(np.square(np.minimum(a, cap), dtype=np.float32))) for a in self.strips)
            self._mean_square[plan.cap] = total / sum(a.size for a in self.strips)
        ms = self._mean_square[plan.cap]
        rms_cap = RMS_CAP * self.strength
        return (min(1.0, rms_cap / math.sqrt(ms)) if ms > 0 else 1.0) * plan.gain

    def embed(self, plan: Plan, *, realised: bool = True) -> tuple[npt.NDArray[Any], float]:
        """Add the masked tile to every colour plane, strip by strip; returns output and effective RMS change.

        With realised=False the effective change is not measured (NaN is returned in its place).
        """
        planes = self.planes
        h, w, _ = planes.shape
        integer = planes.dtype == np.uint8
        out = np.empty_like(planes)
        scale = np.float32(self._scale(plan))
        signal = energy = count = 0.0
        for r0, amplitude in zip(range(0, h, STRIP), self.strips, strict=True):
            r1 = min(h, r0 + STRIP)
            off = r0 % TILE
            amp = amplitude.astype(np.float32, copy=False)
            if plan.cap < math.inf:
                amp = np.minimum(amp, np.float32(plan.cap))
            delta = amp * scale * self.tiled[off : off + (r1 - r0), :w]
            np.clip(delta, -self.ceiling, self.ceiling, out=delta)
            source = planes[r0:r1]
            if integer:
                # The host is integer, so rounding the sum is the host plus the rounded change.
                block = add_saturated(source, np.rint(delta).astype(np.int16))
                out[r0:r1] = block
            else:
                block = source + delta[..., None]
                out[r0:r1] = block.astype(planes.dtype)
            if not realised:
                continue
            # The realised change (after rounding and clipping) on every 4th row: enough for its projection.
            realized = luma(block[::4].astype(np.float32)) - luma(source[::4].astype(np.float32))
            signal += float(np.sum(realized * delta[::4]))
            energy += float(np.sum(delta[::4] ** 2))
            count += realized.size
        if not realised:
            return out, math.nan
        effective = signal / math.sqrt(energy * count) if energy > 0 else 0.0
        return out, effective

    def quality_loss(self, marked: npt.NDArray[Any]) -> tuple[float, float]:
        """Measured luma SSIM loss (1 - mean SSIM) and RGB mean squared error of an embedding."""
        ssim_loss = sq_err = 0.0
        count = 0
        for p in self.probes:
            change = np.subtract(marked[p.rows], self.planes[p.rows], dtype=np.float32)
            flat = change.reshape(-1)
            sq_err += float(flat @ flat)
            count += flat.size
            d = luma(change)  # luma is linear: the change of the luma
            # SSIM statistics of the marked luma from the host's and three filters of the change.
            my = p.mean + _gauss(d, p.step)
            cross = p.second + _gauss(p.y * d, p.step)
            second_y = 2.0 * cross - p.second + _gauss(d * d, p.step)
            vy = second_y - my * my
            cxy = cross - p.mean * my
            num = (2 * p.mean * my + SSIM_C1) * (2 * cxy + SSIM_C2)
            den = (p.mean * p.mean + my * my + SSIM_C1) * (p.spread + vy + SSIM_C2)
            ssim_loss += 1.0 - float(np.mean(num / den))
        return ssim_loss / len(self.probes), sq_err / count

    def plan(self, loss: tuple[float, float]) -> Plan:
        """Amplitude cap and gain for the next pass, from the measured quality of a plain first pass.

        Each candidate cap is scored by the detector-side energy it buys once the gain brings the image
        to its SSIM or PSNR target, whichever binds first (costs calibrated by the first pass).
        """
        ssim_loss, mse = loss
        if ssim_loss <= 0 or mse <= 0:
            return Plan(gain=MAX_GAIN)
        var = np.concatenate([p.var.reshape(-1) for p in self.probes])
        var = var[:: max(1, var.size // PLAN_SAMPLES)]  # about PLAN_SAMPLES samples score the caps
        masking = 2.0 * var + SSIM_C2
        amp = (SSIM_K * self.strength) * np.sqrt(masking)
        rms_cap = RMS_CAP * self.strength
        scale0 = min(1.0, rms_cap / math.sqrt(float(np.mean(amp * amp))))
        k_mse = mse / (float(np.mean(amp * amp)) * scale0**2)
        k_ssim = ssim_loss / (float(np.mean(amp * amp / masking)) * scale0**2)
        target_loss, target_mse = targets(self.strength)
        detect_weight = 1.0 / (var + DETECT_FLOOR)
        best = (-1.0, Plan())
        for cap in [math.inf, *np.quantile(amp, CAP_QUANTILES).tolist()]:
            a2 = np.minimum(amp, cap) ** 2
            ms = float(np.mean(a2))
            scale = min(1.0, rms_cap / math.sqrt(ms))
            g_psnr = math.sqrt(target_mse / (k_mse * ms * scale**2))
            g_ssim = math.sqrt(target_loss / (k_ssim * float(np.mean(a2 / masking)) * scale**2))
            gain = min(g_psnr, g_ssim, MAX_GAIN)
            benefit = gain**2 * scale**2 * float(np.mean(a2 * detect_weight))
            if benefit > best[0] * 1.02:  # a cap must earn its keep
                best = (benefit, Plan(cap, gain))
        return best[1]


def _band_starts(h: int, band: int) -> list[int]:
    return sorted({round(i * (h - band) / 3) for i in range(4)})


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
    out, realized = embedder.embed(Plan())
    if planes.dtype != np.uint8:  # float and 16-bit grey: the plain rule only
        return out, realized
    plan = embedder.plan(embedder.quality_loss(out))
    if not (plan.gain > 1.03 or plan.gain < 1.0 or plan.cap < math.inf):
        return out, realized
    for _ in range(GAIN_ROUNDS):
        out, _ = embedder.embed(plan, realised=False)
        fix = correction(embedder.quality_loss(out), strength)
        if _FIX_LOW <= fix <= _FIX_HIGH or (fix > 1.0 and plan.gain >= MAX_GAIN):
            break
        plan = Plan(plan.cap, min(plan.gain * fix, MAX_GAIN))
    return out, realized
