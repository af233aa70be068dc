"""Decoding audio files to samples and encoding samples back into the same format with similar settings."""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction
from math import gcd
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from synthguard.errors import CorruptInput, InputTooLarge, UnsupportedFormat
from synthguard.media import Media

FloatArray = npt.NDArray[np.float64]
SOUNDFILE_FORMATS = {"wav": "WAV", "bw64": "WAV", "rf64": "RF64", "flac": "FLAC", "ogg-vorbis": "OGG"}
AV_MUXERS = {"mp3": ("mp3", "libmp3lame"), "m4a": ("ipod", None), "ogg-opus": ("ogg", "libopus")}


def resample(x: FloatArray, rate_in: int, rate_out: int) -> FloatArray:
    """Polyphase resampling along axis 0."""
    if rate_in == rate_out:
        return x
    from scipy.signal import resample_poly

    g = gcd(rate_in, rate_out)
    return np.asarray(resample_poly(x, rate_out // g, rate_in // g, axis=0), dtype=np.float64)


@dataclass(frozen=True)
class Decoded:
    """Decoded samples with what is needed to encode them back the same way."""

    samples: FloatArray
    rate: int
    subtype: str | None  # soundfile subtype, when soundfile decoded it
    codec: str | None  # PyAV codec name, when PyAV decoded it
    bit_rate: int | None
    layout: str | None
    metadata: dict[str, str]


MAX_DECODED_VALUES = 1 << 29  # samples x channels: 4 GiB as float64, about 93 min of 48 kHz stereo


def decode_audio(media: Media, max_seconds: float | None = None) -> tuple[FloatArray, int]:
    """Decode an audio file to samples (frames, channels) in -1..1 and its rate; only the first max_seconds if given."""
    decoded = decode(media, max_seconds, truncate=True)
    return decoded.samples, decoded.rate


def decode(media: Media, max_seconds: float | None = None, *, truncate: bool = False) -> Decoded:
    """Decode an audio file, keeping its rate, layout, codec settings and tags.

    Past max_seconds: InputTooLarge, or with truncate only the first max_seconds. Past MAX_DECODED_VALUES
    (a small file can decode to a huge one): InputTooLarge, counted on what was decoded, not on headers.
    """
    if media.format in SOUNDFILE_FORMATS:
        return _decode_soundfile(media, max_seconds, truncate)
    if media.format in AV_MUXERS:
        return _decode_av(media, max_seconds, truncate)
    raise UnsupportedFormat(f"no audible label for {media.format} files", path=media.name)


def _too_long(media: Media, max_seconds: float) -> InputTooLarge:
    return InputTooLarge(f"audio longer than {max_seconds / 60:g} min", path=media.name)


def _too_big(media: Media) -> InputTooLarge:
    return InputTooLarge(f"audio decodes to more than {MAX_DECODED_VALUES} samples", path=media.name)


def _decode_soundfile(media: Media, max_seconds: float | None, truncate: bool) -> Decoded:
    import soundfile as sf

    try:
        with sf.SoundFile(io.BytesIO(media.data)) as f:
            rate, subtype, frames = f.samplerate, f.subtype, f.frames
            if frames * f.channels > MAX_DECODED_VALUES:  # checked before decoding
                raise _too_big(media)
            if max_seconds is not None and frames > max_seconds * rate:
                if not truncate:
                    raise _too_long(media, max_seconds)
                frames = int(max_seconds * rate)
            x = f.read(frames=frames, dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise CorruptInput(f"cannot decode audio: {exc}", path=media.name) from None
    seconds = x.shape[0] / rate if rate else 0.0
    bit_rate = round(len(media.data) * 8 / seconds) if seconds > 0 else None
    return Decoded(x, rate, subtype, None, bit_rate, None, {})


def _decode_av(media: Media, max_seconds: float | None, truncate: bool) -> Decoded:
    import av

    try:
        with av.open(io.BytesIO(media.data), "r") as c:
            if not c.streams.audio:
                raise CorruptInput("no audio stream", path=media.name)
            s = c.streams.audio[0]
            rate, layout, codec = s.rate, s.layout.name, s.codec_context.name
            bit_rate = s.bit_rate or c.bit_rate or None
            meta = {k: v for k, v in c.metadata.items() if "aigc" not in k.lower()}
            max_frames = None if max_seconds is None else int(max_seconds * rate)
            chunks: list[npt.NDArray[Any]] = []
            frames = values = 0
            for frame in _resampled(c.decode(s), rate, layout):  # counted as decoded: headers may lie
                chunks.append(frame.to_ndarray())
                frames, values = frames + chunks[-1].shape[1], values + chunks[-1].size
                if max_frames is not None and frames > max_frames:
                    if truncate:
                        break
                    raise _too_long(media, max_seconds or 0.0)
                if values > MAX_DECODED_VALUES:
                    raise _too_big(media)
    except av.FFmpegError as exc:
        raise CorruptInput(f"cannot decode audio: {exc}", path=media.name) from None
    if not chunks:
        raise CorruptInput("audio stream holds no samples", path=media.name)
    x = np.concatenate(chunks, axis=1).T.astype(np.float64)[: max_frames or None]
    return Decoded(x, rate, None, codec, bit_rate, layout, meta)


def _resampled(frames: Any, rate: int, layout: str) -> Any:
    import av

    conv = av.AudioResampler(format="fltp", layout=layout, rate=rate)
    for frame in frames:
        frame.pts = None
        yield from conv.resample(frame)
    yield from conv.resample(None)


def _vorbis_quality(bit_rate: int | None, channels: int, rate: int) -> float:
    """libsndfile compression level (1 - Vorbis quality) giving roughly the input's bitrate."""
    if not bit_rate:
        return 0.6
    stereo_kbps = bit_rate / 1000 * (2 / min(channels, 2)) * (44100 / max(rate, 8000)) ** 0.5
    table_kbps = [64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 500]
    quality = np.interp(stereo_kbps, table_kbps, np.linspace(0.0, 1.0, len(table_kbps)))
    return float(1.0 - quality)


def encode(media: Media, dec: Decoded, x: FloatArray) -> bytes:
    """Encode samples back into the input's format with settings close to the input's."""
    if dec.subtype is not None:
        import soundfile as sf

        buf = io.BytesIO()
        fmt = SOUNDFILE_FORMATS[media.format]
        level = _vorbis_quality(dec.bit_rate, x.shape[1], dec.rate) if media.format == "ogg-vorbis" else None
        with sf.SoundFile(buf, "w", dec.rate, x.shape[1], dec.subtype, format=fmt, compression_level=level) as f:
            clipped = np.clip(x, -1.0, 1.0)
            for i in range(0, clipped.shape[0], 16384):  # libsndfile's Vorbis writer crashes on very large blocks
                f.write(clipped[i : i + 16384])
        return buf.getvalue()
    return _encode_av(media, dec, x)


def _encode_av(media: Media, dec: Decoded, x: FloatArray) -> bytes:
    import av
    from av.audio.stream import AudioStream

    muxer, codec = AV_MUXERS[media.format]
    codec = codec or ("alac" if dec.codec == "alac" else "aac")
    buf = io.BytesIO()
    with av.open(buf, "w", format=muxer) as out:
        out.metadata.update(dec.metadata)
        rate = dec.rate if codec != "libopus" or dec.rate in (8000, 12000, 16000, 24000, 48000) else 48000
        layout = dec.layout or ("mono" if x.shape[1] == 1 else "stereo")
        s = cast("AudioStream", out.add_stream(codec, rate=rate, layout=layout))
        if dec.bit_rate and codec != "alac":
            s.bit_rate = int(dec.bit_rate)
        if rate != dec.rate:
            x = resample(x, dec.rate, rate)
        data = np.ascontiguousarray(np.clip(x, -1.0, 1.0).T, dtype=np.float32)
        step = 4096
        for i in range(0, data.shape[1], step):
            frame = av.AudioFrame.from_ndarray(data[:, i : i + step], format="fltp", layout=s.layout.name)
            frame.sample_rate = rate
            frame.pts = i
            frame.time_base = Fraction(1, rate)
            out.mux(s.encode(frame))
        out.mux(s.encode(None))
    return buf.getvalue()
