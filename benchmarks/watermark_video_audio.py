"""A video's sound: marking the audio track beside a plain ffmpeg audio re-encode, and detection after a platform's
transcode or a ripped soundtrack, ours beside resemble-perth on the same tracks, same run.

Usage: python benchmarks/watermark_video_audio.py [--seconds 60] [--clips 4]
Each clip is a 320x240 video at 10 fps whose sound is one of the shared recordings looped to --seconds
(AAC 128k). Ours: mark_audio_track (payload, or the presence mark where the payload does not fit), counted
only when the exact payload (or, for a presence mark, the presence mark) is found. Perth:
the same decoded track marked by perth and put back with the same remux. Skips with a message when
../shared/data/audio, ffmpeg or perth is absent.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from audio_attacks import load, loop_to
from synthguard.watermark.audio import detect_audio
from synthguard.watermark.payload import Payload
from synthguard.watermark.video_audio import _decode_track, _remux, detect_audio_track, mark_audio_track
from watermark_audio import DATA, KEY, perth_model, perth_present

CLIPS = ["c2pa-rs_sample1.mp3", "gnome-audio_startup3.wav", "oxygen_Sys-Log-In.ogg", "alsa_Front_Center.wav"]
ATTACKS = {  # (ffmpeg output args, output suffix)
    "platform transcode (x264 crf 28, AAC 64k)": (
        ["-c:v", "libx264", "-crf", "28", "-c:a", "aac", "-b:a", "64k"],
        "mp4",
    ),
    "soundtrack ripped to MP3 128k": (["-vn", "-map_metadata", "-1", "-c:a", "libmp3lame", "-b:a", "128k"], "mp3"),
    "soundtrack ripped to Opus 32k": (["-vn", "-c:a", "libopus", "-b:a", "32k"], "ogg"),
}


def make_video(path: Path, music: np.ndarray, rate: int, seconds: float) -> None:
    """A moving texture at 10 fps with music as its AAC 128k track."""
    rng = np.random.default_rng(1)
    base = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=10)
        vs.width, vs.height, vs.pix_fmt = 320, 240, "yuv420p"
        music = music if music.shape[1] == 2 else np.repeat(music[:, :1], 2, axis=1)  # every track stereo
        aus = out.add_stream("aac", rate=rate, layout="stereo")
        aus.bit_rate = 128000
        for i in range(round(seconds * 10)):
            frame = av.VideoFrame.from_ndarray(np.roll(base, 2 * i, axis=1), format="rgb24")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
        data = np.ascontiguousarray(music.T)
        for k in range(0, data.shape[1], 1024):
            af = av.AudioFrame.from_ndarray(data[:, k : k + 1024], format="fltp", layout=aus.layout.name)
            af.sample_rate, af.pts, af.time_base = rate, k, Fraction(1, rate)
            out.mux(aus.encode(af))
        out.mux(aus.encode(None))


def ffmpeg(src: Path, dst: Path, args: list[str]) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), *args, str(dst)], check=True)


def decoded(path: Path) -> tuple[np.ndarray, int]:
    wav = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-vn", "-f", "wav", "-"], capture_output=True)
    samples, rate = sf.read(io.BytesIO(wav.stdout), dtype="float32", always_2d=True)
    return samples, int(rate)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clips", type=int, default=len(CLIPS))
    args = parser.parse_args()
    if not DATA.is_dir() or shutil.which("ffmpeg") is None:
        print("skipped: ../shared/data/audio or ffmpeg is absent")
        return 0
    perth = perth_model()
    names = ["none", *ATTACKS]
    found: dict[str, dict[str, list[bool]]] = {c: {a: [] for a in names} for c in ("ours", "perth")}
    t_ours = t_copy = t_perth = 0.0
    kinds = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for i, name in enumerate(CLIPS[: args.clips]):
            music, rate = load(DATA / name)
            src = work / f"src{i}.mp4"
            make_video(src, loop_to(music, rate, args.seconds), rate, args.seconds)
            payload = Payload(producer=7, serial=1000 + i)
            t0 = time.perf_counter()
            result = mark_audio_track(src, work / f"ours{i}.mp4", payload, KEY)
            t_ours += time.perf_counter() - t0
            expected = payload if result.carries_payload else None  # None: the presence-only mark
            kinds.append(f"{name}: {'payload' if expected else 'presence only'}")
            t0 = time.perf_counter()
            ffmpeg(src, work / f"copy{i}.mp4", ["-c:v", "copy", "-c:a", "aac", "-b:a", "128k"])
            t_copy += time.perf_counter() - t0
            marked = {"ours": work / f"ours{i}.mp4"}
            if perth is not None:
                t0 = time.perf_counter()
                with av.open(str(src)) as c:
                    x, r, _ = _decode_track(c, c.streams.audio[0], args.seconds + 1)
                y = np.stack([perth.apply_watermark(x[:, ch], sample_rate=r) for ch in range(x.shape[1])], 1)  # type: ignore[attr-defined]
                _remux(src, work / f"perth{i}.mp4", "mp4", y[: x.shape[0]], r, "stereo", 128000, 0, "aac")
                t_perth += time.perf_counter() - t0
                marked["perth"] = work / f"perth{i}.mp4"
            for col, path in marked.items():
                for attack in names:
                    out = path
                    if attack != "none":
                        extra, suffix = ATTACKS[attack]
                        out = work / f"{col}{i}-{names.index(attack)}.{suffix}"
                        ffmpeg(path, out, extra)
                    if col == "perth":
                        found[col][attack].append(perth_present(perth, *decoded(out)))
                    else:
                        hit = detect_audio_track(out, KEY) if suffix_is_video(out) else detect_audio(*decoded(out), KEY)
                        ok = hit is not None and (hit.payload == expected if expected else hit.presence_only)
                        found[col][attack].append(ok)
            print(f"[{i + 1}] {name} done", file=sys.stderr, flush=True)
    n = min(args.clips, len(CLIPS))
    print(f"{n} videos of {args.seconds:g} s (320x240, 10 fps, AAC 128k); ours per clip: {'; '.join(kinds)}")
    seconds = n * args.seconds
    print("\n| attack | ours: exact payload (presence where only that mark fits) | perth: presence |")
    print("|---|---:|---:|")
    for attack in names:
        perth_rate = f"{np.mean(found['perth'][attack]):.2f}" if found["perth"][attack] else "n/a"
        print(f"| {attack} | {np.mean(found['ours'][attack]):.2f} | {perth_rate} |")
    print("\n| | seconds of audio per second of work |")
    print("|---|---:|")
    print(f"| ours: mark_audio_track (decode, embed, encode the track, remux the pictures) | {seconds / t_ours:.0f} |")
    print(f"| ffmpeg: the same file with the audio re-encoded, no mark (-c:v copy -c:a aac) | {seconds / t_copy:.0f} |")
    if perth is not None:
        print(f"| perth: decode, apply_watermark, the same encode and remux | {seconds / t_perth:.0f} |")
    print(f"ratio ours / ffmpeg re-encode: {t_copy / t_ours:.2f}")
    return 0


def suffix_is_video(path: Path) -> bool:
    return path.suffix in (".mp4", ".mkv", ".webm", ".mov")


if __name__ == "__main__":
    raise SystemExit(main())
