"""Per-frame arithmetic of the video watermark: the frame-sized keyed pattern, cheap masking, frame pooling.

The mark is the image scheme's keyed tile (image_pattern.tile_for), repeated over the frame from its
top-left corner and computed once per video. Each frame's luma gets ``amp * pattern`` where ``amp`` comes
from 8x8 block statistics (an SSIM-style texture mask like the image scheme's, at block resolution so a
720p frame costs a few milliseconds). The pattern is the same in every frame, so detection can pool the
frames: it sums contrast-normalised luma over the sampled frames (moving content averages out, the mark
adds up) and hands the pooled picture to the image detector, which finds the lattice, the pilot and the
payload and reports a calibrated p-value.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from synthguard.watermark.image_pattern import TILE, tile_for
from synthguard.watermark.payload import Payload

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]

BLOCK = 8
SSIM_K = 0.13  # amplitude per sqrt(2*var + C2): local SSIM stays near 1 / (1 + K^2)
SSIM_C2 = (0.03 * 255) ** 2
RMS_CAP = 2.4  # grey levels at strength 1, per frame
POOLED_RMS = 24.0  # the pooled picture is rescaled to this RMS around mid-grey before detection


def tile_scale(width: int, height: int) -> float:
    """Tile magnification for a frame size: 1 up to ~600 px on the short side, then about short side / 540."""
    return max(1.0, round(2.0 * min(width, height) / 540.0) / 2.0)


def tile_period(width: int, height: int) -> int:
    """Period in pixels of the (magnified) tile for a frame size."""
    return round(TILE * tile_scale(width, height))


def scaled_tile(tile: F32, period: int) -> F32:
    """The tile band-limited-interpolated to period x period pixels (spectral zero padding), unit RMS."""
    if period == TILE:
        return tile
    spec = np.fft.fft2(tile.astype(np.float64))
    freqs = np.fft.fftfreq(TILE, 1.0 / TILE).astype(int)
    rows, cols = np.nonzero(np.abs(spec) > 1e-9 * np.abs(spec).max())
    big = np.zeros((period, period), dtype=np.complex128)
    big[freqs[rows] % period, freqs[cols] % period] = spec[rows, cols]
    out = np.fft.ifft2(big).real
    out /= np.sqrt(np.mean(out**2))
    res: F32 = out.astype(np.float32)
    return res


def _sum_columns(rows: npt.NDArray[np.integer], bw: int) -> npt.NDArray[np.integer]:
    """Sum each run of BLOCK adjacent columns: BLOCK strided adds (a reduction over a length-8 axis is slower)."""
    acc = rows[:, 0 : bw * BLOCK : BLOCK].copy()
    for k in range(1, BLOCK):
        acc += rows[:, k : bw * BLOCK : BLOCK]
    return acc


def _block_variance(core: U8, bh: int, bw: int) -> F32:
    """Variance of every BLOCK x BLOCK block, from exact integer sums.

    The BLOCK rows of each block row are summed first (numpy adds whole contiguous rows), then the BLOCK
    columns of each block on the BLOCK times smaller result.
    """
    w = bw * BLOCK
    s1 = _sum_columns(core.reshape(bh, BLOCK, w).sum(axis=1, dtype=np.uint16), bw)  # at most 64*255, fits
    sq = core.astype(np.uint16)
    sq *= sq  # at most 255^2, fits
    s2 = _sum_columns(sq.reshape(bh, BLOCK, w).sum(axis=1, dtype=np.uint32), bw)
    mean = s1 / float(BLOCK * BLOCK)
    var: F32 = np.maximum(s2 / float(BLOCK * BLOCK) - mean * mean, 0.0).astype(np.float32)
    return var


class FramePattern:
    """The keyed pattern for one frame size, built once per video, and the per-frame marking step."""

    def __init__(self, key: bytes, payload: Payload, width: int, height: int, strength: float) -> None:
        self.period = tile_period(width, height)
        tile = scaled_tile(tile_for(key, payload), self.period)
        reps = (math.ceil(height / self.period), math.ceil(width / self.period))
        self.pattern: F32 = np.ascontiguousarray(np.tile(tile, reps)[:height, :width], dtype=np.float32)
        self.width, self.height = width, height
        self.strength = strength
        self._work: F32 = np.empty((height, width), dtype=np.float32)

    def block_amplitude(self, y: U8) -> F32:
        """Per-8x8-block mark amplitude from the block's variance (texture hides the mark), smoothed."""
        h, w = y.shape
        bh, bw = h // BLOCK, w // BLOCK
        var = _block_variance(y[: bh * BLOCK, : bw * BLOCK], bh, bw)
        amp = (SSIM_K * self.strength) * np.sqrt(2.0 * var + SSIM_C2)
        amp = ndimage.uniform_filter(amp, 3, mode="nearest")
        rms = float(np.sqrt(np.mean(amp * amp))) if amp.size else 0.0
        cap = RMS_CAP * self.strength
        if rms > cap:
            amp *= cap / rms
        # Near black and white the change clips; leave headroom so rounding keeps most of it.
        out: F32 = amp.astype(np.float32, copy=False)
        return out

    def mark(self, y: U8, out: U8 | None = None) -> tuple[U8, float]:
        """The marked luma plane (uint8, y's shape; written into out when given) and the realised RMS change.

        The block amplitudes are widened to full rows only (BLOCK times fewer values than the frame) and
        broadcast over each block row's BLOCK pixel rows, so no frame-sized amplitude array is built.
        """
        h, w = y.shape
        if out is None:
            out = np.empty((h, w), dtype=np.uint8)
        work = self._work
        blocks = self.block_amplitude(y)
        bh, bw = blocks.shape
        if bh and bw:
            rows = np.empty((bh, w), dtype=np.float32)  # each block row's amplitude along x
            rows[:, : bw * BLOCK] = np.repeat(blocks, BLOCK, axis=1)
            rows[:, bw * BLOCK :] = blocks[:, -1:]
            top = bh * BLOCK
            np.multiply(
                self.pattern[:top].reshape(bh, BLOCK, w), rows[:, None, :], out=work[:top].reshape(bh, BLOCK, w)
            )
            np.multiply(self.pattern[top:], rows[-1], out=work[top:])  # rows below the last full block
        else:
            np.multiply(self.pattern, np.float32(SSIM_K * self.strength * math.sqrt(SSIM_C2)), out=work)
        work += y
        np.rint(work, out=work)
        np.clip(work, 0, 255, out=work)
        np.copyto(out, work, casting="unsafe")
        step = 4  # the realised change measured on a subsample
        diff = out[::step, ::step].astype(np.float32) - y[::step, ::step]
        return out, float(np.sqrt(np.mean(diff * diff)))


class FramePool:
    """Sums contrast-normalised luma frames so a static mark adds up while moving content averages out."""

    def __init__(self) -> None:
        self.total: npt.NDArray[np.float64] | None = None
        self.frames = 0

    def add(self, y: U8) -> None:
        """Add one luma frame, weighted by the inverse of its fine-detail contrast (estimated on a subsample)."""
        if self.total is None:
            self.total = np.zeros(y.shape, dtype=np.float64)
        if self.total.shape != y.shape:
            return  # a mid-stream size change: keep the first size
        sub = y[::4, ::2].astype(np.float32)
        detail = float(np.sqrt(np.mean(np.diff(sub, axis=1) ** 2))) + 1.0
        self.total += y.astype(np.float32) * np.float32(1.0 / detail)
        self.frames += 1

    def pooled(self) -> F32:
        """The pooled frame as luma-like grey levels (mid-grey 128, RMS POOLED_RMS)."""
        if self.total is None or self.frames == 0:
            return np.zeros((0, 0), dtype=np.float32)
        mean = (self.total / self.frames).astype(np.float32)
        mean -= ndimage.uniform_filter(mean, 9, mode="nearest")  # the band the mark is in stays
        rms = float(np.sqrt(np.mean(mean * mean))) + 1e-12
        out: F32 = (128.0 + mean * (POOLED_RMS / rms)).astype(np.float32)
        return out
