"""Keyword review throughput: synthguard's normalised multi-view review beside raw automata, same run.

Usage: .venv/bin/python benchmarks/review_text.py [--sizes 10000,50000,100000] [--big-mb 100 --big-entries 50000]
The ~100 MB row (the shared text repeated, reviewed in 1M-character chunks) runs in a child process so its
peak memory is its own.
Needs ../shared/data (lexicons and clean text); skips with a message when absent.
"""

from __future__ import annotations

import argparse
import gc
import resource
import subprocess
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
LEX = DATA / "lexicons"
TEXT = DATA / "text" / "thucnews-fulltext-unlicensed" / "cnews.val.txt"


def rss_mb() -> float:
    """Resident memory of this process in MB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096 / 1e6


def words() -> list[str]:
    """Deduplicated deny terms from the shared lexicons (houbb first, then konsheng, toolgood)."""
    files = [
        LEX / "houbb-sensitive-word" / "sensitive_word_dict.txt",
        *sorted((LEX / "konsheng-Sensitive-lexicon").glob("*.txt")),
        LEX / "toolgood-words" / "IllegalKeywords.txt",
    ]
    seen: dict[str, None] = {}
    for f in files:
        for line in f.read_text(encoding="utf-8-sig").splitlines():
            if line.strip():
                seen.setdefault(line.strip(), None)
    return list(seen)


def best(fn, repeat: int = 3) -> float:
    """The fastest of a few runs, in CPU seconds."""
    times = []
    for _ in range(repeat):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return min(times)


def big_row(target_mb: float, size: int) -> int:
    """Child process: review the shared text repeated to ~target_mb in chunks; print MB/s and peak memory."""
    from synthguard.review import normalize as nz
    from synthguard.review.lexicon import Entry
    from synthguard.review.matcher import CompiledIndex

    nz.tables()
    index = CompiledIndex([Entry(t, "A.1.8") for t in words()[:size]])
    part = TEXT.read_text(encoding="utf-8")
    reps = max(1, round(target_mb / (len(part.encode()) / 1e6)))
    text = part * reps
    mb = len(part.encode()) * reps / 1e6  # not text.encode(): that copy would set the peak
    gc.collect()
    before = rss_mb()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    t = time.process_time()
    hits = len(index.scan(text))
    secs = time.process_time() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    print(
        f"{size:>8} {f'synthguard, {mb:.0f} MB in 1M-char chunks':<34} {'':>8} {peak - before:>8.0f} "
        f"{mb / secs:>7.1f} {'':>8} {hits:>7} (peak RSS {peak:.0f}, {peak_before:.0f} before, loaded {before:.0f})"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,50000,100000")
    parser.add_argument("--big-mb", type=float, default=100.0, help="0 skips the chunked row")
    parser.add_argument("--big-entries", type=int, default=50_000)
    parser.add_argument("--big-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.big_child:
        return big_row(args.big_mb, args.big_entries)
    if not LEX.is_dir() or not TEXT.is_file():
        print(f"skipped: {DATA} is absent (the shared benchmark data lives beside the repository)")
        return 0
    import ahocorasick
    import ahocorasick_rs
    from flashtext2 import KeywordProcessor

    from synthguard.review import normalize as nz
    from synthguard.review.evaluate import DEFAULT_EVASIONS, recall
    from synthguard.review.lexicon import Entry
    from synthguard.review.matcher import CompiledIndex

    nz.tables()
    text = TEXT.read_text(encoding="utf-8")
    mb = len(text.encode()) / 1e6
    pool = words()
    print(f"text: {TEXT.name}, {len(text):,} chars, {mb:.2f} MB UTF-8; lexicon pool {len(pool):,} terms")
    print()
    print(f"{'entries':>8} {'engine':<34} {'build s':>8} {'+RSS MB':>8} {'MB/s':>7} {'vs ours':>8} {'hits':>7}")
    for size in [int(s) for s in args.sizes.split(",")]:
        terms = pool[:size]
        entries = [Entry(t, "A.1.8") for t in terms]
        gc.collect()
        base = rss_mb()
        t = time.process_time()
        index = CompiledIndex(entries)
        build = time.process_time() - t
        mem = rss_mb() - base
        ours = best(lambda index=index: index.scan(text))
        n_ours = len(index.scan(text))
        rows = [("synthguard (normalised + detectors)", build, mem, ours, n_ours)]

        base = rss_mb()
        t = time.process_time()
        a = ahocorasick.Automaton()
        for i, w in enumerate(terms):
            a.add_word(w, i)
        a.make_automaton()
        b = time.process_time() - t
        rows.append(
            (
                "pyahocorasick (raw)",
                b,
                rss_mb() - base,
                best(lambda a=a: list(a.iter(text))),
                sum(1 for _ in a.iter(text)),
            )
        )
        base = rss_mb()
        t = time.process_time()
        rs = ahocorasick_rs.AhoCorasick(terms)
        b = time.process_time() - t
        rows.append(
            (
                "ahocorasick-rs (raw, overlapping)",
                b,
                rss_mb() - base,
                best(lambda rs=rs: rs.find_matches_as_indexes(text, overlapping=True)),
                len(rs.find_matches_as_indexes(text, overlapping=True)),
            )
        )
        base = rss_mb()
        t = time.process_time()
        kp = KeywordProcessor(case_sensitive=False)
        for w in terms:
            kp.add_keyword(w)
        b = time.process_time() - t
        rows.append(
            (
                "flashtext2 (raw)",
                b,
                rss_mb() - base,
                best(lambda kp=kp: kp.extract_keywords(text)),
                len(kp.extract_keywords(text)),
            )
        )
        for name, b, m, secs, hits in rows:
            print(f"{size:>8} {name:<34} {b:>8.2f} {m:>8.0f} {mb / secs:>7.1f} {ours / secs:>7.2f}x {hits:>7}")
        if size == 50_000:
            rec, _ = recall(index, entries[:5000], DEFAULT_EVASIONS)
            print(
                "         recall on 5,000 entries: " + ", ".join(f"{k} {f / n:.4f}" for k, (f, n) in rec.items() if n)
            )
    if args.big_mb > 0:
        sys.stdout.flush()
        child = [sys.executable, __file__, "--big-child", "--big-mb", str(args.big_mb)]
        subprocess.run([*child, "--big-entries", str(args.big_entries)], check=True)
        print("         (+RSS MB of the chunked row = peak RSS during the scan minus RSS with text and index loaded)")
    print("\nMB/s = UTF-8 megabytes of input per CPU second (best of 3); 'vs ours' = our time / its time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
