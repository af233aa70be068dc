"""Merged key runs: same lookup results as one probe per segment, with hundreds of segments and pruning."""

from __future__ import annotations

import random
import sqlite3
from datetime import timedelta
from pathlib import Path

from synthguard.ledger import Ledger, runs
from synthguard.ledger.backend import FORMAT, LEGACY_FORMAT
from tests.ledger.conftest import T0, LedgerFactory, gen


def test_decomposition_tracks_every_seal_and_prune() -> None:
    rng = random.Random(7)
    stored: set[int] = set()
    pruned = sealed = 0
    for _ in range(3000):
        if rng.random() < 0.2 and pruned < sealed:
            cut = runs.split(pruned, sealed)
            if cut is None:
                stored.discard(pruned)
            else:
                stored.discard(cut[0])
                stored.update(rid for rid, _, _ in cut[1])
            pruned += 1
        else:
            step = rng.choice([1, 1, 1, 2, 17, 300])
            stored.update(range(sealed, sealed + step))
            for target, sources in runs.merges(pruned, sealed, sealed + step):
                assert set(sources) <= stored
                stored.difference_update(sources)
                stored.add(target)
            sealed += step
        assert sorted(stored) == sorted(runs.live(pruned, sealed, False))
        assert len(stored) <= 2 * (runs.FANOUT - 1) * 4 + 1  # a few dozen runs, never one per segment


def stored_runs(ledger: Ledger) -> list[int]:
    """The distinct run ids present in the key index."""
    db = ledger.backend.db  # type: ignore[attr-defined]
    table = "keys" if isinstance(db, sqlite3.Connection) else "sg_ledger_keys"
    return sorted(int(r[0]) for r in db.execute(f"SELECT DISTINCT seg FROM {table}").fetchall())


def set_format(ledger: Ledger, value: str) -> None:
    """Rewrite the stored format (to build a format-1 ledger as older releases wrote it)."""
    with ledger.backend.writer() as w:
        w.set_meta("format", value)


def check_all(ledger: Ledger, n: int, gone: int = 0) -> None:
    """Every entry is found by each field; pruned ones are not."""
    for i in range(n):
        want = [] if i < gone else [i]
        assert ledger.find(produce_id=f"sg-{i:06d}") == want
        if i % 5 == 0:
            assert ledger.find(watermark=f"{i:08x}") == want
            assert ledger.find(content_hash=gen(i).fields["content_hash"]) == want


def test_hundreds_of_segments_merge_and_prune_with_the_same_results(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger(segment_bits=1)  # 2 entries per segment: 500 segments, runs up to 256 segments
    n, pos, rng = 1000, 0, random.Random(3)
    while pos < n:
        k = min(n - pos, rng.choice([1, 3, 8, 40, 333]))
        ledger.append([gen(i, T0 + timedelta(hours=i)) for i in range(pos, pos + k)])
        pos += k
    live = ledger._runs(ledger.size, [])
    assert stored_runs(ledger) == sorted(live) and len(live) < 30
    check_all(ledger, n)
    # prune 300 segments (entries 0..599), one split per merged run on the way
    now = T0 + timedelta(days=200, hours=600)
    assert ledger.prune(200, now=now) == list(range(300))
    assert set(stored_runs(ledger)) <= set(ledger._runs(ledger.size, ledger.backend.pruned()))  # prune events: no keys
    check_all(ledger, n, gone=600)
    assert ledger.find(produce_id="sg-000599") == [] and ledger.find(produce_id="sg-000600") == [600]
    ledger.append([gen(i, T0 + timedelta(hours=i)) for i in range(n + 300, n + 340)])
    assert set(stored_runs(ledger)) <= set(ledger._runs(ledger.size, ledger.backend.pruned()))
    assert ledger.find(produce_id=f"sg-{n + 339:06d}") == [ledger.size - 1]
    ledger.audit()


def test_format_1_ledger_reads_writes_and_migrates(target: str) -> None:
    with Ledger.open(target, create=True, segment_bits=2) as ledger:
        set_format(ledger, LEGACY_FORMAT)
    old = Ledger.open(target)
    assert not old.merged_keys
    old.append([gen(i, T0 + timedelta(hours=i)) for i in range(150)])  # 37 full segments, one per slice
    assert stored_runs(old) == list(range(38))
    assert old.prune(200, now=T0 + timedelta(days=200, hours=20)) == [0, 1, 2, 3, 4]
    before = [old.find(produce_id=f"sg-{i:06d}") for i in range(151)]
    assert old.migrate() is True and old.migrate() is False
    assert len(stored_runs(old)) < 38 and set(stored_runs(old)) <= set(old._runs(old.size, old.backend.pruned()))
    assert [old.find(produce_id=f"sg-{i:06d}") for i in range(151)] == before
    old.close()
    with Ledger.open(target) as again:
        assert again.merged_keys and again.backend.meta()["format"] == FORMAT
        again.append([gen(i, T0 + timedelta(hours=i)) for i in range(150, 300)])
        check_all(again, 150, gone=20)
        assert all(again.find(produce_id=f"sg-{i:06d}") == [i + 5] for i in range(150, 300))  # after 5 prune events
        again.audit()


def test_cli_migrate(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from synthguard.cli.main import app

    path = str(tmp_path / "old.db")
    with Ledger.open(path, create=True, segment_bits=1) as ledger:
        set_format(ledger, LEGACY_FORMAT)
    with Ledger.open(path) as ledger:
        ledger.append([gen(i) for i in range(40)])
    runner = CliRunner()
    first = runner.invoke(app, ["ledger", "migrate", "--ledger", path])
    assert first.exit_code == 0 and "migrated" in first.output
    again = runner.invoke(app, ["ledger", "migrate", "--ledger", path])
    assert again.exit_code == 0 and "already current" in again.output
    with Ledger.open(path) as ledger:
        assert stored_runs(ledger) == [-1, 16, 17, 18, 19] and ledger.find(produce_id="sg-000033") == [33]
