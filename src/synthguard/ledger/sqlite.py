"""The embedded ledger store: one SQLite file in WAL mode, synchronous=FULL, one transaction per batch."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from synthguard.errors import InputError, LedgerError
from synthguard.ledger.backend import FORMAT, FORMATS
from synthguard.ledger.merkle import storage_id

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, ts INTEGER NOT NULL, record BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (id INTEGER PRIMARY KEY, hash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS keys (seg INTEGER NOT NULL, k INTEGER NOT NULL, idx INTEGER NOT NULL,
    PRIMARY KEY (seg, k, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER NOT NULL, hint BLOB NOT NULL, text TEXT NOT NULL,
    PRIMARY KEY (size, hint)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pruned (seg INTEGER PRIMARY KEY, event_idx INTEGER NOT NULL);
"""
_BATCH_IDS = 500  # stay under SQLite's bound-parameter limit


class SqliteBackend:
    """Ledger storage in one SQLite database file."""

    def __init__(self, path: str, *, create: bool = False, origin: str | None = None, segment_bits: int = 16) -> None:
        """Open (or with create=True, create) the ledger at path."""
        self.url = path
        self.path = Path(path)
        if not create and not self.path.exists():
            raise InputError("no ledger here (append to it first to create one)", path=path)
        if self.path.is_dir():
            raise InputError("is a directory, not a ledger file", path=path)
        with self._errors():
            self.db = sqlite3.connect(path, isolation_level=None, timeout=60.0, check_same_thread=False)
        try:
            with self._errors():
                self.db.execute("PRAGMA busy_timeout = 60000")
                mode = self.db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if mode != "wal":
                    raise LedgerError(f"cannot switch the ledger to WAL mode (got {mode})", path=path)
                # FULL: the WAL is fsynced at every commit, so an acknowledged append survives power loss.
                self.db.execute("PRAGMA synchronous = FULL")
                self.db.execute("PRAGMA cache_size = -65536")
                have = self._meta_or_none()
                if have is None:
                    if not create:
                        raise LedgerError("not a synthguard ledger (no meta table)", path=path)
                    self._create(origin or "synthguard.local/ledger", segment_bits)
                    have = self._meta_or_none() or {}
            if have.get("format") not in FORMATS:
                raise LedgerError(f"not a synthguard ledger (format {have.get('format')!r})", path=path)
        except BaseException:
            self.db.close()
            raise
        self._meta = have

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as exc:
            text = str(exc)
            if "locked" in text or "busy" in text:
                raise LedgerError(f"ledger is busy: {text}", path=self.url) from None
            raise LedgerError(f"ledger database is corrupt or truncated: {text}", path=self.url) from None

    def _meta_or_none(self) -> dict[str, str] | None:
        row = self.db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        if row is None:
            return None
        return dict(self.db.execute("SELECT name, value FROM meta").fetchall())

    def _create(self, origin: str, segment_bits: int) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    self.db.execute(statement)
            self.db.executemany(
                "INSERT OR IGNORE INTO meta VALUES (?, ?)",
                [("format", FORMAT), ("origin", origin), ("segment_bits", str(segment_bits))],
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def meta(self) -> dict[str, str]:
        """Settings fixed at creation."""
        return dict(self._meta)

    def size(self) -> int:
        """Entries ever appended."""
        with self._errors():
            return _size(self.db)

    def nodes(self, ids: Sequence[int]) -> dict[int, bytes]:
        """Subtree hashes by storage id."""
        with self._errors():
            return _nodes(self.db, ids)

    def node_range(self, start: int, end: int) -> list[tuple[int, bytes]]:
        """Subtree hashes with ids in [start, end)."""
        with self._errors():
            cur = self.db.execute("SELECT id, hash FROM nodes WHERE id >= ? AND id < ? ORDER BY id", (start, end))
            return cur.fetchall()

    def entries(self, start: int, end: int) -> list[tuple[int, bytes]]:
        """(index, record) in [start, end)."""
        with self._errors():
            cur = self.db.execute(
                "SELECT idx, record FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx", (start, end)
            )
            return cur.fetchall()

    def find(self, key: int, runs: Sequence[int]) -> list[int]:
        """Indices whose lookup key matches, one index probe per key run."""
        out: list[int] = []
        with self._errors():
            for i in range(0, len(runs), _BATCH_IDS):
                chunk = runs[i : i + _BATCH_IDS]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT idx FROM keys WHERE seg IN ({marks}) AND k = ?"
                out.extend(r[0] for r in self.db.execute(sql, (*chunk, key)))
        return sorted(out)

    def checkpoints(self, size: int | None = None) -> list[tuple[int, str]]:
        """Stored checkpoints, oldest first."""
        with self._errors():
            if size is None:
                cur = self.db.execute("SELECT size, text FROM checkpoints ORDER BY size")
            else:
                cur = self.db.execute("SELECT size, text FROM checkpoints WHERE size = ?", (size,))
            return cur.fetchall()

    def pruned(self) -> list[int]:
        """Pruned segments."""
        with self._errors():
            return [r[0] for r in self.db.execute("SELECT seg FROM pruned ORDER BY seg")]

    def integrity(self) -> str | None:
        """SQLite's own structural check (missing or damaged pages), None when clean."""
        try:
            rows = self.db.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError as exc:
            return str(exc)
        text = "; ".join(str(r[0]) for r in rows)
        return None if text == "ok" else text

    @contextmanager
    def writer(self) -> Iterator[_SqliteWriter]:
        """BEGIN IMMEDIATE takes the single write lock; COMMIT fsyncs the WAL before returning."""
        with self._errors():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteWriter(self.db)
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def file_bytes(self) -> int:
        """Bytes on disk (database plus WAL)."""
        wal = Path(str(self.path) + "-wal")
        return self.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def _size(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT max(idx) FROM entries").fetchone()
    return 0 if row[0] is None else int(row[0]) + 1


def _nodes(db: sqlite3.Connection, ids: Sequence[int]) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    for i in range(0, len(ids), _BATCH_IDS):
        chunk = ids[i : i + _BATCH_IDS]
        marks = ",".join("?" * len(chunk))
        out.update(db.execute(f"SELECT id, hash FROM nodes WHERE id IN ({marks})", tuple(chunk)).fetchall())
    return out


class _SqliteWriter:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def size(self) -> int:
        return _size(self.db)

    def nodes(self, ids: Sequence[int]) -> dict[int, bytes]:
        return _nodes(self.db, ids)

    def append(
        self,
        first: int,
        rows: Sequence[tuple[int, bytes]],
        hashes: Sequence[bytes],
        keys: Sequence[tuple[int, int, int]],
    ) -> None:
        start = 2 * first - first.bit_count()
        self.db.executemany(
            "INSERT INTO entries (idx, ts, record) VALUES (?, ?, ?)",
            [(first + i, ts, rec) for i, (ts, rec) in enumerate(rows)],
        )
        self.db.executemany("INSERT INTO nodes (id, hash) VALUES (?, ?)", enumerate(hashes, start))
        self.db.executemany("INSERT INTO keys (seg, k, idx) VALUES (?, ?, ?)", keys)

    def add_checkpoint(self, size: int, hint: bytes, text: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO checkpoints (size, hint, text) VALUES (?, ?, ?)", (size, hint, text))

    def newest_time(self, start: int, end: int) -> int | None:
        row = self.db.execute("SELECT max(ts) FROM entries WHERE idx >= ? AND idx < ?", (start, end)).fetchone()
        return None if row[0] is None else int(row[0])

    def prune(self, segment: int, bits: int, event_index: int) -> None:
        first, end = segment << bits, (segment + 1) << bits
        lo, root_id = storage_id(0, first), storage_id(bits, segment)
        self.db.execute("DELETE FROM entries WHERE idx >= ? AND idx < ?", (first, end))
        self.db.execute("DELETE FROM nodes WHERE id >= ? AND id < ?", (lo, root_id))
        self.db.execute("DELETE FROM keys WHERE seg = ?", (segment,))
        self.db.execute("INSERT INTO pruned (seg, event_idx) VALUES (?, ?)", (segment, event_index))

    def merge_runs(self, target: int, sources: Sequence[int]) -> None:
        marks = ",".join("?" * len(sources))
        self.db.execute(
            f"INSERT INTO keys (seg, k, idx) SELECT ?, k, idx FROM keys WHERE seg IN ({marks}) ORDER BY k, idx",
            (target, *sources),
        )
        self.db.execute(f"DELETE FROM keys WHERE seg IN ({marks})", tuple(sources))

    def split_run(self, source: int, parts: Sequence[tuple[int, int, int]]) -> None:
        case = " ".join("WHEN idx >= ? AND idx < ? THEN ?" for _ in parts)
        args = [v for run, lo, hi in parts for v in (lo, hi, run)]
        self.db.execute(
            f"INSERT INTO keys (seg, k, idx) SELECT r, k, idx FROM (SELECT CASE {case} END AS r, k, idx FROM keys"
            " WHERE seg = ?) WHERE r IS NOT NULL ORDER BY r, k, idx",
            (*args, source),
        )
        self.db.execute("DELETE FROM keys WHERE seg = ?", (source,))

    def set_meta(self, name: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value))


def remove(path: str) -> None:
    """Delete a ledger file and its WAL side files (tests and benchmarks)."""
    for suffix in ("", "-wal", "-shm"):
        with suppress(FileNotFoundError):
            os.unlink(path + suffix)
