"""Audio decoding limits through the public API: a file that decodes to a huge one is refused; prefixes on request."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from synthguard.errors import InputTooLarge
from synthguard.explicit import audio_codec
from synthguard.explicit.audio_codec import decode, decode_audio
from synthguard.media import Media


def _files(tmp_path: Path) -> dict[str, bytes]:
    """12 s of stereo noise as FLAC, and as M4A when ffmpeg is here."""
    x = np.random.default_rng(2).uniform(-0.3, 0.3, (12 * 16000, 2)).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, x, 16000, format="FLAC")
    out = {"flac": buf.getvalue()}
    if shutil.which("ffmpeg"):
        (tmp_path / "in.flac").write_bytes(out["flac"])
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(tmp_path / "in.flac"), str(tmp_path / "in.m4a")], check=True)
        out["m4a"] = (tmp_path / "in.m4a").read_bytes()
    return out


def test_decoding_past_the_sample_budget_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audio_codec, "MAX_DECODED_VALUES", 10 * 16000 * 2)  # 10 s of stereo
    for kind, data in _files(tmp_path).items():
        with pytest.raises(InputTooLarge, match="decodes to more than"):
            decode(Media.from_bytes(data, f"big.{kind}"))


def test_a_time_limit_refuses_or_truncates(tmp_path: Path) -> None:
    for kind, data in _files(tmp_path).items():
        media = Media.from_bytes(data, f"long.{kind}")
        with pytest.raises(InputTooLarge, match="longer than"):
            decode(media, max_seconds=5.0)
        samples, rate = decode_audio(media, max_seconds=5.0)
        assert rate == 16000 and samples.shape == (5 * 16000, 2)
        assert decode_audio(media)[0].shape[0] >= 12 * 16000
