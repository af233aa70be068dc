"""Robust invisible image watermark: a keyed spread-spectrum tile repeated over the luma, masked by texture.

``embed_image`` adds the keyed tile (pilot + payload chips, see image_pattern) to the luma of any Pillow
image, scaled per pixel so the local SSIM loss stays small and the global PSNR stays above ~40 dB.
``detect_image`` finds the tile lattice (scale, rotation, aspect) from the autocorrelation, folds the
image into one tile, finds the translation and flip/quarter-turn with the pilot, reports a calibrated
p-value, and decodes the payload with soft-decision Viterbi when it is there.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from synthguard.errors import CapacityTooLow, CorruptInput, InputError, InputTooLarge
from synthguard.watermark import image_filters as filters
from synthguard.watermark.image_pattern import TILE, Pattern, pattern_for, tile_for
from synthguard.watermark.image_pattern import weighted_chip_soft_values as _chip_soft
from synthguard.watermark.image_refine import refine_lattice
from synthguard.watermark.image_sync import (
    CANVAS_MAX,
    IDENTITY,
    MAX_LATTICE_CANDIDATES,
    MAX_SCALE,
    MIN_SCALE,
    SYNC_WINDOW,
    Lattice,
    PilotHit,
    estimate_lattices,
    fold_lattice,
    search_pilot,
    whiten,
)
from synthguard.watermark.payload import TAG_BITS, Payload, check_key, decode, gaussian_p_value

F32 = npt.NDArray[np.float32]

DEFAULT_STRENGTH = 1.0
DEFAULT_ALPHA = 1e-6
MAX_PIXELS = 80_000_000
MIN_SIDE = TILE
_SSIM_K = 0.135  # local amplitude per sqrt(2*var + C2): keeps local SSIM near 1 / (1 + K^2)
_MASK_WINDOW = 5  # side of the box over which the local variance is measured
_SSIM_C2 = (0.03 * 255) ** 2
_RMS_CAP = 2.45  # global RMS of the change at strength 1 (PSNR ~ 40.3 dB after rounding)
_SSIM_TARGET = 0.9815  # embedding scales its amplitude so the measured SSIM (luma) lands here at strength 1
_PSNR_TARGET = 40.25  # ... or the PSNR (RGB) here, whichever binds first
_MAX_GAIN = 1.6
_GAIN_ROUNDS = 3  # embeddings at most after the first, each measured and its gain corrected
# Per-pixel noise floor (grey levels squared) of the detector-side benefit of the mark: the whitening's own
# floor (4) plus what compression leaves. With 4 alone, flat areas look cheapest, and codecs smooth them.
_DETECT_FLOOR = 30.0
_CAP_QUANTILES = (0.99, 0.97, 0.94, 0.9, 0.85, 0.8, 0.7, 0.6)
_MIN_EFFECTIVE_RMS = 0.55  # below this the image is mostly saturated (a flat white image gives ~0.49)
_SELF_CHECK_Z = 10.0  # the unattacked mark must clear this pilot z and decode, else CapacityTooLow
_REFINE_ROUNDS = 3  # drift refinements of the best lattice (each one more lattice hypothesis)
_HYPOTHESES = 8 * TILE * TILE * (1 + MAX_LATTICE_CANDIDATES + 8)  # dihedral x shift x lattice (8: refinements)
_EARLY_Z = 8.0  # an identity-lattice hit this strong that decodes ends the search
_STRIP = 1024
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class Detection:
    """What detect_image found: presence with its false-positive probability, and the payload if read."""

    present: bool
    p_value: float
    payload: Payload | None
    z: float
    scale: float
    rotation_deg: float
    flipped: bool


def open_image(source: str | Path | bytes, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open and fully decode an image file or bytes, mapping failures to CorruptInput / InputTooLarge."""
    try:
        img = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
        if img.width * img.height > max_pixels:
            raise InputTooLarge(f"image has {img.width * img.height} pixels, the limit is {max_pixels}")
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise CorruptInput(f"cannot decode image: {exc}") from exc
    return img


def _check_size(img: Image.Image, max_pixels: int) -> None:
    if img.width * img.height > max_pixels:
        raise InputTooLarge(f"image has {img.width * img.height} pixels, the limit is {max_pixels}")


def _local_variance(y: F32) -> F32:
    """Variance of the luma over a _MASK_WINDOW box around each pixel."""
    mean = filters.box(y, _MASK_WINDOW)
    var: F32 = np.maximum(filters.box(y * y, _MASK_WINDOW) - mean * mean, 0.0)
    return var


def _local_amplitude(y: F32, strength: float, cap: float = math.inf) -> F32:
    """Per-pixel mark amplitude from local variance (SSIM-style masking), at most cap grey levels."""
    amp: F32 = ((_SSIM_K * strength) * np.sqrt(2.0 * _local_variance(y) + _SSIM_C2)).astype(np.float32, copy=False)
    if cap < math.inf:
        np.minimum(amp, np.float32(cap), out=amp)
    return amp


def _to_working(img: Image.Image) -> tuple[Image.Image, str]:
    """A mode the embedder works on (L, LA, RGB, RGBA, I;16) and the mode to return."""
    mode = img.mode
    if mode in ("L", "LA", "RGB", "RGBA", "I;16"):
        return img, mode
    if mode == "1":
        raise CapacityTooLow("a bilevel (mode 1) image cannot carry an invisible watermark")
    if mode in ("P", "PA"):  # a palette cannot hold the small changes: return true colour
        has_alpha = mode == "PA" or "transparency" in img.info
        return img.convert("RGBA" if has_alpha else "RGB"), "RGBA" if has_alpha else "RGB"
    if mode in ("La", "RGBa"):
        target = "LA" if mode == "La" else "RGBA"
        return img.convert(target), target
    if mode in ("I", "F", "I;16B", "I;16L", "I;16N"):
        return img.convert("F"), mode
    return img.convert("RGB"), mode  # CMYK, YCbCr, LAB, HSV, RGBX: convert back afterwards


def embed_image(
    img: Image.Image,
    payload: Payload,
    key: bytes,
    strength: float = DEFAULT_STRENGTH,
    *,
    max_pixels: int = MAX_PIXELS,
    self_check: bool = True,
) -> Image.Image:
    """Return a watermarked copy of img carrying payload under key (same size and mode, alpha kept)."""
    key = check_key(key)
    if not 0.05 <= strength <= 8.0:
        raise InputError(f"watermark strength must be in [0.05, 8], got {strength}")
    _check_size(img, max_pixels)
    if min(img.size) < MIN_SIDE:
        raise CapacityTooLow(f"image {img.width}x{img.height} is too small to carry a watermark (min side {MIN_SIDE})")
    work, out_mode = _to_working(img)
    tile = tile_for(key, payload)
    mode = work.mode
    if mode in {"F", "I;16"}:
        arr = np.asarray(work, dtype=np.float32)
        top = 65535.0 if mode == "I;16" or float(arr.max(initial=0.0)) > 255.0 else 255.0
        unit = top / 255.0
        planes = arr[..., None] / unit
        alpha = None
    else:
        full = np.asarray(work)
        full = full[..., None] if full.ndim == 2 else full
        colour = 1 if mode in ("L", "LA") else 3
        planes = full[..., :colour]
        alpha = full[..., colour:] if full.shape[2] > colour else None
        unit, top = 1.0, 255.0
    out_planes, realized = _embed_planes(planes, tile, strength)
    if realized < _MIN_EFFECTIVE_RMS * min(strength, 1.0):
        raise CapacityTooLow(
            f"image is too flat or saturated to carry a watermark (effective change {realized:.2f} grey levels)"
        )
    if planes.dtype == np.uint8:
        # Where the image leaves room under both quality limits (flat screenshots: SSIM has slack), use it.
        cap, gain = _plan(planes, _quality_loss(planes, out_planes), strength)
        if gain > 1.03 or gain < 1.0 or cap < math.inf:
            for _ in range(_GAIN_ROUNDS):
                out_planes, _ = _embed_planes(planes, tile, strength, gain, cap)
                fix = _correction(_quality_loss(planes, out_planes), strength)
                if 0.99 <= fix <= 1.03 or (fix > 1.0 and gain >= _MAX_GAIN):
                    break
                gain = min(gain * fix, _MAX_GAIN)
    if alpha is None and planes.dtype != np.uint8:
        data = np.clip(np.rint(out_planes[..., 0] * unit), 0, top)
        res = Image.fromarray(data.astype(np.uint16 if mode == "I;16" else np.float32))
    else:
        stacked = out_planes if alpha is None else np.concatenate([out_planes, alpha], axis=2)
        res = Image.fromarray(stacked[..., 0] if stacked.shape[2] == 1 else stacked, mode=mode)
    if res.mode != out_mode:
        res = res.convert(out_mode)
    if self_check:
        found = _evaluate(image_luma(res), IDENTITY, pattern_for(key))
        if found.z < _SELF_CHECK_Z or decode(_chip_soft(found.whitened, pattern_for(key)), key) != payload:
            raise CapacityTooLow(
                f"image {img.width}x{img.height} cannot carry the payload reliably (self-check z={found.z:.1f})"
            )
    res.info.update({k: v for k, v in img.info.items() if k in ("dpi", "icc_profile", "exif")})
    return res


def _measure_rows(h: int) -> list[slice]:
    """Rows on which the quality of an embedding is measured (four 256-row bands on large images)."""
    if h <= _STRIP:
        return [slice(0, h)]
    return [slice(s, s + 256) for s in sorted({round(i * (h - 256) / 3) for i in range(4)})]


def _quality_loss(planes: npt.NDArray[Any], marked: npt.NDArray[Any]) -> tuple[float, float]:
    """Measured luma SSIM loss (1 - SSIM) and RGB mean squared error of an embedding."""
    rows = _measure_rows(planes.shape[0])
    ssim_loss = sq_err = 0.0
    count = 0
    for r in rows:
        x, y = planes[r].astype(np.float32), marked[r].astype(np.float32)
        sq_err += float(np.sum((y - x) ** 2))
        count += x.size
        ssim_loss += 1.0 - _ssim(_luma(x), _luma(y))
    return ssim_loss / len(rows), sq_err / count


def _targets(strength: float) -> tuple[float, float]:
    """The SSIM loss and squared error the embedding aims at for a strength."""
    return (1.0 - _SSIM_TARGET) * strength**2, 255.0**2 * 10 ** (-_PSNR_TARGET / 10) * strength**2


def _correction(loss: tuple[float, float], strength: float) -> float:
    """Amplitude factor that brings a measured (SSIM loss, MSE) to the target that binds first."""
    target_loss, target_mse = _targets(strength)
    g_ssim = math.sqrt(target_loss / loss[0]) if loss[0] > 0 else _MAX_GAIN
    g_psnr = math.sqrt(target_mse / loss[1]) if loss[1] > 0 else _MAX_GAIN
    return min(g_ssim, g_psnr)


def _plan(planes: npt.NDArray[Any], loss: tuple[float, float], strength: float) -> tuple[float, float]:
    """Amplitude cap and factor for the second pass, from the measured SSIM and PSNR of a first embedding.

    A first pass with the plain masking rule tells how much SSIM loss and squared error each unit of
    mark costs on this image. Capping the amplitude at edges (where the masking rule spends most of the
    PSNR budget for little detection gain, since the detector divides by the local contrast) frees PSNR
    for the rest. Each candidate cap is scored by the detector-side energy it buys once the gain brings
    the image to its SSIM or PSNR target, whichever binds first; the best one is used.
    """
    ssim_loss, mse = loss
    if ssim_loss <= 0 or mse <= 0:
        return math.inf, _MAX_GAIN
    var = np.concatenate(
        [
            _local_variance(_luma(planes[r].astype(np.float32)))[::2, ::2].reshape(-1)
            for r in _measure_rows(planes.shape[0])
        ]
    )
    masking = 2.0 * var + _SSIM_C2
    amp = (_SSIM_K * strength) * np.sqrt(masking)
    rms_cap = _RMS_CAP * strength
    scale0 = min(1.0, rms_cap / math.sqrt(float(np.mean(amp * amp))))
    k_mse = mse / (float(np.mean(amp * amp)) * scale0**2)
    k_ssim = ssim_loss / (float(np.mean(amp * amp / masking)) * scale0**2)
    target_loss, target_mse = _targets(strength)
    detect_weight = 1.0 / (var + _DETECT_FLOOR)
    best = (-1.0, math.inf, 1.0)
    for cap in [math.inf, *np.quantile(amp, _CAP_QUANTILES).tolist()]:
        a2 = np.minimum(amp, cap) ** 2
        ms = float(np.mean(a2))
        scale = min(1.0, rms_cap / math.sqrt(ms))
        g_psnr = math.sqrt(target_mse / (k_mse * ms * scale**2))
        g_ssim = math.sqrt(target_loss / (k_ssim * float(np.mean(a2 / masking)) * scale**2))
        gain = min(g_psnr, g_ssim, _MAX_GAIN)
        benefit = gain**2 * scale**2 * float(np.mean(a2 * detect_weight))
        if benefit > best[0] * 1.02:  # a cap must earn its keep
            best = (benefit, cap, gain)
    return best[1], best[2]


def _ssim(x: F32, y: F32) -> float:
    """Mean SSIM of two luma arrays (Gaussian window sigma 1.5, the usual constants)."""

    def g(v: F32) -> F32:
        return filters.gaussian(v, 1.5, truncate=3.5)

    mx, my = g(x), g(y)
    vx, vy, cxy = g(x * x) - mx * mx, g(y * y) - my * my, g(x * y) - mx * my
    c1 = (0.01 * 255) ** 2
    num = (2 * mx * my + c1) * (2 * cxy + _SSIM_C2)
    den = (mx * mx + my * my + c1) * (vx + vy + _SSIM_C2)
    return float(np.mean(num / den))


def _embed_planes(
    planes: npt.NDArray[Any], tile: F32, strength: float, gain: float = 1.0, cap: float = math.inf
) -> tuple[npt.NDArray[Any], float]:
    """Add the masked tile to every colour plane, strip by strip; returns output and effective RMS change."""
    h, w, _ = planes.shape
    integer = planes.dtype == np.uint8
    out = np.empty_like(planes)
    reps = (math.ceil(min(h, _STRIP + 8) / TILE) + 1, math.ceil(w / TILE))
    tiled = np.tile(tile, reps)
    whole = None
    if h <= _STRIP:  # one strip: the amplitude map is computed once and reused
        whole = _local_amplitude(_luma(planes.astype(np.float32)), strength, cap)
        ms = float(np.mean(np.square(whole, dtype=np.float32)))
    else:  # global RMS cap: estimate the mean squared amplitude on a subsample first
        band = min(h, 256)
        starts = sorted({round(i * (h - band) / 3) for i in range(4)})
        sub = [_local_amplitude(_luma(planes[s : s + band].astype(np.float32)), strength, cap) for s in starts]
        ms = float(np.mean([np.mean(a * a) for a in sub]))
    cap = _RMS_CAP * strength
    scale = (min(1.0, cap / math.sqrt(ms)) if ms > 0 else 1.0) * gain
    signal = energy = count = 0.0
    for r0 in range(0, h, _STRIP):
        r1 = min(h, r0 + _STRIP)
        if whole is not None:
            amp = whole
        else:
            h0, h1 = max(0, r0 - 4), min(h, r1 + 4)
            amp = _local_amplitude(_luma(planes[h0:h1].astype(np.float32)), strength, cap)[
                r0 - h0 : r0 - h0 + (r1 - r0)
            ]
        off = r0 % TILE
        delta = amp * np.float32(scale) * tiled[off : off + (r1 - r0), :w]
        source = planes[r0:r1].astype(np.float32)
        block = source + delta[..., None]
        if integer:
            np.rint(block, out=block)
            np.clip(block, 0, 255, out=block)
        out[r0:r1] = block.astype(planes.dtype)
        # The realised change (after rounding and clipping) on every 4th row: enough for its projection.
        realized = _luma(block[::4]) - _luma(source[::4])
        signal += float(np.sum(realized * delta[::4]))
        energy += float(np.sum(delta[::4] ** 2))
        count += realized.size
    effective = signal / math.sqrt(energy * count) if energy > 0 else 0.0
    return out, effective


def _luma(planes: F32) -> F32:
    if planes.shape[2] == 1:
        return planes[..., 0]
    out: F32 = planes[..., :3] @ _LUMA
    return out


def image_luma(img: Image.Image) -> F32:
    """Luma of any Pillow image as float32 grey levels (0-255)."""
    mode = img.mode
    if mode in ("I", "F", "I;16", "I;16B", "I;16L", "I;16N"):
        arr = np.asarray(img.convert("F"), dtype=np.float32)
        return arr / 257.0 if mode.startswith("I;16") or float(arr.max(initial=0.0)) > 255.0 else arr
    if mode in ("L", "LA", "La"):
        return np.asarray(img.getchannel(0), dtype=np.float32)
    rgb = np.asarray(img.convert("RGB"), dtype=np.float32)
    return _luma(rgb)


def detect_image(
    img: Image.Image, key: bytes, *, alpha: float = DEFAULT_ALPHA, max_pixels: int = MAX_PIXELS
) -> Detection:
    """Look for the key's watermark in img: calibrated p-value, and the payload when it decodes."""
    key = check_key(key)
    _check_size(img, max_pixels)
    absent = Detection(False, 1.0, None, 0.0, 1.0, 0.0, False)
    if min(img.size) < TILE // 2:
        return absent
    return detect_luma(image_luma(img), key, alpha=alpha)


def detect_luma(y: F32, key: bytes, *, alpha: float = DEFAULT_ALPHA) -> Detection:
    """detect_image on a luma array (used by the video scheme on frames)."""
    pat = pattern_for(key)
    cache: dict[float, F32] = {}
    first = _evaluate(y, IDENTITY, pat, cache)
    if first.z >= _EARLY_Z and (early := decode(_chip_soft(first.whitened, pat), key)) is not None:
        # Unscaled and unrotated: stop here. The p-value still counts every hypothesis the search could test.
        p_early = min(_multiple_test_p(first.z, _HYPOTHESES), 2.0**-TAG_BITS)
        return Detection(p_early <= alpha, p_early, early, first.z, 1.0, 0.0, first.transform >= 4)
    sync = _centre(_whitened(y, 1.0, cache), SYNC_WINDOW)
    lattices = [lat for lat in estimate_lattices(sync) if not lat.is_identity(0.01)]
    hits = [(first, IDENTITY)]
    for cand_lat in lattices[:MAX_LATTICE_CANDIDATES]:
        hits.append((_evaluate(y, cand_lat, pat, cache), cand_lat))
        if hits[-1][0].z >= _EARLY_Z:  # a clear lock: the remaining (weaker-scored) candidates are skipped
            break
    hits.sort(key=lambda h: h[0].z, reverse=True)
    best, lat = hits[0]
    if not lat.is_identity(0.002):
        # The autocorrelation leaves a little scale/rotation/aspect error: cancel the pilot's drift.
        for _ in range(_REFINE_ROUNDS):
            white = _centre(_whitened(y, lat.scale, cache), int(CANVAS_MAX * lat.scale) + 16)
            cand = refine_lattice(white, lat, pat, best.transform)
            if not MIN_SCALE <= cand.scale <= MAX_SCALE:
                break
            hit = _evaluate(y, cand, pat, cache)
            if hit.z <= best.z:
                break
            hits.insert(0, (hit, cand))
            best, lat = hit, cand
        hits.sort(key=lambda h: h[0].z, reverse=True)
    p_pilot = _multiple_test_p(best.z, _HYPOTHESES)
    payload = None
    attempts = 1 if first.z >= _EARLY_Z else 0  # the early identity decode was one attempt
    for hit, hit_lat in hits[:2]:
        attempts += 1
        payload = decode(_chip_soft(hit.whitened, pat), key)
        if payload is not None:
            best, lat = hit, hit_lat
            break
    p_value = p_pilot if payload is None else min(p_pilot, attempts * 2.0**-TAG_BITS)
    return Detection(
        present=p_value <= alpha,
        p_value=p_value,
        payload=payload,
        z=best.z,
        scale=lat.scale,
        rotation_deg=lat.rotation_deg,
        flipped=best.transform >= 4,
    )


def _whitened(y: F32, scale: float, cache: dict[float, F32]) -> F32:
    """The whitened centre region for a lattice scale (filters widen with upscaling), cached per scale step."""
    factor = max(0.5, round(scale * 4) / 4)
    if factor not in cache:
        region = _centre(y, int(CANVAS_MAX * max(factor, 1.0)) + 16)
        cache[factor] = whiten(region, 3.0 * factor, 6.0 * factor)
    return cache[factor]


def _evaluate(y: F32, lat: Lattice, pat: Pattern, cache: dict[float, F32] | None = None) -> PilotHit:
    """Fold the image on one lattice hypothesis and search the pilot."""
    white = _whitened(y, lat.scale, {} if cache is None else cache)
    region = _centre(white, int(CANVAS_MAX * lat.scale) + 16)
    return search_pilot(fold_lattice(region, lat), pat)


def _perturb(lat: Lattice, dscale: float, drot_deg: float) -> Lattice:
    """The lattice scaled by (1 + dscale) and rotated by drot_deg."""
    t = np.radians(drot_deg)
    rot = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]]) * (1.0 + dscale)
    a, b = rot @ np.array(lat.a), rot @ np.array(lat.b)
    return Lattice((float(a[0]), float(a[1])), (float(b[0]), float(b[1])))


def _centre(arr: F32, side: int) -> F32:
    h, w = arr.shape
    top, left = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return arr[top : top + side, left : left + side]


def _multiple_test_p(z: float, hypotheses: int) -> float:
    """P(max of `hypotheses` independent standard normals >= z)."""
    q = gaussian_p_value(z)
    return float(min(1.0, -math.expm1(hypotheses * math.log1p(-q)))) if q < 1.0 else 1.0
