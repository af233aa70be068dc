"""Ledger benchmark: durable batched appends, inclusion proofs and storage, beside pymerkle in the same run.

    .venv/bin/python benchmarks/ledger.py                      # 10M entries, pymerkle at 1M
    .venv/bin/python benchmarks/ledger.py --entries 200000 --peer-entries 100000   # quick

Both sides use SQLite on the same disk and RFC 6962 hashing (pymerkle's default), and the roots are
cross-checked at the shared size. pymerkle's SqliteTree commits every append on its own (its API has no
batch transaction), so its durable API rate is measured on a small sample; the tree it proves from is
filled through its own table in batched transactions so that proof speed can be compared at equal size.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from synthguard.ledger import Ledger, leaf_hash, verify_inclusion  # noqa: E402
from synthguard.ledger.backend import LEGACY_FORMAT  # noqa: E402
from synthguard.ledger.record import Record  # noqa: E402
from synthguard.ledger.sqlite import remove  # noqa: E402

PRODUCER = "001191440300708461136T1XGW3"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def records(start: int, n: int) -> list[Record]:
    """Realistic generation records (about 330 bytes each as canonical JSON)."""
    return [
        Record(
            "generation",
            T0 + timedelta(milliseconds=37 * i),
            {
                "produce_id": f"sg-{i:012d}",
                "producer": PRODUCER,
                "content_hash": "sha256:" + hashlib.sha256(i.to_bytes(8, "big")).hexdigest(),
                "user": f"u_{i % 99991:08x}",
                "review": "pass",
                "watermark": f"{i * 2654435761 % (1 << 64):016x}",
                "label": {"Label": "1", "ContentProducer": PRODUCER, "ProduceID": f"sg-{i:012d}"},
            },
        )
        for i in range(start, start + n)
    ]


def timed(fn: object, calls: list[tuple[object, ...]]) -> list[float]:
    """Seconds per call."""
    out = []
    for args in calls:
        a = time.perf_counter()
        fn(*args)  # type: ignore[operator]
        out.append(time.perf_counter() - a)
    return out


def p99(xs: list[float]) -> float:
    """99th percentile."""
    return sorted(xs)[int(len(xs) * 0.99) - 1]


def ours_build(
    path: str, sizes: list[int], batch: int, proofs: int, legacy: bool = False
) -> dict[int, dict[str, float]]:
    """Append up to max(sizes) in durable batches; measure at each size in sizes (legacy: format-1 key slices)."""
    remove(path)
    results: dict[int, dict[str, float]] = {}
    ledger = Ledger.open(path, create=True)
    if legacy:
        with ledger.backend.writer() as w:
            w.set_meta("format", LEGACY_FORMAT)
        ledger.close()
        ledger = Ledger.open(path)
    spent, n, window_start, window_spent = 0.0, 0, 0, 0.0
    for target in sorted(sizes):
        while n < target:
            k = min(batch, target - n)
            recs = records(n, k)
            a = time.perf_counter()
            ledger.append(recs)
            dt = time.perf_counter() - a
            spent += dt
            window_spent += dt
            n += k
            if n % (batch * 50) == 0 or n == target:
                print(f"  synthguard: {n:,} entries, {n / spent:,.0f} appends/s so far", file=sys.stderr)
        rng = random.Random(n)
        idx = [rng.randrange(n) for _ in range(proofs)]
        lat = timed(ledger.inclusion_proof, [(i, n) for i in idx])
        root = ledger.root(n)
        for i in idx[:50]:
            verify_inclusion(i, n, leaf_hash(ledger.record(i)), ledger.inclusion_proof(i, n), root)
        find_lat = timed(lambda i: ledger.find(produce_id=f"sg-{i:012d}"), [(i,) for i in idx[:1000]])
        for i in idx[:50]:
            assert ledger.find(produce_id=f"sg-{i:012d}") == [i]
            assert ledger.find(watermark=f"{i * 2654435761 % (1 << 64):016x}") == [i]
        ledger.backend.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[attr-defined]
        rec_bytes = ledger.backend.db.execute("SELECT sum(length(record)) FROM entries").fetchone()[0]  # type: ignore[attr-defined]
        disk = ledger.backend.file_bytes()  # type: ignore[attr-defined]
        results[n] = {
            "append_rate": n / spent,
            "window_rate": (n - window_start) / window_spent,
            "proof_mean_us": statistics.mean(lat) * 1e6,
            "proof_p99_us": p99(lat) * 1e6,
            "find_mean_us": statistics.mean(find_lat) * 1e6,
            "find_p99_us": p99(find_lat) * 1e6,
            "runs": len(ledger._runs(n, [])),
            "overhead_bytes": (disk - rec_bytes) / n,
            "record_bytes": rec_bytes / n,
            "root": int.from_bytes(root[:8], "big"),
        }
        window_start, window_spent = n, 0.0
    ledger.close()
    return results


def pymerkle_run(path: str, n: int, api_sample: int, batch: int, proofs: int) -> dict[str, float]:
    """pymerkle SqliteTree: durable API appends on a sample, then proofs from a tree of n entries."""
    from pymerkle import SqliteTree
    from pymerkle import verify_inclusion as pm_verify

    for p in (path, path + "-journal"):
        if os.path.exists(p):
            os.unlink(p)
    tree = SqliteTree(path)
    sample = [r.encode() for r in records(0, api_sample)]
    a = time.perf_counter()
    for data in sample:
        tree.append_entry(data)
    api_rate = api_sample / (time.perf_counter() - a)
    # Fill the rest through pymerkle's own table, one transaction per batch (its API commits per entry).
    con = sqlite3.connect(path)
    a = time.perf_counter()
    done = api_sample
    while done < n:
        k = min(batch, n - done)
        rows = []
        for r in records(done, k):
            data = r.encode()
            rows.append((data, tree.hash_buff(data)))
        with con:
            con.executemany("INSERT INTO leaf(entry, hash) VALUES (?, ?)", rows)
        done += k
    bulk_rate = (n - api_sample) / (time.perf_counter() - a) if n > api_sample else 0.0
    con.close()
    a = time.perf_counter()
    root = tree.get_root(n)
    cold = time.perf_counter() - a
    rng = random.Random(n)
    idx = [rng.randrange(n) for _ in range(proofs)]
    lat = timed(tree.prove_inclusion, [(i + 1, n) for i in idx])
    for i in idx[:20]:
        pm_verify(tree.get_leaf(i + 1), root, tree.prove_inclusion(i + 1, n))
    rec_bytes = sum(len(r.encode()) for r in records(0, min(n, 10000))) / min(n, 10000)
    tree.close()
    disk = os.path.getsize(path)
    return {
        "api_rate": api_rate,
        "bulk_rate": bulk_rate,
        "cold_root_s": cold,
        "proof_mean_us": statistics.mean(lat) * 1e6,
        "proof_p99_us": p99(lat) * 1e6,
        "overhead_bytes": disk / n - rec_bytes,
        "root": int.from_bytes(root[:8], "big"),
    }


def main() -> None:
    """Run both sides and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=10_000_000)
    ap.add_argument("--peer-entries", type=int, default=1_000_000, help="pymerkle tree size (and ours, compared)")
    ap.add_argument("--api-sample", type=int, default=1000, help="pymerkle appends through its durable API")
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--proofs", type=int, default=2000)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    ap.add_argument("--keep", action="store_true", help="keep the database files")
    ap.add_argument("--no-legacy", action="store_true", help="skip the format-1 (probe per segment) build")
    args = ap.parse_args()
    ours_path = str(Path(args.dir) / "sg-bench-ledger.db")
    peer_path = str(Path(args.dir) / "sg-bench-pymerkle.db")
    m, n = args.peer_entries, args.entries

    print(f"pymerkle at {m:,} entries …", file=sys.stderr)
    a = time.perf_counter()
    pm = pymerkle_run(peer_path, m, args.api_sample, args.batch, max(200, args.proofs // 10))
    print(f"  done in {time.perf_counter() - a:.0f} s", file=sys.stderr)
    print(f"synthguard to {n:,} entries …", file=sys.stderr)
    a = time.perf_counter()
    ours = ours_build(ours_path, sorted({m, n}), args.batch, args.proofs)
    print(f"  done in {time.perf_counter() - a:.0f} s", file=sys.stderr)
    old: dict[int, dict[str, float]] = {}
    if not args.no_legacy:
        print(f"synthguard format 1 (one key slice per segment) to {m:,} entries …", file=sys.stderr)
        old = ours_build(ours_path, [m], args.batch, args.proofs, legacy=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    at_m, at_n = ours[m], ours[n]
    agree = "yes" if at_m["root"] == pm["root"] else "NO"

    def row(name: str, us: str, them: str, ratio: str) -> None:
        print(f"| {name} | {us} | {them} | {ratio} |")

    print(f"\nLedger benchmark — {datetime.now(UTC):%Y-%m-%d}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"batch {args.batch:,}, SQLite {sqlite3.sqlite_version}; roots agree at {m:,}: {agree}\n")  # fmt: skip
    print("| metric | synthguard | pymerkle 7.0 SqliteTree | ratio |")
    print("|---|---|---|---|")
    row(f"durable appends/s, batched, to {m:,}", f"{at_m['append_rate']:,.0f}",
        f"{pm['api_rate']:,.0f} (API, commit per entry)", f"{at_m['append_rate'] / pm['api_rate']:,.0f}×")  # fmt: skip
    row(f"appends/s, batched transactions, to {m:,}", f"{at_m['append_rate']:,.0f}",
        f"{pm['bulk_rate']:,.0f} (its table, no API)", f"{at_m['append_rate'] / pm['bulk_rate']:.2f}×")  # fmt: skip
    row(f"inclusion proof at {m:,}, mean µs", f"{at_m['proof_mean_us']:,.0f}", f"{pm['proof_mean_us']:,.0f}",
        f"{pm['proof_mean_us'] / at_m['proof_mean_us']:,.1f}× faster")  # fmt: skip
    row(f"inclusion proof at {m:,}, p99 µs", f"{at_m['proof_p99_us']:,.0f}", f"{pm['proof_p99_us']:,.0f}",
        f"{pm['proof_p99_us'] / at_m['proof_p99_us']:,.1f}× faster")  # fmt: skip
    row(f"proofs/s at {m:,}", f"{1e6 / at_m['proof_mean_us']:,.0f}", f"{1e6 / pm['proof_mean_us']:,.0f}",
        f"{pm['proof_mean_us'] / at_m['proof_mean_us']:,.1f}×")  # fmt: skip
    row(f"first root at {m:,} (cold), s", "0 (hashes stored)", f"{pm['cold_root_s']:.1f}", "—")
    row(f"storage beyond the record at {m:,}, bytes/entry", f"{at_m['overhead_bytes']:.0f} (with lookup index)",
        f"{pm['overhead_bytes']:.0f} (no lookup index)", "—")  # fmt: skip
    row(f"lookup by ProduceID at {m:,}, mean µs", f"{at_m['find_mean_us']:,.0f}", "not offered", "—")
    if old:
        was = old[m]
        print(f"\n| lookup at {m:,} entries ({m >> 16} segments) | merged runs (format 2) | per segment (format 1) |")
        print("|---|---|---|")
        print(f"| key runs probed | {at_m['runs']:.0f} | {was['runs']:.0f} |")
        print(f"| lookup by ProduceID, mean / p99 µs | {at_m['find_mean_us']:,.0f} / {at_m['find_p99_us']:,.0f} "
              f"| {was['find_mean_us']:,.0f} / {was['find_p99_us']:,.0f} |")  # fmt: skip
        print(f"| durable appends/s, batched | {at_m['append_rate']:,.0f} | {was['append_rate']:,.0f} |")
        print(
            f"| storage beyond the record, bytes/entry | {at_m['overhead_bytes']:.0f} | {was['overhead_bytes']:.0f} |"
        )
    if n != m:
        print()
        print(f"| synthguard at {n:,} entries | value | goal |")
        print("|---|---|---|")
        print(f"| durable appends/s, batched, whole build | {at_n['append_rate']:,.0f} | ≥ 20,000 |")
        print(f"| durable appends/s, batched, from {m:,} to {n:,} | {at_n['window_rate']:,.0f} | ≥ 20,000 |")
        print(
            f"| inclusion proof mean / p99 µs | {at_n['proof_mean_us']:,.0f} / {at_n['proof_p99_us']:,.0f} | ≤ 1,000 |"
        )
        print(f"| proofs/s | {1e6 / at_n['proof_mean_us']:,.0f} | |")
        print(f"| lookup by ProduceID, mean / p99 µs ({at_n['runs']:.0f} key runs) | {at_n['find_mean_us']:,.0f} / "
              f"{at_n['find_p99_us']:,.0f} | ≤ 1,000 |")  # fmt: skip
        print(f"| storage beyond the record, bytes/entry | {at_n['overhead_bytes']:.0f} "
              f"(record {at_n['record_bytes']:.0f}) | ≤ 200 |")  # fmt: skip
        print(f"pymerkle was run at {m:,}: beyond that its proofs start with a cold pass over every leaf.")
    print(f"\npeak RSS of this process: {rss:,.0f} MiB")
    if not args.keep:
        remove(ours_path)
        for p in (peer_path, peer_path + "-journal"):
            if os.path.exists(p):
                os.unlink(p)


if __name__ == "__main__":
    main()
