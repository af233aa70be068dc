"""Visible video labels: audio packets untouched, frames/fps/time base/rotation/VFR kept, OCR, ffprobe, detection."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from synthguard.errors import InputError, UnsupportedFormat
from synthguard.explicit.detect_image import detect_label
from synthguard.explicit.detect_video import detect_video_label
from synthguard.explicit.video import VideoLabelOptions, VideoMode, label_video
from synthguard.media import Media
from tests.conftest import PRODUCER

W, H, FPS, SECONDS = 320, 240, 25, 3


def _picture(i: int, w: int = W, h: int = H) -> np.ndarray:
    """Moving colour bars and a gradient, like testsrc: real edges and colours for the encoder and the OCR."""
    x = (np.arange(w)[None, :] + 4 * i) % w
    bars = np.array([[255, 255, 255], [255, 255, 0], [0, 255, 255], [0, 255, 0], [255, 0, 255], [255, 0, 0]])
    rgb = bars[(x * 6 // w)].repeat(h, axis=0).reshape(h, w, 3)
    rgb[h // 2 :] = (np.linspace(0, 255, w)[None, :, None] * np.ones((h - h // 2, 1, 3))).astype(int)
    return rgb.astype(np.uint8)


def _make(
    muxer: str = "mp4",
    vcodec: str = "libx264",
    acodec: str | None = "aac",
    rotation: int = 0,
    pts: list[int] | None = None,
    title: str = "hello",
) -> bytes:
    buf = io.BytesIO()
    n = FPS * SECONDS
    tb = Fraction(1, 1000) if pts is not None else Fraction(1, FPS)
    with av.open(buf, "w", format=muxer) as out:
        out.metadata["title"] = title
        v = out.add_stream(vcodec, rate=FPS)
        v.width, v.height, v.pix_fmt = W, H, "yuv420p"
        v.codec_context.time_base = tb
        v.codec_context.options = {"crf": "23", "preset": "veryfast"} if vcodec == "libx264" else {"cpu-used": "8"}
        if rotation:
            v.set_display_rotation(rotation)
        a = None
        if acodec:
            a = out.add_stream(acodec, rate=48000, layout="stereo")
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(_picture(i), format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = (pts[i] if pts is not None else i), tb
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
        if a is not None:
            t = np.arange(48000 * SECONDS) / 48000
            tone = np.ascontiguousarray(np.tile(0.2 * np.sin(2 * np.pi * 440 * t), (2, 1)), dtype=np.float32)
            for i in range(0, tone.shape[1], 960):
                af = av.AudioFrame.from_ndarray(tone[:, i : i + 960], format="fltp", layout="stereo")
                af.sample_rate, af.pts, af.time_base = 48000, i, Fraction(1, 48000)
                out.mux(a.encode(af))
            out.mux(a.encode(None))
    return buf.getvalue()


def _packets(data: bytes, kind: str) -> list[tuple[int | None, bytes]]:
    with av.open(io.BytesIO(data)) as c:
        stream = c.streams.audio[0] if kind == "audio" else c.streams.video[0]
        return [(p.pts, bytes(p)) for p in c.demux(stream) if p.size]


def _frames(data: bytes) -> list[tuple[float, Image.Image, int]]:
    with av.open(io.BytesIO(data)) as c:
        out = []
        for f in c.decode(video=0):
            rgb = np.rot90(f.to_ndarray(format="rgb24"), round((f.rotation or 0) / 90))
            out.append((float(f.time), Image.fromarray(np.ascontiguousarray(rgb)), f.pts))
        return out


@pytest.fixture(scope="module")
def mp4() -> bytes:
    return _make()


@pytest.fixture(scope="module")
def labeled(mp4: bytes) -> bytes:
    return label_video(Media.from_bytes(mp4, "clip.mp4"), PRODUCER).data


def test_audio_packets_identical_frames_and_rate_kept(mp4: bytes, labeled: bytes) -> None:
    assert _packets(labeled, "audio") == _packets(mp4, "audio")
    with av.open(io.BytesIO(mp4)) as a, av.open(io.BytesIO(labeled)) as b:
        va, vb = a.streams.video[0], b.streams.video[0]
        assert vb.average_rate == va.average_rate and vb.time_base == va.time_base
        assert b.metadata.get("title") == "hello"
    assert [pts for _, _, pts in _frames(labeled)] == [pts for _, _, pts in _frames(mp4)]


def test_label_on_every_opening_frame_and_in_corner_after(labeled: bytes) -> None:
    frames = _frames(labeled)
    for t, image, _ in frames[:: FPS // 5]:
        hit = detect_label(image)
        assert hit.found and hit.height_pct >= 5.0, t
        assert hit.position is not None and hit.position.value == ("bottom" if t < 2.0 else "top-right")


def test_opening_only_mode_leaves_later_frames_clean(mp4: bytes) -> None:
    result = label_video(Media.from_bytes(mp4), PRODUCER, options=VideoLabelOptions(mode=VideoMode.OPENING))
    assert result.labeled_frames == 2 * FPS and result.frames == FPS * SECONDS
    frames = _frames(result.data)
    assert detect_label(frames[2 * FPS - 1][1]).found and not detect_label(frames[-1][1]).found


def test_at_end_label_and_progress(mp4: bytes) -> None:
    seen: list[tuple[int, int | None]] = []
    opts = VideoLabelOptions(mode=VideoMode.OPENING, at_end_s=0.5)
    result = label_video(Media.from_bytes(mp4), PRODUCER, options=opts, progress=lambda d, t: seen.append((d, t)))
    assert result.labeled_frames == 2 * FPS + FPS // 2
    assert [d for d, _ in seen] == list(range(1, FPS * SECONDS + 1))


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="needs the tesseract binary with chi_sim")
@pytest.mark.parametrize("at", [0.0, 1.9])
def test_tesseract_reads_the_label(labeled: bytes, at: float) -> None:
    t, image, _ = next(f for f in _frames(labeled) if f[0] >= at - 1e-6)
    hit = detect_label(image)
    assert hit.box is not None
    x0, y0, x1, y1 = hit.box
    crop = image.crop((x0 - 4, y0 - 4, x1 + 4, y1 + 4))
    crop = crop.resize((crop.width * 4, crop.height * 4), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    crop.save(buf, "PNG")
    ocr = subprocess.run(
        ["tesseract", "stdin", "stdout", "-l", "chi_sim", "--psm", "7"], input=buf.getvalue(), capture_output=True
    ).stdout.decode()
    text = "".join(ocr.split()).replace("l", "I").replace("|", "")  # Tesseract reads a sans-serif I as l
    assert "AI生成" in text, (t, ocr)


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe")
def test_ffprobe_reads_aigc_tag(labeled: bytes, tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    path.write_bytes(labeled)
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format_tags", "-of", "json", str(path)], capture_output=True
    )
    tags = json.loads(probe.stdout)["format"]["tags"]
    assert json.loads(tags["AIGC"])["AIGC"]["ContentProducer"] == PRODUCER


def test_rotation_kept_and_label_upright() -> None:
    src = _make(rotation=90)
    result = label_video(Media.from_bytes(src), PRODUCER)
    assert result.rotation == 90
    _, image, _ = _frames(result.data)[0]
    assert image.size == (H, W)  # displayed portrait
    hit = detect_label(image)
    assert hit.found and hit.position is not None and hit.position.value == "bottom"
    assert detect_video_label(Media.from_bytes(result.data))["found"]


def test_variable_frame_rate_pts_kept() -> None:
    pts = list(np.cumsum([0] + [40 if i % 3 else 80 for i in range(FPS * SECONDS - 1)]))
    src = _make(muxer="matroska", pts=[int(p) for p in pts])
    result = label_video(Media.from_bytes(src), PRODUCER)
    assert [p for _, _, p in _frames(result.data)] == [p for _, _, p in _frames(src)]
    assert _packets(result.data, "audio") == _packets(src, "audio")


def test_webm_vp9_with_opus() -> None:
    src = _make(muxer="webm", vcodec="libvpx-vp9", acodec="libopus")
    result = label_video(Media.from_bytes(src), PRODUCER)
    assert result.format == "webm"
    with av.open(io.BytesIO(result.data)) as c:
        assert c.streams.video[0].codec_context.name in ("vp9", "libvpx-vp9")
    assert _packets(result.data, "audio") == _packets(src, "audio")
    assert detect_video_label(Media.from_bytes(result.data))["found"]


def test_detection_reports_clean_video_unlabeled(mp4: bytes) -> None:
    report = detect_video_label(Media.from_bytes(mp4))
    assert not report["found"] and report["frames_checked"] == 5
    json.dumps(report)


def test_no_video_stream_is_a_clear_error() -> None:
    buf = io.BytesIO()
    with av.open(buf, "w", format="matroska") as out:
        a = out.add_stream("libopus", rate=48000, layout="mono")
        tone = np.zeros((1, 960 * 50), dtype=np.float32)
        for i in range(0, tone.shape[1], 960):
            af = av.AudioFrame.from_ndarray(tone[:, i : i + 960], format="fltp", layout="mono")
            af.sample_rate, af.pts, af.time_base = 48000, i, Fraction(1, 48000)
            out.mux(a.encode(af))
        out.mux(a.encode(None))
    media = Media.from_bytes(buf.getvalue())
    with pytest.raises((InputError, UnsupportedFormat), match="video"):
        label_video(media, PRODUCER)


def test_options_never_relax_the_standard() -> None:
    with pytest.raises(InputError):
        VideoLabelOptions(opening_s=1.5)
    with pytest.raises(InputError):
        VideoLabelOptions(corner_ratio=0.04)
