"""The compiled index: one Aho-Corasick automaton per view over UTF-16 code units, hits mapped to original spans."""

from __future__ import annotations

import bisect
import itertools
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import ahocorasick_rs
import numpy as np

from synthguard.review import normalize as nz
from synthguard.review.lexicon import Entry
from synthguard.review.rules import DETECTORS, ContactDetectors, compile_rule
from synthguard.review.taxonomy import Action, Kind

DEFAULT_CHUNK = 1 << 20  # characters per chunk; matches across chunk boundaries are still found
MIN_OVERLAP = 256  # normal-view characters re-read across a boundary (regex rules and URLs up to this long)
_WIDE = 0xF8FF  # stands in for code points beyond the BMP in the 16-bit stream (patterns with them go elsewhere)
_MAX_CHAIZI_VARIANTS = 16
_EXPANDING_VIEWS = ("pinyin",)
_VIEW_FUNCS = {"pinyin": nz.pinyin_view, "initials": nz.initials_view, "homophone": nz.homophone_view}


@dataclass(frozen=True, slots=True)
class Match:
    """A hit: the entry, the view that saw it, and the span of the original text it covers."""

    entry: Entry
    view: str
    start: int
    end: int


@cache
def chaizi_table() -> dict[str, tuple[str, ...]]:
    """The shipped 拆字 table: character -> the component spellings users write instead."""
    table: dict[str, tuple[str, ...]] = {}
    for line in nz.data_file("chaizi.txt").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        char, _, parts = line.partition("\t")
        table[char] = tuple(parts.split())
    return table


def chaizi_variants(term: str) -> list[str]:
    """Spellings of term with characters split into components (bounded in number)."""
    table = chaizi_table()
    options = [(ch, *table.get(ch, ())) for ch in term]
    out: list[str] = []
    for combo in itertools.islice(itertools.product(*options), 1, _MAX_CHAIZI_VARIANTS + 1):
        out.append("".join(combo))
    return out


def _fold(ch: str) -> str:
    return unicodedata.normalize("NFKC", ch).lower()


def _is_word(ch: str) -> bool:
    folded = _fold(ch)
    return folded.isascii() and folded.isalnum()


class _Automaton:
    """Patterns of one view over 16-bit code units; pattern i maps to (entry index, view label) pairs."""

    def __init__(self) -> None:
        self.keys: dict[bytes, int] = {}
        self.targets: list[list[tuple[int, str]]] = []
        self.ascii_word: list[bool] = []
        self.wide: dict[str, list[tuple[int, str]]] = {}
        self.ac: Any = None
        self.wide_ac: Any = None
        self.wide_keys: list[str] = []
        self.max_len = 0

    def add(self, codes: np.ndarray[Any, Any], entry: int, label: str) -> None:
        if codes.size == 0:
            return
        self.max_len = max(self.max_len, int(codes.size))
        if int(codes.max()) > 0xFFFF:
            self.wide.setdefault(nz.decode(codes), []).append((entry, label))
            return
        key = codes.astype(np.uint16).tobytes()
        pid = self.keys.get(key)
        if pid is None:
            pid = self.keys[key] = len(self.targets)
            self.targets.append([])
            self.ascii_word.append(bool((codes < 128).all()))
        self.targets[pid].append((entry, label))

    def build(self) -> None:
        if self.keys:
            self.ac = ahocorasick_rs.BytesAhoCorasick(list(self.keys))
        if self.wide:
            self.wide_keys = list(self.wide)
            self.wide_ac = ahocorasick_rs.AhoCorasick(self.wide_keys)

    def find(self, codes: np.ndarray[Any, Any]) -> list[tuple[int, int, int]]:
        """(pattern id, start, end) in view characters; wide patterns get ids after the 16-bit ones."""
        out: list[tuple[int, int, int]] = []
        if self.ac is not None and codes.size:
            big = codes > 0xFFFF
            units = np.where(big, _WIDE, codes) if big.any() else codes
            raw = self.ac.find_matches_as_indexes(units.astype(np.uint16).tobytes(), overlapping=True)
            out = [(p, s >> 1, e >> 1) for p, s, e in raw if not s & 1]
        if self.wide_ac is not None and codes.size and int(codes.max()) > 0xFFFF:
            base = len(self.targets)
            found = self.wide_ac.find_matches_as_indexes(nz.decode(codes), overlapping=True)
            out.extend((base + p, s, e) for p, s, e in found)
        return out

    def target(self, pid: int) -> list[tuple[int, str]]:
        if pid < len(self.targets):
            return self.targets[pid]
        return self.wide[self.wide_keys[pid - len(self.targets)]]

    def is_ascii_word(self, pid: int) -> bool:
        return pid < len(self.ascii_word) and self.ascii_word[pid]


class CompiledIndex:
    """Everything needed to scan text against one version of the library; immutable once built."""

    def __init__(
        self,
        entries: Iterable[Entry],
        *,
        version: int = 0,
        detectors: ContactDetectors | None = None,
    ) -> None:
        self.version = version
        self.entries: list[Entry] = list(entries)
        self.detectors = ContactDetectors() if detectors is None else detectors
        self.views: dict[str, _Automaton] = {}
        self.rules: list[tuple[Any, int]] = []
        terms = [(i, e) for i, e in enumerate(self.entries) if e.kind is Kind.TERM]
        for i, e in enumerate(self.entries):
            if e.kind is Kind.REGEX:
                self.rules.append((compile_rule(e.term), i))
        normal = self._auto("normal")
        pieces = self._batch([e.term for _, e in terms])
        for (i, e), codes in zip(terms, pieces, strict=True):
            collapsed_away = codes.size < 2 <= len(e.term.strip())
            if "exact" in e.views or codes.size == 0 or collapsed_away:
                self._auto("exact").add(nz.codes(e.term), i, "exact")
            if "normal" in e.views and not (codes.size == 0 or collapsed_away):
                normal.add(codes, i, "normal")
            for view, func in _VIEW_FUNCS.items():
                if view in e.views and codes.size:
                    self._auto(view).add(self._view_codes(func, codes), i, view)
        chaizi = [(i, v) for i, e in terms if "chaizi" in e.views for v in chaizi_variants(e.term)]
        for (i, _), codes in zip(chaizi, self._batch([v for _, v in chaizi]), strict=True):
            normal.add(codes, i, "chaizi")
        for auto in self.views.values():
            auto.build()
        exact = self.views.get("exact")
        self.overlap = max(MIN_OVERLAP, normal.max_len, exact.max_len if exact else 0)

    def _auto(self, view: str) -> _Automaton:
        return self.views.setdefault(view, _Automaton())

    @staticmethod
    def _view_codes(func: Any, codes: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        view = func(codes, np.zeros(codes.size, dtype=np.int64))
        return nz.codes(view.text)

    @staticmethod
    def _batch(terms: list[str]) -> list[np.ndarray[Any, Any]]:
        """Normalise many terms in one vectorised pass (joined by the separator)."""
        if not terms:
            return []
        codes, _ = nz.normalize_codes(chr(nz.SEP).join(terms))
        cuts = np.flatnonzero(codes == nz.SEP)
        parts = np.split(codes, cuts)
        pieces = [parts[0], *(p[1:] for p in parts[1:])]
        if len(pieces) != len(terms):
            raise ValueError("term separator lost in normalisation")
        return pieces

    def scan(self, text: str, *, chunk: int = DEFAULT_CHUNK) -> list[Match]:
        """Every hit in text, allowlist applied, in order of position; long texts are read in chunks."""
        if len(text) <= chunk:
            return self._scan(text, 0)[0]
        seen: set[tuple[str, str, int, int]] = set()
        out: list[Match] = []
        start = 0
        while True:
            end = min(len(text), start + chunk)
            found, offs = self._scan(text[start:end], start)
            for m in found:
                key = (m.entry.id, m.view, m.start, m.end)
                if key not in seen:
                    seen.add(key)
                    out.append(m)
            if end >= len(text):
                break
            back = offs[max(0, offs.size - self.overlap)] if offs.size else end - start
            nxt = start + min(int(back), end - start - self.overlap)
            start = max(nxt, start + 1)
        out = [out[i] for i in sorted(range(len(out)), key=[(m.start, m.end) for m in out].__getitem__)]
        return out

    def _scan(self, text: str, base: int) -> tuple[list[Match], np.ndarray[Any, Any]]:
        cps = nz.codes(text)
        codes, offs = nz.normalize_cps(cps)
        deny: list[Match] = []
        allow: list[tuple[int, int]] = []

        def emit(entry_idx: int, label: str, s: int, e: int) -> None:
            entry = self.entries[entry_idx]
            if entry.action is Action.ALLOW:
                allow.append((s, e))
            else:
                deny.append(Match(entry, label, s + base, e + base))

        for view, auto in self.views.items():
            if view == "normal":
                vcodes, voffs = codes, offs
            elif view == "exact":
                vcodes, voffs = cps, None
            else:
                v = _VIEW_FUNCS[view](codes, offs)
                vcodes, voffs = nz.codes(v.text), v.offsets
            self._view_hits(text, view, auto, vcodes, voffs, emit)
        if self.rules:
            normal_text = nz.decode(codes)
            for rx, idx in self.rules:
                for m in rx.finditer(normal_text):
                    if m.end() > m.start():
                        emit(idx, "regex", int(offs[m.start()]), int(offs[m.end() - 1]) + 1)
        for name, s, e in self.detectors.contact(nz.contact_codes(codes)):
            deny.append(Match(DETECTORS[name], "contact", int(offs[s]) + base, int(offs[e - 1]) + 1 + base))
        if "url" in self.detectors.enabled:
            for name, s, e in self.detectors.urls(cps):
                deny.append(Match(DETECTORS[name], "contact", s + base, e + base))
        return _apply_allow(deny, allow, base), offs

    @staticmethod
    def _view_hits(
        text: str,
        view: str,
        auto: _Automaton,
        vcodes: np.ndarray[Any, Any],
        voffs: np.ndarray[Any, Any] | None,
        emit: Any,
    ) -> None:
        n_text = len(text)
        for pid, s, e in auto.find(vcodes):
            o_s, o_e = (s, e) if voffs is None else (int(voffs[s]), int(voffs[e - 1]) + 1)
            if (
                voffs is not None
                and view in _EXPANDING_VIEWS
                and ((s > 0 and voffs[s - 1] == o_s) or (e < voffs.size and voffs[e] == o_e - 1))
            ):
                continue  # a pinyin hit must start and end on whole characters
            if auto.is_ascii_word(pid):
                after = o_e
                while after < n_text and _fold(text[after]) == _fold(text[o_e - 1]):
                    after += 1  # repeats collapsed into the last matched letter
                if (o_s > 0 and _is_word(text[o_s - 1])) or (after < n_text and _is_word(text[after])):
                    continue  # an ASCII term inside a longer ASCII word
            for idx, label in auto.target(pid):
                emit(idx, label, o_s, o_e)


def _apply_allow(deny: list[Match], allow: list[tuple[int, int]], base: int) -> list[Match]:
    """Drop deny hits that overlap an allowlist span, unless the deny hit strictly contains it."""
    if allow:
        spans = sorted((s + base, e + base) for s, e in allow)
        starts = [s for s, _ in spans]
        kept = []
        for m in deny:
            i = bisect.bisect_left(starts, m.end)
            overlapping = [(s, e) for s, e in spans[max(0, i - 64) : i] if s < m.end and e > m.start]
            contains = all(m.start <= s and e <= m.end and (e - s) < (m.end - m.start) for s, e in overlapping)
            if not overlapping or contains:
                kept.append(m)
        deny = kept
    order = sorted(range(len(deny)), key=[(m.start, m.end) for m in deny].__getitem__)
    return [deny[i] for i in order]
