"""PDQ hash-bank lookups in 1M hashes, and the time until a new hash matches.

Usage: .venv/bin/python benchmarks/review_hash.py [--size 1000000]
Uses random hashes for the bank and the shared images (../shared/data/images) for real PDQ timings.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "images"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=3000)
    args = parser.parse_args()
    from synthguard.review.hashbank import BankEntry, HashBanks, hash_image
    from synthguard.review.hashindex import HashIndex, popcount_distance

    rng = np.random.default_rng(0)
    hashes = rng.integers(0, 2**63, size=(args.size, 4), dtype=np.uint64)
    t = time.process_time()
    index = HashIndex()
    index.add(hashes, np.arange(args.size))
    build = time.process_time() - t
    queries = hashes[rng.integers(0, args.size, args.queries)].copy()
    flips = rng.integers(0, 256, size=(args.queries, 20))
    bits = np.unpackbits(queries.view(np.uint8), axis=1)
    for i in range(args.queries):
        bits[i, flips[i]] ^= 1
    queries = np.packbits(bits, axis=1).view(np.uint64)
    t = time.process_time()
    found = sum(index.search(q, 31)[0].size > 0 for q in queries)
    ours = time.process_time() - t
    n_brute = min(200, args.queries)
    t = time.process_time()
    for q in queries[:n_brute]:
        d = popcount_distance(hashes, q)
        np.flatnonzero(d <= 31)
    brute = (time.process_time() - t) / n_brute
    print(f"bank: {args.size:,} random 256-bit hashes; queries at distance <= 20 bits; threshold 31")
    print(f"{'engine':<40} {'build s':>8} {'lookups/s':>10} {'found':>8}")
    print(
        f"{'synthguard multi-index (16x16-bit)':<40} {build:>8.2f} {args.queries / ours:>10.0f} {found}/{args.queries}"
    )
    print(f"{'numpy brute force popcount':<40} {0:>8.2f} {1 / brute:>10.0f}")
    print(f"ratio: {brute / (ours / args.queries):.1f}x")
    new = rng.integers(0, 2**63, size=(1, 4), dtype=np.uint64)
    t = time.perf_counter()
    index.add(new, np.array([args.size]))
    hit = index.search(new[0], 0)[0].size
    print(f"time until a new hash matches: {(time.perf_counter() - t) * 1000:.2f} ms (found={bool(hit)})")
    images = sorted(DATA.glob("*.png"))[:6] + sorted(DATA.glob("*.jpg"))[:4] if DATA.is_dir() else []
    if not images:
        print(f"skipped image timings: {DATA} is absent")
        return 0
    banks = HashBanks()
    t = time.process_time()
    for p in images:
        banks.bank("b").add(hash_image(p.read_bytes(), dihedral=True), BankEntry(p.name))
    per = (time.process_time() - t) / len(images)
    print(f"PDQ + 8 dihedral variants per image (decode + resize to 512 px): {per * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
