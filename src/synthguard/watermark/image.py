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
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from synthguard.errors import CapacityTooLow, CorruptInput, InputError, InputTooLarge
from synthguard.watermark.image_embed import embed_within_budget
from synthguard.watermark.image_embed import luma as _luma
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
    whiten_linear,
)
from synthguard.watermark.payload import TAG_BITS, Payload, check_key, decode, gaussian_p_value

F32 = npt.NDArray[np.float32]
ArrayT = TypeVar("ArrayT", bound=npt.NDArray[Any])

DEFAULT_STRENGTH = 1.0
DEFAULT_ALPHA = 1e-6
MAX_PIXELS = 80_000_000
MIN_SIDE = TILE
_MIN_EFFECTIVE_RMS = 0.55  # below this the image is mostly saturated (a flat white image gives ~0.49)
_SELF_CHECK_Z = 12.0  # the unattacked mark must clear this pilot z and decode, else CapacityTooLow (a 542x130
# logo reached 10.8 with one payload, then failed JPEG 90 and most other attacks; accepted images reach 13+)
# The self-check first looks at the centre (2 x 2 tiles): a mark this clear there, and decoding, passes
# without whitening the whole centre megapixel. Over the benchmark images the whole region's z was never
# below the centre's, and 15 leaves a margin over 12; anything else gets the whole check.
_SELF_CHECK_PROBE_SIDE = 2 * TILE
_SELF_CHECK_PROBE_Z = 15.0
# Mostly bright images: when over this share of the centre's pixels would saturate under a +20 % brightness
# change (the robustness goals' attack), the embedder brightens its output and requires the payload to
# decode at pilot z >= _BRIGHT_Z (identity lattice). On the benchmark, the three white pages it refuses
# score 4.6-8.2 there; every other image, saturating or not, 14.5 or more.
_BRIGHTENING = 1.2
_BRIGHT_SHARE = 0.4
_BRIGHT_Z = 10.0
_REFINE_ROUNDS = 3  # drift refinements of the best lattice (each one more lattice hypothesis)
# dihedral x shift x lattice (identity + candidates). The drift refinement is not counted: it tunes a
# lattice to the pilot, so its z is selected; the p-value uses the best z before refinement.
SEARCH_HYPOTHESES = 8 * TILE * TILE * (1 + MAX_LATTICE_CANDIDATES)
_EARLY_Z = 8.0  # an identity-lattice hit this strong that decodes ends the search
# Frames tried per decode. At most 3 decodes run, so noise passes the tag with probability <= 12 * 2**-24
# (7.2e-7, within the 1e-6 bound); the embed self-check decodes the single best frame only.
LIST_SIZE = 4


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
    out_planes, realized = embed_within_budget(planes, tile, strength)
    if realized < _MIN_EFFECTIVE_RMS * min(strength, 1.0):
        raise CapacityTooLow(
            f"image is too flat or saturated to carry a watermark (effective change {realized:.2f} grey levels)"
        )
    if alpha is None and planes.dtype != np.uint8:
        data = np.clip(np.rint(out_planes[..., 0] * unit), 0, top)
        res = Image.fromarray(data.astype(np.uint16 if mode == "I;16" else np.float32))
    else:
        stacked = out_planes if alpha is None else np.concatenate([out_planes, alpha], axis=2)
        res = Image.fromarray(stacked[..., 0] if stacked.shape[2] == 1 else stacked, mode=mode)
    if res.mode != out_mode:
        res = res.convert(out_mode)
    if self_check:
        # Both checks read only the centre window, so only its luma is computed (from the planes just made).
        direct = res.mode == mode and mode in ("L", "LA", "RGB", "RGBA")
        side = CANVAS_MAX + 16
        marked_luma = _luma(_centre(out_planes, side)) if direct else _centre(image_luma(res), side)
        passed, z = _self_check(marked_luma, key, payload)
        if not passed:
            raise CapacityTooLow(
                f"image {img.width}x{img.height} cannot carry the payload reliably (self-check z={z:.1f})"
            )
        share, z, decoded = _brightening_check(out_planes, marked_luma, key, payload)
        if z < _BRIGHT_Z or not decoded:
            raise CapacityTooLow(
                f"image {img.width}x{img.height} is too bright to carry a watermark reliably: {share:.0%} of its"
                f" pixels saturate when brightened by 20 %, and the mark then fails (pilot z={z:.1f}"
                f"{'' if decoded else ', payload lost'})"
            )
    res.info.update({k: v for k, v in img.info.items() if k in ("dpi", "icc_profile", "exif")})
    return res


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
    if first.z >= _EARLY_Z and (early := _read(first, pat, key)) is not None:
        # Unscaled and unrotated: stop here. The p-value still counts every hypothesis the search could test.
        p_early = min(_multiple_test_p(first.z, SEARCH_HYPOTHESES), LIST_SIZE * 2.0**-TAG_BITS)
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
    searched_z = best.z  # the presence statistic: refinement below only helps the payload read
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
    p_pilot = _multiple_test_p(searched_z, SEARCH_HYPOTHESES)
    payload = None
    attempts = 1 if first.z >= _EARLY_Z else 0  # the early identity decode was one attempt
    for hit, hit_lat in hits[:2]:
        attempts += 1
        payload = _read(hit, pat, key)
        if payload is not None:
            best, lat = hit, hit_lat
            break
    p_value = p_pilot if payload is None else min(p_pilot, attempts * LIST_SIZE * 2.0**-TAG_BITS)
    return Detection(
        present=p_value <= alpha,
        p_value=p_value,
        payload=payload,
        z=searched_z,
        scale=lat.scale,
        rotation_deg=lat.rotation_deg,
        flipped=best.transform >= 4,
    )


def _read(hit: PilotHit, pat: Pattern, key: bytes) -> Payload | None:
    """List-decode the payload chips of one pilot hit."""
    return decode(_chip_soft(hit.whitened, pat), key, list_size=LIST_SIZE)


def _self_check(y: F32, key: bytes, payload: Payload) -> tuple[bool, float]:
    """Whether the unattacked mark is clear enough (pilot z, linear whitening) and decodes; and that z."""
    pat = pattern_for(key)
    z = 0.0
    for region, threshold in ((_centre(y, _SELF_CHECK_PROBE_SIDE), _SELF_CHECK_PROBE_Z), (y, _SELF_CHECK_Z)):
        hit = _self_check_hit(region, pat)
        z = hit.z
        if z >= threshold and decode(_chip_soft(hit.whitened, pat), key) == payload:
            return True, z
    return False, z


def _brightening_check(planes: npt.NDArray[Any], y: F32, key: bytes, payload: Payload) -> tuple[float, float, bool]:
    """Share of the centre's pixels a 20 % brightness gain saturates, and the pilot z left then and whether
    the payload still decodes (inf and True when few saturate). planes and y are in 0-255 units."""
    side = CANVAS_MAX + 16
    centre = _centre(y, side)
    share = float(np.count_nonzero(centre > 255.0 / _BRIGHTENING)) / centre.size
    if share <= _BRIGHT_SHARE:
        return share, math.inf, True
    region = _centre(planes, side).astype(np.float32)
    bright = np.minimum(np.rint(region * np.float32(_BRIGHTENING)), np.float32(255.0))
    pat = pattern_for(key)
    hit = _evaluate(_luma(bright), IDENTITY, pat, {}, range(1))  # the embedder's own orientation
    return share, hit.z, _read(hit, pat, key) == payload


def _self_check_hit(y: F32, pat: Pattern) -> PilotHit:
    """The unattacked mark's pilot on the identity lattice, whitened linearly (see whiten_linear)."""
    region = _centre(y, CANVAS_MAX + 16)
    return search_pilot(fold_lattice(whiten_linear(region), IDENTITY), pat, range(1))  # not flipped


def _whitened(y: F32, scale: float, cache: dict[float, F32]) -> F32:
    """The whitened centre region for a lattice scale (filters widen with upscaling), cached per scale step."""
    factor = max(0.5, round(scale * 4) / 4)
    if factor not in cache:
        region = _centre(y, int(CANVAS_MAX * max(factor, 1.0)) + 16)
        cache[factor] = whiten(region, factor)
    return cache[factor]


def _evaluate(
    y: F32, lat: Lattice, pat: Pattern, cache: dict[float, F32] | None = None, transforms: range = range(8)
) -> PilotHit:
    """Fold the image on one lattice hypothesis and search the pilot."""
    white = _whitened(y, lat.scale, {} if cache is None else cache)
    region = _centre(white, int(CANVAS_MAX * lat.scale) + 16)
    return search_pilot(fold_lattice(region, lat), pat, transforms)


def _perturb(lat: Lattice, dscale: float, drot_deg: float) -> Lattice:
    """The lattice scaled by (1 + dscale) and rotated by drot_deg."""
    t = np.radians(drot_deg)
    rot = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]]) * (1.0 + dscale)
    a, b = rot @ np.array(lat.a), rot @ np.array(lat.b)
    return Lattice((float(a[0]), float(a[1])), (float(b[0]), float(b[1])))


def _centre(arr: ArrayT, side: int) -> ArrayT:
    """The centre side x side window of an array's first two axes (all of an axis shorter than side)."""
    h, w = arr.shape[:2]
    top, left = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return cast(ArrayT, arr[top : top + side, left : left + side])  # a view: the same array type


def _multiple_test_p(z: float, hypotheses: int) -> float:
    """P(max of `hypotheses` independent standard normals >= z)."""
    q = gaussian_p_value(z)
    return float(min(1.0, -math.expm1(hypotheses * math.log1p(-q)))) if q < 1.0 else 1.0
