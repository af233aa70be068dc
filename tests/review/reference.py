"""The per-hit reference scan (the first version's loop), for checking the vectorised path against it."""

from __future__ import annotations

from typing import Any

import numpy as np

from synthguard.review import normalize as nz
from synthguard.review.hits import inside_word_slow
from synthguard.review.matcher import _EXPANDING_VIEWS, _VIEW_FUNCS, _WIDE, CompiledIndex
from synthguard.review.rules import DETECTORS
from synthguard.review.taxonomy import Action

Row = tuple[str, str, int, int]  # entry id, view, start, end


def _find(auto: Any, codes: np.ndarray[Any, Any]) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    if auto.ac is not None and codes.size:
        units = np.where(codes > 0xFFFF, _WIDE, codes).astype(np.uint16)
        raw = auto.ac.find_matches_as_indexes(units.tobytes(), overlapping=True)
        out = [(p, s >> 1, e >> 1) for p, s, e in raw if not s & 1]
    if auto.wide_ac is not None and codes.size and int(codes.max()) > 0xFFFF:
        found = auto.wide_ac.find_matches_as_indexes(nz.decode(codes), overlapping=True)
        out.extend((len(auto.targets) + p, s, e) for p, s, e in found)
    return out


def _one(index: CompiledIndex, text: str, base: int) -> tuple[list[Row], np.ndarray[Any, Any]]:
    cps = nz.codes(text)
    codes, offs = nz.normalize_cps(cps)
    deny: list[Row] = []
    allow: list[tuple[int, int]] = []

    def emit(idx: int, label: str, s: int, e: int) -> None:
        entry = index.entries[idx]
        if entry.action is Action.ALLOW:
            allow.append((s, e))
        else:
            deny.append((entry.id, label, s, e))

    for view, auto in index.views.items():
        if view == "normal":
            vcodes, voffs = codes, offs
        elif view == "exact":
            vcodes, voffs = cps, None
        else:
            v = _VIEW_FUNCS[view](codes, offs)
            vcodes, voffs = nz.codes(v.text), v.offsets
        for pid, s, e in _find(auto, vcodes):
            o_s, o_e = (s, e) if voffs is None else (int(voffs[s]), int(voffs[e - 1]) + 1)
            if (
                voffs is not None
                and view in _EXPANDING_VIEWS
                and ((s > 0 and voffs[s - 1] == o_s) or (e < voffs.size and voffs[e] == o_e - 1))
            ):
                continue
            if auto.is_ascii_word(pid) and inside_word_slow(text, o_s, o_e):
                continue
            for idx, label in auto.target(pid):
                emit(idx, label, o_s, o_e)
    normal_text = nz.decode(codes)
    for rx, idx in index.rules:  # every rule, no Set
        for m in rx.finditer(normal_text):
            if m.end() > m.start():
                emit(idx, "regex", int(offs[m.start()]), int(offs[m.end() - 1]) + 1)
    for name, s, e in index.detectors.contact(nz.contact_codes(codes)):
        deny.append((DETECTORS[name].id, "contact", int(offs[s]), int(offs[e - 1]) + 1))
    if "url" in index.detectors.enabled:
        for name, s, e in index.detectors.urls(cps):
            deny.append((DETECTORS[name].id, "contact", s, e))
    kept = []
    for row in deny:
        _, _, s, e = row
        over = [(x, y) for x, y in allow if x < e and y > s]
        if all(s <= x and y <= e and (y - x) < (e - s) for x, y in over):
            kept.append((row[0], row[1], s + base, e + base))
    return sorted(kept, key=lambda r: (r[2], r[3])), offs


def scan_reference(index: CompiledIndex, text: str, chunk: int) -> list[Row]:
    """What scan() must return, as (entry id, view, start, end) rows, found one hit at a time."""
    if len(text) <= chunk:
        return _one(index, text, 0)[0]
    seen: set[Row] = set()
    out: list[Row] = []
    start = 0
    while True:
        end = min(len(text), start + chunk)
        found, offs = _one(index, text[start:end], start)
        for row in found:
            if row not in seen:
                seen.add(row)
                out.append(row)
        if end >= len(text):
            break
        back = offs[max(0, offs.size - index.overlap)] if offs.size else end - start
        start = max(start + min(int(back), end - start - index.overlap), start + 1)
    return sorted(out, key=lambda r: (r[2], r[3]))
