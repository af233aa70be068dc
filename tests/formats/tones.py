"""Short sine-tone files made by ffmpeg for the audio carrier tests (skipping when ffmpeg is absent)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import pytest


@cache
def ffmpeg_tone(name: str, source: str, *args: str) -> bytes:
    """Encode the lavfi source (e.g. "sine=f=440:d=0.5:r=22050") with the given ffmpeg output options."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("needs ffmpeg to generate samples")
    out = Path(tempfile.mkdtemp(prefix="sg-tone-")) / name
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", source, *args, str(out)], check=True)
    return out.read_bytes()
