"""PostgreSQL-specific behaviour of the ledger store (the shared contract runs in tests/ledger)."""

from __future__ import annotations

import pytest

from synthguard.errors import LedgerError
from synthguard.ledger import Ledger
from tests.ledger.conftest import gen, pg_url  # noqa: F401  (fixture)


def test_unreachable_server_is_one_line_and_hides_the_password() -> None:
    with pytest.raises(LedgerError, match="cannot reach the PostgreSQL ledger") as info:
        Ledger.open("postgresql://auditor:s3cret@127.0.0.1:1/aigc")
    assert "s3cret" not in str(info.value) and "\n" not in str(info.value)


def test_a_database_without_a_ledger_is_not_created_by_readers(pg_url: str) -> None:  # noqa: F811
    with pytest.raises(LedgerError, match="no synthguard ledger"):
        Ledger.open(pg_url)


def test_tables_live_in_the_schema_named_by_the_url(pg_url: str) -> None:  # noqa: F811
    import psycopg

    with Ledger.open(pg_url, create=True) as ledger:
        ledger.append([gen(i) for i in range(3)])
    with psycopg.connect(pg_url) as db:
        (count,) = db.execute("SELECT count(*) FROM sg_ledger_entries").fetchone() or (0,)
        (schema,) = db.execute("SELECT current_schema()").fetchone() or ("",)
    assert count == 3 and schema.startswith("sgl_")
