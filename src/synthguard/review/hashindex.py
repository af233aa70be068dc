"""A Hamming-distance index for 256-bit hashes: multi-index hashing on 16-bit chunks, plus an append buffer."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

CHUNKS = 16  # 256 bits as 16 chunks of 16 bits
BUFFER_LIMIT = 32_768  # rows searched by brute force before they become a segment
MAX_SEGMENTS = 6

Hashes = npt.NDArray[np.uint64]  # shape (n, 4)
Rows = npt.NDArray[np.int64]


def popcount_distance(hashes: Hashes, query: Hashes) -> npt.NDArray[np.int64]:
    """Hamming distance of each row of hashes to query (shape (4,))."""
    counts = np.bitwise_count(hashes ^ query)
    total: npt.NDArray[np.int64] = (counts[:, 0] + counts[:, 1] + counts[:, 2] + counts[:, 3]).astype(np.int64)
    return total


def _chunks(hashes: Hashes) -> npt.NDArray[np.uint32]:
    """(n, 16) chunk values, each tagged with its chunk number in the high 16 bits."""
    parts = np.ascontiguousarray(hashes).view(np.uint16).reshape(-1, CHUNKS).astype(np.uint32)
    tagged: npt.NDArray[np.uint32] = parts | (np.arange(CHUNKS, dtype=np.uint32) << np.uint32(16))
    return tagged


_FLIPS = np.concatenate(([0], 1 << np.arange(16))).astype(np.uint32)


@dataclass(frozen=True, slots=True)
class _Segment:
    """An immutable block: the hashes, their row ids, and the sorted chunk keys with their rows."""

    hashes: Hashes
    rows: Rows
    starts: npt.NDArray[np.uint32]  # CSR: rows with chunk key k are key_rows[starts[k]:starts[k + 1]]
    key_rows: npt.NDArray[np.uint32]

    @classmethod
    def build(cls, hashes: Hashes, rows: Rows) -> _Segment:
        tagged = _chunks(hashes).astype(np.uint64) << np.uint64(32)
        tagged |= np.arange(hashes.shape[0], dtype=np.uint64)[:, None]
        flat = np.sort(tagged.ravel())
        keys = (flat >> np.uint64(32)).astype(np.int64)
        key_rows = (flat & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        starts = np.zeros((CHUNKS << 16) + 1, dtype=np.uint32)
        np.cumsum(np.bincount(keys, minlength=CHUNKS << 16), out=starts[1:])
        return cls(hashes, rows, starts, key_rows)

    def search(self, query: Hashes, threshold: int) -> tuple[Rows, npt.NDArray[np.int64]]:
        if threshold >= 2 * CHUNKS:  # one-bit probes no longer cover the radius: scan it all
            dist = popcount_distance(self.hashes, query)
            hit = dist <= threshold
            return self.rows[hit], dist[hit]
        # pigeonhole: within t bits, some chunk differs in at most t // 16 bits (0 or 1 here)
        exact = _chunks(query.reshape(1, 4))[0]
        probes = exact if threshold < CHUNKS else (exact[:, None] ^ _FLIPS[None, :]).ravel()
        lo = self.starts[probes].astype(np.int64)
        lengths = self.starts[probes + 1].astype(np.int64) - lo
        keep = lengths > 0
        if not keep.any():
            return np.empty(0, np.int64), np.empty(0, np.int64)
        lo, lengths = lo[keep], lengths[keep]
        total = int(lengths.sum())
        starts = np.repeat(lo - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
        local = self.key_rows[starts]
        dist = popcount_distance(self.hashes[local], query)
        hit = dist <= threshold
        # a near hash can be reached through several chunks: deduplicate the (few) hits, not the candidates
        found, first = np.unique(local[hit], return_index=True)
        return self.rows[found], dist[hit][first]


class HashIndex:
    """Search many 256-bit hashes within a Hamming radius; new hashes are searchable as soon as add() returns."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        empty: tuple[Hashes, Rows] = (np.empty((0, 4), np.uint64), np.empty(0, np.int64))
        # segments and buffer live in one tuple so a reader takes a consistent snapshot with one read
        self._state: tuple[tuple[_Segment, ...], tuple[Hashes, Rows]] = ((), empty)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, hashes: Hashes, rows: Rows) -> None:
        """Append hashes (n, 4) with their row ids; large batches become a segment at once."""
        hashes = np.ascontiguousarray(hashes, dtype=np.uint64).reshape(-1, 4)
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        with self._lock:
            segments, (buf_h, buf_r) = self._state
            if hashes.shape[0] >= BUFFER_LIMIT:
                segments = self._compact((*segments, _Segment.build(hashes, rows)))
            else:
                buf_h = np.concatenate((buf_h, hashes))
                buf_r = np.concatenate((buf_r, rows))
                if buf_h.shape[0] >= BUFFER_LIMIT:
                    segments = self._compact((*segments, _Segment.build(buf_h, buf_r)))
                    buf_h, buf_r = np.empty((0, 4), np.uint64), np.empty(0, np.int64)
            self._state = (segments, (buf_h, buf_r))
            self._size += hashes.shape[0]

    @staticmethod
    def _compact(segments: tuple[_Segment, ...]) -> tuple[_Segment, ...]:
        """Merge the smaller segments once there are too many (the largest is left alone)."""
        if len(segments) <= MAX_SEGMENTS:
            return segments
        ordered = sorted(segments, key=lambda s: s.hashes.shape[0], reverse=True)
        small = ordered[1:]
        merged = _Segment.build(np.concatenate([s.hashes for s in small]), np.concatenate([s.rows for s in small]))
        return (ordered[0], merged)

    def search(self, query: Hashes, threshold: int) -> tuple[Rows, npt.NDArray[np.int64]]:
        """Row ids and distances of every stored hash within threshold bits of query (shape (4,))."""
        query = np.asarray(query, dtype=np.uint64).reshape(4)
        segments, (buf_h, buf_r) = self._state
        rows: list[Rows] = []
        dists: list[npt.NDArray[np.int64]] = []
        for seg in segments:
            r, d = seg.search(query, threshold)
            rows.append(r)
            dists.append(d)
        if buf_h.shape[0]:
            d = popcount_distance(buf_h, query)
            hit = d <= threshold
            rows.append(buf_r[hit])
            dists.append(d[hit])
        if not rows:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        return np.concatenate(rows), np.concatenate(dists)

    def arrays(self) -> tuple[Hashes, Rows]:
        """Every hash and row id (for saving)."""
        segments, (buf_h, buf_r) = self._state
        return (
            np.concatenate([*(s.hashes for s in segments), buf_h]),
            np.concatenate([*(s.rows for s in segments), buf_r]),
        )
