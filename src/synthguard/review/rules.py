"""Regular-expression rules (RE2: linear time, refused when pathological) and the contact-detail detectors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import re2

from synthguard.errors import InputError
from synthguard.review.lexicon import Entry
from synthguard.review.normalize import decode, light_cps
from synthguard.review.taxonomy import Action, Kind, Severity

MAX_PROGRAM_SIZE = 5_000
MAX_MEM = 8 << 20


def _options() -> Any:
    opts = re2.Options()
    opts.max_mem = MAX_MEM
    opts.log_errors = False
    return opts


def compile_rule(pattern: str) -> Any:
    """Compile a rule with RE2, refusing what RE2 cannot run in linear time and programs too big or too lax."""
    try:
        compiled = re2.compile(pattern, _options())
    except re2.error as exc:
        detail = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        raise InputError(
            f"regular expression {pattern!r} refused: {detail} (RE2 syntax: no backreferences or lookaround)"
        ) from None
    if compiled.programsize > MAX_PROGRAM_SIZE:
        raise InputError(
            f"regular expression {pattern!r} refused: program size {compiled.programsize} "
            f"exceeds {MAX_PROGRAM_SIZE} (too many alternatives or repetitions)"
        )
    if compiled.search("") is not None:
        raise InputError(f"regular expression {pattern!r} refused: it matches the empty text")
    return compiled


SET_MAX_MEM = 64 << 20


class RuleSet:
    """All regex rules in one RE2 Set: one linear pass says which rules match; only those run for spans."""

    def __init__(self, patterns: list[str]) -> None:
        self.size = len(patterns)
        self._set: Any = None
        opts = _options()
        opts.max_mem = SET_MAX_MEM
        rs = re2.Set.SearchSet(opts)
        try:
            if rs.Add("") != 0:  # a sentinel that matches every text: its absence means the DFA gave up
                return
            for p in patterns:
                rs.Add(p)
            rs.Compile()
        except re2.error:
            return  # every rule then runs on its own, as before
        self._set = rs

    def candidates(self, text: str) -> list[int]:
        """Indices of the rules that match somewhere in text (all of them when the Set cannot tell)."""
        if self._set is None:
            return list(range(self.size))
        found = self._set.Match(text) or []
        if 0 not in found:
            return list(range(self.size))  # out of DFA memory: fall back to running every rule
        return sorted(i - 1 for i in found if i)


def _detector(name: str, risk: str, action: Action, what: str) -> Entry:
    return Entry(
        term=f"<{name}>",
        risk=risk,
        kind=Kind.REGEX,
        severity=Severity.LOW,
        action=action,
        source="synthguard detector",
        added_by="synthguard",
        reason=what,
        id=f"detector:{name}",
    )


_NUM = "0-9"
# These run on the contact view: the normal view (case and width folded, symbols and spaces dropped) with
# Chinese numerals read as digits (repeated letters are already collapsed: "qq" reads "q");
# group 1 is the detail itself.
_CONTACT = {
    "phone": rf"(?:^|[^{_NUM}])(1[3-9][{_NUM}]{{9}})(?:[^{_NUM}]|$)",
    "qq": rf"(?:q|扣|企鹅|球|q号)(?:号|号码|群)?([1-9][{_NUM}]{{4,10}})(?:[^{_NUM}]|$)",
    "wechat": r"(?:微信|威信|薇信|徽信|维信|v信|vx|wx|weixin|wechat|vchat)(?:号)?([a-z][a-z0-9]{5,19}|[0-9]{6,12})",
}
# This one runs on the light view (width and case folded, nothing dropped), so dots and slashes survive.
_URL = (
    r"((?:https?://|www[.。．点])[a-z0-9\-._~%/?#=&+。点]+"
    r"|[a-z0-9][a-z0-9\-]{0,62}(?:[.。点][a-z0-9\-]{1,62})*[.。点]"
    r"(?:com|cn|net|org|top|xyz|cc|info|vip|io|me|tv|co|app|site|shop|club|ru|hk|tw)(?:/[a-z0-9\-._~%/?#=&+]*)?)"
    r"(?:[^a-z0-9\-]|$)"
)

DETECTORS: dict[str, Entry] = {
    "phone": _detector("phone", "A.4.6", Action.REVIEW, "mobile phone number (also in digit variants)"),
    "qq": _detector("qq", "A.3.2", Action.REVIEW, "QQ number offered as a contact"),
    "wechat": _detector("wechat", "A.3.2", Action.REVIEW, "WeChat id offered as a contact"),
    "url": _detector("url", "A.3.5", Action.FLAG, "web address"),
}


_DOT = np.zeros(0x110000, dtype=np.bool_)
_DOT[[ord(c) for c in ".。点．｡"]] = True
_KEYWORD = np.zeros(0x110000, dtype=np.bool_)
_KEYWORD[[ord(c) for c in "qvw扣企球微威薇徽维"]] = True
_KEY_NEXT = np.zeros(0x110000, dtype=np.bool_)  # the second character of a keyword (微信, vx, wechat, 企鹅 ...)
_KEY_NEXT[[ord(c) for c in "信xec鹅号群"]] = True
_ID_REACH = 40  # characters after a keyword where the id may end
_URL_REACH = 128  # characters either side of a dot that a web address may span
_CONTEXT = 8  # characters before a candidate run where a keyword (微信, qq ...) may stand


def _runs(mask: npt.NDArray[np.bool_], min_len: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Starts and ends ([start, end)) of the runs of True at least min_len long."""
    flags = mask.view(np.int8)
    edges = np.diff(flags)
    starts = np.flatnonzero(edges == 1) + 1
    ends = np.flatnonzero(edges == -1) + 1
    if flags.size and flags[0]:
        starts = np.concatenate(([0], starts))
    if flags.size and flags[-1]:
        ends = np.concatenate((ends, [flags.size]))
    long = (ends - starts) >= min_len
    return starts[long], ends[long]


def _containing(positions: npt.NDArray[np.intp], starts: npt.NDArray[np.intp], ends: npt.NDArray[np.intp]) -> Any:
    """Which runs contain at least one of the sorted positions."""
    return np.searchsorted(positions, ends) > np.searchsorted(positions, starts)


@dataclass(frozen=True, slots=True)
class ContactDetectors:
    """Contact-detail detectors; regexes run only on small windows around candidate runs found with numpy."""

    enabled: frozenset[str] = frozenset(DETECTORS)

    def contact(self, codes: npt.NDArray[np.uint32]) -> Iterator[tuple[str, int, int]]:
        """Phone, QQ and WeChat details in the contact view (code points), as spans of it."""
        names = [n for n in ("phone", "qq", "wechat") if n in self.enabled]
        if not names or not codes.size:
            return
        starts, ends = _runs((codes - 48) < 10, 11)  # bare phone numbers; qq and wechat ids follow a keyword
        windows = [(max(0, s - _CONTEXT), e + 1) for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]
        keys = np.flatnonzero(_KEYWORD[codes[:-1]])
        if keys.size:
            after = codes[keys + 1]
            keys = keys[_KEY_NEXT[after] | ((after - 48) < 10)]
            windows += [(k, k + _ID_REACH) for k in keys.tolist()]
        seen: set[tuple[str, int, int]] = set()
        for lo, hi in _merge(windows):
            window = decode(codes[lo:hi])
            for name in names:
                for m in _compiled_contact()[name].finditer(window):
                    if name == "phone" and lo + m.start(1) > 0 and m.start(1) == 0:
                        continue
                    found = (name, lo + m.start(1), lo + m.end(1))
                    if found not in seen:
                        seen.add(found)
                        yield found

    def urls(self, cps: npt.NDArray[np.uint32]) -> Iterator[tuple[str, int, int]]:
        """Web addresses (dots of any width, 。 and 点 included) in the original code points, as spans of them."""
        if "url" not in self.enabled or not cps.size:
            return
        dots = np.flatnonzero(_DOT[cps])
        dots = dots[(dots > 0) & (dots < cps.size - 1)]
        if not dots.size:
            return
        light_after = light_cps(cps[dots + 1])
        dots = dots[(light_after - 97) < 26]
        windows = []
        for d in dots.tolist():
            lo, hi = max(0, d - _URL_REACH), min(cps.size, d + _URL_REACH)
            windows.append((lo, hi))
        for lo, hi in _merge(windows):
            light = light_cps(cps[lo:hi])
            for m in _compiled_url().finditer(decode(light)):
                yield "url", lo + m.start(1), lo + m.end(1)


def _merge(windows: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merge overlapping [lo, hi) windows."""
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(windows):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


_cache: dict[str, Any] = {}


def _compiled_contact() -> dict[str, Any]:
    if "contact" not in _cache:
        _cache["contact"] = {n: re2.compile(p, _options()) for n, p in _CONTACT.items()}
    return dict(_cache["contact"])


def _compiled_url() -> Any:
    if "url" not in _cache:
        _cache["url"] = re2.compile(_URL, _options())
    return _cache["url"]
