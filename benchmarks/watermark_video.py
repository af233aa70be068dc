"""Video watermark benchmark: embed speed vs realtime, detect time, detection and exact-payload rate per attack.

Clips are made locally: a slow pan and zoom over the shared real images (../shared/data/images), encoded
with x264 crf 18 at 30 fps with an AAC tone. The attacks run through the ffmpeg command.

    python benchmarks/watermark_video.py [--seconds 6] [--clips 2] [--sizes 720,1080] [--fp-keys 4]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image

from synthguard.watermark import Payload
from synthguard.watermark.video import detect_video, embed_video

KEY = b"bench-key-0123456789abcdef-00000"
FPS = 30
IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "images"
PICTURES = [
    "kde_EveningGlow_2560x1600.jpg",
    "kde_ColorfulCups_2560x1600.jpg",
    "kde_FallenLeaf_2560x1600.jpg",
    "skimage_astronaut.png",
    "kde_Kokkini_3840x2160.png",
]
SIZES = {480: (854, 480), 720: (1280, 720), 1080: (1920, 1080)}


def make_clip(path: Path, picture: Path, size: tuple[int, int], seconds: float) -> Path:
    """Pan and zoom over a real picture: x264 crf 18, 30 fps, with a mono AAC tone."""
    w, h = size
    pic = Image.open(picture).convert("RGB")
    n = round(seconds * FPS)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.codec_context.options = {"crf": "18", "preset": "veryfast"}
        aus = out.add_stream("aac", rate=48000)
        for i in range(n):
            t = i / max(n - 1, 1)
            zoom = 1.0 + 0.3 * t
            cw = min(pic.width, pic.height * w / h) * 0.75 / zoom
            ch = cw * h / w
            x0, y0 = (pic.width - cw) * (0.2 + 0.6 * t), (pic.height - ch) * (0.3 + 0.4 * t)
            img = pic.resize((w, h), Image.Resampling.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch))
            frame = av.VideoFrame.from_ndarray(np.asarray(img), format="rgb24")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * 48000)) / 48000)).astype(np.float32)
        for k in range(0, tone.size, 1024):
            af = av.AudioFrame.from_ndarray(tone[None, k : k + 1024], format="fltp", layout="mono")
            af.sample_rate, af.pts = 48000, k
            out.mux(aus.encode(af))
        out.mux(aus.encode(None))
    return path


def attacks(height: int, seconds: float) -> dict[str, list[str]]:
    """ffmpeg arguments per attack (x264 re-encode at crf 23, ffmpeg's default preset, unless said otherwise)."""
    x264 = ["-c:v", "libx264", "-crf", "23"]
    out = {
        "none": [],
        "crf28": ["-c:v", "libx264", "-crf", "28"],
        "crf35": ["-c:v", "libx264", "-crf", "35"],
        "crf35 veryfast": ["-c:v", "libx264", "-preset", "veryfast", "-crf", "35"],
        f"{height}p->480p": ["-vf", "scale=-2:480", *x264],
        "crop25%": ["-vf", "crop=iw*3/4:ih*3/4", *x264],
        "30->24fps": ["-vf", "fps=24", *x264],
    }
    for start in (0.0, 1.5, 3.0):
        if start + 3.0 > seconds:
            break
        out[f"excerpt3s@{start:g}"] = ["-ss", f"{start}", "-t", "3", *x264]
    return out


def run(args: argparse.Namespace) -> dict[str, object]:
    """Make the clips, embed, attack, detect; return the figures."""
    work = Path(tempfile.mkdtemp(prefix="wm-video-"))
    results: dict[str, object] = {}
    try:
        for height in [int(s) for s in args.sizes.split(",")]:
            rows: dict[str, list[tuple[bool, bool]]] = {}
            speed, detect_s, fp, zs = [], [], [], []
            for c in range(args.clips):
                picture = IMAGES / PICTURES[(c + height) % len(PICTURES)]
                clip = make_clip(work / f"c{height}_{c}.mp4", picture, SIZES[height], args.seconds)
                payload = Payload(producer=100 + c, serial=12345 + height * 10 + c)
                marked = work / f"m{height}_{c}.mp4"
                cpu0, wall0 = time.process_time(), time.perf_counter()
                res = embed_video(clip, marked, payload, KEY)
                cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
                speed.append({"frames": res.frames, "cpu_s": cpu, "wall_s": wall, "rms": res.rms_change})
                for name, ffargs in attacks(height, args.seconds).items():
                    target = marked
                    if ffargs:
                        target = work / f"a{height}_{c}_{name.replace('>', '').replace('%', '').replace(' ', '_')}.mp4"
                        cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(marked), *ffargs, str(target)]
                        subprocess.run(cmd, check=True)
                    t0 = time.process_time()
                    found = detect_video(target, KEY)
                    detect_s.append(time.process_time() - t0)
                    rows.setdefault(name, []).append((found.present, found.payload == payload))
                    zs.append(found.z)
                    print(
                        height,
                        c,
                        name,
                        f"z={found.z:.1f} p={found.p_value:.2g}",
                        found.payload == payload,
                        file=sys.stderr,
                    )
                for k in range(args.fp_keys):
                    other = detect_video(clip, b"unrelated-key-%02d-0123456789abcdef" % k)
                    fp.append(other.p_value)
            frames = sum(int(s["frames"]) for s in speed)
            results[f"{height}p"] = {
                "embed_fps_per_cpu_core": frames / sum(float(s["cpu_s"]) for s in speed),
                "embed_fps_wall": frames / sum(float(s["wall_s"]) for s in speed),
                "rms_change": float(np.mean([float(s["rms"]) for s in speed])),
                "detect_cpu_s_mean": float(np.mean(detect_s)),
                "attacks": {
                    name: {
                        "detected": sum(p for p, _ in v) / len(v),
                        "exact_payload": sum(e for _, e in v) / len(v),
                        "n": len(v),
                    }
                    for name, v in rows.items()
                },
                "lowest_z_marked": min(zs),
                "unmarked_min_p": min(fp) if fp else None,
                "unmarked_n": len(fp),
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def main() -> None:
    """Parse arguments, run, print JSON and a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--clips", type=int, default=2)
    parser.add_argument("--sizes", default="720,1080")
    parser.add_argument("--fp-keys", type=int, default=4)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = run(args)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)
    for size, r in results.items():
        assert isinstance(r, dict)
        print(
            f"\n{size}: embed {r['embed_fps_per_cpu_core']:.1f} fps per CPU core "
            f"({r['embed_fps_wall']:.1f} wall, realtime = {FPS}), detect {r['detect_cpu_s_mean']:.2f} s CPU, "
            f"lowest z {r['lowest_z_marked']:.1f}, unmarked smallest p {r['unmarked_min_p']}"
        )
        print("| attack | detected | exact payload |\n|---|---|---|")
        for name, a in r["attacks"].items():
            print(f"| {name} | {a['detected']:.2f} | {a['exact_payload']:.2f} |")


if __name__ == "__main__":
    main()
