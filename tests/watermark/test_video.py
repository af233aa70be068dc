"""The video watermark through its public API: round trip, re-encoding, scaling, cropping, fps, excerpts, I/O."""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from synthguard.errors import CapacityTooLow, CorruptInput, InputError
from synthguard.watermark import Payload
from synthguard.watermark.video import NoVideoStream, detect_video, embed_video
from synthguard.watermark.video_mark import BLOCK, RMS_CAP, SSIM_C2, SSIM_K, FramePattern

KEY = b"test-key-0123456789abcdef-000000"
OTHER_KEY = b"another-key-0123456789abcdef-000"
PAYLOAD = Payload(producer=513, serial=0x0ABC_DEF0_1234)
ALPHA = 1e-6
FPS = 30

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command for the attacks")


def backdrop(width: int, height: int, seed: int = 0) -> Image.Image:
    """A generated photo-like picture to pan over: smooth colour fields plus texture at several scales."""
    rng = np.random.default_rng(seed)
    layers = [ndimage.gaussian_filter(rng.normal(size=(height, width)), s) * s for s in (1, 3, 9, 27, 60)]
    base = sum(layers)
    base = (base - base.min()) / (np.ptp(base) + 1e-9)
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack([base, 0.6 * base + 0.4 * xx / width, 0.5 * base + 0.5 * yy / height], axis=2)
    return Image.fromarray((20 + 215 * rgb).astype(np.uint8), "RGB")


def make_clip(
    path: Path,
    size: tuple[int, int],
    seconds: float,
    *,
    audio: bool = True,
    rotation: int = 0,
    codec: str = "libx264",
) -> Path:
    """A slow pan-and-zoom over a generated picture (x264 crf 18), with a 440 Hz AAC/Opus tone."""
    w, h = size
    pic = backdrop(int(w * 1.6), int(h * 1.6))
    frames = round(seconds * FPS)
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=FPS)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.codec_context.options = {"crf": "18", "preset": "veryfast"} if codec == "libx264" else {"crf": "30"}
        if rotation:
            vs.set_display_rotation(rotation)
        acodec = "aac" if codec == "libx264" else "libopus"
        aus = out.add_stream(acodec, rate=48000) if audio else None
        for i in range(frames):
            t = i / max(frames - 1, 1)
            zoom = 1.0 + 0.15 * t
            cw, ch = pic.width / 1.3 / zoom, pic.height / 1.3 / zoom
            x0, y0 = (pic.width - cw) * (0.2 + 0.5 * t), (pic.height - ch) * (0.4 + 0.2 * t)
            img = pic.resize((w, h), Image.Resampling.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch))
            frame = av.VideoFrame.from_ndarray(np.asarray(img), format="rgb24")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
        if aus is not None:
            rate = 48000
            tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate)).astype(np.float32)
            for k in range(0, tone.size, 960):
                af = av.AudioFrame.from_ndarray(tone[None, k : k + 960], format="fltp", layout="mono")
                af.sample_rate, af.pts = rate, k
                out.mux(aus.encode(af))
            out.mux(aus.encode(None))
    return path


def ffmpeg(src: Path, dst: Path, *args: str) -> Path:
    """Run one ffmpeg attack (video re-encoded with x264 unless args say otherwise, audio copied)."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), *args, str(dst)], check=True)
    return dst


def video_packets(path: Path, kind: str) -> list[tuple[int | None, bytes]]:
    with av.open(str(path)) as c:
        stream = c.streams.video[0] if kind == "video" else c.streams.audio[0]
        return [(p.pts, bytes(p)) for p in c.demux(stream) if p.size]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("video")


@pytest.fixture(scope="module")
def clip(work: Path) -> Path:
    return make_clip(work / "clip.mp4", (640, 360), 5.0)


@pytest.fixture(scope="module")
def marked(clip: Path, work: Path) -> Path:
    embed_video(clip, work / "marked.mp4", PAYLOAD, KEY)
    return work / "marked.mp4"


def assert_found(path: Path, **kwargs: float) -> None:
    found = detect_video(path, KEY, alpha=ALPHA, **kwargs)
    assert found.present, found
    assert found.p_value <= ALPHA
    assert found.payload == PAYLOAD, found


def test_embed_then_detect(clip: Path, marked: Path) -> None:
    found = detect_video(marked, KEY)
    assert found.present and found.payload == PAYLOAD
    assert found.p_value <= ALPHA
    assert found.frames_used == 150 and found.first_s == 0.0 and found.last_s == pytest.approx(149 / FPS)
    limited = detect_video(marked, KEY, max_seconds=1.0)
    assert limited.frames_used == 31 and limited.payload == PAYLOAD


def test_unmarked_and_wrong_key_are_absent(clip: Path, marked: Path) -> None:
    for path, key in ((clip, KEY), (marked, OTHER_KEY)):
        found = detect_video(path, key)
        assert not found.present and found.payload is None
        assert found.p_value > ALPHA


def test_frames_rate_timestamps_and_audio_kept(clip: Path, marked: Path) -> None:
    assert video_packets(marked, "audio") == video_packets(clip, "audio")
    with av.open(str(clip)) as a, av.open(str(marked)) as b:
        va, vb = a.streams.video[0], b.streams.video[0]
        assert vb.average_rate == va.average_rate == Fraction(FPS)
        assert vb.time_base == va.time_base
        assert (vb.codec_context.width, vb.codec_context.height) == (640, 360)
        pts_a = sorted(f.pts for f in a.decode(video=0))
        pts_b = sorted(f.pts for f in b.decode(video=0))
    assert pts_a == pts_b and len(pts_b) == 150


def test_change_is_small(clip: Path, marked: Path) -> None:
    with av.open(str(clip)) as a, av.open(str(marked)) as b:
        for fa, fb in zip(a.decode(video=0), b.decode(video=0), strict=False):
            ya = fa.to_ndarray(format="gray").astype(np.float64)
            yb = fb.to_ndarray(format="gray").astype(np.float64)
            assert 10 * np.log10(255**2 / np.mean((ya - yb) ** 2)) > 38.0
            break


def test_frame_mark_is_the_block_mask_formula() -> None:
    """The per-frame step equals the mask written out directly (block variance, 3x3 smoothing, RMS cap, edges)."""
    h, w = 141, 203  # not multiples of the block: the last partial rows and columns take the last block's value
    y = np.asarray(backdrop(w, h, seed=3).convert("L"), dtype=np.uint8)
    pattern = FramePattern(KEY, PAYLOAD, w, h, 1.0)
    blocks = y[: h // BLOCK * BLOCK, : w // BLOCK * BLOCK].astype(np.float64)
    blocks = (
        blocks.reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK).transpose(0, 2, 1, 3).reshape(h // BLOCK, w // BLOCK, -1)
    )
    amp = ndimage.uniform_filter(SSIM_K * np.sqrt(2.0 * blocks.var(axis=2) + SSIM_C2), 3, mode="nearest")
    amp *= min(1.0, RMS_CAP / np.sqrt(np.mean(amp**2)))
    full = np.repeat(np.repeat(amp, BLOCK, axis=0), BLOCK, axis=1)
    full = np.pad(full, ((0, h - full.shape[0]), (0, w - full.shape[1])), mode="edge")
    expected = np.clip(np.rint(y + full * pattern.pattern), 0, 255)
    out = np.zeros_like(y)
    marked, rms = pattern.mark(y, out=out)
    assert marked is out
    assert np.abs(marked - expected).max() <= 1 and np.mean(marked == expected) > 0.999
    assert rms == pytest.approx(np.sqrt(np.mean((expected - y)[::4, ::4] ** 2)), rel=0.02)


@needs_ffmpeg
@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("crf28", ["-c:v", "libx264", "-crf", "28", "-c:a", "copy"]),
        ("crf35", ["-c:v", "libx264", "-crf", "35", "-c:a", "copy"]),
        ("crop25", ["-vf", "crop=iw*3/4:ih*3/4", "-c:v", "libx264", "-crf", "23"]),
        ("fps24", ["-vf", "fps=24", "-c:v", "libx264", "-crf", "23"]),
        ("excerpt3s", ["-ss", "1.5", "-t", "3", "-c:v", "libx264", "-crf", "23"]),
    ],
)
def test_survives(marked: Path, work: Path, name: str, args: list[str]) -> None:
    attacked = ffmpeg(marked, work / f"{name}.mp4", *args)
    assert_found(attacked)


@needs_ffmpeg
def test_survives_downscale(work: Path) -> None:
    big = make_clip(work / "big.mp4", (1280, 720), 2.0, audio=False)
    embed_video(big, work / "big_marked.mp4", PAYLOAD, KEY)
    small = ffmpeg(work / "big_marked.mp4", work / "small.mp4", "-vf", "scale=480:270", "-c:v", "libx264", "-crf", "23")
    assert_found(small)


def test_webm_vp9_with_opus_and_rotation_and_progress(work: Path) -> None:
    src = make_clip(work / "clip.webm", (320, 240), 1.0, codec="libvpx-vp9")
    calls: list[tuple[int, int | None]] = []
    result = embed_video(src, work / "marked.webm", PAYLOAD, KEY, progress=lambda n, t: calls.append((n, t)))
    assert result.codec == "vp9" and result.frames == 30
    assert [n for n, _ in calls] == list(range(1, 31))
    assert video_packets(work / "marked.webm", "audio") == video_packets(src, "audio")
    assert_found(work / "marked.webm")
    rotated = make_clip(work / "rot.mp4", (320, 240), 1.0, audio=False, rotation=90)
    embed_video(rotated, work / "rot_marked.mp4", PAYLOAD, KEY)
    with av.open(str(work / "rot_marked.mp4")) as c:
        assert next(c.decode(video=0)).rotation == 90


def test_bad_input(work: Path, clip: Path) -> None:
    audio_only = work / "audio.m4a"
    with av.open(str(audio_only), "w") as out:
        aus = out.add_stream("aac", rate=48000)
        af = av.AudioFrame.from_ndarray(np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono")
        af.sample_rate, af.pts = 48000, 0
        out.mux(aus.encode(af))
        out.mux(aus.encode(None))
    with pytest.raises(NoVideoStream) as err:
        embed_video(audio_only, work / "x.mp4", PAYLOAD, KEY)
    assert isinstance(err.value, InputError)
    with pytest.raises(NoVideoStream):
        detect_video(audio_only, KEY)
    tiny = make_clip(work / "tiny.mp4", (96, 96), 0.2, audio=False)
    with pytest.raises(CapacityTooLow):
        embed_video(tiny, work / "x.mp4", PAYLOAD, KEY)
    with pytest.raises(CorruptInput):
        embed_video(b"\x00\x00\x00\x18ftypmp42 this is not a video", work / "x.mp4", PAYLOAD, KEY)
    with pytest.raises(CorruptInput):
        detect_video(clip.read_bytes()[:3000], KEY)
    with pytest.raises(InputError):
        embed_video(clip, work / "x.avi", PAYLOAD, KEY)
    assert not (work / "x.mp4").exists()
