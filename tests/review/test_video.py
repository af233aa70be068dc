"""Video review: frames sampled from a tiny clip are hashed and matched against the banks."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthguard.errors import CorruptInput
from synthguard.review.hashbank import BankEntry, HashBanks, hash_image, hash_video
from synthguard.review.reviewer import Reviewer
from synthguard.review.taxonomy import Decision

av = pytest.importorskip("av")


def texture(seed: int, size: int = 128) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC))


def clip(path: Path, seed: int, *, seconds: int = 2, fps: int = 4) -> Path:
    """A lossless clip showing one texture (FFV1 in Matroska, so every sampled frame is exact)."""
    frame = texture(seed)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frame.shape[1], frame.shape[0], "yuv444p"
        for _ in range(seconds * fps):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def png(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(texture(seed)).save(buf, "PNG")
    return buf.getvalue()


def test_banked_frame_blocks_the_clip_and_an_unrelated_clip_passes(tmp_path: Path) -> None:
    banks = HashBanks()
    banks.bank("deny", risk="A.1.6").add(hash_image(png(7)), BankEntry("frame-7", label="known", added_by="t"))
    reviewer = Reviewer(banks=banks)
    hit = clip(tmp_path / "hit.mkv", 7)
    sampled = hash_video(hit)
    assert [round(at) for at, _ in sampled] == [0, 1]  # one frame a second
    result = reviewer.review_video(hit, direction="output")
    assert result.decision is Decision.BLOCK and result.modality == "video"
    assert {f.entry_id for f in result.findings} == {"frame-7"}
    assert all(f.source == "hashbank" and f.distance <= 31 and f.at >= 0 for f in result.findings)
    assert reviewer.review_video(clip(tmp_path / "other.mkv", 8)).decision is Decision.PASS


def test_negative_bank_suppresses_video_findings_and_corrupt_video_is_refused(tmp_path: Path) -> None:
    banks = HashBanks()
    banks.bank("deny").add(hash_image(png(9)), BankEntry("d"))
    banks.bank("ok", negative=True).add(hash_image(png(9)), BankEntry("n"))
    assert Reviewer(banks=banks).review_video(clip(tmp_path / "v.mkv", 9)).decision is Decision.PASS
    bad = tmp_path / "bad.mkv"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(CorruptInput):
        Reviewer(banks=banks).review_video(bad)
