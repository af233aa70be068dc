"""The storage interface every ledger backend implements, and opening one from a path or URL."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from synthguard.errors import ConfigError

FORMAT = "synthguard-ledger/2"  # lookup keys merged into runs of 16^level segments (synthguard.ledger.runs)
LEGACY_FORMAT = "synthguard-ledger/1"  # one key slice per segment; readable and writable, `ledger migrate` upgrades
FORMATS = (FORMAT, LEGACY_FORMAT)


class Writer(Protocol):
    """One exclusive write transaction: other writers wait; everything commits durably or not at all."""

    def size(self) -> int:
        """Tree size as seen inside the transaction."""
        ...

    def nodes(self, ids: Sequence[int]) -> dict[int, bytes]:
        """Stored subtree hashes by storage id (missing ids are absent)."""
        ...

    def append(
        self,
        first: int,
        rows: Sequence[tuple[int, bytes]],
        hashes: Sequence[bytes],
        keys: Sequence[tuple[int, int, int]],
    ) -> None:
        """Store entries first.. as (unix time, record), their new subtree hashes in storage order, and
        lookup keys as (segment, key, index)."""
        ...

    def add_checkpoint(self, size: int, hint: bytes, text: str) -> None:
        """Keep a signed checkpoint (one per size and key)."""
        ...

    def newest_time(self, start: int, end: int) -> int | None:
        """The latest unix time among entries [start, end), None when none are stored."""
        ...

    def prune(self, segment: int, bits: int, event_index: int) -> None:
        """Delete a whole aged-out segment's records, keys and inner hashes, keeping its subtree root."""
        ...

    def merge_runs(self, target: int, sources: Sequence[int]) -> None:
        """Move the lookup keys of the source runs into one run, written in key order."""
        ...

    def split_run(self, source: int, parts: Sequence[tuple[int, int, int]]) -> None:
        """Move a run's keys into parts (run, first index, end index); keys outside every part are deleted."""
        ...

    def set_meta(self, name: str, value: str) -> None:
        """Change one setting (the format, on migration)."""
        ...


class Backend(Protocol):
    """A ledger store: append-only entries, subtree hashes, lookup keys, checkpoints."""

    url: str

    def meta(self) -> dict[str, str]:
        """Settings fixed at creation (format, origin, segment_bits)."""
        ...

    def size(self) -> int:
        """Number of entries ever appended (pruned ones included)."""
        ...

    def nodes(self, ids: Sequence[int]) -> dict[int, bytes]:
        """Stored subtree hashes by storage id."""
        ...

    def node_range(self, start: int, end: int) -> list[tuple[int, bytes]]:
        """Stored subtree hashes with storage ids in [start, end), in order."""
        ...

    def entries(self, start: int, end: int) -> list[tuple[int, bytes]]:
        """Stored (index, record) for indices in [start, end), in order; pruned ones are absent."""
        ...

    def find(self, key: int, runs: Sequence[int]) -> list[int]:
        """Entry indices whose lookup key matches, within the given key runs (segment or merged run ids)."""
        ...

    def checkpoints(self, size: int | None = None) -> list[tuple[int, str]]:
        """Stored checkpoints as (size, text): all, or those for one size; oldest first."""
        ...

    def pruned(self) -> list[int]:
        """Segments whose records were pruned."""
        ...

    def integrity(self) -> str | None:
        """A description of storage-level damage, or None when the store checks clean."""
        ...

    def writer(self) -> AbstractContextManager[Writer]:
        """An exclusive, durable write transaction."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def open_backend(target: str, *, create: bool = False, origin: str | None = None, segment_bits: int = 16) -> Backend:
    """Open a ledger store: postgresql:// URLs go to PostgreSQL, anything else is an SQLite file path."""
    if target.startswith(("postgresql://", "postgres://")):
        try:
            module = importlib.import_module("synthguard.store.ledger_postgres")
        except ImportError as exc:
            raise ConfigError(f"PostgreSQL ledgers need psycopg (pip install 'synthguard[ledger]'): {exc}") from None
        backend: Backend = module.PostgresBackend(target, create=create, origin=origin, segment_bits=segment_bits)
        return backend
    from synthguard.ledger.sqlite import SqliteBackend

    return SqliteBackend(target, create=create, origin=origin, segment_bits=segment_bits)
