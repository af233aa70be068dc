"""Audio labeling speed (x realtime) per format, beside ffmpeg re-encoding the same file to the same codec/bitrate.

Any audible label in a compressed file means a decode and a re-encode; ffmpeg's plain transcode is the floor such a
labeler can reach. Ours also synthesises and places the rhythm, matches the level and writes the metadata label.
Usage: python benchmarks/explicit_audio.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from synthguard.explicit.audio import AudioLabelOptions, Mode, Position, label_audio
from synthguard.media import Media

PRODUCER = "001191440300708461136T1XGW3"
SECONDS = 60
FORMATS = {  # name: (ffmpeg encoder arguments, extension)
    "wav": (["-c:a", "pcm_s16le"], "wav"),
    "flac": (["-c:a", "flac"], "flac"),
    "mp3": (["-c:a", "libmp3lame", "-b:a", "128k"], "mp3"),
    "m4a": (["-c:a", "aac", "-b:a", "128k"], "m4a"),
    "opus": (["-c:a", "libopus", "-b:a", "96k"], "opus"),
    "ogg": (["-c:a", "libvorbis", "-q:a", "4"], "ogg"),
}


def make(path: Path, codec: list[str]) -> bool:
    """60 s of stereo 48 kHz music-like test signal (two sines and pink-ish noise) in the given codec."""
    src = f"aevalsrc=0.2*sin(2*PI*220*t)+0.1*sin(2*PI*1318*t)+0.05*(random(0)-0.5):s=48000:d={SECONDS}"
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", src, "-ac", "2", *codec, str(path)], check=False
    )
    return done.returncode == 0


def main() -> int:
    """Print the table."""
    if shutil.which("ffmpeg") is None:
        print("needs ffmpeg (the peer and the clip generator)", file=sys.stderr)
        return 1
    print(f"{'format':<8}{'splice x RT':>13}{'mix x RT':>11}{'ffmpeg transcode x RT':>23}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (codec, ext) in FORMATS.items():
            src = Path(tmp) / f"in.{ext}"
            if not make(src, codec):
                print(f"{name:<8}{'(ffmpeg cannot make it here)':>40}")
                continue
            media = Media.open(src)
            speeds = []
            for mode in (Mode.SPLICE, Mode.MIX):
                opts = AudioLabelOptions(mode=mode, positions=(Position.START, Position.END))
                start = time.perf_counter()
                label_audio(media, PRODUCER, options=opts)
                speeds.append(SECONDS / (time.perf_counter() - start))
            start = time.perf_counter()
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), *codec, str(Path(tmp) / f"o.{ext}")])
            peer = SECONDS / (time.perf_counter() - start)
            print(f"{name:<8}{speeds[0]:>13.0f}{speeds[1]:>11.0f}{peer:>23.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
