"""The compiled index: one Aho-Corasick automaton per view over UTF-16 code units, hits mapped to original spans."""

from __future__ import annotations

import gc
import itertools
from collections.abc import Iterable
from functools import cache
from typing import Any, NamedTuple

import ahocorasick_rs
import numpy as np

from synthguard.review import hits as hx
from synthguard.review import normalize as nz
from synthguard.review.lexicon import Entry
from synthguard.review.rules import DETECTORS, ContactDetectors, RuleSet, compile_rule
from synthguard.review.taxonomy import Action, Kind

DEFAULT_CHUNK = 1 << 20  # characters per chunk; matches across chunk boundaries are still found
MIN_OVERLAP = 256  # normal-view characters re-read across a boundary (regex rules and URLs up to this long)
_WIDE = 0xF8FF  # stands in for code points beyond the BMP in the 16-bit stream (patterns with them go elsewhere)
_MAX_CHAIZI_VARIANTS = 16
_EXPANDING_VIEWS = ("pinyin",)
_LABELS = np.array(hx.LABELS, dtype=object)
_VIEW_FUNCS = {"pinyin": nz.pinyin_view, "initials": nz.initials_view, "homophone": nz.homophone_view}


class Match(NamedTuple):
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
        self.ptr: hx.I64 = np.zeros(1, dtype=np.int64)
        self.t_entry: hx.I64 = np.zeros(0, dtype=np.int64)
        self.t_label: hx.I64 = np.zeros(0, dtype=np.int64)
        self.aw: hx.Bools = np.zeros(0, dtype=np.bool_)
        self.single = True

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
        groups = self.targets + [self.wide[k] for k in self.wide_keys]
        sizes = np.fromiter(map(len, groups), dtype=np.int64, count=len(groups))
        self.ptr = np.zeros(len(groups) + 1, dtype=np.int64)
        np.cumsum(sizes, out=self.ptr[1:])
        flat = [t for g in groups for t in g]
        self.t_entry = np.fromiter((i for i, _ in flat), dtype=np.int64, count=len(flat))
        self.t_label = np.fromiter((hx.LABEL_ID[v] for _, v in flat), dtype=np.int64, count=len(flat))
        self.aw = np.zeros(len(groups), dtype=np.bool_)
        self.aw[: len(self.ascii_word)] = self.ascii_word
        self.single = bool((sizes == 1).all())

    def find(self, codes: np.ndarray[Any, Any]) -> tuple[hx.I64, hx.I64, hx.I64]:
        """(pattern id, start, end) arrays in view characters; wide patterns get ids after the 16-bit ones."""
        parts: list[np.ndarray[Any, Any]] = []
        if self.ac is not None and codes.size:
            big = codes > 0xFFFF
            units = np.where(big, _WIDE, codes) if big.any() else codes
            raw = self.ac.find_matches_as_indexes(units.astype(np.uint16).view(np.uint8), overlapping=True)
            if raw:
                arr = hx.triples(raw)
                arr = arr[(arr[:, 1] & 1) == 0]
                arr[:, 1:] >>= 1
                parts.append(arr)
        if self.wide_ac is not None and codes.size and int(codes.max()) > 0xFFFF:
            found = self.wide_ac.find_matches_as_indexes(nz.decode(codes), overlapping=True)
            if found:
                arr = hx.triples(found)
                arr[:, 0] += len(self.targets)
                parts.append(arr)
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        out = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return out[:, 0], out[:, 1], out[:, 2]

    def target(self, pid: int) -> list[tuple[int, str]]:
        """The (entry index, label) pairs pattern pid stands for."""
        if pid < len(self.targets):
            return self.targets[pid]
        return self.wide[self.wide_keys[pid - len(self.targets)]]

    def is_ascii_word(self, pid: int) -> bool:
        """Whether pattern pid is ASCII only (it must then stand at word boundaries)."""
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
        self.rule_set = RuleSet([e.term for e in self.entries if e.kind is Kind.REGEX]) if self.rules else None
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
        # entries, then the detectors; hits refer to rows of this table
        self.table: list[Entry] = [*self.entries, *DETECTORS.values()]
        self._table = np.empty(len(self.table), dtype=object)
        self._table[:] = self.table
        self._detector = {name: len(self.entries) + i for i, name in enumerate(DETECTORS)}
        self._allow = np.array([e.action is Action.ALLOW for e in self.entries] + [False] * len(DETECTORS))
        ids: dict[str, int] = {}
        self._canon = np.array([ids.setdefault(e.id, i) for i, e in enumerate(self.table)], dtype=np.int64)

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
        return self.matches(self.scan_hits(text, chunk=chunk))

    def matches(self, hits: hx.Hits) -> list[Match]:
        """Match objects for hit arrays (built only here, for the hits that survived)."""
        entries = self._table[hits.entry].tolist()
        labels = _LABELS[hits.label].tolist()
        paused = gc.isenabled()
        if paused:
            gc.disable()  # plain tuples, no cycles: spare the collector passes over a large heap
        try:
            return list(map(Match, entries, labels, hits.start.tolist(), hits.end.tolist()))
        finally:
            if paused:
                gc.enable()

    def scan_hits(self, text: str, *, chunk: int = DEFAULT_CHUNK) -> hx.Hits:
        """scan() as arrays (entry rows index `table`); no per-hit Python objects."""
        if len(text) <= chunk:
            return self._scan(text, 0)[0]
        parts: list[hx.Hits] = []
        start = 0
        while True:
            end = min(len(text), start + chunk)
            found, offs = self._scan(text[start:end], start)
            parts.append(found)
            if end >= len(text):
                break
            back = offs[max(0, offs.size - self.overlap)] if offs.size else end - start
            nxt = start + min(int(back), end - start - self.overlap)
            start = max(nxt, start + 1)
        hits = hx.Hits.concat(parts)
        first = hx.first_unique([self._canon[hits.entry], hits.label, hits.start, hits.end])
        return hits.take(first).ordered()

    def _scan(self, text: str, base: int) -> tuple[hx.Hits, np.ndarray[Any, Any]]:
        cps = nz.codes(text)
        codes, offs = nz.normalize_cps(cps)
        parts: list[hx.Hits] = []
        for view, auto in self.views.items():
            if view == "normal":
                vcodes, voffs = codes, offs
            elif view == "exact":
                vcodes, voffs = cps, None
            else:
                v = _VIEW_FUNCS[view](codes, offs)
                vcodes, voffs = nz.codes(v.text), v.offsets
            parts.append(self._view_hits(text, cps, view, auto, vcodes, voffs))
        rows: list[tuple[int, int, int, int]] = []
        if self.rules:
            normal_text = nz.decode(codes)
            assert self.rule_set is not None
            label = hx.LABEL_ID["regex"]
            for k in self.rule_set.candidates(normal_text):
                rx, idx = self.rules[k]
                for m in rx.finditer(normal_text):
                    if m.end() > m.start():
                        rows.append((idx, label, int(offs[m.start()]), int(offs[m.end() - 1]) + 1))
        label = hx.LABEL_ID["contact"]
        for name, s, e in self.detectors.contact(nz.contact_codes(codes)):
            rows.append((self._detector[name], label, int(offs[s]), int(offs[e - 1]) + 1))
        if "url" in self.detectors.enabled:
            for name, s, e in self.detectors.urls(cps):
                rows.append((self._detector[name], label, s, e))
        parts.append(hx.Hits.from_rows(rows))
        hits = hx.Hits.concat(parts)
        allow = self._allow[hits.entry]
        if allow.any():
            deny = hits.take(~allow)
            keep = hx.allowed(deny.start, deny.end, hits.start[allow], hits.end[allow])
            hits = deny.take(keep)
        return hits.ordered().shift(base), offs

    @staticmethod
    def _view_hits(
        text: str,
        cps: np.ndarray[Any, Any],
        view: str,
        auto: _Automaton,
        vcodes: np.ndarray[Any, Any],
        voffs: np.ndarray[Any, Any] | None,
    ) -> hx.Hits:
        pid, s, e = auto.find(vcodes)
        if not pid.size:
            return hx.Hits.empty()
        o_s, o_e = (s, e) if voffs is None else (voffs[s], voffs[e - 1] + 1)
        keep: hx.Bools | None = None
        if voffs is not None and view in _EXPANDING_VIEWS:
            keep = hx.whole_chars(s, e, o_s, o_e, voffs)  # a pinyin hit must start and end on whole characters
        aw = auto.aw[pid]
        if aw.any():
            inside = np.zeros(pid.size, dtype=np.bool_)
            inside[aw] = hx.inside_word(text, cps, o_s[aw], o_e[aw])  # an ASCII term inside a longer ASCII word
            keep = ~inside if keep is None else keep & ~inside
        if keep is not None and not keep.all():
            pid, o_s, o_e = pid[keep], o_s[keep], o_e[keep]
        return hx.Hits(*hx.expand_targets(auto.ptr, auto.t_entry, auto.t_label, pid, o_s, o_e, auto.single))
