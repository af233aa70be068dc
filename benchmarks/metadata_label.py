"""Label then verify a corpus across formats; exiftool writing the same XMP property to the image files beside us.

Run: .venv/bin/python benchmarks/metadata_label.py [--per-format 10]
Prints files/s for synthguard (label + read-back + verify) on the whole corpus and on the image subset,
and for exiftool on the same image subset, one process per file and with -stay_open; then ratios and
peak memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from synthguard.fileio import write_atomic
from synthguard.labeling import label_media
from synthguard.media import Media
from synthguard.samples import MAKERS, make_sample
from synthguard.verify import verify

PRODUCER = "001191440300708461136T1XGW3"
IMAGE_KINDS = ("png", "jpeg", "webp", "gif", "tiff", "heic")
CONFIG = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "exiftool-tc260.config"
REAL_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "images"


def build_corpus(root: Path, per_format: int) -> list[tuple[str, Path]]:
    """Generated samples of every format, plus the real raster images when ../shared is present."""
    files: list[tuple[str, Path]] = []
    for kind in MAKERS:
        for seed in range(per_format):
            try:
                ext, data = make_sample(kind, seed)
            except Exception as exc:  # an encoder missing here: say so and go on
                print(f"  (no {kind} samples: {exc})", file=sys.stderr)
                break
            path = root / f"{kind}-{seed}{ext}"
            path.write_bytes(data)
            files.append((kind, path))
    if REAL_IMAGES.is_dir():
        for path in sorted(REAL_IMAGES.iterdir()):
            kind = {".jpg": "jpeg", ".png": "png", ".webp": "webp"}.get(path.suffix.lower())
            if kind:
                dst = root / f"real-{path.name}"
                shutil.copyfile(path, dst)
                files.append((kind, dst))
    return files


def ours(files: list[tuple[str, Path]], out: Path) -> float:
    """Seconds to label (with read-back), write atomically and verify every file."""
    start = time.perf_counter()
    for _kind, path in files:
        result = label_media(Media.open(path), PRODUCER, f"bench-{path.stem}")
        target = out / path.name
        write_atomic(target, result.data)
        if verify(target).verdict.value != "compliant":
            raise SystemExit(f"{target} did not verify")
    return time.perf_counter() - start


def _json(path: Path) -> str:
    pid = f"bench-{path.stem}"
    fields = {
        "Label": "1",
        "ContentProducer": PRODUCER,
        "ProduceID": pid,
        "ReservedCode1": "",
        "ContentPropagator": PRODUCER,
        "PropagateID": pid,
        "ReservedCode2": "",
    }
    return json.dumps(fields, separators=(",", ":"))


def exiftool_per_file(files: list[tuple[str, Path]], out: Path) -> float:
    """Seconds for one exiftool process per file writing the TC260:AIGC property."""
    start = time.perf_counter()
    for _kind, path in files:
        subprocess.run(
            [
                "exiftool",
                "-config",
                str(CONFIG),
                "-q",
                "-m",
                f"-XMP-TC260:AIGC={_json(path)}",
                "-o",
                str(out / path.name),
                str(path),
            ],
            check=True,
            capture_output=True,
        )
    return time.perf_counter() - start


def exiftool_stay_open(files: list[tuple[str, Path]], out: Path) -> float:
    """Seconds for one long-running exiftool (-stay_open) writing the same property to every file."""
    proc = subprocess.Popen(
        ["exiftool", "-config", str(CONFIG), "-stay_open", "True", "-@", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    start = time.perf_counter()
    for _kind, path in files:
        # no -q here: with it this exiftool does not print the {ready} handshake
        args = ["-m", f"-XMP-TC260:AIGC={_json(path)}", "-o", str(out / path.name), str(path), "-execute"]
        proc.stdin.write("\n".join(args) + "\n")
        proc.stdin.flush()
        while not proc.stdout.readline().startswith("{ready"):
            pass
    elapsed = time.perf_counter() - start
    proc.stdin.write("-stay_open\nFalse\n")
    proc.stdin.flush()
    proc.wait(timeout=30)
    return elapsed


def exiftool_writable(files: list[tuple[str, Path]], scratch: Path) -> set[str]:
    """The image kinds this exiftool can write (tried once per kind)."""
    ok: set[str] = set()
    for kind in sorted({k for k, _ in files}):
        path = next(p for k, p in files if k == kind)
        res = subprocess.run(
            [
                "exiftool",
                "-config",
                str(CONFIG),
                "-q",
                "-m",
                f"-XMP-TC260:AIGC={_json(path)}",
                "-o",
                str(scratch / f"probe-{path.name}"),
                str(path),
            ],
            capture_output=True,
            check=False,
        )
        if res.returncode == 0:
            ok.add(kind)
        else:
            print(f"  exiftool cannot write {kind}: {res.stderr.decode(errors='replace').strip()[:80]}")
    return ok


def main() -> None:
    """Run the comparison and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-format", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "in").mkdir()
        files = build_corpus(root / "in", args.per_format)
        images = [(k, p) for k, p in files if k in IMAGE_KINDS]
        if shutil.which("exiftool"):
            (root / "probe").mkdir()
            writable = exiftool_writable(images, root / "probe")
            images = [(k, p) for k, p in images if k in writable]
        kinds = sorted({k for k, _ in files})
        print(
            f"corpus: {len(files)} files in {len(kinds)} formats ({', '.join(kinds)}); "
            f"image subset {len(images)} files, {sum(p.stat().st_size for _, p in images) / 1e6:.1f} MB"
        )
        rows: list[tuple[str, int, float]] = []
        for name, subset in (
            ("synthguard label+verify, all formats", files),
            ("synthguard label+verify, same images", images),
        ):
            out = root / f"out-{len(rows)}"
            out.mkdir()
            rows.append((name, len(subset), ours(subset, out)))
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if shutil.which("exiftool"):
            for name, fn in (
                ("exiftool write, one process per file", exiftool_per_file),
                ("exiftool write, -stay_open", exiftool_stay_open),
            ):
                out = root / f"out-{len(rows)}"
                out.mkdir()
                rows.append((name, len(images), fn(images, out)))
        else:
            print("exiftool is not installed: peer rows skipped (apt-get install libimage-exiftool-perl)")
        print(f"\n{'run':<42}{'files':>7}{'seconds':>10}{'files/s':>10}")
        for name, n, secs in rows:
            print(f"{name:<42}{n:>7}{secs:>10.2f}{n / secs:>10.1f}")
        ours_img = rows[1][1] / rows[1][2]
        for name, n, secs in rows[2:]:
            print(f"ratio synthguard (images) / {name}: {ours_img / (n / secs):.1f}x")
        print(f"peak resident memory of the synthguard process: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
