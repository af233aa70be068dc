"""Watermarks in the flow: embed before signing, detect in verify, disagreement with the label is tampering."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthguard.errors import KeyError_
from synthguard.labeling import label_media
from synthguard.media import Media
from synthguard.watermarking import WatermarkConfig, agreement, detect, embed
from tests.conftest import PRODUCER

CONFIG = WatermarkConfig(b"0123456789abcdef0123456789abcdef", producer_short_id=7)
EXE = [sys.executable, "-m", "synthguard.cli.main"]


def _photo(size: int = 320) -> bytes:
    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:size, 0:size]
    base = 128 + 60 * np.sin(x / 9.0) * np.cos(y / 13.0) + rng.normal(0, 12, (size, size))
    rgb = np.stack([base, base * 0.9 + 10, 255 - base], axis=-1).clip(0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, "PNG")
    return buf.getvalue()


def test_key_loading_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "short").write_bytes(b"too short")
    with pytest.raises(KeyError_):
        WatermarkConfig.load(tmp_path / "short")
    (tmp_path / "hex").write_text("ab" * 32 + "\n")
    assert WatermarkConfig.load(tmp_path / "hex").key == bytes([0xAB]) * 32
    monkeypatch.delenv("SYNTHGUARD_WATERMARK_KEY", raising=False)
    with pytest.raises(KeyError_):
        WatermarkConfig.load(None)
    monkeypatch.setenv("SYNTHGUARD_WATERMARK_KEY", "cd" * 16)
    assert len(WatermarkConfig.load(None).key) == 16


@pytest.mark.parametrize("kind", ["png", "wav"])
def test_embed_label_detect_agree(kind: str) -> None:
    data = _photo() if kind == "png" else _tone_wav()
    embedded = embed(Media.from_bytes(data, f"x.{kind}"), CONFIG, "wm-1")
    payload_hex = embedded.payload_hex
    labeled = label_media(Media.from_bytes(embedded.data, f"x.{kind}"), PRODUCER, "wm-1")
    found = detect(Media.from_bytes(labeled.data, f"x.{kind}"), CONFIG)
    assert found["present"] and found["p_value"] < 1e-6 and found["payload"]["hex"] == payload_hex
    assert agreement(found, [labeled.label], CONFIG) == []
    swapped = dataclasses.replace(labeled.label, produce_id="wm-2")
    assert agreement(found, [swapped], CONFIG)
    assert agreement(found, [], CONFIG)[0].startswith("watermark present but the file has no metadata label")


def test_video_embed_label_detect_agree() -> None:
    embedded = embed(Media.from_bytes(_textured_clip(), "x.mp4"), CONFIG, "wm-video")
    assert embedded.note == "frames"  # the clip has no sound
    labeled = label_media(Media.from_bytes(embedded.data, "x.mp4"), PRODUCER, "wm-video")
    found = detect(Media.from_bytes(labeled.data, "x.mp4"), CONFIG)
    assert found["present"] and found["payload"]["hex"] == embedded.payload_hex
    assert "audio_track" not in found
    assert agreement(found, [labeled.label], CONFIG) == []


def test_video_sound_is_marked_too_and_checked_against_the_label(tmp_path: Path) -> None:
    from tests.watermark.test_video_audio import make_video

    clip = make_video(tmp_path / "v.mp4", 8.0, size=(320, 240)).read_bytes()
    embedded = embed(Media.from_bytes(clip, "v.mp4"), CONFIG, "wm-av")
    assert embedded.note == "frames and audio track"
    labeled = label_media(Media.from_bytes(embedded.data, "v.mp4"), PRODUCER, "wm-av")
    found = detect(Media.from_bytes(labeled.data, "v.mp4"), CONFIG)
    assert found["payload"]["hex"] == found["audio_track"]["payload"]["hex"] == embedded.payload_hex
    assert agreement(found, [labeled.label], CONFIG) == []
    swapped = dataclasses.replace(labeled.label, produce_id="wm-other")
    assert any(
        p.startswith("audio-track watermark payload does not match") for p in agreement(found, [swapped], CONFIG)
    )
    short = make_video(tmp_path / "s.mp4", 3.0, audio_seconds=1.5, size=(320, 240)).read_bytes()
    note = embed(Media.from_bytes(short, "s.mp4"), CONFIG, "wm-short").note
    assert note.startswith("frames only; audio track not marked: audio too short")


def _textured_clip() -> bytes:
    """A 3 s 320x240 textured H.264 clip (the demo samples are too small to carry a watermark)."""
    import av

    buf = io.BytesIO()
    rng = np.random.default_rng(3)
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        base = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
        for i in range(30):
            frame = av.VideoFrame.from_ndarray(np.roll(base, i * 2, axis=1), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def test_wrong_key_finds_nothing() -> None:
    marked = embed(Media.from_bytes(_photo(), "x.png"), CONFIG, "wm-3").data
    other = WatermarkConfig(b"another-secret-key-of-32-bytes!!", 7)
    assert detect(Media.from_bytes(marked, "x.png"), other)["present"] is False


def _tone_wav() -> bytes:
    import soundfile as sf

    rate = 16000
    t = np.arange(rate * 12) / rate
    rng = np.random.default_rng(1)
    x = 0.2 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.5 * t)) + 0.05 * rng.standard_normal(len(t))
    buf = io.BytesIO()
    sf.write(buf, x.astype(np.float32), rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def test_cli_flow_traces_a_stripped_copy(tmp_path: Path) -> None:
    (tmp_path / "in.png").write_bytes(_photo())
    run = lambda *a: subprocess.run([*EXE, *a], cwd=tmp_path, capture_output=True, text=True, check=False)  # noqa: E731
    assert run("keys", "watermark", "-o", "wm.key").returncode == 0
    assert run("keys", "generate", "-o", "k.pem", "-a", "ed25519").returncode == 0
    res = run(
        "label",
        "in.png",
        "--producer",
        PRODUCER,
        "--watermark",
        "--watermark-key",
        "wm.key",
        "--sign",
        "k.pem",
        "--ledger",
        "g.db",
        "--user",
        "user_1",
        "-o",
        "out.png",
    )
    assert res.returncode == 0, res.stderr
    Image.open(tmp_path / "out.png").convert("RGB").save(tmp_path / "shot.jpg", quality=85)
    rep = json.loads(
        run(
            "verify", "shot.jpg", "--watermark-key", "wm.key", "--trust", "k.pem.pub", "--ledger", "g.db", "--json"
        ).stdout
    )[0]
    assert rep["verdict"] == "non-compliant"
    assert rep["checks"]["watermark"]["present"] is True
    assert rep["checks"]["ledger"]["verified"] is True
    assert rep["checks"]["ledger"]["entries"][0]["matched_by"] == ["watermark"]


def test_cli_refuses_a_white_page_and_releases_nothing(tmp_path: Path) -> None:
    page = Image.new("RGB", (640, 400), (250, 250, 250))
    for row in range(40, 380, 24):  # a few dark rules: the rest of the page saturates under +20 % brightness
        page.paste((40, 40, 40), (20, row, 620, row + 2))
    page.save(tmp_path / "page.png")
    before = (tmp_path / "page.png").read_bytes()
    run = lambda *a: subprocess.run([*EXE, *a], cwd=tmp_path, capture_output=True, text=True, check=False)  # noqa: E731
    assert run("keys", "watermark", "-o", "wm.key").returncode == 0
    res = run("label", "page.png", "--producer", PRODUCER, "--watermark", "--watermark-key", "wm.key", "-o", "out.png")
    assert res.returncode == 11
    assert "page.png" in res.stderr and "too bright" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.png").exists() and (tmp_path / "page.png").read_bytes() == before


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command")
def test_cli_traces_the_ripped_soundtrack_of_a_labeled_video(tmp_path: Path) -> None:
    from tests.watermark.test_video_audio import make_video

    make_video(tmp_path / "in.mp4", 8.0, size=(320, 240))
    run = lambda *a: subprocess.run([*EXE, *a], cwd=tmp_path, capture_output=True, text=True, check=False)  # noqa: E731
    assert run("keys", "watermark", "-o", "wm.key").returncode == 0
    common = (
        "--producer",
        PRODUCER,
        "--watermark",
        "--watermark-key",
        "wm.key",
        "--ledger",
        "g.db",
        "--user",
        "user_9",
    )
    res = run("label", "in.mp4", *common, "-o", "out.mp4")
    assert res.returncode == 0, res.stderr
    assert "(frames and audio track)" in res.stdout
    rep = json.loads(run("verify", "out.mp4", "--watermark-key", "wm.key", "--json").stdout)[0]
    assert rep["checks"]["watermark"]["audio_track"]["present"] is True
    assert rep["checks"]["watermark"]["agrees_with_metadata"] is True
    rip = ["ffmpeg", "-v", "error", "-i", "out.mp4", "-vn", "-map_metadata", "-1", "-c:a", "libmp3lame", "rip.mp3"]
    subprocess.run(rip, cwd=tmp_path, check=True)
    rep = json.loads(run("verify", "rip.mp3", "--watermark-key", "wm.key", "--ledger", "g.db", "--json").stdout)[0]
    assert rep["checks"]["watermark"]["present"] is True
    assert rep["checks"]["ledger"]["entries"][0]["matched_by"] == ["watermark"]


def test_cli_gives_a_short_clip_the_presence_mark_and_says_so(tmp_path: Path) -> None:
    import soundfile as sf

    from tests.watermark.test_audio import _music

    sf.write(tmp_path / "hello.wav", _music(2.2, 44100), 44100, subtype="PCM_16")  # too short for the payload
    run = lambda *a: subprocess.run([*EXE, *a], cwd=tmp_path, capture_output=True, text=True, check=False)  # noqa: E731
    assert run("keys", "watermark", "-o", "wm.key").returncode == 0
    res = run("label", "hello.wav", "--producer", PRODUCER, "--watermark", "--watermark-key", "wm.key", "-o", "out.wav")
    assert res.returncode == 0, res.stderr
    assert "watermark presence-only (the payload did not fit: capacity too low: the marked clip's own" in res.stdout
    rep = json.loads(run("verify", "out.wav", "--watermark-key", "wm.key", "--json").stdout)[0]
    mark = rep["checks"]["watermark"]
    assert mark["present"] is True and mark["presence_only"] is True and mark["payload"] is None
    assert mark["agrees_with_metadata"] is True
    assert rep["verdict"] == "compliant"
    strict = ("--watermark", "--watermark-key", "wm.key", "--payload-only", "-o", "strict.wav")
    res = run("label", "hello.wav", "--producer", PRODUCER, *strict)
    assert res.returncode == 11 and "margin" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "strict.wav").exists()


@pytest.mark.parametrize("kind", ["wav", "m4a"])
def test_audio_over_the_watermark_limit_is_refused_before_decoding(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from synthguard.errors import InputTooLarge
    from synthguard.watermark import audio_embed

    monkeypatch.setattr(audio_embed, "MAX_SECONDS", 5.0)
    data = _tone_wav()  # 12 s
    if kind == "m4a":
        (tmp_path / "in.wav").write_bytes(data)
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(tmp_path / "in.wav"), str(tmp_path / "in.m4a")], check=True)
        data = (tmp_path / "in.m4a").read_bytes()
    with pytest.raises(InputTooLarge, match="longer than"):
        embed(Media.from_bytes(data, f"long.{kind}"), CONFIG, "wm-long")
