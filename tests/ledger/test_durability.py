"""Crash safety (SIGKILL mid-batch, many times), concurrent writers, tampering and truncation."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synthguard.errors import LedgerError
from synthguard.ledger import Ed25519Signer, Ledger
from tests.ledger.conftest import gen

REPO = Path(__file__).resolve().parents[2]


def _writer(target: str, tag: str, batches: int, size: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.ledger.writer", target, tag, str(batches), str(size)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _check_acks(ledger: Ledger, acks: list[tuple[int, int, str]]) -> None:
    for first, last, batch in acks:
        for j, idx in enumerate(range(first, last + 1)):
            rec = json.loads(ledger.record(idx))
            assert rec["produce_id"] == f"{batch}-{j}", f"acknowledged entry {idx} lost or replaced"


def _crash_rounds(target: str, rounds: int, seed: int) -> None:
    rng = random.Random(seed)
    acked: list[tuple[int, int, str]] = []
    for r in range(rounds):
        proc = _writer(target, f"r{r}", 0, rng.choice([1, 7, 50, 300]))
        assert proc.stdout is not None
        want = rng.randint(1, 6)
        got = 0
        while got < want:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"writer died: {proc.stderr.read() if proc.stderr else ''}")
            a, b, tag = line.split()
            acked.append((int(a), int(b), tag))
            got += 1
        time.sleep(rng.random() * 0.05)  # land the kill at a random point of the next batch
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate()
        for line in rest.splitlines():  # acknowledged before the kill landed
            a, b, tag = line.split()
            acked.append((int(a), int(b), tag))
        if r % 5 == 4 or r == rounds - 1:
            with Ledger.open(target) as ledger:
                assert ledger.size >= acked[-1][1] + 1
                _check_acks(ledger, acked)
                ledger.audit()
                ledger.sign_checkpoint([Ed25519Signer(bytes(32))])


def test_sigkill_mid_batch_loses_no_acknowledged_entry_sqlite(tmp_path: Path) -> None:
    _crash_rounds(str(tmp_path / "crash.db"), rounds=30, seed=7)


def test_sigkill_mid_batch_loses_no_acknowledged_entry_postgres(pg_url: str) -> None:
    _crash_rounds(pg_url, rounds=10, seed=11)


def test_concurrent_writers_are_serialised(target: str) -> None:
    procs = [_writer(target, f"w{i}", 12, 1 + 3 * i) for i in range(4)]
    acks: list[tuple[int, int, str]] = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        acks.extend((int(a), int(b), t) for a, b, t in (line.split() for line in out.splitlines()))
    with Ledger.open(target) as ledger:
        total = sum(12 * (1 + 3 * i) for i in range(4))
        assert ledger.size == total
        _check_acks(ledger, acks)
        spans = sorted((a, b) for a, b, _ in acks)
        assert all(spans[i][1] + 1 == spans[i + 1][0] for i in range(len(spans) - 1))  # no gaps, no overlap
        ledger.audit()


def _sqlite_ledger(path: Path, n: int = 40) -> Ed25519Signer:
    key = Ed25519Signer.generate()
    with Ledger.open(str(path), create=True, segment_bits=3) as ledger:
        ledger.append([gen(i) for i in range(n)])
        ledger.sign_checkpoint([key])
    return key


def test_a_record_changed_behind_the_ledgers_back_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    key = _sqlite_ledger(path)
    db = sqlite3.connect(path)
    rec = db.execute("SELECT record FROM entries WHERE idx = 17").fetchone()[0]
    db.execute("UPDATE entries SET record = ? WHERE idx = 17", (rec.replace(b"sg-000017", b"sg-000099"),))
    db.commit()
    db.close()
    with Ledger.open(str(path)) as ledger, pytest.raises(LedgerError, match="does not match the records"):
        ledger.audit([key])


def test_rewritten_tree_is_caught_by_the_signed_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    key = _sqlite_ledger(path)
    with Ledger.open(str(path)) as ledger:
        witness = ledger.latest_checkpoint()
    assert witness is not None
    # An attacker rebuilds the whole log with one entry changed: every hash is self-consistent again.
    other = tmp_path / "forged.db"
    with Ledger.open(str(other), create=True, segment_bits=3) as forged:
        forged.append([gen(i) if i != 17 else gen(99) for i in range(40)])
        with pytest.raises(LedgerError, match="rewritten"):
            forged.audit([key], witness=witness[1])


def test_deleted_tail_entries_are_reported_as_truncation(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    key = _sqlite_ledger(path)
    db = sqlite3.connect(path)
    db.execute("DELETE FROM entries WHERE idx >= 35")
    db.execute("DELETE FROM nodes WHERE id >= ?", (2 * 35 - (35).bit_count(),))
    db.commit()
    db.close()
    with Ledger.open(str(path)) as ledger, pytest.raises(LedgerError, match="truncated log"):
        ledger.audit([key])


def test_truncated_database_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    _sqlite_ledger(path, n=3000)
    size = path.stat().st_size
    with path.open("r+b") as fh:
        fh.truncate(size // 2)
    with pytest.raises(LedgerError, match=r"corrupt or truncated|damaged") as info, Ledger.open(str(path)) as ledger:
        ledger.audit()
    assert "\n" not in str(info.value)


def test_garbage_file_is_not_a_ledger(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(os.urandom(5000))
    with pytest.raises(LedgerError, match="corrupt or truncated"):
        Ledger.open(str(path))


def test_a_swapped_hash_of_a_pruned_segment_is_detected(tmp_path: Path) -> None:
    from datetime import timedelta

    from synthguard.ledger.merkle import storage_id
    from tests.ledger.conftest import T0

    path = tmp_path / "p.db"
    with Ledger.open(str(path), create=True, segment_bits=2) as ledger:
        ledger.append([gen(i, T0) for i in range(9)])
        assert ledger.prune(200, now=T0 + timedelta(days=300)) == [0, 1]
    db = sqlite3.connect(path)
    db.execute("UPDATE nodes SET hash = ? WHERE id = ?", (b"\x07" * 32, storage_id(2, 1)))
    db.commit()
    db.close()
    with Ledger.open(str(path)) as ledger, pytest.raises(LedgerError, match=r"does not match|prune event"):
        ledger.audit()
