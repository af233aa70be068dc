"""Ledger fixtures: every contract test runs on the SQLite store and on the local PostgreSQL server."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from synthguard.ledger import Ledger, Record, generation

PG_BASE = "postgresql://postgres@127.0.0.1:5432/test"
PRODUCER = "001191440300708461136T1XGW3"
T0 = datetime(2026, 1, 1, tzinfo=UTC)

LedgerFactory = Callable[..., Ledger]


def pg_schema_url(schema: str) -> str:
    """A URL whose connections use their own schema."""
    return f"{PG_BASE}?options=-csearch_path%3D{schema}"


def pg_available() -> str | None:
    """None when the local PostgreSQL answers, else the reason it does not."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        psycopg.connect(PG_BASE, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"PostgreSQL at {PG_BASE} is unreachable: {str(exc).strip().splitlines()[0]}"
    return None


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema in the local PostgreSQL 'test' database, dropped afterwards."""
    reason = pg_available()
    if reason:
        pytest.skip(reason)
    import psycopg

    schema = "sgl_" + uuid.uuid4().hex[:12]
    with psycopg.connect(PG_BASE, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {schema}")
    try:
        yield pg_schema_url(schema)
    finally:
        with psycopg.connect(PG_BASE, autocommit=True) as db:
            db.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A ledger location on each backend."""
    if request.param == "sqlite":
        return str(tmp_path / "ledger.db")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def make_ledger(target: str) -> Iterator[LedgerFactory]:
    """Open (creating) the ledger at the backend's location; closes whatever it opened."""
    opened: list[Ledger] = []

    def make(**kwargs: object) -> Ledger:
        ledger = Ledger.open(target, create=True, **kwargs)  # type: ignore[arg-type]
        opened.append(ledger)
        return ledger

    yield make
    for ledger in opened:
        ledger.close()


def gen(i: int, when: datetime | None = None) -> Record:
    """A deterministic generation record number i."""
    return generation(
        produce_id=f"sg-{i:06d}",
        producer=PRODUCER,
        content_hash=hashlib.sha256(f"content {i}".encode()).hexdigest(),
        user=f"user_{i % 7:04d}",
        time=when or T0 + timedelta(minutes=i),
        label={"Label": "1", "ContentProducer": PRODUCER, "ProduceID": f"sg-{i:06d}"},
        watermark=f"{i:08x}",
        review="pass",
    )
