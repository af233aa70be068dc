"""Robust invisible video watermark: the image scheme's keyed tile on every frame's luma, pooled on detection.

``embed_video`` decodes with PyAV, adds the frame-sized keyed pattern (built once) to the Y plane of every
frame with a cheap block-texture mask (video_mark), and encodes again: H.264 for mp4/mov/mkv, VP9 for
webm, at the source's x264 crf when it records one. Audio and subtitle packets are remuxed untouched;
frame rate, time base, timestamps and display rotation are kept.

``detect_video`` pools contrast-normalised luma over the frames of the first ``max_seconds`` and runs the
image detector (lattice sync for scaling/cropping, pilot search, list Viterbi, calibrated p-value) once
on the pooled picture, so a per-frame signal too weak to read alone adds up across frames.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from PIL import Image

from synthguard.errors import CapacityTooLow, CorruptInput, InputError, UnsupportedFormat
from synthguard.videoenc import encoder_like
from synthguard.watermark.image import DEFAULT_ALPHA, Detection, detect_luma
from synthguard.watermark.image_pattern import TILE
from synthguard.watermark.payload import Payload, check_key
from synthguard.watermark.video_mark import FramePattern, FramePool, tile_scale

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]
Progress = Callable[[int, int | None], None]
"""Called after each frame with (frames done, total frames or None when the container does not say)."""

MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
DEFAULT_MAX_SECONDS = 10.0
MIN_SIDE = TILE  # frames smaller than one tile on a side cannot carry the payload
_MIN_REALISED_RMS = 0.35  # grey levels over the whole video, else CapacityTooLow
# x264 settings on top of a preset. veryfast with the diamond motion search (superfast's) takes 5-9 % less
# encoder CPU on the marked benchmark clips, for the same size (within 1.5 %) and PSNR (within 0.05 dB).
_X264_EXTRA = {"veryfast": "me=dia"}
_X264_CRF = re.compile(rb"x264 - core .*? crf=([0-9.]+)", re.DOTALL)


class NoVideoStream(UnsupportedFormat):
    """The file holds no video stream to watermark or inspect."""


@dataclass(frozen=True)
class VideoWatermarkResult:
    """What embed_video wrote."""

    path: Path
    frames: int
    width: int
    height: int
    codec: str
    crf: float
    rms_change: float  # mean realised luma change (grey levels RMS)


@dataclass(frozen=True)
class VideoDetection(Detection):
    """A Detection on the pooled frames, with which frames were used."""

    frames_used: int = 0
    first_s: float = 0.0
    last_s: float = 0.0


Source = str | Path | bytes


def open_video(src: Source) -> Any:
    """The container at src (a path or bytes) opened for reading; InputError or CorruptInput when it cannot be."""
    import av

    try:
        return av.open(io.BytesIO(src) if isinstance(src, bytes) else str(src), "r")
    except FileNotFoundError as exc:
        raise InputError(f"no such video file: {src!s}") from exc
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise CorruptInput(f"cannot open the video: {exc}") from exc


def _source_crf(container: Any, stream: Any) -> float | None:
    """The crf x264 recorded in its SEI settings string, if the source was made by x264 in crf mode."""
    for i, packet in enumerate(container.demux(stream)):
        found = _X264_CRF.search(bytes(packet)[:4096])
        if found:
            return float(found.group(1))
        if i >= 3:
            break
    return None


def _y_plane(frame: Any) -> U8:
    plane = frame.planes[0]
    arr = np.frombuffer(cast(Any, plane), dtype=np.uint8).reshape(-1, plane.line_size)
    out: U8 = arr[: frame.height, : frame.width]
    return out


def _frame_like(frame: Any) -> tuple[Any, U8]:
    """A new frame with the source frame's chroma, timestamps and colour tags, and a view of its luma to fill."""
    import av

    out = av.VideoFrame(frame.width, frame.height, frame.format.name)
    for src_p, dst_p in zip(frame.planes[1:], out.planes[1:], strict=False):
        src_a = np.frombuffer(cast(Any, src_p), dtype=np.uint8).reshape(-1, src_p.line_size)
        dst_a = np.frombuffer(cast(Any, dst_p), dtype=np.uint8).reshape(-1, dst_p.line_size)
        width = min(src_p.line_size, dst_p.line_size)
        dst_a[: src_p.height, :width] = src_a[: src_p.height, :width]
    out.pts, out.time_base = frame.pts, frame.time_base
    for attr in ("color_range", "colorspace", "color_primaries", "color_trc"):
        setattr(out, attr, getattr(frame, attr))
    return out, _y_plane(out)


def embed_video(
    src: Source,
    dst: str | Path,
    payload: Payload,
    key: bytes,
    *,
    strength: float = 1.0,
    crf: float | None = None,
    preset: str = "veryfast",
    progress: Progress | None = None,
) -> VideoWatermarkResult:
    """Watermark every frame of src's first video stream and write dst (container chosen by dst's suffix)."""
    import av

    key = check_key(key)
    if not 0.05 <= strength <= 8.0:
        raise InputError(f"watermark strength must be in [0.05, 8], got {strength}")
    dst = Path(dst)
    muxer = MUXERS.get(dst.suffix.lower())
    if muxer is None:
        raise UnsupportedFormat(
            f"cannot write a watermarked video as {dst.suffix or 'no suffix'}: use {sorted(MUXERS)}"
        )
    vp9 = muxer == "webm"
    try:
        return _transcode(src, dst, muxer, vp9, payload, key, strength, crf, preset, progress)
    except av.FFmpegError as exc:
        raise CorruptInput(f"cannot process the video: {exc}") from exc


def _transcode(
    src: Source,
    dst: Path,
    muxer: str,
    vp9: bool,
    payload: Payload,
    key: bytes,
    strength: float,
    crf: float | None,
    preset: str,
    progress: Progress | None,
) -> VideoWatermarkResult:
    import av

    with open_video(src) as probe:
        if not probe.streams.video:
            raise NoVideoStream("the file has no video stream to watermark")
        source_crf = _source_crf(probe, probe.streams.video[0]) if crf is None and not vp9 else None
    quality = crf if crf is not None else source_crf if source_crf is not None else (32.0 if vp9 else 20.0)
    frames, energy = 0, 0.0
    tmp = dst.with_name(dst.name + ".part")
    with open_video(src) as inp:
        vin = inp.streams.video[0]
        w, h = vin.codec_context.width, vin.codec_context.height
        if min(w, h) < MIN_SIDE:
            raise CapacityTooLow(f"frames {w}x{h} are too small to carry a watermark (min side {MIN_SIDE})")
        pattern = FramePattern(key, payload, w, h, strength)
        copied = [s for s in inp.streams if s.type in ("audio", "subtitle")]
        total = int(vin.frames) if vin.frames else None
        rotation = 0
        try:
            with av.open(str(tmp), "w", format=muxer) as out:
                out.metadata.update(dict(inp.metadata))
                vout = encoder_like(out, vin, vp9=vp9, crf=quality, preset=preset)
                if not vp9 and preset in _X264_EXTRA:
                    vout.codec_context.options = {**vout.codec_context.options, "x264-params": _X264_EXTRA[preset]}
                outs = {s.index: out.add_stream_from_template(s) for s in copied}
                for s in copied:
                    outs[s.index].metadata.update(s.metadata)
                for packet in inp.demux(vin, *copied):
                    if packet.stream.index in outs:
                        if packet.dts is not None:
                            packet.stream = outs[packet.stream.index]
                            out.mux(packet)
                        continue
                    for frame in packet.decode():
                        if frames == 0:
                            rotation = (round((frame.rotation or 0) / 90) * 90) % 360
                            if rotation:
                                vout.set_display_rotation(rotation)
                        yuv = frame
                        if frame.format.name != "yuv420p" or (frame.width, frame.height) != (w, h):
                            yuv = frame.reformat(width=w, height=h, format="yuv420p")
                        marked, luma = _frame_like(yuv)
                        rms = pattern.mark(_y_plane(yuv), out=luma)[1]
                        energy += rms * rms
                        out.mux(vout.encode(marked))
                        frames += 1
                        if progress is not None:
                            progress(frames, total)
                out.mux(vout.encode(None))
            if frames == 0:
                raise CorruptInput("the video stream holds no decodable frames")
            realised = float(np.sqrt(energy / frames))
            if realised < _MIN_REALISED_RMS * min(strength, 1.0):
                raise CapacityTooLow(f"the video is too flat or saturated to carry a watermark ({realised:.2f} grey)")
            tmp.replace(dst)
        finally:
            tmp.unlink(missing_ok=True)
    return VideoWatermarkResult(dst, frames, w, h, "vp9" if vp9 else "h264", quality, realised)


def _to_tile_scale(pooled: F32) -> F32:
    """Shrink the pooled picture by the magnification embed_video uses for its size (identity when unattacked)."""
    h, w = pooled.shape
    s = tile_scale(w, h)
    if s == 1.0:
        return pooled
    size = (round(w / s), round(h / s))
    out: F32 = np.asarray(Image.fromarray(pooled, "F").resize(size, Image.Resampling.BILINEAR), dtype=np.float32)
    return out


def detect_video(
    src: Source, key: bytes, *, max_seconds: float = DEFAULT_MAX_SECONDS, alpha: float = DEFAULT_ALPHA
) -> VideoDetection:
    """Look for the key's watermark in the first max_seconds of src's video: p-value, payload, frames used."""
    import av

    key = check_key(key)
    pool = FramePool()
    first: float | None = None
    last = 0.0
    try:
        with open_video(src) as inp:
            if not inp.streams.video:
                raise NoVideoStream("the file has no video stream to inspect")
            vin = inp.streams.video[0]
            vin.thread_type = "AUTO"
            start_pts: int | None = None
            for frame in inp.decode(vin):
                t = 0.0
                if frame.pts is not None and frame.time_base is not None:
                    start_pts = frame.pts if start_pts is None else start_pts
                    t = float((frame.pts - start_pts) * frame.time_base)
                if t > max_seconds:
                    break
                pool.add(_y_plane(frame))
                first = t if first is None else first
                last = t
    except av.FFmpegError as exc:
        if pool.frames == 0:
            raise CorruptInput(f"cannot decode the video: {exc}") from exc
    if pool.frames == 0:
        raise CorruptInput("the video stream holds no decodable frames")
    pooled = pool.pooled()
    if min(pooled.shape) < TILE // 2:
        return VideoDetection(False, 1.0, None, 0.0, 1.0, 0.0, False, pool.frames, first or 0.0, last)
    det = detect_luma(_to_tile_scale(pooled), key, alpha=alpha)
    return VideoDetection(
        det.present,
        det.p_value,
        det.payload,
        det.z,
        det.scale,
        det.rotation_deg,
        det.flipped,
        frames_used=pool.frames,
        first_s=first or 0.0,
        last_s=last,
    )
