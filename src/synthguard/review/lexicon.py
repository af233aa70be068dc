"""The feature library: entries with intake fields, versions, a change log, and atomic index swaps."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from synthguard.errors import InputError
from synthguard.review.taxonomy import (
    DEFAULT_VIEWS,
    RISKS,
    VIEWS,
    Action,
    Direction,
    Kind,
    Severity,
    Status,
)

ALL_DIRECTIONS = frozenset(Direction)


def now() -> str:
    """The current UTC time as ISO 8601 (seconds)."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def entry_id(kind: str, term: str, risk: str | None) -> str:
    """A stable id from what the entry matches and its risk code."""
    digest = hashlib.sha1(f"{kind}\x1f{term}\x1f{risk or ''}".encode(), usedforsecurity=False)
    return digest.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Entry:
    """One library entry: what it matches, why it is there, and how a hit is treated."""

    term: str
    risk: str | None
    kind: Kind = Kind.TERM
    severity: Severity = Severity.MEDIUM
    action: Action = Action.REVIEW
    views: frozenset[str] = DEFAULT_VIEWS
    directions: frozenset[Direction] = ALL_DIRECTIONS
    services: frozenset[str] = frozenset()  # empty: every service type
    source: str = ""
    added_by: str = ""
    reason: str = ""
    status: Status = Status.ACTIVE
    added_at: str = ""
    id: str = ""

    def __post_init__(self) -> None:
        try:
            for name, enum in (("kind", Kind), ("severity", Severity), ("action", Action), ("status", Status)):
                object.__setattr__(self, name, enum(getattr(self, name)))
            object.__setattr__(self, "directions", frozenset(Direction(d) for d in self.directions))
        except ValueError as exc:
            raise InputError(f"invalid entry field: {exc}") from None
        for name in ("views", "services"):
            object.__setattr__(self, name, frozenset(getattr(self, name)))
        if not self.term or not self.term.strip():
            raise InputError("an entry needs a non-empty term")
        if self.action is not Action.ALLOW and self.risk not in RISKS:
            raise InputError(f"unknown risk code {self.risk!r} (expected one of the 31 GB/T 45654 codes)")
        if self.risk is not None and self.risk not in RISKS:
            raise InputError(f"unknown risk code {self.risk!r}")
        bad = set(self.views) - set(VIEWS)
        if bad:
            raise InputError(f"unknown view(s) {sorted(bad)}; views are {', '.join(VIEWS)}")
        if not self.views:
            raise InputError("an entry needs at least one view")
        if not self.directions:
            raise InputError("an entry needs at least one direction")
        if not self.id:
            object.__setattr__(self, "id", entry_id(self.kind, self.term, self.risk))

    def applies(self, direction: Direction | None, service: str | None) -> bool:
        """Whether this entry is in scope for a direction and service type."""
        if direction is not None and direction not in self.directions:
            return False
        return not (service is not None and self.services and service not in self.services)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (sets as sorted lists)."""
        data = asdict(self)
        for key in ("views", "directions", "services"):
            data[key] = sorted(str(v) for v in data[key])
        for key in ("kind", "severity", "action", "status"):
            data[key] = str(data[key])
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Entry:
        """Build an entry from a dict, checking every field (sets may be lists or '|'-separated strings)."""

        def as_set(value: Any, default: frozenset[str]) -> frozenset[str]:
            if value is None or value == "":
                return default
            if isinstance(value, str):
                return frozenset(v.strip() for v in value.split("|") if v.strip())
            if isinstance(value, list | tuple | set | frozenset):
                return frozenset(str(v) for v in value)
            raise InputError(f"expected a list or '|'-separated string, got {type(value).__name__}")

        try:
            term = data.get("term")
            if not isinstance(term, str):
                raise InputError("an entry needs a term string")
            risk = data.get("risk") or None
            return cls(
                term=term,
                risk=None if risk is None else str(risk),
                kind=Kind(data.get("kind") or Kind.TERM),
                severity=Severity(data.get("severity") or Severity.MEDIUM),
                action=Action(data.get("action") or Action.REVIEW),
                views=as_set(data.get("views"), DEFAULT_VIEWS),
                directions=frozenset(Direction(d) for d in as_set(data.get("directions"), ALL_DIRECTIONS)),
                services=as_set(data.get("services"), frozenset()),
                source=str(data.get("source") or ""),
                added_by=str(data.get("added_by") or ""),
                reason=str(data.get("reason") or ""),
                status=Status(data.get("status") or Status.ACTIVE),
                added_at=str(data.get("added_at") or ""),
                id=str(data.get("id") or ""),
            )
        except ValueError as exc:
            raise InputError(f"invalid entry field: {exc}") from None


@dataclass(frozen=True, slots=True)
class Change:
    """One logged change to the library."""

    version: int
    at: str
    actor: str
    op: str  # add / update / disable / enable / remove / import
    entry_id: str
    reason: str = ""


@dataclass
class Library:
    """A versioned feature library; every change bumps the version and is logged."""

    name: str = "default"
    version: int = 0
    entries: dict[str, Entry] = field(default_factory=dict)
    log: list[Change] = field(default_factory=list)

    def _record(self, op: str, entry: str, actor: str, reason: str) -> None:
        self.log.append(Change(self.version, now(), actor, op, entry, reason))

    def add(self, entries: Iterable[Entry], *, actor: str, reason: str = "", op: str = "add") -> list[Entry]:
        """Add entries not yet present (by id) as one new version; return those added."""
        added: list[Entry] = []
        stamp = now()
        for given in entries:
            if given.id in self.entries:
                continue
            entry = given
            if not entry.added_at or not entry.added_by:
                entry = replace(entry, added_at=entry.added_at or stamp, added_by=entry.added_by or actor)
            if entry.kind is Kind.REGEX:
                from synthguard.review.rules import compile_rule

                compile_rule(entry.term)
            added.append(entry)
        if added:
            self.version += 1
            for entry in added:
                self.entries[entry.id] = entry
                self._record(op, entry.id, actor, reason or entry.reason)
        return added

    def update(self, ident: str, *, actor: str, reason: str, **changes: Any) -> Entry:
        """Change fields of one entry (not its term) as a new version."""
        old = self.get(ident)
        if "term" in changes or "kind" in changes:
            raise InputError("the term of an entry cannot change; disable it and add a new one")
        try:
            new = replace(old, **changes)
        except TypeError as exc:
            raise InputError(f"cannot update entry: {exc}") from None
        self.version += 1
        self.entries[ident] = new
        op = "update"
        if changes.keys() == {"status"}:
            op = "enable" if new.status is Status.ACTIVE else "disable"
        self._record(op, ident, actor, reason)
        return new

    def remove(self, ident: str, *, actor: str, reason: str) -> None:
        """Delete an entry (its history stays in the log)."""
        self.get(ident)
        self.version += 1
        del self.entries[ident]
        self._record("remove", ident, actor, reason)

    def get(self, ident: str) -> Entry:
        """The entry with this id."""
        try:
            return self.entries[ident]
        except KeyError:
            raise InputError(f"no entry with id {ident!r}") from None

    def active(self) -> list[Entry]:
        """The entries that are matched."""
        return [e for e in self.entries.values() if e.status is Status.ACTIVE]


class LiveLibrary:
    """A library with its compiled index; updates build a new index and swap it in without stopping readers."""

    def __init__(self, library: Library) -> None:
        from synthguard.review.matcher import CompiledIndex

        self._lock = threading.Lock()
        self.library = library
        self._index = CompiledIndex(library.active(), version=library.version)

    @property
    def index(self) -> Any:
        """The current compiled index (one reference read: readers never see a half-built index)."""
        return self._index

    def apply(self, change: Any) -> None:
        """Run change(library) under the writer lock, then rebuild and swap the index."""
        from synthguard.review.matcher import CompiledIndex

        with self._lock:
            change(self.library)
            fresh = CompiledIndex(self.library.active(), version=self.library.version)
            self._index = fresh
