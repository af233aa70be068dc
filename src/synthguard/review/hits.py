"""Hits as numpy arrays: span mapping, word boundaries, allowlist and ordering without a per-hit loop."""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from synthguard.review import normalize as nz

I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

LABELS = ("normal", "exact", "pinyin", "initials", "homophone", "chaizi", "regex", "contact")
LABEL_ID = {label: i for i, label in enumerate(LABELS)}
_EMPTY = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class Hits:
    """Parallel arrays, one row per hit: entry index, view label id, original [start, end)."""

    entry: I64
    label: I64
    start: I64
    end: I64

    @classmethod
    def empty(cls) -> Hits:
        """No hits."""
        return cls(_EMPTY, _EMPTY, _EMPTY, _EMPTY)

    @classmethod
    def concat(cls, parts: Sequence[Hits]) -> Hits:
        """The rows of parts, in order."""
        parts = [p for p in parts if p.entry.size]
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("entry", "label", "start", "end")))

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[int, int, int, int]]) -> Hits:
        """From (entry, label, start, end) tuples."""
        if not rows:
            return cls.empty()
        arr = np.array(rows, dtype=np.int64).reshape(-1, 4)
        return cls(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3])

    def __len__(self) -> int:
        return int(self.entry.size)

    def take(self, idx: Any) -> Hits:
        """The rows selected by a mask or an index array."""
        return Hits(self.entry[idx], self.label[idx], self.start[idx], self.end[idx])

    def shift(self, base: int) -> Hits:
        """The same hits with spans moved by base."""
        if not base:
            return self
        return Hits(self.entry, self.label, self.start + base, self.end + base)

    def ordered(self) -> Hits:
        """Stable sort by (start, end)."""
        if self.entry.size < 2:
            return self
        key = self.start * (int(self.end.max()) + 1) + self.end
        return self.take(np.argsort(key, kind="stable"))


def triples(raw: list[tuple[int, int, int]]) -> npt.NDArray[np.int64]:
    """An automaton's (pattern, start, end) tuples as an (n, 3) int64 array."""
    flat = np.fromiter(itertools.chain.from_iterable(raw), dtype=np.int64, count=3 * len(raw))
    return flat.reshape(-1, 3)


def expand_targets(
    ptr: I64, t_entry: I64, t_label: I64, pid: I64, start: I64, end: I64, single: bool
) -> tuple[I64, I64, I64, I64]:
    """Every (entry, label) a pattern stands for, through CSR arrays, keeping hit order."""
    if single:
        idx = ptr[pid]
        return t_entry[idx], t_label[idx], start, end
    lo = ptr[pid]
    cnt = ptr[pid + 1] - lo
    row = np.repeat(np.arange(pid.size), cnt)
    within = np.arange(row.size) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    idx = lo[row] + within
    return t_entry[idx], t_label[idx], start[row], end[row]


def whole_chars(s: I64, e: I64, o_s: I64, o_e: I64, voffs: I64) -> Bools:
    """Hits of an expanding view (pinyin) that start and end on whole original characters."""
    n = voffs.size
    prev = voffs[np.maximum(s - 1, 0)]
    nxt = voffs[np.minimum(e, n - 1)]
    out: Bools = ~(((s > 0) & (prev == o_s)) | ((e < n) & (nxt == o_e - 1)))
    return out


def _fold(ch: str) -> str:
    return unicodedata.normalize("NFKC", ch).lower()


def _is_word(ch: str) -> bool:
    folded = _fold(ch)
    return folded.isascii() and folded.isalnum()


def inside_word_slow(text: str, o_s: int, o_e: int) -> bool:
    """The reference check: does an ASCII term at [o_s, o_e) stand inside a longer ASCII word."""
    n_text = len(text)
    after = o_e
    while after < n_text and _fold(text[after]) == _fold(text[o_e - 1]):
        after += 1  # repeats collapsed into the last matched letter
    return (o_s > 0 and _is_word(text[o_s - 1])) or (after < n_text and _is_word(text[after]))


def inside_word(text: str, cps: npt.NDArray[np.uint32], o_s: I64, o_e: I64) -> Bools:
    """inside_word_slow for many hits; only hits followed by a repeat of their last letter take the slow path."""
    t = nz.tables()
    n = cps.size
    before = (o_s > 0) & t.word[cps[np.maximum(o_s - 1, 0)]]
    has_next = o_e < n
    nxt = cps[np.minimum(o_e, n - 1)]
    last = cps[o_e - 1]
    repeat = has_next & ((t.light[nxt] == t.light[last]) | t.fold_multi[nxt] | t.fold_multi[last])
    out = before | (has_next & t.word[nxt])
    for i in np.flatnonzero(repeat & ~before).tolist():
        out[i] = inside_word_slow(text, int(o_s[i]), int(o_e[i]))
    return out


def allowed(d_s: I64, d_e: I64, a_s: I64, a_e: I64) -> Bools:
    """Deny spans that survive the allowlist: no allow span overlaps them unless strictly inside."""
    if not a_s.size or not d_s.size:
        return np.ones(d_s.size, dtype=np.bool_)
    order = np.argsort(a_s, kind="stable")
    starts = a_s[order]
    reach = np.maximum.accumulate(a_e[order])  # the furthest end among allow spans starting so far

    def crosses(point: I64) -> Bools:
        """Some allow span starts before point and ends after it."""
        i = np.searchsorted(starts, point, side="left")
        return (i > 0) & (reach[np.maximum(i - 1, 0)] > point)

    width = int(max(int(d_e.max()), int(a_e.max()))) + 1
    same = np.isin(d_s * width + d_e, a_s * width + a_e)
    return ~(crosses(d_s) | crosses(d_e) | same)


def allowed_reference(d_s: Sequence[int], d_e: Sequence[int], a_s: Sequence[int], a_e: Sequence[int]) -> list[bool]:
    """allowed() spelled out pair by pair (for tests)."""
    out = []
    for s, e in zip(d_s, d_e, strict=True):
        over = [(x, y) for x, y in zip(a_s, a_e, strict=True) if x < e and y > s]
        out.append(all(s <= x and y <= e and (y - x) < (e - s) for x, y in over))
    return out


def first_unique(keys: Sequence[I64]) -> I64:
    """Indices of the first occurrence of each distinct row of the key columns, in order."""
    if not keys[0].size:
        return _EMPTY
    stacked = np.stack(keys, axis=1)
    _, first = np.unique(stacked, axis=0, return_index=True)
    return np.sort(first)
