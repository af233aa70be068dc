"""Review text, images, video and transcripts against the library and hash banks; decide by policy."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from synthguard.errors import ConfigError
from synthguard.review.hashbank import HashBanks, HashMatch, hash_image, hash_video
from synthguard.review.lexicon import Library, LiveLibrary
from synthguard.review.matcher import DEFAULT_CHUNK, CompiledIndex, Match
from synthguard.review.taxonomy import Action, Decision, Direction, Severity


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason behind a decision: what matched, where, and how the library says to treat it."""

    source: str  # lexicon / detector / hashbank
    action: Action
    risk: str | None
    severity: Severity
    entry_id: str
    term: str
    view: str = ""
    start: int = -1  # character span in the text (text findings)
    end: int = -1
    excerpt: str = ""
    bank: str = ""
    distance: int = -1
    at: float = -1.0  # seconds into a video

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, without the fields that do not apply."""
        data = {k: (str(v) if k in ("action", "severity") else v) for k, v in asdict(self).items()}
        return {k: v for k, v in data.items() if v not in ("", -1, -1.0, None) or k == "risk"}


@dataclass(frozen=True, slots=True)
class Rule:
    """How findings become a decision for one service type and direction."""

    block_on: frozenset[Action] = frozenset({Action.BLOCK})
    review_on: frozenset[Action] = frozenset({Action.REVIEW})
    block_severity: Severity | None = Severity.CRITICAL  # any finding this severe blocks, whatever its action
    review_flags: int | None = None  # this many flag findings send the content to review

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rule:
        """Build from JSON (lists of action names, a severity name or null, an integer or null)."""
        try:
            sev = data.get("block_severity", Severity.CRITICAL.value)
            flags = data.get("review_flags")
            return cls(
                block_on=frozenset(Action(a) for a in data.get("block_on", ["block"])),
                review_on=frozenset(Action(a) for a in data.get("review_on", ["review"])),
                block_severity=None if sev is None else Severity(sev),
                review_flags=None if flags is None else int(flags),
            )
        except (ValueError, TypeError, AttributeError) as exc:
            raise ConfigError(f"invalid review policy rule: {exc}") from None

    def decide(self, findings: list[Finding]) -> Decision:
        """Block beats review beats pass."""
        if any(f.action in self.block_on for f in findings):
            return Decision.BLOCK
        if self.block_severity is not None and any(
            f.severity.rank >= self.block_severity.rank and f.action is not Action.ALLOW for f in findings
        ):
            return Decision.BLOCK
        if any(f.action in self.review_on for f in findings):
            return Decision.REVIEW
        flags = sum(f.action is Action.FLAG for f in findings)
        if self.review_flags is not None and flags >= self.review_flags:
            return Decision.REVIEW
        return Decision.PASS


@dataclass(frozen=True, slots=True)
class Policy:
    """A default rule and overrides keyed "service/direction", "service/*" or "*/direction"."""

    default: Rule = field(default_factory=Rule)
    overrides: Mapping[str, Rule] = field(default_factory=dict)

    def rule(self, service: str | None, direction: Direction | None) -> Rule:
        """The most specific rule for a service type and direction."""
        s, d = service or "*", str(direction) if direction else "*"
        for key in (f"{s}/{d}", f"{s}/*", f"*/{d}"):
            if key in self.overrides:
                return self.overrides[key]
        return self.default

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Policy:
        """{"default": rule, "overrides": {"chat/input": rule, ...}}."""
        overrides = data.get("overrides", {})
        if not isinstance(overrides, Mapping):
            raise ConfigError("policy overrides must be an object")
        return cls(Rule.from_dict(data.get("default", {})), {k: Rule.from_dict(v) for k, v in overrides.items()})

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        """Read a policy JSON file."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read review policy: {exc}", path=str(path)) from None


@dataclass(frozen=True, slots=True)
class ReviewResult:
    """A decision with the findings behind it."""

    decision: Decision
    findings: tuple[Finding, ...]
    modality: str
    direction: Direction | None
    service: str | None
    library_version: int
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "decision": str(self.decision),
            "modality": self.modality,
            "direction": None if self.direction is None else str(self.direction),
            "service": self.service,
            "library_version": self.library_version,
            "findings": [f.to_dict() for f in self.findings],
            "notes": list(self.notes),
        }


def _from_match(m: Match, text: str) -> Finding:
    e = m.entry
    return Finding(
        source="detector" if e.id.startswith("detector:") else "lexicon",
        action=e.action,
        risk=e.risk,
        severity=e.severity,
        entry_id=e.id,
        term=e.term,
        view=m.view,
        start=m.start,
        end=m.end,
        excerpt=text[m.start : m.end],
    )


def _from_hash(m: HashMatch, action: Action, at: float = -1.0) -> Finding:
    return Finding(
        source="hashbank",
        action=action,
        risk=m.entry.risk,
        severity=Severity.HIGH,
        entry_id=m.entry.id,
        term=m.entry.label,
        bank=m.bank,
        distance=m.distance,
        at=at,
    )


class Reviewer:
    """Reviews content in and out of a generation service: review(...) -> ReviewResult."""

    def __init__(
        self,
        library: Library | LiveLibrary | CompiledIndex | None = None,
        *,
        banks: HashBanks | None = None,
        policy: Policy | None = None,
        chunk: int = DEFAULT_CHUNK,
    ) -> None:
        if isinstance(library, Library):
            library = LiveLibrary(library)
        self._live = library if isinstance(library, LiveLibrary) else None
        self._fixed = library if isinstance(library, CompiledIndex) else None
        if self._live is None and self._fixed is None:
            self._fixed = CompiledIndex([])
        self.banks = banks or HashBanks()
        self.policy = policy or Policy()
        self.chunk = chunk

    @property
    def index(self) -> CompiledIndex:
        """The index in use right now (swapped atomically on library updates)."""
        if self._live is not None:
            index: CompiledIndex = self._live.index
            return index
        assert self._fixed is not None
        return self._fixed

    def _decide(
        self,
        findings: list[Finding],
        modality: str,
        direction: Direction | None,
        service: str | None,
        version: int,
        notes: tuple[str, ...] = (),
    ) -> ReviewResult:
        decision = self.policy.rule(service, direction).decide(findings)
        return ReviewResult(decision, tuple(findings), modality, direction, service, version, notes)

    def review_text(
        self,
        text: str,
        *,
        direction: Direction | str | None = None,
        service: str | None = None,
        modality: str = "text",
    ) -> ReviewResult:
        """Review text (also an audio transcript, with modality="audio")."""
        d = None if direction is None else Direction(direction)
        index = self.index
        findings = [_from_match(m, text) for m in index.scan(text, chunk=self.chunk) if m.entry.applies(d, service)]
        return self._decide(findings, modality, d, service, index.version)

    def review_image(
        self, data: bytes, *, direction: Direction | str | None = None, service: str | None = None, name: str = "image"
    ) -> ReviewResult:
        """Review an image by its PDQ hash against the banks."""
        d = None if direction is None else Direction(direction)
        (query,) = hash_image(data, name=name)
        result = self.banks.lookup(query)
        notes: tuple[str, ...] = (
            (f"PDQ quality {query.quality} below the gate; not matched",) if result.low_quality else ()
        )
        notes += tuple(
            f"suppressed by a negative bank: {m.bank}/{m.entry.id} at distance {m.distance}" for m in result.suppressed
        )
        findings = (
            []
            if any(m.negative for m in result.matches)
            else [_from_hash(m, self.banks.banks[m.bank].action) for m in result.matches]
        )
        return self._decide(findings, "image", d, service, self.index.version, notes)

    def review_video(
        self,
        path: str | Path,
        *,
        direction: Direction | str | None = None,
        service: str | None = None,
        every: float = 1.0,
    ) -> ReviewResult:
        """Review a video by PDQ hashes of frames sampled every `every` seconds."""
        d = None if direction is None else Direction(direction)
        findings: list[Finding] = []
        low = 0
        for at, query in hash_video(path, every=every):
            result = self.banks.lookup(query)
            low += result.low_quality
            if not any(m.negative for m in result.matches):
                findings += [_from_hash(m, self.banks.banks[m.bank].action, at) for m in result.matches]
        notes = (f"{low} sampled frame(s) below the PDQ quality gate",) if low else ()
        return self._decide(findings, "video", d, service, self.index.version, notes)

    def review(self, content: str | bytes, *, kind: str | None = None, **scope: Any) -> ReviewResult:
        """Review text (str), or bytes as an image; kind="audio" marks a transcript."""
        if isinstance(content, str):
            return self.review_text(content, modality=kind or "text", **scope)
        return self.review_image(content, **scope)
