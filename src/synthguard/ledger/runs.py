"""Lookup-key runs: sealed segments' keys merged into aligned tiers of 16^level segments (LSM style).

The key index holds rows (run, key, index). A run covers an aligned block of 16^level segments; level 0
is one segment and its run id is the segment number, a merged run's id is -(first segment + level).
The live runs are a pure function of the pruned prefix p and the sealed segment count s: the greedy
decomposition of [p, s) into the largest aligned blocks, plus the open segment. Appends that seal a
segment merge the blocks that became whole; pruning segment p splits the block holding it.
"""

from __future__ import annotations

FANOUT = 16
Run = tuple[int, int]  # (level, first segment)


def run_id(level: int, first: int) -> int:
    """The stored id of a run: the segment number at level 0, -(first + level) above."""
    return first if level == 0 else -(first + level)


def span(run: Run) -> tuple[int, int]:
    """Segments [first, end) a run covers."""
    level, first = run
    return first, first + FANOUT**level


def decompose(start: int, end: int) -> list[Run]:
    """Segments [start, end) as the greedy sequence of the largest aligned 16^level blocks."""
    out: list[Run] = []
    x = start
    while x < end:
        level = 0
        while x % FANOUT ** (level + 1) == 0 and x + FANOUT ** (level + 1) <= end:
            level += 1
        out.append((level, x))
        x += FANOUT**level
    return out


def live(pruned: int, sealed: int, has_open: bool) -> list[int]:
    """Run ids holding every live key: the sealed decomposition plus the open segment."""
    ids = [run_id(*r) for r in decompose(pruned, sealed)]
    if has_open:
        ids.append(sealed)
    return ids


def merges(pruned: int, sealed_before: int, sealed_after: int) -> list[tuple[int, list[int]]]:
    """Merges (target id, source ids) to apply once segments [sealed_before, sealed_after) are sealed."""
    old = decompose(pruned, sealed_before)
    stored = old + [(0, s) for s in range(max(pruned, sealed_before), sealed_after)]
    out = []
    for run in decompose(pruned, sealed_after):
        if run[0] == 0 or run in old:
            continue
        lo, hi = span(run)
        sources = [run_id(*r) for r in stored if lo <= span(r)[0] and span(r)[1] <= hi]
        out.append((run_id(*run), sources))
    return out


def split(pruned: int, sealed: int) -> tuple[int, list[tuple[int, int, int]]] | None:
    """Pruning segment `pruned`: the merged run holding it and its parts (id, first segment, end segment)."""
    runs = decompose(pruned, sealed)
    if not runs or runs[0][0] == 0:
        return None
    first = runs[0]
    parts = [(run_id(*r), *span(r)) for r in decompose(pruned + 1, span(first)[1])]
    return run_id(*first), parts
