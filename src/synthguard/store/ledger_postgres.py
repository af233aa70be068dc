"""PostgreSQL storage for the ledger (psycopg 3): the same tables as the SQLite store, COPY for appends."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from synthguard.errors import LedgerError
from synthguard.ledger.backend import FORMAT, FORMATS
from synthguard.ledger.merkle import storage_id

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS sg_ledger_meta (name text PRIMARY KEY, value text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sg_ledger_entries (idx bigint PRIMARY KEY, ts bigint NOT NULL, record bytea NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sg_ledger_nodes (id bigint PRIMARY KEY, hash bytea NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sg_ledger_keys (seg bigint NOT NULL, k bigint NOT NULL, idx bigint NOT NULL,"
    " PRIMARY KEY (seg, k, idx))",
    "CREATE TABLE IF NOT EXISTS sg_ledger_checkpoints (size bigint NOT NULL, hint bytea NOT NULL,"
    " text text NOT NULL, PRIMARY KEY (size, hint))",
    "CREATE TABLE IF NOT EXISTS sg_ledger_pruned (seg bigint PRIMARY KEY, event_idx bigint NOT NULL)",
]
_LOCK_ID = 0x5347_4C45_4447  # one advisory lock id for schema creation


def _redact(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


class PostgresBackend:
    """Ledger storage in a PostgreSQL database; writers serialise on an exclusive table lock."""

    def __init__(self, url: str, *, create: bool = False, origin: str | None = None, segment_bits: int = 16) -> None:
        """Connect to url (a libpq URL; add ?options=-csearch_path%3Dname to use a schema)."""
        self.url = _redact(url)
        try:
            self.db = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise LedgerError(f"cannot reach the PostgreSQL ledger: {first}", path=self.url) from None
        try:
            with self._errors():
                meta = self._read_meta()
                if meta is None:
                    if not create:
                        raise LedgerError("no synthguard ledger in this database (append to it first)", path=self.url)
                    with self.db.transaction():
                        self.db.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
                        for stmt in SCHEMA:
                            self.db.execute(stmt)
                        for name, value in (
                            ("format", FORMAT),
                            ("origin", origin or "synthguard.local/ledger"),
                            ("segment_bits", str(segment_bits)),
                        ):
                            self.db.execute(
                                "INSERT INTO sg_ledger_meta VALUES (%s, %s) ON CONFLICT DO NOTHING", (name, value)
                            )
                    meta = self._read_meta() or {}
            if meta.get("format") not in FORMATS:
                raise LedgerError(f"not a synthguard ledger (format {meta.get('format')!r})", path=self.url)
        except BaseException:
            self.db.close()
            raise
        self._meta = meta

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise LedgerError(f"PostgreSQL ledger error: {first}", path=self.url) from None

    def _read_meta(self) -> dict[str, str] | None:
        if self.db.execute("SELECT to_regclass('sg_ledger_meta')").fetchone() == (None,):
            return None
        return {str(n): str(v) for n, v in self.db.execute("SELECT name, value FROM sg_ledger_meta")}

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
            cur = self.db.execute(
                "SELECT id, hash FROM sg_ledger_nodes WHERE id >= %s AND id < %s ORDER BY id", (start, end)
            )
            return [(int(i), bytes(h)) for i, h in cur]

    def entries(self, start: int, end: int) -> list[tuple[int, bytes]]:
        """(index, record) in [start, end)."""
        with self._errors():
            cur = self.db.execute(
                "SELECT idx, record FROM sg_ledger_entries WHERE idx >= %s AND idx < %s ORDER BY idx", (start, end)
            )
            return [(int(i), bytes(r)) for i, r in cur]

    def find(self, key: int, runs: Sequence[int]) -> list[int]:
        """Indices whose lookup key matches within the key runs."""
        with self._errors():
            cur = self.db.execute(
                "SELECT idx FROM sg_ledger_keys WHERE seg = ANY(%s) AND k = %s ORDER BY idx", (list(runs), key)
            )
            return [int(r[0]) for r in cur]

    def checkpoints(self, size: int | None = None) -> list[tuple[int, str]]:
        """Stored checkpoints, oldest first."""
        with self._errors():
            if size is None:
                cur = self.db.execute("SELECT size, text FROM sg_ledger_checkpoints ORDER BY size")
            else:
                cur = self.db.execute("SELECT size, text FROM sg_ledger_checkpoints WHERE size = %s", (size,))
            return [(int(s), str(t)) for s, t in cur]

    def pruned(self) -> list[int]:
        """Pruned segments."""
        with self._errors():
            return [int(r[0]) for r in self.db.execute("SELECT seg FROM sg_ledger_pruned ORDER BY seg")]

    def integrity(self) -> str | None:
        """PostgreSQL keeps its own page checksums; nothing further to check at this level."""
        return None

    @contextmanager
    def writer(self) -> Iterator[_PgWriter]:
        """One transaction holding an exclusive lock on the hash table; commit is durable (synchronous_commit)."""
        with self._errors(), self.db.transaction():
            self.db.execute("LOCK TABLE sg_ledger_nodes IN EXCLUSIVE MODE")
            yield _PgWriter(self.db)

    def close(self) -> None:
        """Close the connection."""
        self.db.close()


def _size(db: psycopg.Connection[Any]) -> int:
    row = db.execute("SELECT max(idx) FROM sg_ledger_entries").fetchone()
    return 0 if row is None or row[0] is None else int(row[0]) + 1


def _nodes(db: psycopg.Connection[Any], ids: Sequence[int]) -> dict[int, bytes]:
    cur = db.execute("SELECT id, hash FROM sg_ledger_nodes WHERE id = ANY(%s)", (list(ids),))
    return {int(i): bytes(h) for i, h in cur}


class _PgWriter:
    def __init__(self, db: psycopg.Connection[Any]) -> None:
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
        with self.db.cursor() as cur:
            with cur.copy("COPY sg_ledger_entries (idx, ts, record) FROM STDIN") as copy:
                for i, (ts, rec) in enumerate(rows):
                    copy.write_row((first + i, ts, rec))
            with cur.copy("COPY sg_ledger_nodes (id, hash) FROM STDIN") as copy:
                for i, h in enumerate(hashes, start):
                    copy.write_row((i, h))
            with cur.copy("COPY sg_ledger_keys (seg, k, idx) FROM STDIN") as copy:
                for row in keys:
                    copy.write_row(row)

    def add_checkpoint(self, size: int, hint: bytes, text: str) -> None:
        self.db.execute(
            "INSERT INTO sg_ledger_checkpoints (size, hint, text) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
            (size, hint, text),
        )

    def newest_time(self, start: int, end: int) -> int | None:
        row = self.db.execute(
            "SELECT max(ts) FROM sg_ledger_entries WHERE idx >= %s AND idx < %s", (start, end)
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def prune(self, segment: int, bits: int, event_index: int) -> None:
        first, end = segment << bits, (segment + 1) << bits
        lo, root_id = storage_id(0, first), storage_id(bits, segment)
        self.db.execute("DELETE FROM sg_ledger_entries WHERE idx >= %s AND idx < %s", (first, end))
        self.db.execute("DELETE FROM sg_ledger_nodes WHERE id >= %s AND id < %s", (lo, root_id))
        self.db.execute("DELETE FROM sg_ledger_keys WHERE seg = %s", (segment,))
        self.db.execute("INSERT INTO sg_ledger_pruned (seg, event_idx) VALUES (%s, %s)", (segment, event_index))

    def merge_runs(self, target: int, sources: Sequence[int]) -> None:
        self.db.execute(
            "INSERT INTO sg_ledger_keys (seg, k, idx) SELECT %s, k, idx FROM sg_ledger_keys WHERE seg = ANY(%s)"
            " ORDER BY k, idx",
            (target, list(sources)),
        )
        self.db.execute("DELETE FROM sg_ledger_keys WHERE seg = ANY(%s)", (list(sources),))

    def split_run(self, source: int, parts: Sequence[tuple[int, int, int]]) -> None:
        case = " ".join("WHEN idx >= %s AND idx < %s THEN %s::bigint" for _ in parts)
        args = [v for run, lo, hi in parts for v in (lo, hi, run)]
        self.db.execute(
            f"INSERT INTO sg_ledger_keys (seg, k, idx) SELECT r, k, idx FROM (SELECT CASE {case} END AS r, k, idx"
            " FROM sg_ledger_keys WHERE seg = %s) AS moved WHERE r IS NOT NULL ORDER BY r, k, idx",
            (*args, source),
        )
        self.db.execute("DELETE FROM sg_ledger_keys WHERE seg = %s", (source,))

    def set_meta(self, name: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO sg_ledger_meta (name, value) VALUES (%s, %s)"
            " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
            (name, value),
        )
