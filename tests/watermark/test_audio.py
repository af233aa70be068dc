"""Audio watermark behaviour through the public API: round trip, wrong key, bad input, no clipping."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from synthguard.errors import CapacityTooLow, InputError
from synthguard.watermark import audio_dsp as dsp
from synthguard.watermark import audio_search
from synthguard.watermark.audio import Detection, detect_audio, embed_audio
from synthguard.watermark.audio_layout import PERIOD_SLOTS, band_rows, band_weights, low_layout, upper_layout
from synthguard.watermark.payload import Payload

KEY = b"audio-test-key-0123456789abcdef"
OTHER_KEY = b"another-key-0123456789abcdefghij"
PAYLOAD = Payload(producer=4242, serial=123456789)


def _music(seconds: float, rate: int, channels: int = 2, seed: int = 0) -> np.ndarray:
    """Notes with harmonics, a noisy texture and a slow envelope: a crude but broadband music stand-in."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    out = np.zeros(n)
    note_len = int(0.25 * rate)
    for start in range(0, n, note_len):
        f0 = 110.0 * 2 ** (rng.integers(0, 24) / 12)
        seg = slice(start, min(n, start + note_len))
        env = np.exp(-3.0 * (t[seg] - t[start]))
        for h in range(1, 12):
            out[seg] += env * np.sin(2 * np.pi * f0 * h * t[seg] + rng.uniform(0, 6.28)) / h
    out += 0.05 * rng.standard_normal(n)
    out *= 0.3 / np.max(np.abs(out))
    return np.stack([out * (1.0 - 0.2 * c) for c in range(channels)], axis=1).astype(np.float32)


@pytest.fixture(scope="module")
def marked() -> tuple[np.ndarray, np.ndarray]:
    host = _music(8.0, 44100)
    return host, embed_audio(host, 44100, PAYLOAD, KEY)


def test_round_trip_decodes_payload(marked: tuple[np.ndarray, np.ndarray]) -> None:
    host, y = marked
    assert y.shape == host.shape and y.dtype == np.float32
    found = detect_audio(y, 44100, KEY)
    assert isinstance(found, Detection)
    assert found.present and found.payload == PAYLOAD
    assert found.p_value < 1e-6
    assert found.where is not None


def test_survives_resampling_to_16k(marked: tuple[np.ndarray, np.ndarray]) -> None:
    from scipy.signal import resample_poly

    _, y = marked
    y16 = resample_poly(y, 160, 441, axis=0).astype(np.float32)
    assert detect_audio(y16, 16000, KEY).payload == PAYLOAD


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command")
@pytest.mark.parametrize("factor", [0.95, 1.05, 0.9, 1.11, 0.8, 1.25])  # 0.8 and 1.25: about four semitones
def test_survives_a_pitch_shift_with_the_tempo_kept(marked: tuple[np.ndarray, np.ndarray], factor: float) -> None:
    _, y = marked
    shifted = _ffmpeg_filter(y, 44100, f"asetrate={round(44100 * factor)},aresample=44100,atempo={1 / factor:.6f}")
    assert abs(shifted.shape[0] - y.shape[0]) < 0.01 * y.shape[0]  # the length is kept, only the pitch moved
    assert detect_audio(shifted, 44100, KEY).payload == PAYLOAD


def _ffmpeg_filter(y: np.ndarray, rate: int, graph: str) -> np.ndarray:
    """y run through an ffmpeg audio filter graph, as float32 at the same rate."""
    raw = y.astype(np.float32).tobytes()
    fmt = ["-f", "f32le", "-ar", str(rate), "-ac", str(y.shape[1])]
    cmd = ["ffmpeg", "-v", "error", *fmt, "-i", "pipe:0", "-af", graph, *fmt, "pipe:1"]
    out = subprocess.run(cmd, input=raw, capture_output=True, check=True).stdout
    return np.frombuffer(out, dtype=np.float32).reshape(-1, y.shape[1])


def test_unmarked_and_wrong_key_are_absent(marked: tuple[np.ndarray, np.ndarray]) -> None:
    host, y = marked
    for samples, key in ((host, KEY), (y, OTHER_KEY)):
        found = detect_audio(samples, 44100, key)
        assert not found.present and found.payload is None
        assert found.p_value > 1e-6


def segmental_snr(host: np.ndarray, y: np.ndarray, rate: int) -> float:
    """Mean SNR of the 20 ms frames with sound, each clamped to [-10, 35] dB (as the benchmark measures it)."""
    n = int(0.02 * rate)
    m = host.shape[0] // n
    sig = np.sum(host[: m * n].astype(np.float64).reshape(m, n, -1) ** 2, axis=(1, 2))
    err = np.sum((y[: m * n].astype(np.float64) - host[: m * n]).reshape(m, n, -1) ** 2, axis=(1, 2))
    active = sig > 1e-7 * n
    return float(np.mean(np.clip(10 * np.log10(sig[active] / np.maximum(err[active], 1e-20)), -10, 35)))


def test_segmental_snr_at_least_25_db(marked: tuple[np.ndarray, np.ndarray]) -> None:
    host, y = marked
    assert segmental_snr(host, y, 44100) >= 25.0


def test_stronger_mark_survives_mp3_like_noise(marked: tuple[np.ndarray, np.ndarray]) -> None:
    host, _ = marked
    y = embed_audio(host, 44100, PAYLOAD, KEY, strength=1.5)
    rng = np.random.default_rng(3)
    noisy = y + rng.standard_normal(y.shape).astype(np.float32) * float(np.std(y)) * 0.03  # 30 dB SNR
    assert detect_audio(noisy, 44100, KEY).payload == PAYLOAD


def test_mono_1d_input_keeps_shape() -> None:
    host = _music(3.0, 16000, channels=1)[:, 0]
    y = embed_audio(host, 16000, PAYLOAD, KEY)
    assert y.shape == host.shape


def test_too_short_is_rejected() -> None:
    with pytest.raises(CapacityTooLow, match="too short"):
        embed_audio(np.zeros((8000, 1), np.float32), 16000, PAYLOAD, KEY)
    with pytest.raises(CapacityTooLow, match="too short"):
        detect_audio(np.zeros((8000, 1), np.float32), 16000, KEY)


def test_clip_shorter_than_one_period_is_marked_and_found() -> None:
    host = _music(2.4, 44100, seed=3)  # 2.4 s: 75 of the period's 90 slots
    y = embed_audio(host, 44100, PAYLOAD, KEY, strength=2.0)
    found = detect_audio(y, 44100, KEY)
    assert found.present and found.payload == PAYLOAD
    with pytest.raises(CapacityTooLow, match=r"margin is (0\.[1-9]|1\.)"):  # measured on the partial period, not 0
        embed_audio(_music(2.2, 44100), 44100, PAYLOAD, KEY)


def test_silence_has_no_capacity() -> None:
    with pytest.raises(CapacityTooLow, match="capacity too low"):
        embed_audio(np.zeros((48000 * 3, 2), np.float32), 48000, PAYLOAD, KEY)
    assert not detect_audio(np.zeros((48000 * 3, 2), np.float32), 48000, KEY).present


def test_bad_rate_and_values_are_input_errors() -> None:
    with pytest.raises(InputError):
        embed_audio(np.zeros((4000 * 3, 1), np.float32), 4000, PAYLOAD, KEY)
    bad = np.full((16000 * 3, 1), np.nan, np.float32)
    with pytest.raises(InputError):
        detect_audio(bad, 16000, KEY)


def test_full_scale_square_wave_never_clips() -> None:
    rate = 44100
    t = np.arange(rate * 3) / rate
    square = np.sign(np.sin(2 * np.pi * 220 * t)).astype(np.float32)[:, None]
    y = embed_audio(square, rate, PAYLOAD, KEY)
    assert float(np.max(np.abs(y))) <= 1.0
    assert not np.any(np.abs(np.diff(y[:, 0])) > 2.5)  # no hard-clip plateaus turned into spikes


def test_sparse_chime_is_refused_by_the_self_check() -> None:
    rate = 16000
    t = np.arange(rate * 6) / rate
    chime = sum(np.sin(2 * np.pi * 440 * h * t) / h for h in range(1, 9)) * np.exp(-2.0 * (t % 1.5))
    chime = (0.3 * chime / np.max(np.abs(chime))).astype(np.float32)  # a repeated struck note: few active cells
    with pytest.raises(CapacityTooLow, match="margin"):
        embed_audio(chime, rate, PAYLOAD, KEY)


def test_reliability_weights_stay_in_unit_range_at_fractional_slots() -> None:
    from synthguard.watermark import audio_dsp as dsp

    fine = dsp.fine_power(_music(4.0, 16000, channels=1)[:, 0].astype(np.float64)) @ dsp.band_matrix(1.0)
    cum = dsp.cumulative(fine)
    for scale in (0.97, 1.0025, 1.05):
        w = dsp.reliability(dsp.slot_energies(cum, 0.7, dsp.FINE_PER_SLOT * scale), dsp.noise_level(fine))
        assert float(w.min()) >= 0.0 and float(w.max()) <= 1.0


def test_clip_with_its_energy_above_the_band_is_refused() -> None:
    rate = 48000
    t = np.arange(rate * 4) / rate
    beep = 0.3 * np.sin(2 * np.pi * 8200 * t) * (np.sin(2 * np.pi * 2 * t) > 0)  # an alarm beep far above 3.75 kHz
    beep = beep + 1e-4 * np.sin(2 * np.pi * 1000 * t)  # a trace of sound in the band, 70 dB down
    with pytest.raises(CapacityTooLow, match="500-3750 Hz"):
        embed_audio(beep.astype(np.float32), rate, PAYLOAD, KEY)


def _best_candidate(y: np.ndarray) -> object:
    from scipy.signal import resample_poly

    mono16 = resample_poly(y.mean(axis=1), 160, 441).astype(np.float64)
    cands = audio_search.search(mono16, low_layout(KEY), upper_layout(KEY)).cands
    return cands[0]


def test_feedback_decode_recovers_the_payload(marked: tuple[np.ndarray, np.ndarray]) -> None:
    from synthguard.watermark import audio as audio_module
    from synthguard.watermark.audio_soft import feedback_weights, soft_chips
    from synthguard.watermark.payload import decode

    _, y = marked
    best = _best_candidate(y)
    bands = [audio_module._low_band(best, low_layout(KEY))]
    weights = feedback_weights(bands, soft_chips(bands), audio_module.FEEDBACK_SLOTS)
    assert decode(soft_chips(bands, weights), KEY) == PAYLOAD


def test_upper_band_alone_carries_the_payload(marked: tuple[np.ndarray, np.ndarray]) -> None:
    from synthguard.watermark import audio as audio_module
    from synthguard.watermark.audio_soft import soft_chips
    from synthguard.watermark.payload import decode

    _, y = marked
    best = _best_candidate(y)
    upper = audio_module._upper_band(best, upper_layout(KEY))
    assert upper is not None
    assert decode(soft_chips([upper]), KEY) == PAYLOAD
    skipped = 0  # without a mark the split-half estimate is noise: the band is mostly left out
    for seed in range(10):
        mono = _music(8.0, 16000, channels=1, seed=seed)[:, 0].astype(np.float64)
        cands = audio_search.search(mono, low_layout(KEY), upper_layout(KEY)).cands
        skipped += audio_module._upper_band(cands[0], upper_layout(KEY)) is None
    assert skipped >= 6


def _band_energy(signal: np.ndarray, rate: int, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(signal.astype(np.float64).mean(axis=1))) ** 2
    freq = np.fft.rfftfreq(signal.shape[0], 1.0 / rate)
    return float(np.sum(spec[(freq >= lo) & (freq < hi)]))


def test_upper_band_takes_a_small_share_and_only_where_the_rate_carries_it(
    marked: tuple[np.ndarray, np.ndarray],
) -> None:
    host, y = marked
    mark = y.astype(np.float64) - host
    low, upper = _band_energy(mark, 44100, 500, 3750), _band_energy(mark, 44100, 3750, 7000)
    assert 0.02 * low < upper < 0.3 * low
    host11 = _music(6.0, 11025)
    mark11 = embed_audio(host11, 11025, PAYLOAD, KEY).astype(np.float64) - host11
    assert _band_energy(mark11, 11025, 3900, 5500) < 1e-3 * _band_energy(mark11, 11025, 500, 3750)


def test_long_clip_marked_only_at_its_end_still_decodes() -> None:
    rate = 16000
    marked_tail = embed_audio(_music(10.0, rate, channels=1, seed=5), rate, PAYLOAD, KEY)
    clip = np.concatenate([_music(30.0, rate, channels=1, seed=6), marked_tail])  # 4 segments, mark in the last
    found = detect_audio(clip, rate, KEY)
    assert found.payload == PAYLOAD
    assert found.where is not None and found.where[0] >= 29.0


@pytest.mark.parametrize("freq_scale", [0.79, 0.94, 1.0, 1.0625, 1.265])
@pytest.mark.parametrize("first_bin", [dsp.FIRST_BIN, dsp.UPPER_FIRST_BIN])
def test_band_rows_drop_only_zero_rows_and_fit_the_spectrum(freq_scale: float, first_bin: int) -> None:
    full = band_weights(freq_scale, first_bin)
    lo, hi, rows = band_rows(freq_scale, first_bin)
    assert np.all(full[:lo] == 0) and np.all(full[hi:] == 0) and np.array_equal(full[lo:hi], rows)
    if first_bin == dsp.FIRST_BIN:  # the search's widest pitch scale still fits the bins it computes
        assert full.shape[0] == dsp.LOW_BINS and np.allclose(full.sum(axis=0), 1.0)
    assert hi <= dsp.N_FFT // 2 + 1


def test_search_evaluates_each_scale_once(marked: tuple[np.ndarray, np.ndarray]) -> None:
    from scipy.signal import resample_poly

    _, y = marked
    mono16 = resample_poly(y.mean(axis=1), 160, 441).astype(np.float64)
    cands, tried, _, _ = audio_search.search(mono16, low_layout(KEY), upper_layout(KEY))
    scales = [(round(c.scale, 6), round(c.freq_scale, 6)) for c in cands]
    assert len(scales) == len(set(scales))
    # the union bound counts every alignment the search could score, whatever this audio made it pick
    assert set(scales) <= audio_search.possible_scale_pairs()
    assert tried == audio_search.SEARCH_HYPOTHESES >= len(cands) * PERIOD_SLOTS * 4 * 2


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command")
def test_a_settled_search_skips_the_pitch_screen_and_an_unsettled_one_changes_nothing(
    marked: tuple[np.ndarray, np.ndarray],
) -> None:
    from scipy.signal import resample_poly

    _, y = marked
    shifted = _ffmpeg_filter(y, 44100, "asetrate=46305,aresample=44100,atempo=0.952381")  # pitch +5 %
    mono16 = resample_poly(shifted.mean(axis=1), 160, 441).astype(np.float64)
    lay, up = low_layout(KEY), upper_layout(KEY)
    seen: list[audio_search.Candidate] = []
    full = audio_search.search(mono16, lay, up)
    declined = audio_search.search(mono16, lay, up, settle=lambda c: seen.append(c) is not None)
    settled = audio_search.search(mono16, lay, up, settle=lambda c: True)

    def pitch(c: audio_search.Candidate) -> bool:
        return c.scale == 1.0 and c.freq_scale != 1.0

    # settle sees the best tempo/speed alignment, once; declining it leaves the search as it was
    assert len(seen) == 1 and seen[0].z == max(c.z for c in full.cands if not pitch(c))
    assert [(c.z, c.scale, c.freq_scale) for c in declined.cands] == [(c.z, c.scale, c.freq_scale) for c in full.cands]
    assert any(pitch(c) for c in full.cands) and not any(pitch(c) for c in settled.cands)
    assert settled.cands[0].z == seen[0].z and settled.tried == full.tried


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command")
def test_a_pitch_shifted_clip_is_searched_in_full_at_its_frequency_scale(marked: tuple[np.ndarray, np.ndarray]) -> None:
    from scipy.signal import resample_poly

    _, y = marked
    shifted = _ffmpeg_filter(y, 44100, "asetrate=46305,aresample=44100,atempo=0.952381")  # pitch +5 %
    mono16 = resample_poly(shifted.mean(axis=1), 160, 441).astype(np.float64)
    cands, _, _, _ = audio_search.search(mono16, low_layout(KEY), upper_layout(KEY))
    assert cands[0].scale == 1.0 and abs(cands[0].freq_scale - 1.05) <= 0.005


def test_false_positive_budget_with_list_decoding_stays_within_1e_6() -> None:
    from synthguard.watermark import audio as audio_module

    assert audio_module.LIST_SIZE > 1 and audio_module.LIST_GATE <= 1e-3
    assert audio_module.SYNC_THRESHOLD + audio_module.PRESENCE_THRESHOLD + audio_module._tag_p() <= 1e-6
