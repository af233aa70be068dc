"""Robust audio watermark: keyed multiplicative patchwork on 32 ms x 62.5 Hz cells of the 0.5-3.75 kHz band.

Each 2.88 s period of cells carries a keyed sync pattern and the 282 coded chips of the shared payload
framing (payload.py); the period repeats over the whole clip. Where the input rate allows, a second band of
data cells (3.75-7 kHz, no sync) carries the same chips with a small share of the energy; it is kept only
while the low band's own self-check margin holds, and the detector falls back on it when the low band
alone does not decode. The embedder scales every cell's STFT
magnitude by exp(+-a) and raises ``a`` where the host already works against a chip (informed embedding,
checked on the detector's own features). The detector searches time scale (tempo), time+frequency scale
(speed/resampling), sub-cell phase and period offset, screens frequency scale alone (pitch shift), then
soft-combines every repetition; when a decode fails, a second one weights each slot by its estimated mark
strength (decision feedback).
See docs/watermark-audio.md for the design and the p-value derivation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from synthguard.watermark import audio_dsp as dsp
from synthguard.watermark.audio_embed import AudioMark, embed_audio, embed_audio_or_presence, embed_audio_presence
from synthguard.watermark.audio_layout import (
    Layout,
    as_frames,
    low_layout,
    presence_layouts,
    upper_layout,
)
from synthguard.watermark.audio_search import SEARCH_HYPOTHESES, Candidate, search
from synthguard.watermark.audio_soft import BandCells, band_powers, feedback_weights, halves, soft_chips
from synthguard.watermark.payload import Payload, check_key, decode

__all__ = [
    "AudioMark",
    "Detection",
    "detect_audio",
    "embed_audio",
    "embed_audio_or_presence",
    "embed_audio_presence",
]

SEGMENT_SECONDS = 10.0


MAX_SEGMENTS = 6


MAX_DECODES = 12


CANDIDATES_PER_SEGMENT = 4


FEEDBACK_CANDIDATES = 2  # a segment's best alignments also get a second, slot-weighted decode


FEEDBACK_SLOTS = 7  # window (slots, 224 ms) of the per-slot mark-strength estimate


MIN_UPPER_SNR = 0.1  # the detector adds the upper band only when its halves show this chip SNR (noise: sd ~0.12)


SYNC_THRESHOLD = 1.25e-7  # plus the presence mark's and the tag's shares (below): at most 1e-6 in all


PRESENCE_THRESHOLD = 1.25e-7  # a presence-only mark is reported at this p-value (its own hypotheses)


TAG_FALSE_ACCEPT = 2.0**-24


# A candidate whose own sync p-value is at most LIST_GATE decodes the LIST_SIZE most likely frames (list
# Viterbi). Noise reaches the gate with probability <= LIST_GATE, so the extra frames add at most
# MAX_DECODES * (LIST_SIZE - 1) * LIST_GATE * 2**-24 (2.1e-9) to the MAX_DECODES * 2**-24 of the best paths.
LIST_SIZE = 32


LIST_GATE = 1e-3


@dataclass(frozen=True)
class Detection:
    """Detection result: present when p_value is small enough; payload when its keyed tag verified."""

    present: bool
    p_value: float
    payload: Payload | None
    where: tuple[float, float] | None  # seconds of the input where the mark was found
    presence_only: bool = False  # the key's presence mark (embed_audio_presence): no payload to read


def _low_band(cand: Candidate, lay: Layout) -> BandCells:
    return BandCells(cand.cells, lay.ids, lay.sign, lay.half, cand.shift)


def _upper_band(cand: Candidate, up: Layout) -> BandCells | None:
    """The upper band's features at the candidate's alignment, or None when its halves show no mark."""
    band = BandCells(cand.upper, up.ids, up.sign, up.half, cand.shift)
    mark_power, noise_power = band_powers(*halves(band))
    return band if mark_power > MIN_UPPER_SNR * noise_power else None


def _segments(n: int) -> list[tuple[int, int]]:
    seg = int(SEGMENT_SECONDS * dsp.WORK_RATE)
    if n <= int(1.4 * seg):
        return [(0, n)]
    count = min(MAX_SEGMENTS, math.ceil(n / seg))
    starts = np.linspace(0, n - seg, count).astype(int)
    return [(int(s), int(s) + seg) for s in starts]


def _decode_candidate(
    cand: Candidate, rank: int, lay: Layout, up: Layout, key: bytes, frames: int, budget: int
) -> tuple[Payload | None, int]:
    """Decode the low band; then both (if the upper shows a mark); then with feedback weights. Also: decodes used."""
    bands = [_low_band(cand, lay)]
    soft = soft_chips(bands)
    found, used = decode(soft, key, list_size=frames), 1
    if found is None and used < budget:
        upper = _upper_band(cand, up)
        if upper is not None:
            bands.append(upper)
            soft = soft_chips(bands)
            found, used = decode(soft, key, list_size=frames), used + 1
    if found is None and rank < FEEDBACK_CANDIDATES and used < budget:
        weights = feedback_weights(bands, soft, FEEDBACK_SLOTS)
        found, used = decode(soft_chips(bands, weights), key, list_size=frames), used + 1
    return found, used


class _FirstDecode:
    """Decodes a segment's best tempo/speed alignment before the pitch screen (a marked clip usually ends there)."""

    def __init__(self, lay: Layout, up: Layout, key: bytes, tried: int, budget: int) -> None:
        self.lay, self.up, self.key, self.tried, self.budget = lay, up, key, tried, budget
        self.cand: Candidate | None = None
        self.found: Payload | None = None
        self.used = 0

    def settle(self, cand: Candidate) -> bool:
        """Decode cand if its sync already clears the list gate; True when the payload verified."""
        if self.budget <= 0 or _sync_p(cand.z, self.tried) > LIST_GATE:
            return False
        self.cand = cand
        self.found, self.used = _decode_candidate(cand, 0, self.lay, self.up, self.key, LIST_SIZE, self.budget)
        return self.found is not None


def detect_audio(samples: npt.ArrayLike, sample_rate: int, key: bytes) -> Detection:
    """Look for the keyed audio watermark; decodes the payload when its keyed tag verifies."""
    key = check_key(key)
    x = as_frames(samples, sample_rate)
    mono16 = dsp.resample(dsp.mono(x), sample_rate, dsp.WORK_RATE)
    lay, up, presence = low_layout(key), upper_layout(key), presence_layouts(key)
    tried = presence_tried = decodes = 0
    best_z = best_pz = -math.inf
    best_where: tuple[float, float] | None = None
    presence_where: tuple[float, float] | None = None
    segments = _segments(mono16.size)
    for k, (start, end) in enumerate(segments):
        # every segment gets its share of the decodes: a long clip's later segments are not starved
        budget = decodes + (MAX_DECODES - decodes) // (len(segments) - k)
        first = _FirstDecode(lay, up, key, tried + SEARCH_HYPOTHESES, budget - decodes)
        cands, n, pz, pn = search(mono16[start:end], lay, up, presence, first.settle)
        tried, presence_tried, decodes = tried + n, presence_tried + pn, decodes + first.used
        where = (start / dsp.WORK_RATE, min(end, mono16.size) / dsp.WORK_RATE)
        if first.found is not None and first.cand is not None:
            return Detection(True, min(_tag_p(), _sync_p(first.cand.z, tried)), first.found, where)
        if cands and cands[0].z > best_z:
            best_z, best_where = cands[0].z, where
        if pz > best_pz:
            best_pz, presence_where = pz, where
        for rank, cand in enumerate(cands[:CANDIDATES_PER_SEGMENT]):
            if decodes >= budget:
                break
            if cand is first.cand:  # decoded already, before the pitch screen
                continue
            frames = LIST_SIZE if _sync_p(cand.z, tried) <= LIST_GATE else 1
            found, used = _decode_candidate(cand, rank, lay, up, key, frames, budget - decodes)
            decodes += used
            if found is not None:
                return Detection(True, min(_tag_p(), _sync_p(cand.z, tried)), found, where)
    p = _sync_p(best_z, max(tried, 1))
    if p <= SYNC_THRESHOLD:
        return Detection(True, p, None, best_where)
    p_presence = _sync_p(best_pz, max(presence_tried, 1))
    if p_presence <= PRESENCE_THRESHOLD:
        return Detection(True, p_presence, None, presence_where, presence_only=True)
    return Detection(False, min(p, p_presence), None, None)


def _tag_p() -> float:
    """Bound on noise passing the keyed tag in any decode: best paths, plus list frames behind the gate."""
    return MAX_DECODES * TAG_FALSE_ACCEPT * (1 + (LIST_SIZE - 1) * LIST_GATE)


def _sync_p(z: float, hypotheses: int) -> float:
    """Hoeffding bound exp(-z^2/2) on a Rademacher sum, times the hypotheses tried (union bound)."""
    if not math.isfinite(z) or z <= 0:
        return 1.0
    return min(1.0, hypotheses * math.exp(-0.5 * z * z))
