"""Visible explicit labels on video (GB 45438 §5): decode, overlay the shared label, encode, remux the rest."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from synthguard.errors import CorruptInput, InputError, UnsupportedFormat
from synthguard.explicit.audio import _refuse_foreign
from synthguard.explicit.render import MIN_HEIGHT_RATIO, LabelPlan, LabelStyle, Position, plan_label
from synthguard.explicit.wording import Wording, resolve
from synthguard.formats.base import Modality
from synthguard.label.keys import SigningKey
from synthguard.labeling import ExistingPolicy, LabelResult, label_media
from synthguard.media import Media
from synthguard.videoenc import encoder_like

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]
Progress = Callable[[int, int | None], None]
"""Called after each frame with (frames done, total frames or None when the container does not say)."""

MUXERS = {"mp4": "mp4", "mov": "mov", "mkv": "matroska", "webm": "webm"}
MIN_OPENING_S = 2.0  # GB 45438 §5: shown at least 2 s at the opening
_X264_CRF = re.compile(rb"x264 - core .*? crf=([0-9.]+)", re.DOTALL)
_PLANAR = {"yuv420p": (2, 2), "yuvj420p": (2, 2), "yuv422p": (2, 1), "yuvj422p": (2, 1), "yuv444p": (1, 1)}


class VideoMode(StrEnum):
    """Opening only, or the opening label followed by a corner label on every later frame."""

    OPENING = "opening"
    THROUGHOUT = "throughout"


@dataclass(frozen=True)
class VideoLabelOptions:
    """Where, how big and how long the visible label is shown, and the encoder settings."""

    text: Wording | str | None = None  # None: the default wording "AI生成"
    mode: VideoMode = VideoMode.THROUGHOUT
    opening_s: float = MIN_OPENING_S
    at_end_s: float = 0.0  # > 0: also show the opening label over the last this many seconds
    opening_position: Position = Position.BOTTOM
    opening_ratio: float = 0.07  # measured glyph height over the displayed shortest side
    corner_position: Position = Position.TOP_RIGHT
    corner_ratio: float = MIN_HEIGHT_RATIO
    style: LabelStyle = field(default_factory=LabelStyle)
    crf: float | None = None  # None: the source's x264 crf when it records one, else 20 (H.264) / 32 (VP9)
    preset: str = "veryfast"  # x264 preset; VP9 uses cpu-used 5 with row-mt

    def __post_init__(self) -> None:
        if self.opening_s < MIN_OPENING_S:
            raise InputError(f"the opening label must show for at least {MIN_OPENING_S} s (GB 45438 §5)")
        if min(self.opening_ratio, self.corner_ratio) < MIN_HEIGHT_RATIO:
            raise InputError("label text height must be at least 5 % of the shortest side (GB 45438 §5)")
        if self.at_end_s < 0:
            raise InputError("at_end_s must not be negative")


@dataclass(frozen=True)
class VideoLabelResult:
    """The labeled file and what was done."""

    data: bytes
    format: str
    frames: int
    labeled_frames: int
    rotation: int
    crf: float
    metadata: LabelResult


@dataclass(frozen=True)
class _Overlay:
    """A label prepared for one plane layout: box and premultiplied planes in stored (not displayed) orientation."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in luma pixels
    luma: tuple[F32, F32]  # (label luma * alpha, 1 - alpha)
    chroma: tuple[F32, F32]
    sub: tuple[int, int]


def _prepare(plan: LabelPlan, rotation: int, stored: tuple[int, int], sub: tuple[int, int], full: bool) -> _Overlay:
    """Rotate the display-space label into stored orientation and convert it to Y/chroma blend planes."""
    arr = np.asarray(plan.label.image, dtype=np.float32) / 255.0
    grey, alpha = arr[..., 0], arr[..., 3]
    k = -(rotation // 90)  # frame.rotation is counter-clockwise: displayed = rot90(stored, rotation / 90)
    dw, dh = plan.canvas_size
    mask = np.zeros((dh, dw), dtype=bool)
    x0, y0, x1, y1 = plan.box
    mask[y0:y1, x0:x1] = True
    mask = np.rot90(mask, k)
    if (mask.shape[1], mask.shape[0]) != stored:
        raise CorruptInput(f"rotated canvas {mask.shape[::-1]} does not match the frame {stored}")
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    grey, alpha = np.rot90(grey, k), np.rot90(alpha, k)
    sx, sy = sub
    bx0, by0 = (int(cols[0]) // sx) * sx, (int(rows[0]) // sy) * sy  # align to the chroma grid
    bx1, by1 = int(cols[-1]) + 1, int(rows[-1]) + 1
    bx1, by1 = min(stored[0], -(-bx1 // sx) * sx), min(stored[1], -(-by1 // sy) * sy)
    g = np.zeros((by1 - by0, bx1 - bx0), dtype=np.float32)
    a = np.zeros_like(g)
    oy, ox = int(rows[0]) - by0, int(cols[0]) - bx0
    g[oy : oy + grey.shape[0], ox : ox + grey.shape[1]] = grey
    a[oy : oy + alpha.shape[0], ox : ox + alpha.shape[1]] = alpha
    y_code = g * 255.0 if full else 16.0 + 219.0 * g
    ca = a.reshape(a.shape[0] // sy, sy, a.shape[1] // sx, sx).mean(axis=(1, 3))
    return _Overlay(
        (bx0, by0, bx1, by1), (y_code * a, 1.0 - a), (np.float32(128.0) * ca, (1.0 - ca).astype(np.float32)), sub
    )


def _blend(plane: U8, add: F32, keep: F32) -> None:
    plane[...] = np.clip(plane * keep + add + 0.5, 0, 255).astype(np.uint8)


def _apply(frame: Any, ov: _Overlay) -> Any:
    """A new frame with the label blended into Y, U and V (only the label box is touched)."""
    import av

    fmt = frame.format.name
    planes = [np.array(p, copy=True) for p in _plane_arrays(frame)]
    x0, y0, x1, y1 = ov.box
    _blend(planes[0][y0:y1, x0:x1], *ov.luma)
    sx, sy = ov.sub
    for chroma in planes[1:3]:
        _blend(chroma[y0 // sy : y1 // sy, x0 // sx : x1 // sx], *ov.chroma)
    out = av.VideoFrame(frame.width, frame.height, fmt)
    for dst, src in zip(out.planes, planes, strict=False):
        view = np.frombuffer(cast(Any, dst), dtype=np.uint8).reshape(-1, dst.line_size)
        view[: src.shape[0], : src.shape[1]] = src
    out.pts, out.time_base = frame.pts, frame.time_base
    for attr in ("color_range", "colorspace", "color_primaries", "color_trc"):
        setattr(out, attr, getattr(frame, attr))
    return out


def _plane_arrays(frame: Any) -> list[U8]:
    out = []
    for p in frame.planes:
        arr = np.frombuffer(cast(Any, p), dtype=np.uint8).reshape(-1, p.line_size)
        out.append(arr[: p.height, : p.width])
    return out


def _source_crf(packets: list[bytes]) -> float | None:
    """The crf x264 recorded in its SEI settings string, if the source was made by x264 in crf mode."""
    for data in packets:
        found = _X264_CRF.search(data[:4096])
        if found:
            return float(found.group(1))
    return None


def _probe(data: bytes) -> tuple[int, list[bytes]]:
    """The display rotation (degrees counter-clockwise, a multiple of 90) and the first video packets' bytes."""
    import av

    head: list[bytes] = []
    with av.open(io.BytesIO(data), "r") as src:
        vin = src.streams.video[0]
        for packet in src.demux(vin):
            if len(head) < 3:
                head.append(bytes(packet))
            for frame in packet.decode():
                return (round((frame.rotation or 0) / 90) * 90) % 360, head
    return 0, head


def _total_frames(stream: Any) -> int | None:
    return int(stream.frames) if stream.frames else None


def label_video(
    media: Media,
    producer: str,
    produce_id: str | None = None,
    *,
    options: VideoLabelOptions | None = None,
    signer: SigningKey | None = None,
    existing: ExistingPolicy = ExistingPolicy.REFUSE,
    progress: Progress | None = None,
) -> VideoLabelResult:
    """Overlay the visible label, re-encode the video stream, copy the other streams, write the metadata label."""
    opts = options or VideoLabelOptions()
    wording = resolve(opts.text)
    if media.sniffed.modality is not Modality.VIDEO or media.format not in MUXERS:
        raise UnsupportedFormat(f"no visible video label for {media.format} files", path=media.name)
    foreign = _refuse_foreign(media, producer, existing)
    import av

    try:
        encoded, stats = _transcode(media, wording, opts, progress)
    except av.FFmpegError as exc:
        raise CorruptInput(f"cannot process the video: {exc}", path=media.name) from None
    out = Media.from_bytes(encoded, media.name)
    result = label_media(out, producer, produce_id, signer=signer, existing=ExistingPolicy.REPLACE)
    frames, labeled, rotation, crf = stats
    import dataclasses

    result = dataclasses.replace(result, replaced=foreign)
    return VideoLabelResult(result.data, out.format, frames, labeled, rotation, crf, result)


@dataclass
class _State:
    plans: dict[str, _Overlay | None] = field(default_factory=dict)
    frames: int = 0
    labeled: int = 0
    rotation: int = 0
    first_pts: int | None = None


def _transcode(
    media: Media, wording: Wording, opts: VideoLabelOptions, progress: Progress | None
) -> tuple[bytes, tuple[int, int, int, float]]:
    import av

    buf = io.BytesIO()
    with av.open(io.BytesIO(media.data), "r") as src:
        if not src.streams.video:
            raise InputError("the file has no video stream to label", path=media.name)
        vin = src.streams.video[0]
        rotation, head = _probe(media.data)
        crf = opts.crf if opts.crf is not None else _source_crf(head)
        vp9 = media.format == "webm"
        crf = crf if crf is not None else (32.0 if vp9 else 20.0)
        end_from = _end_from(src, vin, opts)
        copied = [s for s in src.streams if s.type in ("audio", "subtitle")]
        with av.open(buf, "w", format=MUXERS[media.format]) as dst:
            dst.metadata.update({k: v for k, v in src.metadata.items() if "aigc" not in k.lower()})
            vout = _video_stream(dst, vin, vp9, crf, opts.preset)
            if rotation:
                vout.set_display_rotation(rotation)  # before the header is written by the first muxed packet
            outs = {s.index: dst.add_stream_from_template(s) for s in copied}
            for s in copied:
                outs[s.index].metadata.update(s.metadata)
            state = _State(rotation=rotation)
            total = _total_frames(vin)
            for packet in src.demux(vin, *copied):
                if packet.stream.index in outs:
                    if packet.dts is not None:
                        packet.stream = outs[packet.stream.index]
                        dst.mux(packet)
                    continue
                for frame in packet.decode():
                    _encode_frame(dst, vout, frame, state, wording, opts, end_from)
                    if progress:
                        progress(state.frames, total)
            dst.mux(vout.encode(None))
    if state.frames == 0:
        raise CorruptInput("the video stream holds no decodable frames", path=media.name)
    return buf.getvalue(), (state.frames, state.labeled, state.rotation, crf)


def _end_from(src: Any, vin: Any, opts: VideoLabelOptions) -> float | None:
    """Seconds from the first frame after which the end label shows, or None when not wanted."""
    if opts.at_end_s <= 0:
        return None
    if vin.duration and vin.time_base:
        duration = float(vin.duration * vin.time_base)
    elif src.duration:
        duration = src.duration / 1_000_000
    else:
        last = max((p.pts for p in src.demux(vin) if p.pts is not None), default=0)
        src.seek(0)
        duration = float(last * vin.time_base)
    return max(0.0, duration - opts.at_end_s)


def _video_stream(dst: Any, vin: Any, vp9: bool, crf: float, preset: str) -> Any:
    icc = vin.codec_context
    fmt = icc.format.name if icc.format is not None else "yuv420p"
    keep = fmt in _PLANAR and not (vp9 and fmt.startswith("yuvj"))
    return encoder_like(dst, vin, vp9=vp9, crf=crf, preset=preset, pix_fmt=fmt if keep else "yuv420p")


def _encode_frame(
    dst: Any, vout: Any, frame: Any, st: _State, wording: Wording, opts: VideoLabelOptions, end_from: float | None
) -> None:
    if frame.format.name not in _PLANAR or frame.format.name != vout.pix_fmt:
        frame = frame.reformat(format=vout.pix_fmt)
    if st.frames == 0:
        st.first_pts = frame.pts
    t = float((frame.pts - (st.first_pts or 0)) * frame.time_base) if frame.pts is not None else 0.0
    which = None
    if t < opts.opening_s or (end_from is not None and t >= end_from):
        which = "opening"
    elif opts.mode is VideoMode.THROUGHOUT:
        which = "corner"
    if which is not None:
        if which not in st.plans:
            st.plans[which] = _plan(frame, st.rotation, wording, opts, which)
        ov = st.plans[which]
        if ov is not None:
            frame = _apply(frame, ov)
            st.labeled += 1
    st.frames += 1
    dst.mux(vout.encode(frame))


def _plan(frame: Any, rotation: int, wording: Wording, opts: VideoLabelOptions, which: str) -> _Overlay:
    """Plan the label on the displayed picture (colours chosen from this frame) and prepare its blend planes."""
    display = np.rot90(frame.to_ndarray(format="rgb24"), rotation // 90)
    size = (display.shape[1], display.shape[0])
    opening = which == "opening"
    plan = plan_label(
        size,
        wording.text,
        position=opts.opening_position if opening else opts.corner_position,
        min_height_ratio=opts.opening_ratio if opening else opts.corner_ratio,
        style=opts.style,
        background=display,
    )
    name = frame.format.name
    full = name.startswith("yuvj") or int(frame.color_range or 0) == 2
    return _prepare(plan, rotation, (frame.width, frame.height), _PLANAR[name], full)
