"""The presence-only audio mark, for clips too short or sparse for the payload, through the public API."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from synthguard.errors import CapacityTooLow
from synthguard.watermark.audio import (
    PRESENCE_THRESHOLD,
    detect_audio,
    embed_audio,
    embed_audio_or_presence,
    embed_audio_presence,
)
from tests.watermark.test_audio import KEY, OTHER_KEY, PAYLOAD, _ffmpeg_filter, _music, segmental_snr

RATE = 44100


@pytest.fixture(scope="module")
def short() -> np.ndarray:
    host = _music(2.2, RATE)
    with pytest.raises(CapacityTooLow, match="margin"):  # too short for the payload at 25 dB
        embed_audio(host, RATE, PAYLOAD, KEY)
    return host


def test_presence_mark_is_found_without_a_payload(short: np.ndarray) -> None:
    y = embed_audio_presence(short, RATE, KEY)
    assert y.shape == short.shape and y.dtype == np.float32
    found = detect_audio(y, RATE, KEY)
    assert found.present and found.presence_only and found.payload is None
    assert found.p_value <= PRESENCE_THRESHOLD and found.where is not None
    assert segmental_snr(short, y, RATE) >= 25.0


def test_presence_mark_needs_the_key(short: np.ndarray) -> None:
    y = embed_audio_presence(short, RATE, KEY)
    for samples, key in ((short, KEY), (y, OTHER_KEY)):
        found = detect_audio(samples, RATE, key)
        assert not found.present and not found.presence_only and found.p_value > 1e-6


def test_presence_mark_survives_resampling_and_noise(short: np.ndarray) -> None:
    from scipy.signal import resample_poly

    y = embed_audio_presence(short, RATE, KEY)
    y8 = resample_poly(y, 80, 441, axis=0)
    assert detect_audio(y8, 8000, KEY).presence_only
    noisy = y + np.random.default_rng(0).normal(0, 0.1 * float(np.std(y)), y.shape)  # 20 dB below the clip
    assert detect_audio(noisy.astype(np.float32), RATE, KEY).presence_only


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command")
@pytest.mark.parametrize("factor", [1.05, 0.8, 1.25])
def test_presence_mark_survives_a_pitch_shift(short: np.ndarray, factor: float) -> None:
    y = embed_audio_presence(short, RATE, KEY)
    graph = f"asetrate={round(RATE * factor)},aresample={RATE},atempo={1 / factor:.6f}"
    shifted = _ffmpeg_filter(y, RATE, graph)
    found = detect_audio(shifted, RATE, KEY)
    assert found.presence_only and found.p_value <= PRESENCE_THRESHOLD


def test_or_presence_keeps_the_payload_where_it_fits(short: np.ndarray) -> None:
    full = embed_audio_or_presence(_music(8.0, RATE), RATE, PAYLOAD, KEY)
    assert full.carries_payload and full.note == ""
    assert detect_audio(full.samples, RATE, KEY).payload == PAYLOAD
    fallback = embed_audio_or_presence(short, RATE, PAYLOAD, KEY)
    assert not fallback.carries_payload and "margin" in fallback.note
    assert detect_audio(fallback.samples, RATE, KEY).presence_only


def test_silence_and_tiny_clips_get_neither_mark() -> None:
    with pytest.raises(CapacityTooLow, match="capacity too low"):
        embed_audio_or_presence(np.zeros((RATE * 3, 2), np.float32), RATE, PAYLOAD, KEY)
    with pytest.raises(CapacityTooLow, match="too short"):
        embed_audio_or_presence(_music(1.5, RATE), RATE, PAYLOAD, KEY)


def test_a_sparse_chime_too_weak_even_for_presence_is_refused() -> None:
    rate = 16000
    t = np.arange(rate * 6) / rate
    chime = sum(np.sin(2 * np.pi * 1000 * h * t) / h for h in range(1, 4)) * np.exp(-3.0 * (t % 1.5))
    with pytest.raises(CapacityTooLow, match="presence mark"):  # a struck 1 kHz note: a handful of active cells
        embed_audio_presence((0.3 * chime / np.max(np.abs(chime))).astype(np.float32), rate, KEY)
