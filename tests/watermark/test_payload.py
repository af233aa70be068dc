"""The shared payload framing: round trips, soft decoding under noise and erasures, keying, tables."""

from __future__ import annotations

import numpy as np
import pytest

from synthguard.errors import CodeInvalid, InputError, KeyError_
from synthguard.watermark.payload import (
    CODED_BITS,
    DATA_BITS,
    MAX_LIST_SIZE,
    SERIAL_BITS,
    Payload,
    ProducerTable,
    decode,
    derive_serial,
    encode,
    gaussian_p_value,
    gaussian_z_for_p,
    keyed_rng,
)
from tests.conftest import PRODUCER, PRODUCER_2

KEY = b"k" * 32
OTHER = b"o" * 32


def test_frame_has_at_least_48_data_bits() -> None:
    assert DATA_BITS >= 48


@pytest.mark.parametrize(
    "payload",
    [Payload(0, 0), Payload(65535, (1 << SERIAL_BITS) - 1), Payload(7, 123456789, version=15)],
)
def test_round_trip(payload: Payload) -> None:
    chips = encode(payload, KEY)
    assert chips.shape == (CODED_BITS,)
    assert set(np.unique(chips).tolist()) <= {-1, 1}
    assert decode(chips, KEY) == payload
    assert decode(chips * 1000.0, KEY) == payload


def test_payload_int_round_trip() -> None:
    p = Payload(producer=513, serial=99, version=1)
    assert Payload.from_int(p.to_int()) == p


def test_chips_are_whitened_even_for_zero_payload() -> None:
    chips = encode(Payload(0, 0), KEY)
    assert abs(int(chips.sum())) < CODED_BITS * 0.2


def test_soft_decoding_corrects_noise_and_erasures() -> None:
    rng = np.random.default_rng(1)
    payload = Payload(42, 10_000_001)
    chips = encode(payload, KEY).astype(float)
    ok = 0
    for _ in range(20):
        soft = chips + rng.normal(0, 1.0, CODED_BITS)  # Es/N0 = 0 dB: ~16 % hard chip errors
        ok += decode(soft, KEY) == payload
    assert ok >= 18
    erased = chips.copy()
    erased[rng.choice(CODED_BITS, CODED_BITS // 3, replace=False)] = 0.0
    assert decode(erased, KEY) == payload


def test_wrong_key_and_noise_do_not_decode() -> None:
    chips = encode(Payload(1, 2), KEY)
    assert decode(chips, OTHER) is None
    rng = np.random.default_rng(2)
    assert sum(decode(rng.normal(size=CODED_BITS), KEY) is not None for _ in range(200)) == 0


def test_list_decoding_reaches_further_than_the_best_path_alone() -> None:
    rng = np.random.default_rng(5)
    payload = Payload(7, 123_456_789)
    chips = encode(payload, KEY).astype(float)
    plain = listed = 0
    for _ in range(120):
        soft = chips + rng.normal(0, 1.25, CODED_BITS)  # about -2 dB per chip: the plain decoder's waterfall
        got_plain, got_list = decode(soft, KEY), decode(soft, KEY, list_size=4)
        assert got_plain is None or got_list == got_plain  # the best path is the list's first candidate
        plain += got_plain == payload
        listed += got_list == payload
    assert listed >= plain + 12


def test_list_decoding_of_noise_and_wrong_keys_finds_nothing() -> None:
    rng = np.random.default_rng(6)
    assert sum(decode(rng.normal(size=CODED_BITS), KEY, list_size=8) is not None for _ in range(300)) == 0
    assert decode(encode(Payload(3, 4), KEY), OTHER, list_size=8) is None
    assert decode(encode(Payload(3, 4), KEY), KEY, list_size=1) == Payload(3, 4)
    for size in (0, MAX_LIST_SIZE + 1):
        with pytest.raises(InputError):
            decode(encode(Payload(3, 4), KEY), KEY, list_size=size)


def test_forged_frame_without_key_fails() -> None:
    # Someone who knows the framing but not the key re-encodes with their own key: it reads as nothing.
    assert decode(encode(Payload(9, 9), OTHER), KEY) is None


def test_bad_inputs() -> None:
    with pytest.raises(InputError):
        Payload(1 << 16, 0)
    with pytest.raises(InputError):
        Payload(0, -1)
    with pytest.raises(KeyError_):
        encode(Payload(0, 0), b"short")
    with pytest.raises(InputError):
        decode(np.zeros(10), KEY)


def test_producer_table() -> None:
    table = ProducerTable({1: PRODUCER, 2: PRODUCER_2})
    assert table.short_id_for(PRODUCER_2) == 2
    assert str(table.code_for(1)) == PRODUCER
    assert table.code_for(3) is None
    assert table.payload(PRODUCER, 5) == Payload(1, 5)
    with pytest.raises(InputError):
        table.short_id_for("00119144030008867405X220001")
    with pytest.raises(CodeInvalid):
        ProducerTable({1: "nonsense"})


def test_keyed_helpers_are_deterministic_and_key_dependent() -> None:
    a = keyed_rng(KEY, "x").normal(size=4)
    assert np.array_equal(a, keyed_rng(KEY, "x").normal(size=4))
    assert not np.array_equal(a, keyed_rng(OTHER, "x").normal(size=4))
    assert derive_serial("id-1", KEY) < (1 << SERIAL_BITS)
    assert derive_serial("id-1", KEY) != derive_serial("id-2", KEY)


def test_gaussian_tail() -> None:
    assert gaussian_p_value(0.0) == pytest.approx(0.5)
    assert gaussian_p_value(4.753424) == pytest.approx(1e-6, rel=1e-3)
    assert gaussian_z_for_p(1e-6) == pytest.approx(4.753424, abs=1e-4)
