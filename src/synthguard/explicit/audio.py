"""Audible explicit labels (GB 45438 §5): the 短长短短 rhythm or a spoken label, spliced or mixed, then re-encoded."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from synthguard.errors import CorruptInput, InputError, LabelInvalid, UnsupportedFormat
from synthguard.explicit.audio_codec import decode, encode, resample
from synthguard.formats.base import Modality
from synthguard.label.keys import SigningKey
from synthguard.label.model import AigcLabel
from synthguard.labeling import ExistingPolicy, LabelResult, label_media
from synthguard.media import Media

FloatArray = npt.NDArray[np.float64]

CEILING = 10 ** (-1 / 20)  # the label's own peak stays at or below -1 dBFS
MIX_CEILING = 10 ** (-0.3 / 20)  # a mixed region (content + label) stays at or below -0.3 dBFS


class Sound(StrEnum):
    """Which audible label: the Morse rhythm or a spoken phrase."""

    RHYTHM = "rhythm"
    SPOKEN = "spoken"


class Position(StrEnum):
    """Where the label goes; for a voice-assistant turn, START is before and END after the turn."""

    START = "start"
    MIDDLE = "middle"
    END = "end"


class Mode(StrEnum):
    """Splice inserts the label (the file grows); mix lays it over the content (same length)."""

    SPLICE = "splice"
    MIX = "mix"


@dataclass(frozen=True)
class Rhythm:
    """短长短短 = Morse "AI" (.- ..); the standard fixes only the rhythm, so every parameter is configurable."""

    tone_hz: float = 1000.0
    unit_s: float = 0.100
    dash_units: int = 3
    inner_gap_units: int = 1  # between the elements of one letter
    letter_gap_units: int = 3  # between A and I; with 1 unit the sequence would read as "L"
    ramp_s: float = 0.005  # raised-cosine ramp centred on each edge, so the half-amplitude length is exact

    def __post_init__(self) -> None:
        if not 20.0 <= self.tone_hz <= 8000.0:
            raise InputError(f"tone {self.tone_hz} Hz is outside 20-8000 Hz")
        if not 0.02 <= self.unit_s <= 0.5:
            raise InputError(f"unit {self.unit_s} s is outside 0.02-0.5 s")
        if not 0.0 < self.ramp_s <= self.unit_s / 2:
            raise InputError("ramp must be positive and at most half a unit")
        if self.dash_units < 2 or self.inner_gap_units < 1 or self.letter_gap_units < 2:
            raise InputError("dash needs >= 2 units, inner gap >= 1, letter gap >= 2")

    def tones(self) -> list[tuple[float, float]]:
        """(start, end) in seconds of the four tones, measured at half amplitude from the start of the label."""
        u = self.unit_s
        t = self.ramp_s / 2
        out = []
        lengths = (1, self.dash_units, 1, 1)
        gaps = (self.inner_gap_units, self.letter_gap_units, self.inner_gap_units, 0)
        for n, g in zip(lengths, gaps, strict=True):
            out.append((t, t + n * u))
            t += (n + g) * u
        return out

    @property
    def duration(self) -> float:
        """Length of the rendered label in seconds (ramps included)."""
        return self.tones()[-1][1] + self.ramp_s / 2

    def render(self, sample_rate: int) -> FloatArray:
        """The rhythm as mono samples with tone amplitude 1.0."""
        if self.tone_hz >= sample_rate / 2:
            raise InputError(f"tone {self.tone_hz} Hz needs a sample rate above {2 * self.tone_hz:.0f} Hz")
        n = round(self.duration * sample_rate)
        t = np.arange(n) / sample_rate
        env = np.zeros(n)
        r = self.ramp_s / 2
        for start, end in self.tones():
            rise = np.clip((t - (start - r)) / self.ramp_s, 0.0, 1.0)
            fall = np.clip(((end + r) - t) / self.ramp_s, 0.0, 1.0)
            env = np.maximum(env, np.minimum(_raised_cosine(rise), _raised_cosine(fall)))
        return env * np.sin(2 * np.pi * self.tone_hz * t)


def _raised_cosine(x: FloatArray) -> FloatArray:
    return np.asarray(0.5 - 0.5 * np.cos(np.pi * x), dtype=np.float64)


@dataclass(frozen=True)
class AudioLabelOptions:
    """How and where to put the audible label."""

    sound: Sound = Sound.RHYTHM
    rhythm: Rhythm = Rhythm()
    spoken: bytes | Path | None = None  # a user-supplied recording; None uses the bundled "人工智能生成"
    positions: tuple[Position, ...] = (Position.START,)
    mode: Mode = Mode.SPLICE
    gap_s: float = 0.25  # silence between a spliced label and the content
    level_db: float = 0.0  # label level relative to the RMS of the content's loudest second
    floor_dbfs: float = -30.0  # never quieter than this (RMS), so quiet content still gets an audible label
    silent_dbfs: float = -20.0  # level used when the content is silent
    duck_db: float = 6.0  # mix mode: the content is lowered this much under the label

    def __post_init__(self) -> None:
        if not self.positions:
            raise InputError("at least one label position is needed")
        if not 0.0 <= self.gap_s <= 5.0 or self.duck_db < 0.0:
            raise InputError("gap must be 0-5 s and duck_db non-negative")


@dataclass(frozen=True)
class LabeledAudio:
    """Samples with the label in them, and where each label sits (seconds in the output)."""

    samples: FloatArray
    sample_rate: int
    spans: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class AudioLabelResult:
    """The labeled file, its format, where the audible labels are, and the metadata label written."""

    data: bytes
    format: str
    spans: tuple[tuple[float, float], ...]
    metadata: LabelResult


def _as_2d(samples: npt.ArrayLike) -> FloatArray:
    x = np.asarray(samples)
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float64) / float(-np.iinfo(x.dtype).min)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] < 1:
        raise InputError(f"samples must be (frames,) or (frames, channels), got shape {x.shape}")
    return x


@lru_cache(maxsize=8)
def _bundled_spoken() -> tuple[bytes, str]:
    ref = resources.files("synthguard.explicit").joinpath("sounds", "spoken-zh.wav")
    return ref.read_bytes(), "spoken-zh.wav"


def _spoken(options: AudioLabelOptions, sample_rate: int) -> FloatArray:
    src = options.spoken
    if src is None:
        data, name = _bundled_spoken()
    elif isinstance(src, Path):
        data, name = src.read_bytes(), str(src)
    else:
        data, name = src, "<spoken label>"
    try:
        decoded = decode(Media.from_bytes(data, name))
    except (UnsupportedFormat, CorruptInput) as exc:
        raise InputError(f"spoken label recording: {exc.message}") from None
    mono = decoded.samples.mean(axis=1)
    if mono.size / decoded.rate > 10.0:
        raise InputError("spoken label recording is longer than 10 s")
    return resample(mono, decoded.rate, sample_rate)


def label_sound(sample_rate: int, options: AudioLabelOptions | None = None) -> FloatArray:
    """The bare label (mono, active RMS 1/sqrt(2), i.e. a tone of amplitude 1) at the given rate."""
    opts = options or AudioLabelOptions()
    if sample_rate < 4000:
        raise InputError(f"sample rate {sample_rate} Hz is below 4000 Hz")
    if opts.sound is Sound.RHYTHM:
        return opts.rhythm.render(sample_rate)
    x = _spoken(opts, sample_rate)
    rms = _active_rms(x, sample_rate)
    if rms <= 0.0:
        raise InputError("spoken label recording is silent")
    return np.asarray(x * (np.sqrt(0.5) / rms), dtype=np.float64)


def _active_rms(x: FloatArray, rate: int) -> float:
    """RMS over the 10 ms frames within 30 dB of the loudest frame (ignores pauses in speech)."""
    hop = max(1, rate // 100)
    n = x.size // hop
    if n == 0:
        return float(np.sqrt(np.mean(x**2))) if x.size else 0.0
    power = (x[: n * hop].reshape(n, hop) ** 2).mean(axis=1)
    active = power[power >= power.max() * 1e-3]
    return float(np.sqrt(active.mean())) if active.size else 0.0


def loudest_second_rms(samples: FloatArray, sample_rate: int) -> float:
    """RMS of the loudest one-second window (half-second hop; the whole clip if shorter), loudest channel."""
    x = _as_2d(samples)
    win = sample_rate
    if x.shape[0] <= win:
        return float(np.sqrt((x**2).mean(axis=0)).max()) if x.size else 0.0
    csum = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x**2, axis=0)])
    starts = np.arange(0, x.shape[0] - win + 1, max(1, win // 2))
    power = (csum[starts + win] - csum[starts]) / win
    return float(np.sqrt(power.max()))


def _scaled_label(rms_ref: float, sample_rate: int, options: AudioLabelOptions) -> FloatArray:
    unit = label_sound(sample_rate, options)
    if rms_ref <= 1e-5:
        target = 10 ** (options.silent_dbfs / 20)
    else:
        target = max(rms_ref * 10 ** (options.level_db / 20), 10 ** (options.floor_dbfs / 20))
    x = unit * (target / np.sqrt(0.5))
    peak = float(np.abs(x).max()) if x.size else 0.0
    return np.asarray(x * (CEILING / peak) if peak > CEILING else x, dtype=np.float64)


def _quiet_point(x: FloatArray, rate: int, centre: int) -> int:
    """The quietest 20 ms near the centre (within ±10 % of the length): a splice there cuts no word."""
    reach = x.shape[0] // 10
    lo, hi = max(0, centre - reach), min(x.shape[0], centre + reach)
    hop = max(1, rate // 50)
    if hi - lo < 2 * hop:
        return centre
    mono = (x[lo:hi] ** 2).sum(axis=1)
    n = mono.size // hop
    power = mono[: n * hop].reshape(n, hop).sum(axis=1)
    return int(lo + int(np.argmin(power)) * hop + hop // 2)


def _fade(x: FloatArray, rate: int, *, out: bool) -> FloatArray:
    n = min(x.shape[0], max(1, round(0.005 * rate)))
    ramp = _raised_cosine(np.linspace(0.0, 1.0, n))[:, None]
    y = x.copy()
    if out:
        y[-n:] *= ramp[::-1]
    else:
        y[:n] *= ramp
    return y


def label_samples(samples: npt.ArrayLike, sample_rate: int, options: AudioLabelOptions | None = None) -> LabeledAudio:
    """Put the audible label into decoded samples ((frames,) or (frames, channels)); channels and rate kept."""
    opts = options or AudioLabelOptions()
    x = _as_2d(samples)
    channels = x.shape[1]
    label = _scaled_label(loudest_second_rms(x, sample_rate), sample_rate, opts)[:, None] * np.ones(channels)
    n, total = label.shape[0], x.shape[0]
    wanted = sorted(set(opts.positions), key=[Position.START, Position.MIDDLE, Position.END].index)
    if opts.mode is Mode.MIX:
        return _mix(x, sample_rate, label, wanted, opts)
    gap = np.zeros((round(opts.gap_s * sample_rate), channels))
    pieces: list[FloatArray] = []
    spans: list[tuple[float, float]] = []

    def put_label() -> None:
        at = sum(p.shape[0] for p in pieces)
        spans.append((at / sample_rate, (at + n) / sample_rate))
        pieces.append(label)

    if Position.START in wanted:
        put_label()
        pieces.append(gap)
    if Position.MIDDLE in wanted and total > 0:
        cut = _quiet_point(x, sample_rate, total // 2)
        pieces.append(_fade(x[:cut], sample_rate, out=True) if 0 < cut < total else x[:cut])
        pieces.append(gap)
        put_label()
        pieces.append(gap)
        tail = x[cut:]
        pieces.append(_fade(tail, sample_rate, out=False) if 0 < cut < total else tail)
    else:
        pieces.append(x)
    if Position.END in wanted:
        pieces.append(gap)
        put_label()
    return LabeledAudio(np.concatenate(pieces, axis=0), sample_rate, tuple(spans))


def _mix(x: FloatArray, rate: int, label: FloatArray, wanted: list[Position], opts: AudioLabelOptions) -> LabeledAudio:
    n, total = label.shape[0], x.shape[0]
    if total < n * len(wanted):
        raise InputError(
            f"audio is {total / rate:.2f} s, too short to mix {len(wanted)} label(s) of {n / rate:.2f} s "
            "over it; use splice mode, which inserts the label instead"
        )
    starts = {Position.START: 0, Position.MIDDLE: (total - n) // 2, Position.END: total - n}
    chosen = [starts[p] for p in wanted]
    if any(b - a < n for a, b in pairwise(chosen)):
        raise InputError(f"audio is {total / rate:.2f} s: the mixed labels would overlap; use fewer positions")
    y = x.copy()
    ramp_n = max(1, round(0.005 * rate))
    for s in chosen:
        region = y[s : s + n] * 10 ** (-opts.duck_db / 20) + label
        peak = float(np.abs(region).max())
        # one gain for the whole region keeps the label's rhythm intact; ramps outside it avoid clicks
        g_label = min(1.0, MIX_CEILING / peak) if peak > 0 else 1.0
        g_content = 10 ** (-opts.duck_db / 20) * g_label
        y[s : s + n] = region * g_label
        rise = _raised_cosine(np.linspace(0.0, 1.0, ramp_n + 2)[1:-1])[:, None]
        lo, hi = max(0, s - ramp_n), min(total, s + n + ramp_n)
        y[lo:s] *= (1.0 - rise * (1.0 - g_content))[ramp_n - (s - lo) :]
        y[s + n : hi] *= (g_content + rise * (1.0 - g_content))[: hi - s - n]
    spans = tuple((s / rate, (s + n) / rate) for s in chosen)
    return LabeledAudio(y, rate, spans)


def turn_label(
    sample_rate: int,
    channels: int,
    options: AudioLabelOptions | None = None,
    *,
    side: Position = Position.START,
    level_dbfs: float = -20.0,
    dtype: npt.DTypeLike = np.float32,
) -> npt.NDArray[Any]:
    """The chunk to put before (START) or after (END) a voice-assistant turn: label plus gap, (n, channels)."""
    opts = options or AudioLabelOptions()
    if side is Position.MIDDLE or channels < 1:
        raise InputError("a turn label goes at START or END, for at least one channel")
    label = label_sound(sample_rate, opts) * (10 ** (level_dbfs / 20) / np.sqrt(0.5))
    peak = float(np.abs(label).max())
    if peak > CEILING:
        label *= CEILING / peak
    gap = np.zeros(round(opts.gap_s * sample_rate))
    mono = np.concatenate([label, gap] if side is Position.START else [gap, label])
    return _to_dtype(np.repeat(mono[:, None], channels, axis=1), dtype)


def _to_dtype(x: FloatArray, dtype: npt.DTypeLike) -> npt.NDArray[Any]:
    dt = np.dtype(dtype)
    if np.issubdtype(dt, np.integer):
        scale = float(np.iinfo(dt).max)
        return np.asarray(np.round(np.clip(x, -1.0, 1.0) * scale), dtype=dt)
    return np.asarray(x, dtype=dt)


def wrap_turn(samples: npt.ArrayLike, sample_rate: int, options: AudioLabelOptions | None = None) -> npt.NDArray[Any]:
    """One assistant turn with the label spliced at its start and/or end (level matched to the turn)."""
    opts = options or AudioLabelOptions()
    if Position.MIDDLE in opts.positions:
        raise InputError("a turn is labeled at its start and/or end")
    arr = np.asarray(samples)
    out = label_samples(arr, sample_rate, dataclasses.replace(opts, mode=Mode.SPLICE)).samples
    if arr.ndim == 1:
        out = out[:, 0]
    return _to_dtype(out, arr.dtype if arr.dtype.kind in "fi" else np.float64)


# --- decoding and re-encoding -------------------------------------------------------------------------------------


def label_audio(
    media: Media,
    producer: str,
    produce_id: str | None = None,
    *,
    options: AudioLabelOptions | None = None,
    signer: SigningKey | None = None,
    existing: ExistingPolicy = ExistingPolicy.REFUSE,
    progress: Callable[[str], None] | None = None,
) -> AudioLabelResult:
    """Add the audible label, re-encode in the input's format and write the GB 45438 metadata label."""
    if media.sniffed.modality is not Modality.AUDIO:
        raise UnsupportedFormat(f"{media.format} is not an audio format", path=media.name)
    foreign = _refuse_foreign(media, producer, existing)
    say = progress or (lambda _: None)
    say("decoding")
    dec = decode(media)
    if dec.samples.shape[0] == 0:
        raise CorruptInput("audio holds no samples", path=media.name)
    say("labeling")
    labeled = label_samples(dec.samples, dec.rate, options)
    say("encoding")
    try:
        encoded = encode(media, dec, labeled.samples)
    except (RuntimeError, ValueError) as exc:
        raise CorruptInput(f"cannot re-encode {media.format}: {exc}", path=media.name) from None
    say("writing metadata label")
    out = Media.from_bytes(encoded, media.name)
    result = label_media(out, producer, produce_id, signer=signer, existing=ExistingPolicy.REPLACE)
    result = dataclasses.replace(result, replaced=foreign)
    return AudioLabelResult(result.data, out.format, labeled.spans, result)


def _refuse_foreign(media: Media, producer: str, existing: ExistingPolicy) -> tuple[AigcLabel, ...]:
    """The same rule label_media applies, checked before the (lossy) re-encode drops any earlier label."""
    found = media.carrier.read(media.data)
    foreign = tuple(f.label for f in found if f.label is not None and f.label.content_producer != producer)
    if foreign and existing is ExistingPolicy.REFUSE:
        raise LabelInvalid(
            f"already labeled by producer {foreign[0].content_producer!r}; "
            "use --replace-existing to relabel your edit of it",
            path=media.name,
        )
    return foreign
