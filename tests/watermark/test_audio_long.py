"""Long audio through the public API: marked in chunks (bounded memory), the pattern running on across them."""

from __future__ import annotations

import numpy as np
import pytest

from synthguard.errors import CapacityTooLow, InputTooLarge
from synthguard.watermark import audio_embed
from synthguard.watermark.audio import detect_audio, embed_audio, embed_audio_or_presence
from tests.watermark.test_audio import KEY, PAYLOAD, _music, segmental_snr

RATE = 22050


@pytest.fixture(autouse=True)
def short_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audio_embed, "CHUNK_PERIODS", 3)  # 8.64 s chunks, so the tests stay quick


def test_chunks_keep_the_pattern_running_across_their_edges() -> None:
    host = _music(30.0, RATE, channels=1)[:, 0]  # 3 chunks: 0-8.6, 8.6-17.3, 17.3-30 s
    y = embed_audio(host, RATE, PAYLOAD, KEY)
    assert y.shape == host.shape and segmental_snr(host[:, None], y[:, None], RATE) >= 25.0
    assert detect_audio(y, RATE, KEY).payload == PAYLOAD
    straddle = y[int(5.0 * RATE) : int(12.0 * RATE)]  # 7 s across the first chunk edge
    assert detect_audio(straddle, RATE, KEY).payload == PAYLOAD


def test_a_silent_passage_stays_unmarked_and_the_rest_carries_the_payload() -> None:
    host = _music(30.0, RATE)
    host[int(8.64 * RATE) : int(17.28 * RATE)] = 0.0  # the second chunk is silence
    marked = embed_audio_or_presence(host, RATE, PAYLOAD, KEY)
    assert marked.carries_payload
    assert "of 3 chunks, 2 carry the payload, 0 only the presence mark and 1 no mark" in marked.note
    assert "in 8.6-17.3 s" in marked.note
    assert not np.any(marked.samples[int(9 * RATE) : int(17 * RATE)])
    assert detect_audio(marked.samples[int(18 * RATE) :], RATE, KEY).payload == PAYLOAD
    with pytest.raises(CapacityTooLow, match=r"silent.*\(in 8\.6-17\.3 s\)"):  # the strict API names the chunk
        embed_audio(host, RATE, PAYLOAD, KEY)


def test_audio_over_the_limit_is_refused_before_any_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audio_embed, "MAX_SECONDS", 20.0)
    with pytest.raises(InputTooLarge, match="over the watermark's"):
        embed_audio_or_presence(np.zeros((30 * RATE, 1), np.float32), RATE, PAYLOAD, KEY)
