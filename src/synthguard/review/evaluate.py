"""Evaluate a library: recall per evasion type, false hits on clean text, GB/T 45654 coverage."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from synthguard.review import normalize as nz
from synthguard.review.lexicon import Entry, Library
from synthguard.review.matcher import CompiledIndex, chaizi_variants
from synthguard.review.taxonomy import RISKS, Action, Kind, category

ZERO_WIDTH = "\u200b"
EMOJI = "\U0001f600"
DEFAULT_EVASIONS = ("width", "case", "traditional", "styled", "symbols", "spaces", "zero_width", "emoji", "repeat")
VIEW_EVASIONS = {"pinyin": "pinyin", "initials": "initials", "homophone": "homophone", "chaizi": "chaizi"}


def _between(term: str, filler: str) -> str | None:
    return filler.join(term) if len(term) > 1 else None


def _width(term: str) -> str | None:
    out = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in term)
    return out if out != term else None


def _case(term: str) -> str | None:
    out = term.swapcase()
    return out if out != term else None


@cache
def _s2t() -> Any:
    import opencc

    return opencc.OpenCC("s2t")


def _traditional(term: str) -> str | None:
    out = str(_s2t().convert(term))
    return out if out != term else None


def _styled(term: str) -> str | None:
    def style(c: str) -> str:
        if "a" <= c <= "z":
            return chr(0x1D41A + ord(c) - 97)
        if "A" <= c <= "Z":
            return chr(0x1D400 + ord(c) - 65)
        if "1" <= c <= "9":
            return chr(0x2460 + ord(c) - 49)
        return c

    out = "".join(style(c) for c in term)
    return out if out != term else None


def _repeat(term: str) -> str | None:
    return "".join(c if c.isdigit() else c * 2 for c in term) if term.strip() else None


def _pinyin(term: str) -> str | None:
    from pypinyin import lazy_pinyin

    out = " ".join(lazy_pinyin(term))
    return out if out != term else None


def _initials(term: str) -> str | None:
    from pypinyin import Style, lazy_pinyin

    out = "".join(lazy_pinyin(term, style=Style.FIRST_LETTER))
    return out if out != term else None


@cache
def _homophones() -> dict[int, int]:
    """Each character -> another character with the same first toneless reading."""
    t = nz.tables()
    by_syllable: dict[int, list[int]] = {}
    for cp in range(0x4E00, 0xA000):
        sid = int(t.syllable[cp])
        if sid:
            by_syllable.setdefault(sid, []).append(cp)
    return {cp: group[(i + 1) % len(group)] for group in by_syllable.values() for i, cp in enumerate(group)}


def _homophone(term: str) -> str | None:
    table = _homophones()
    out = "".join(chr(table.get(ord(c), ord(c))) for c in term)
    return out if out != term else None


def _chaizi(term: str) -> str | None:
    variants = chaizi_variants(term)
    return variants[0] if variants else None


EVASIONS: dict[str, Callable[[str], str | None]] = {
    "width": _width,
    "case": _case,
    "traditional": _traditional,
    "styled": _styled,
    "symbols": lambda t: _between(t, "*"),
    "spaces": lambda t: _between(t, " "),
    "zero_width": lambda t: _between(t, ZERO_WIDTH),
    "emoji": lambda t: _between(t, EMOJI),
    "repeat": _repeat,
    "pinyin": _pinyin,
    "initials": _initials,
    "homophone": _homophone,
    "chaizi": _chaizi,
}


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Coverage the baseline asks of a keyword library (configurable)."""

    total: int = 10_000
    per_a1: int = 200
    per_a2: int = 100


@dataclass
class Report:
    """Recall per evasion type, false hits on clean text and coverage."""

    recall: dict[str, tuple[int, int]] = field(default_factory=dict)  # type -> (found, tried)
    misses: dict[str, list[str]] = field(default_factory=dict)
    clean_chars: int = 0
    clean_hits: int = 0
    clean_lines: int = 0
    clean_lines_hit: int = 0
    top_false_hits: list[tuple[str, int]] = field(default_factory=list)
    coverage: dict[str, int] = field(default_factory=dict)
    total: int = 0
    shortfalls: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "recall": {
                k: {"found": f, "tried": n, "recall": (f / n if n else None)} for k, (f, n) in self.recall.items()
            },
            "misses": self.misses,
            "false_hits": {
                "chars": self.clean_chars,
                "hits": self.clean_hits,
                "hits_per_10k_chars": self.hits_per_10k,
                "lines": self.clean_lines,
                "lines_with_hit": self.clean_lines_hit,
                "top": self.top_false_hits,
            },
            "coverage": {"total": self.total, "per_risk": self.coverage, "shortfalls": self.shortfalls},
        }

    @property
    def hits_per_10k(self) -> float:
        """False hits per 10,000 characters of clean text."""
        return self.clean_hits * 10_000 / self.clean_chars if self.clean_chars else 0.0


def recall(
    index: CompiledIndex,
    entries: Iterable[Entry],
    evasions: Iterable[str],
    *,
    sample: int | None = None,
    keep_misses: int = 10,
) -> tuple[dict[str, tuple[int, int]], dict[str, list[str]]]:
    """Recall per evasion type: each applicable entry's variant is scanned and must hit that entry."""
    terms = [e for e in entries if e.kind is Kind.TERM and e.action is not Action.ALLOW and e.status == "active"]
    if sample is not None:
        terms = terms[:sample]
    sep = chr(nz.SEP)
    out: dict[str, tuple[int, int]] = {}
    misses: dict[str, list[str]] = {}
    for name in evasions:
        make = EVASIONS[name]
        view = VIEW_EVASIONS.get(name)
        pieces: list[str] = []
        spans: list[tuple[int, int, str]] = []
        pos = 0
        for e in terms:
            if view is not None and view not in e.views:
                continue
            if view is None and "normal" not in e.views:
                continue
            variant = make(e.term)
            if variant is None or not nz.normalize(e.term).strip():
                continue
            spans.append((pos, pos + len(variant), e.id))
            pieces.append(variant)
            pos += len(variant) + 1
        text = sep.join(pieces)
        hits: dict[str, list[tuple[int, int]]] = {}
        for m in index.scan(text):
            hits.setdefault(m.entry.id, []).append((m.start, m.end))
        found = 0
        missed: list[str] = []
        for (lo, hi, ident), variant in zip(spans, pieces, strict=True):
            if any(lo <= a and b <= hi for a, b in hits.get(ident, ())):
                found += 1
            elif len(missed) < keep_misses:
                missed.append(variant)
        out[name] = (found, len(spans))
        misses[name] = missed
    return out, misses


def false_hits(index: CompiledIndex, files: Iterable[Path], report: Report, *, top: int = 15) -> None:
    """Scan clean text: hits per 10k characters and the share of lines with any hit."""
    counts: Counter[str] = Counter()
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        lines = text.splitlines()
        starts = [0]
        for line in lines:
            starts.append(starts[-1] + len(line) + 1)
        matches = [m for m in index.scan("\n".join(lines)) if m.entry.action is not Action.ALLOW]
        report.clean_chars += len(text)
        report.clean_hits += len(matches)
        report.clean_lines += sum(1 for line in lines if line.strip())
        import bisect

        report.clean_lines_hit += len({bisect.bisect_right(starts, m.start) for m in matches})
        counts.update(m.entry.term for m in matches)
    report.top_false_hits = counts.most_common(top)


def coverage(entries: Iterable[Entry], thresholds: Thresholds, report: Report) -> None:
    """Active deny entries per risk code, against the thresholds."""
    counts = Counter(e.risk for e in entries if e.action is not Action.ALLOW and e.status == "active" and e.risk)
    report.coverage = {risk: counts.get(risk, 0) for risk in RISKS}
    report.total = sum(counts.values())
    if report.total < thresholds.total:
        report.shortfalls.append(f"total {report.total} < {thresholds.total}")
    for risk in RISKS:
        need = {"A.1": thresholds.per_a1, "A.2": thresholds.per_a2}.get(category(risk))
        if need is not None and report.coverage[risk] < need:
            report.shortfalls.append(f"{risk} {report.coverage[risk]} < {need}")


def evaluate(
    library: Library,
    *,
    clean: Iterable[Path] = (),
    evasions: Iterable[str] | None = None,
    thresholds: Thresholds | None = None,
    sample: int | None = None,
) -> Report:
    """The full evaluation of a library."""
    entries = library.active()
    index = CompiledIndex(entries, version=library.version)
    names = list(evasions) if evasions is not None else [*DEFAULT_EVASIONS, *VIEW_EVASIONS]
    report = Report()
    report.recall, report.misses = recall(index, entries, names, sample=sample)
    false_hits(index, clean, report)
    coverage(library.entries.values(), thresholds or Thresholds(), report)
    return report
