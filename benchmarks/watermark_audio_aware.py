"""Audio watermark beside AWARE, a published multi-bit peer that runs offline: same clips, attacks and run.

AWARE (arXiv 2510.17512; PyPI `aware`, MIT) needs no trained weights: its detector is a convolutional net
with a fixed random seed, and the embedder optimises each clip's STFT magnitudes in 1-4 kHz against it
(400 steps). It carries 20 bits with no error-correcting code and no calibrated false-positive bound, on
16 kHz mono speech. Install it beside perth with `benchmarks/install_aware.sh VENV`.

Ours carries the 64-bit payload (or the presence-only mark where that does not fit). AWARE gets the same
clips as 16 kHz mono: its mark is upsampled to the clip's rate and added to every channel, so both outputs
have the clip's rate and channels and go through the same attacks. `embed_watermark` rescales its output by
the clip's maximum sample where its normaliser divided by the maximum magnitude: a global gain error that
alone held one clip to 17 dB of segmental SNR. The adapter undoes that gain, so the quality figures measure
the mark.

AWARE runs at each of --tolerances (its `tolerance_db`: how far a magnitude may move, lower is stronger): its
default 6 dB, and 10 dB, where its mean segmental SNR is close to ours (equal quality).

Usage: python benchmarks/watermark_audio_aware.py [--seconds 10] [--fp 300] [--limit N] [--tolerances 6,10]
       [--short]  (--short: the 20 short espeak-ng lines of watermark_audio.py --short instead)
Skips with a message when ../shared/data/audio, ffmpeg or aware is absent.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

sys.path.insert(0, str(Path(__file__).resolve().parent))
from audio_attacks import ATTACKS, AUDIO_SUFFIXES, DEFAULT_ATTACKS, load, loop_to, make_mixer
from synthguard.errors import CapacityTooLow
from synthguard.watermark.audio import detect_audio, embed_audio_or_presence
from synthguard.watermark.payload import Payload
from watermark_audio import DATA, KEY, SHORT_TTS, is_speech, pesq_score, seg_snr, skip_reason, tts_clips, visqol_score

AWARE_BITS = 20
AWARE_RATE = 16000


class Aware:
    """AWARE's public embed/detect calls on 16 kHz mono, adapted to clips of any rate and channel count."""

    def __init__(self) -> None:
        import logging

        import torch
        from aware.service import detect_watermark, embed_watermark
        from aware.utils.models import load as load_model

        logging.getLogger("aware").setLevel(logging.ERROR)
        torch.set_num_threads(1)  # CPU time per call is compared on one core
        self._embed, self._detect = embed_watermark, detect_watermark
        self.embedder, self.detector = load_model("AWARE")

    @staticmethod
    def _mono16(x: np.ndarray, rate: int) -> np.ndarray:
        return np.asarray(resample_poly(x.mean(axis=1), AWARE_RATE, rate), dtype=np.float32)

    def embed(self, x: np.ndarray, rate: int, bits: np.ndarray) -> np.ndarray | None:
        """The clip with AWARE's mark added to every channel, or None when AWARE refuses it (no speech found)."""
        x16 = self._mono16(x, rate)
        try:
            y16 = np.asarray(self._embed(x16, AWARE_RATE, bits, self.embedder), dtype=np.float64)
        except ValueError:
            return None
        top = float(np.max(x16))
        if top > 0.0:  # embed_watermark rescales by the clip's maximum, its normaliser by the maximum magnitude
            y16 *= float(np.max(np.abs(x16))) / top
        mark16 = np.zeros(x16.shape[0])
        n = min(x16.shape[0], y16.shape[0])
        mark16[:n] = y16[:n] - x16[:n]
        mark = resample_poly(mark16, rate, AWARE_RATE)[: x.shape[0]]
        mark = np.pad(mark, (0, x.shape[0] - mark.shape[0]))
        return np.asarray(x + mark[:, None], dtype=np.float32)

    def detect(self, z: np.ndarray, rate: int) -> tuple[np.ndarray, float]:
        """The 20 decoded bits and AWARE's own presence probability."""
        bits, probability = self._detect(self._mono16(z, rate), AWARE_RATE, self.detector)
        return np.asarray(bits, dtype=np.int64), float(probability)


def aware_model() -> Aware | None:
    """AWARE, or None when it is not installed."""
    try:
        return Aware()
    except Exception as exc:  # the peer is optional; any import/model failure skips the run
        print(f"skipped: aware unavailable ({exc.__class__.__name__}: {exc}); see benchmarks/install_aware.sh")
        return None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fp", type=int, default=300, help="unmarked clips for the false-positive count")
    parser.add_argument("--limit", type=int, default=0, help="only the first N clips (0: all)")
    parser.add_argument(
        "--short", action="store_true", help="20 short espeak-ng lines at their own length (2.2-8.3 s) instead"
    )
    parser.add_argument("--tolerances", default="6,10", help="AWARE's tolerance_db, one column each")
    parser.add_argument("--attacks", default=DEFAULT_ATTACKS)
    args = parser.parse_args()
    if (missing := skip_reason()) is not None:
        print(f"skipped: {missing}")
        return 0
    peer = aware_model()
    if peer is None:
        return 0
    rng = np.random.default_rng(2026)
    files = sorted(p for p in DATA.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
    with tempfile.TemporaryDirectory() as tmpdir:
        if args.short:  # a TTS service's typical output: one line, not looped
            clips = [(f"tts-short-{n[4:]}", x, r) for n, x, r in tts_clips(Path(tmpdir), SHORT_TTS)]
            described = "20 short espeak-ng lines at their own length (2.2-8.3 s)"
        else:
            clips = [(p.stem, *load(p)) for p in files] + tts_clips(Path(tmpdir))
            clips = [(name, loop_to(x, rate, args.seconds), rate) for name, x, rate in clips]
            described = f"{len(clips)} clips of {args.seconds:g} s (15 recordings + 4 espeak-ng sentences)"
    if args.limit:
        clips = clips[: args.limit]
    attacks = dict(ATTACKS)
    attacks["mix -10dB"] = make_mixer(*load(DATA / "c2pa-rs_sample1.mp3"))
    names = ["none", *[a for a in args.attacks.split(",") if a in attacks and a != "none"]]
    tolerances = {f"AWARE {float(t):g} dB": float(t) for t in args.tolerances.split(",")}
    cols = ("ours", *tolerances)
    exact = {c: dict.fromkeys(names, 0) for c in cols}  # exact payload, counted over every clip
    present: dict[str, dict[str, list[bool]]] = {c: {a: [] for a in names} for c in cols}  # over marked clips
    ber: dict[str, dict[str, list[float]]] = {c: {a: [] for a in names} for c in tolerances}
    marked_kind = {c: {"payload": 0, "presence": 0, "refused": 0} for c in cols}
    quality: dict[str, list[tuple[float, float | None, float | None]]] = {c: [] for c in cols}
    cpu = {c: {"embed": 0.0, "detect": 0.0} for c in cols}
    seconds_marked = dict.fromkeys(cols, 0.0)
    seconds_detected = dict.fromkeys(cols, 0.0)
    for i, (name, x, rate) in enumerate(clips):
        payload = Payload(producer=7, serial=int(rng.integers(0, 2**44)))
        bits = rng.integers(0, 2, AWARE_BITS)
        speech = is_speech(name)
        t0 = time.process_time()
        try:
            mark = embed_audio_or_presence(x, rate, payload, KEY)
            ours: np.ndarray | None = mark.samples
            marked_kind["ours"]["payload" if mark.carries_payload else "presence"] += 1
            carries = mark.carries_payload
        except CapacityTooLow:
            ours, carries = None, False
            marked_kind["ours"]["refused"] += 1
        cpu["ours"]["embed"] += time.process_time() - t0
        outputs = {"ours": ours}
        for col, tolerance in tolerances.items():
            peer.embedder.tolerance_db = tolerance
            t0 = time.process_time()
            outputs[col] = peer.embed(x, rate, bits)
            cpu[col]["embed"] += time.process_time() - t0
            marked_kind[col]["payload" if outputs[col] is not None else "refused"] += 1
        for col, y in outputs.items():
            if y is None:
                continue
            seconds_marked[col] += x.shape[0] / rate
            quality[col].append(
                (seg_snr(x, y, rate), pesq_score(x, y, rate) if speech else None, visqol_score(x, y, rate))
            )
            for attack in names:
                try:
                    z, zr = attacks[attack](y, rate, np.random.default_rng(1000 * i + len(attack)))
                except subprocess.CalledProcessError:
                    print(f"note: ffmpeg failed on {attack} for {name}; counted as a miss", file=sys.stderr)
                    present[col][attack].append(False)
                    continue
                t0 = time.process_time()
                if col == "ours":
                    found = detect_audio(z, zr, KEY)
                    exact[col][attack] += bool(carries and found.payload == payload)
                    present[col][attack].append(found.present)
                else:
                    got, probability = peer.detect(z, zr)
                    hit = got.shape == bits.shape and bool(np.all(got == bits))
                    exact[col][attack] += hit
                    ber[col][attack].append(float(np.mean(got != bits)) if got.shape == bits.shape else 0.5)
                    present[col][attack].append(probability > 0.5)
                cpu[col]["detect"] += time.process_time() - t0
                seconds_detected[col] += z.shape[0] / zr
        kinds = "payload" if carries else ("presence" if ours is not None else "refused")
        snrs = ", ".join(f"{c} {quality[c][-1][0]:.1f} dB" for c in cols if outputs[c] is not None)
        print(f"[{i + 1}/{len(clips)}] {name}: ours {kinds}; {snrs}", file=sys.stderr, flush=True)

    n = len(clips)
    print(f"\n{described}, the same attacks for every column.")
    for col in cols:
        k = marked_kind[col]
        size = "64-bit payload" if col == "ours" else f"{AWARE_BITS} bits"
        print(f"{col} ({size}): {k['payload']} carry it, {k['presence']} presence-only, {k['refused']} refused")
    print("exact: share of all clips whose whole payload came back (refused or presence-only: a miss);")
    print("BER: AWARE's bit error rate; present: ours p <= 1e-6 or a verified tag, AWARE its own probability > 0.5\n")
    heads = ["ours exact 64 bits", *[f"{c} exact 20 bits" for c in tolerances], *[f"{c} BER" for c in tolerances]]
    heads += [f"{c} present" for c in cols]
    print("| attack | " + " | ".join(heads) + " |")
    print("|---|" + "---:|" * len(heads))
    for attack in names:
        cells = [f"{exact[c][attack] / n:.2f}" for c in cols]
        cells += [f"{np.mean(ber[c][attack]):.3f}" if ber[c][attack] else "n/a" for c in tolerances]
        cells += [f"{np.mean(present[c][attack]):.2f}" if present[c][attack] else "n/a" for c in cols]
        print(f"| {attack} | " + " | ".join(cells) + " |")
    print("\n| quality and speed | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    rows = {
        "segmental SNR dB (min)": [
            f"{np.mean([q[0] for q in quality[c]]):.1f} ({min(q[0] for q in quality[c]):.1f})" for c in cols
        ],
        "PESQ wb (speech)": [
            f"{np.mean(v):.2f}" if (v := [q[1] for q in quality[c] if q[1] is not None]) else "n/a" for c in cols
        ],
        "ViSQOL audio MOS-LQO (min)": [
            f"{np.mean(v):.3f} ({min(v):.3f})" if (v := [q[2] for q in quality[c] if q[2] is not None]) else "n/a"
            for c in cols
        ],
        "embed x realtime (CPU)": [f"{seconds_marked[c] / max(cpu[c]['embed'], 1e-9):.1f}" for c in cols],
        "detect x realtime (CPU)": [f"{seconds_detected[c] / max(cpu[c]['detect'], 1e-9):.0f}" for c in cols],
    }
    for label, cells in rows.items():
        print(f"| {label} | " + " | ".join(cells) + " |")
    print("(embed time: every clip tried, refusals included; detect time: attacked clips, attacks excluded)")

    if args.fp > 0:
        pool = [(x, rate) for _, x, rate in clips]
        false_ours = false_aware = 0
        peer.embedder.tolerance_db = 6.0  # detection does not depend on it
        for k in range(args.fp):
            x, rate = pool[k % len(pool)]
            n_win = int(min(args.seconds, x.shape[0] / rate) * rate)
            start = int(rng.integers(0, max(1, x.shape[0] - n_win)))
            clip = x[start : start + n_win] * rng.uniform(0.3, 1.0)
            false_ours += detect_audio(clip, rate, KEY).present
            false_aware += peer.detect(clip, rate)[1] > 0.5
        print(f"\nfalse positives on {args.fp} unmarked windows: ours {false_ours}, AWARE {false_aware}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
