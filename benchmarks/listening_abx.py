"""ABX listening kit for the audio watermark: writes the trials for a listener, then scores the answers.

    python benchmarks/listening_abx.py make OUT [--trials 8] [--seed N] [--strength 1]
    python benchmarks/listening_abx.py score OUT ANSWERS.csv

`make` marks the TTS sentences and the shared recordings of ../shared/data/audio (clips the embedder
refuses are skipped), and writes per clip A (original) and B (marked) as 24-bit WAV at the clip's own
rate, plus `--trials` X files, each a copy of A or B drawn at random. The draws go to OUT/key.json,
which the listener must not open. The listener writes ANSWERS.csv with lines `file,A` or `file,B` (one
per X file, in any order). `score` prints per clip the correct answers, and the one-sided binomial
p-value of doing at least that well by guessing; a clip where the listener hears the mark has a small p.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from math import comb
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from audio_attacks import AUDIO_SUFFIXES, load, loop_to
from synthguard.errors import CapacityTooLow
from synthguard.watermark.audio import embed_audio
from synthguard.watermark.payload import Payload
from watermark_audio import DATA, KEY, tts_clips


def binomial_tail(correct: int, trials: int) -> float:
    """P(at least `correct` of `trials` right by guessing with p = 1/2)."""
    return sum(comb(trials, k) for k in range(correct, trials + 1)) / 2**trials


def make(out: Path, trials: int, seed: int, strength: float) -> int:
    """Write A, B and the shuffled X trials of every accepted clip, and the sealed key."""
    if out.exists() and any(out.iterdir()):
        print(f"error: {out} is not empty; choose a new folder", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    files = sorted(p for p in DATA.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES) if DATA.is_dir() else []
    with tempfile.TemporaryDirectory() as tmp:
        clips = [(p.stem, *load(p)) for p in files] + tts_clips(Path(tmp))
    key: dict[str, str] = {}
    written = 0
    for index, (name, recording, rate) in enumerate(clips):
        x = loop_to(recording, rate, 10.0)
        try:
            y = embed_audio(x, rate, Payload(producer=7, serial=index), KEY, strength=strength)
        except CapacityTooLow as exc:
            print(f"skipped {name}: {exc}")
            continue
        stem = f"{written:02d}-{name}"
        sf.write(out / f"{stem}-A.wav", x, rate, subtype="PCM_24")
        sf.write(out / f"{stem}-B.wav", y, rate, subtype="PCM_24")
        for t in range(trials):
            pick = "B" if rng.random() < 0.5 else "A"
            sf.write(out / f"{stem}-X{t + 1:02d}.wav", y if pick == "B" else x, rate, subtype="PCM_24")
            key[f"{stem}-X{t + 1:02d}.wav"] = pick
        written += 1
    (out / "key.json").write_text(json.dumps(key, indent=1, sort_keys=True))
    print(f"{written} clips x {trials} trials in {out}; the listener answers in a CSV: file,A or file,B")
    return 0


def score(out: Path, answers_path: Path) -> int:
    """Per clip: correct answers, trials and the guessing p-value; exit 1 when an answer is missing."""
    try:
        key = json.loads((out / "key.json").read_text())
        with answers_path.open(newline="") as handle:
            answers = {row[0].strip(): row[1].strip().upper() for row in csv.reader(handle) if len(row) >= 2}
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        print(f"error: cannot read the key in {out} or the answers {answers_path}: {exc}", file=sys.stderr)
        return 2
    missing = sorted(set(key) - set(answers))
    if missing:
        print(f"error: {len(missing)} trials have no answer, e.g. {missing[0]}", file=sys.stderr)
        return 1
    per_clip: dict[str, list[bool]] = {}
    for name, truth in key.items():
        per_clip.setdefault(name.rsplit("-X", 1)[0], []).append(answers[name] == truth)
    print("| clip | correct | p (guessing) |")
    print("|---|---:|---:|")
    for clip, hits in sorted(per_clip.items()):
        print(f"| {clip} | {sum(hits)}/{len(hits)} | {binomial_tail(sum(hits), len(hits)):.3g} |")
    total = [h for hits in per_clip.values() for h in hits]
    print(f"| all | {sum(total)}/{len(total)} | {binomial_tail(sum(total), len(total)):.3g} |")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    maker = sub.add_parser("make")
    maker.add_argument("out", type=Path)
    maker.add_argument("--trials", type=int, default=8)
    maker.add_argument("--seed", type=int, default=None)
    maker.add_argument("--strength", type=float, default=1.0)
    scorer = sub.add_parser("score")
    scorer.add_argument("out", type=Path)
    scorer.add_argument("answers", type=Path)
    args = parser.parse_args()
    if args.command == "make":
        seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy % 2**32)
        return make(args.out, args.trials, seed, args.strength)
    return score(args.out, args.answers)


if __name__ == "__main__":
    raise SystemExit(main())
