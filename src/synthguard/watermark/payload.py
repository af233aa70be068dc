"""Keyed watermark payload framing shared by every watermark scheme (image, video, audio).

A payload is 64 data bits::

    version   4 bits   framing version (FORMAT_VERSION)
    producer 16 bits   short id of the producer; a ProducerTable maps it to the 27-character ProducerCode
    serial   44 bits   content serial; the generation record maps it to the label's ProduceID

followed by a 24-bit keyed tag (HMAC-SHA256 of the 64 data bits, truncated) that serves as the CRC and
as a MAC: without the provider's key a random or forged frame passes it with probability 2**-24.
The 88 frame bits are coded with a rate-1/3, constraint-length-7 convolutional code (6 zero tail bits,
282 coded bits) and whitened by an HMAC-SHA256 keystream, then mapped to chips +1 (bit 0) / -1 (bit 1).

A scheme embeds ``encode(payload, key)`` (282 chips) however it likes and, on detection, hands
``decode(soft, key)`` one soft value per chip: positive favours +1, magnitude is confidence, 0 is an
erasure, the overall scale does not matter. Decoding is soft-decision Viterbi followed by the tag
check; it returns the payload only when the tag verifies.

``keyed_rng`` derives reproducible, key-dependent generators for carrier patterns, and
``gaussian_p_value`` turns a standard-normal detection statistic into a false-positive probability.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from synthguard.errors import InputError, KeyError_
from synthguard.label.codes import ProducerCode

FORMAT_VERSION = 1
VERSION_BITS = 4
PRODUCER_BITS = 16
SERIAL_BITS = 44
DATA_BITS = VERSION_BITS + PRODUCER_BITS + SERIAL_BITS
TAG_BITS = 24
FRAME_BITS = DATA_BITS + TAG_BITS
MIN_KEY_BYTES = 16

# Rate-1/3, K=7 convolutional code (the generator set LTE uses: 133, 171, 165 octal). The register holds
# the current bit in its least significant position, which mirrors the usual convention; a mirrored
# code has the same distance spectrum.
_K = 7
_MEMORY = _K - 1
_STATES = 1 << _MEMORY
_GENERATORS = (0o133, 0o171, 0o165)
RATE = len(_GENERATORS)
CODED_BITS = (FRAME_BITS + _MEMORY) * RATE
MAX_LIST_SIZE = 32  # list decoding beyond this buys little and weakens the tag's false-accept bound

_DOMAIN = b"synthguard/watermark/v1/"

# _OUT[reg, i] is output chip i (+1 for bit 0, -1 for bit 1) when the 7-bit register holds reg.
_OUT = np.array(
    [[1 - 2 * (bin(reg & g).count("1") & 1) for g in _GENERATORS] for reg in range(1 << _K)],
    dtype=np.float64,
)

FloatArray = npt.NDArray[np.float64]
ChipArray = npt.NDArray[np.int8]


@dataclass(frozen=True)
class Payload:
    """What a watermark carries: framing version, producer short id and content serial."""

    producer: int
    serial: int
    version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        for name, value, bits in (
            ("version", self.version, VERSION_BITS),
            ("producer", self.producer, PRODUCER_BITS),
            ("serial", self.serial, SERIAL_BITS),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < (1 << bits):
                msg = f"watermark payload {name} must be an integer in [0, 2**{bits}), got {value!r}"
                raise InputError(msg)

    def to_int(self) -> int:
        """The 64 data bits as one integer (version in the top bits)."""
        return (self.version << (PRODUCER_BITS + SERIAL_BITS)) | (self.producer << SERIAL_BITS) | self.serial

    @classmethod
    def from_int(cls, value: int) -> Payload:
        """Inverse of to_int."""
        return cls(
            producer=(value >> SERIAL_BITS) & ((1 << PRODUCER_BITS) - 1),
            serial=value & ((1 << SERIAL_BITS) - 1),
            version=(value >> (PRODUCER_BITS + SERIAL_BITS)) & ((1 << VERSION_BITS) - 1),
        )


class ProducerTable:
    """A configured mapping between payload producer short ids and 27-character ProducerCodes."""

    def __init__(self, mapping: Mapping[int, str]) -> None:
        self._by_id: dict[int, ProducerCode] = {}
        self._by_code: dict[str, int] = {}
        for short_id, code in mapping.items():
            if not isinstance(short_id, int) or not 0 <= short_id < (1 << PRODUCER_BITS):
                raise InputError(f"producer short id must be in [0, 2**{PRODUCER_BITS}), got {short_id!r}")
            parsed = ProducerCode.parse(code)
            if parsed.value in self._by_code:
                raise InputError(f"producer code {code} is mapped to two short ids")
            self._by_id[short_id] = parsed
            self._by_code[parsed.value] = short_id

    def code_for(self, short_id: int) -> ProducerCode | None:
        """The ProducerCode for a short id, or None when it is not configured."""
        return self._by_id.get(short_id)

    def short_id_for(self, code: str | ProducerCode) -> int:
        """The short id configured for a ProducerCode; InputError when there is none."""
        try:
            return self._by_code[str(code)]
        except KeyError:
            raise InputError(f"producer code {code} has no watermark short id configured") from None

    def payload(self, code: str | ProducerCode, serial: int) -> Payload:
        """A current-version payload for a producer code and a content serial."""
        return Payload(producer=self.short_id_for(code), serial=serial)


def check_key(key: bytes) -> bytes:
    """Return the key if it is usable as a watermark key, else raise KeyError_."""
    if not isinstance(key, bytes | bytearray) or len(key) < MIN_KEY_BYTES:
        raise KeyError_(f"a watermark key must be at least {MIN_KEY_BYTES} bytes")
    return bytes(key)


def keystream(key: bytes, purpose: str, nbytes: int) -> bytes:
    """nbytes of HMAC-SHA256 counter-mode keystream for one named purpose."""
    key = check_key(key)
    out = bytearray()
    counter = 0
    label = _DOMAIN + purpose.encode()
    while len(out) < nbytes:
        out += hmac.new(key, label + counter.to_bytes(4, "big"), hashlib.sha256).digest()
        counter += 1
    return bytes(out[:nbytes])


def keyed_rng(key: bytes, purpose: str) -> np.random.Generator:
    """A numpy generator seeded from the key and a purpose string (for carrier patterns)."""
    seed = keystream(key, "rng/" + purpose, 32)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int.from_bytes(seed, "big"))))


def _tag(key: bytes, data: int) -> int:
    digest = hmac.new(key, _DOMAIN + b"tag" + data.to_bytes(8, "big"), hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big") >> (32 - TAG_BITS)


def _whitening(key: bytes) -> ChipArray:
    stream = np.frombuffer(keystream(key, "whiten", (CODED_BITS + 7) // 8), dtype=np.uint8)
    bits = np.unpackbits(stream)[:CODED_BITS]
    return (1 - 2 * bits.astype(np.int8)).astype(np.int8)


def _int_to_bits(value: int, nbits: int) -> list[int]:
    return [(value >> (nbits - 1 - i)) & 1 for i in range(nbits)]


def _conv_encode(bits: list[int]) -> ChipArray:
    state = 0
    chips = np.empty((len(bits) + _MEMORY) * RATE, dtype=np.int8)
    for t, bit in enumerate([*bits, *([0] * _MEMORY)]):
        reg = (state << 1) | bit
        chips[t * RATE : (t + 1) * RATE] = _OUT[reg]
        state = reg & (_STATES - 1)
    return chips


def _viterbi(soft: FloatArray) -> list[int]:
    # The single best path; _list_viterbi with size 1 gives the same frame at about five times the cost.
    steps = soft.size // RATE
    branch = soft.reshape(steps, RATE) @ _OUT.T  # (steps, 128): correlation of each register's output
    ns = np.arange(_STATES)
    pred0, pred1 = ns >> 1, (ns >> 1) | (_STATES >> 1)
    metric = np.full(_STATES, -np.inf)
    metric[0] = 0.0
    choices = np.empty((steps, _STATES), dtype=bool)
    branch0, branch1 = branch[:, ns], branch[:, ns | _STATES]
    for t in range(steps):
        cand0 = metric[pred0] + branch0[t]
        cand1 = metric[pred1] + branch1[t]
        np.greater(cand1, cand0, out=choices[t])
        metric = np.maximum(cand0, cand1)
    state = 0  # the tail forces the encoder back to state 0
    bits = []
    for t in range(steps - 1, -1, -1):
        bits.append(state & 1)
        state = (state >> 1) | (_STATES >> 1 if choices[t, state] else 0)
    bits.reverse()
    return bits[: steps - _MEMORY]


def _list_viterbi(soft: FloatArray, size: int) -> list[list[int]]:
    """The `size` most likely tail-terminated frames, best first (parallel list Viterbi: `size` survivors per state)."""
    steps = soft.size // RATE
    branch = soft.reshape(steps, RATE) @ _OUT.T
    ns = np.arange(_STATES)
    pred0, pred1 = ns >> 1, (ns >> 1) | (_STATES >> 1)
    metric = np.full((_STATES, size), -np.inf)
    metric[0, 0] = 0.0
    from_state = np.empty((steps, _STATES, size), dtype=np.int16)
    from_rank = np.empty((steps, _STATES, size), dtype=np.int16)
    for t in range(steps):
        merged = np.concatenate(
            [metric[pred0] + branch[t, ns][:, None], metric[pred1] + branch[t, ns | _STATES][:, None]], axis=1
        )
        order = np.argsort(-merged, axis=1, kind="stable")[:, :size]
        metric = np.take_along_axis(merged, order, axis=1)
        from_state[t] = np.where(order >= size, pred1[:, None], pred0[:, None])
        from_rank[t] = order % size
    frames = []
    for final_rank in range(size):
        if not np.isfinite(metric[0, final_rank]):
            break
        state, rank, bits = 0, final_rank, []
        for t in range(steps - 1, -1, -1):
            bits.append(state & 1)
            state, rank = int(from_state[t, state, rank]), int(from_rank[t, state, rank])
        bits.reverse()
        frames.append(bits[: steps - _MEMORY])
    return frames


def encode(payload: Payload, key: bytes) -> ChipArray:
    """The CODED_BITS keyed chips (+1/-1, int8) that carry a payload."""
    key = check_key(key)
    data = payload.to_int()
    frame = (data << TAG_BITS) | _tag(key, data)
    return (_conv_encode(_int_to_bits(frame, FRAME_BITS)) * _whitening(key)).astype(np.int8)


def decode(soft: npt.ArrayLike, key: bytes, *, list_size: int = 1) -> Payload | None:
    """Soft-decision decode CODED_BITS chip estimates; the payload if its keyed tag verifies, else None.

    With list_size L > 1 the L most likely frames are tried in order and the first whose tag verifies
    wins: about 0.5 dB more reach, at L times the chance (L * 2**-TAG_BITS) that noise passes the tag.
    """
    key = check_key(key)
    if not 1 <= list_size <= MAX_LIST_SIZE:
        raise InputError(f"watermark decode list size must be in [1, {MAX_LIST_SIZE}], got {list_size}")
    values = np.asarray(soft, dtype=np.float64).reshape(-1)
    if values.size != CODED_BITS:
        raise InputError(f"watermark decode needs {CODED_BITS} soft values, got {values.size}")
    values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0) * _whitening(key)
    candidates = [_viterbi(values)] if list_size == 1 else _list_viterbi(values, list_size)
    for bits in candidates:
        frame = 0
        for bit in bits:
            frame = (frame << 1) | bit
        data, tag = frame >> TAG_BITS, frame & ((1 << TAG_BITS) - 1)
        if hmac.compare_digest(_tag(key, data).to_bytes(4, "big"), tag.to_bytes(4, "big")):
            return Payload.from_int(data)
    return None


def derive_serial(produce_id: str, key: bytes) -> int:
    """A SERIAL_BITS serial derived from a ProduceID (collisions become likely near 2**22 records)."""
    digest = hmac.new(check_key(key), _DOMAIN + b"serial" + produce_id.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") >> (64 - SERIAL_BITS)


def gaussian_p_value(z: float) -> float:
    """One-sided P(Z >= z) for a standard normal Z: the false-positive probability of a z statistic."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def gaussian_z_for_p(p: float) -> float:
    """The z threshold whose one-sided standard-normal tail probability is p (bisection, 1e-300 < p < 1)."""
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if gaussian_p_value(mid) > p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
