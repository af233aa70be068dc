"""The audio watermark on a video's sound: mark the first audio track in place of the copy, and detect it.

``mark_audio_track`` decodes the first audio stream, embeds the payload (or, where it does not fit, the
presence-only mark) with ``embed_audio_or_presence`` and re-encodes it with the same codec (or the
container's usual one when that codec has no encoder here), rate, layout and bit rate. Every other
stream is remuxed packet for packet, so the pictures are not encoded again. A track that cannot carry
even the presence mark (too short, silent, too sparse) is left as it was and the reason is returned:
the frames and the metadata label still carry the provenance.

``detect_audio_track`` decodes at most the first ``max_seconds`` of the first audio stream and runs
``detect_audio`` on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from synthguard.errors import CapacityTooLow, CorruptInput, InputError
from synthguard.watermark.audio import Detection, detect_audio, embed_audio_or_presence
from synthguard.watermark.audio_embed import MAX_SECONDS
from synthguard.watermark.payload import Payload, check_key
from synthguard.watermark.video import Source, open_video

FloatArray = npt.NDArray[np.float64]

MAX_TRACK_SECONDS = MAX_SECONDS  # longer tracks are left unmarked (the whole track is held decoded in memory)
DETECT_SECONDS = 120.0
MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
# decoder name -> encoder; codecs missing here (or whose encoder is absent) get the container's usual codec
_ENCODERS = {
    "aac": "aac",
    "mp3": "libmp3lame",
    "mp3float": "libmp3lame",
    "opus": "libopus",
    "libopus": "libopus",
    "vorbis": "libopus",  # FFmpeg's own Vorbis encoder is experimental
    "flac": "flac",
    "alac": "alac",
    "ac3": "ac3",
    "pcm_s16le": "pcm_s16le",
}
_CONTAINER_DEFAULT = {"webm": "libopus", "matroska": "aac", "mp4": "aac", "mov": "aac"}
_CONTAINER_ALLOWS = {"webm": {"libopus"}, "mp4": {"aac", "libmp3lame", "libopus", "flac", "alac", "ac3"}}
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)


@dataclass(frozen=True)
class TrackMark:
    """What mark_audio_track did: marked (note: why only the presence mark, if so), or why it was left alone."""

    marked: bool
    note: str
    seconds: float = 0.0
    codec: str | None = None
    carries_payload: bool = False  # False with marked: the presence-only mark


def _decode_track(container: Any, stream: Any, max_seconds: float) -> tuple[FloatArray, int, int | None]:
    """Samples (frames x channels) of stream up to max_seconds, its rate, and its first sample's time in samples."""
    import av

    rate, layout = stream.rate, stream.layout.name
    conv = av.AudioResampler(format="fltp", layout=layout, rate=rate)
    chunks: list[npt.NDArray[Any]] = []
    total, limit = 0, int(max_seconds * rate) + 1
    first: int | None = None
    for frame in container.decode(stream):
        if first is None and frame.pts is not None and frame.time_base is not None:
            first = round(frame.pts * frame.time_base * rate)
        frame.pts = None
        for out in conv.resample(frame):
            chunks.append(out.to_ndarray())
            total += chunks[-1].shape[1]
        if total > limit:
            break
    for out in conv.resample(None):
        chunks.append(out.to_ndarray())
    if not chunks:
        raise CorruptInput("the audio track holds no samples")
    x = np.concatenate(chunks, axis=1).T.astype(np.float64)
    if stream.duration and stream.time_base:  # the decoder's padding would lengthen the track at every re-encode
        x = x[: max(1, round(stream.duration * stream.time_base * rate))]
    return x, rate, first


def _encoder(decoder: str, muxer: str) -> str:
    import av

    name = _ENCODERS.get(decoder, "")
    allowed = _CONTAINER_ALLOWS.get(muxer)
    if name and (allowed is None or name in allowed):
        try:
            av.codec.Codec(name, "w")
            return name
        except (av.FFmpegError, ValueError):  # not built into this FFmpeg
            pass
    return _CONTAINER_DEFAULT.get(muxer, "aac")


def _add_track(out: Any, codec: str, rate: int, layout: str, bit_rate: int | None) -> Any:
    """An encoder stream for the marked track (Opus only takes its own rates: others go to 48 kHz)."""
    from av.audio.stream import AudioStream

    enc_rate = rate if codec != "libopus" or rate in _OPUS_RATES else 48000
    stream = cast("AudioStream", out.add_stream(codec, rate=enc_rate, layout=layout))
    if bit_rate and codec not in ("flac", "alac", "pcm_s16le"):
        stream.bit_rate = int(bit_rate)
    return stream


def _encode_track(stream: Any, x: FloatArray, rate: int, start: int) -> list[Any]:
    """Encode x (frames x channels at rate, its first sample at start samples) into stream; returns the packets."""
    import av

    enc_rate = stream.rate
    if enc_rate != rate:
        from synthguard.watermark.audio_dsp import resample

        x = resample(x, rate, enc_rate)
        start = round(start * enc_rate / rate)
    data = np.ascontiguousarray(np.clip(x, -1.0, 1.0).T, dtype=np.float32)
    packets: list[Any] = []
    step = 4096
    for i in range(0, data.shape[1], step):
        frame = av.AudioFrame.from_ndarray(data[:, i : i + step], format="fltp", layout=stream.layout.name)
        frame.sample_rate = enc_rate
        frame.pts = start + i
        frame.time_base = Fraction(1, enc_rate)
        packets.extend(stream.encode(frame))
    packets.extend(stream.encode(None))
    return packets


def _too_long() -> str:
    return f"audio track longer than {MAX_TRACK_SECONDS / 60:g} min is not watermarked"


def _seconds(packet: Any) -> float:
    t = packet.dts if packet.dts is not None else packet.pts
    return float(t * packet.time_base) if t is not None and packet.time_base is not None else 0.0


def mark_audio_track(src: Source, dst: str | Path, payload: Payload, key: bytes) -> TrackMark:
    """Write dst as src with its first audio track watermarked; when the track cannot carry it, write nothing."""
    import av

    key = check_key(key)
    dst = Path(dst)
    muxer = MUXERS.get(dst.suffix.lower())
    if muxer is None:
        raise InputError(f"cannot write a video as {dst.suffix or 'no suffix'}: use {sorted(MUXERS)}")
    try:
        with open_video(src) as probe:
            if not probe.streams.audio:
                return TrackMark(False, "no audio track")
            a = probe.streams.audio[0]
            decoder, layout, bit_rate = a.codec_context.name, a.layout.name, a.bit_rate or None
            declared = float(a.duration * a.time_base) if a.duration and a.time_base else 0.0
            if declared > MAX_TRACK_SECONDS:  # known long: not decoded at all
                return TrackMark(False, _too_long(), declared)
            x, rate, start = _decode_track(probe, a, MAX_TRACK_SECONDS)
        seconds = x.shape[0] / rate
        if seconds > MAX_TRACK_SECONDS:
            return TrackMark(False, _too_long(), seconds)
        try:
            marked = embed_audio_or_presence(x, rate, payload, key)
        except CapacityTooLow as exc:
            return TrackMark(False, str(exc), seconds)
        codec = _encoder(decoder, muxer)
        samples = marked.samples.astype(np.float64)
        _remux(src, dst, muxer, samples, rate, layout, bit_rate, max(start or 0, 0), codec)
    except av.FFmpegError as exc:
        raise CorruptInput(f"cannot process the video's audio: {exc}") from exc
    return TrackMark(True, marked.note, seconds, codec, marked.carries_payload)


def _remux(
    src: Source,
    dst: Path,
    muxer: str,
    marked: FloatArray,
    rate: int,
    layout: str,
    bit_rate: int | None,
    start: int,
    codec: str,
) -> None:
    """Copy every stream of src but the first audio one, which is replaced by marked (encoded), into dst."""
    import av

    tmp = dst.with_name(dst.name + ".part")
    try:
        with open_video(src) as inp, av.open(str(tmp), "w", format=muxer) as out:
            out.metadata.update(dict(inp.metadata))
            target = inp.streams.audio[0]
            copied = [s for s in inp.streams if s.index != target.index and s.type in ("video", "audio", "subtitle")]
            outs: dict[int, Any] = {}
            for s in inp.streams:  # the streams keep their order
                if s.index == target.index:
                    stream = _add_track(out, codec, rate, layout, bit_rate)
                elif s in copied:
                    outs[s.index] = stream_out = out.add_stream_from_template(s)
                    stream_out.metadata.update(s.metadata)
            stream.metadata.update(target.metadata)
            packets = _encode_track(stream, marked, rate, start)
            pending = iter(packets)
            nxt = next(pending, None)
            for packet in inp.demux(*copied):
                if packet.dts is None:
                    continue
                while nxt is not None and _seconds(nxt) <= _seconds(packet):  # keep the file interleaved
                    out.mux(nxt)
                    nxt = next(pending, None)
                packet.stream = outs[packet.stream.index]
                out.mux(packet)
            while nxt is not None:
                out.mux(nxt)
                nxt = next(pending, None)
        tmp.replace(dst)
    finally:
        tmp.unlink(missing_ok=True)


def detect_audio_track(src: Source, key: bytes, *, max_seconds: float = DETECT_SECONDS) -> Detection | None:
    """The audio watermark in the first max_seconds of src's first audio track; None when there is no track."""
    import av

    key = check_key(key)
    try:
        with open_video(src) as inp:
            if not inp.streams.audio:
                return None
            x, rate, _ = _decode_track(inp, inp.streams.audio[0], max_seconds)
    except av.FFmpegError as exc:
        raise CorruptInput(f"cannot decode the video's audio: {exc}") from exc
    try:
        return detect_audio(x[: int(max_seconds * rate)], rate, key)
    except CapacityTooLow:  # shorter than the shortest mark: nothing to find
        return Detection(False, 1.0, None, None)
