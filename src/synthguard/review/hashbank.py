"""PDQ hash banks for images and video frames: thresholds per bank, negative banks, explained matches."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from synthguard.errors import CorruptInput, InputError
from synthguard.fileio import read_input, write_atomic
from synthguard.review.hashindex import Hashes, HashIndex
from synthguard.review.lexicon import now
from synthguard.review.taxonomy import RISKS, Action

DEFAULT_THRESHOLD = 31
MIN_QUALITY = 50
MAX_SIDE = 512  # PDQ is computed on an image shrunk to this side (same hash, a fraction of the time)


@dataclass(frozen=True, slots=True)
class PdqHash:
    """A 256-bit PDQ hash (packed as 4 uint64) and its quality (0-100)."""

    words: tuple[int, int, int, int]
    quality: int

    @property
    def array(self) -> Hashes:
        """The hash as a (4,) uint64 array."""
        return np.array(self.words, dtype=np.uint64)

    @property
    def hex(self) -> str:
        """64 hex digits (the 256 bits in order, first bit most significant)."""
        return self.array.tobytes().hex()

    @classmethod
    def from_bits(cls, bits: npt.NDArray[Any], quality: int) -> PdqHash:
        """From the 256 0/1 values pdqhash returns."""
        packed = np.packbits(np.asarray(bits, dtype=np.uint8)).view(np.uint64)
        return cls(tuple(int(w) for w in packed), int(quality))  # type: ignore[arg-type]

    @classmethod
    def from_hex(cls, text: str, quality: int = 100) -> PdqHash:
        """From 64 hex digits."""
        try:
            raw = bytes.fromhex(text.strip())
        except ValueError:
            raise InputError(f"not a PDQ hash (64 hex digits): {text[:80]!r}") from None
        if len(raw) != 32:
            raise InputError(f"a PDQ hash has 64 hex digits, got {len(text.strip())}")
        return cls(tuple(int(w) for w in np.frombuffer(raw, dtype=np.uint64)), quality)  # type: ignore[arg-type]


def _rgb(image: Any) -> npt.NDArray[np.uint8]:
    image = image.convert("RGB")
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE))
    return np.asarray(image, dtype=np.uint8)


def _open_image(data: bytes, name: str) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise CorruptInput(f"cannot decode image: {exc}", path=name) from None
    return image


def hash_image(data: bytes, *, name: str = "image", dihedral: bool = False) -> list[PdqHash]:
    """The PDQ hash of an image (or its 8 rotations and flips)."""
    import pdqhash

    pixels = _rgb(_open_image(data, name))
    if dihedral:
        hashes, qualities = pdqhash.compute_dihedral(pixels)
        return [PdqHash.from_bits(h, int(qualities)) for h in hashes]  # one quality for all eight
    bits, quality = pdqhash.compute(pixels)
    return [PdqHash.from_bits(bits, quality)]


def hash_video(path: str | Path, *, every: float = 1.0, max_frames: int = 600) -> list[tuple[float, PdqHash]]:
    """PDQ hashes of frames sampled every `every` seconds, with their timestamps."""
    import av
    import pdqhash

    out: list[tuple[float, PdqHash]] = []
    next_at = 0.0
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                at = float(frame.time or 0.0)
                if at + 1e-9 < next_at:
                    continue
                bits, quality = pdqhash.compute(_rgb(frame.to_image()))  # type: ignore[no-untyped-call]
                out.append((at, PdqHash.from_bits(bits, quality)))
                next_at = at + every
                if len(out) >= max_frames:
                    break
    except (av.error.FFmpegError, IndexError) as exc:
        raise CorruptInput(f"cannot decode video: {exc}", path=str(path)) from None
    return out


@dataclass(frozen=True, slots=True)
class BankEntry:
    """One known item in a bank, with the intake fields."""

    id: str
    label: str = ""
    risk: str | None = None
    source: str = ""
    added_by: str = ""
    reason: str = ""
    added_at: str = ""


@dataclass(frozen=True, slots=True)
class HashMatch:
    """Why a hash matched: which bank, which entry, at what distance."""

    bank: str
    entry: BankEntry
    distance: int
    negative: bool


@dataclass
class Bank:
    """A named set of hashes with its own threshold; a negative bank is an allowlist."""

    name: str
    threshold: int = DEFAULT_THRESHOLD
    negative: bool = False
    risk: str | None = None
    action: Action = Action.BLOCK
    entries: list[BankEntry] = field(default_factory=list)
    index: HashIndex = field(default_factory=HashIndex)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.threshold <= 256:
            raise InputError(f"bank threshold must be 0-256 bits, got {self.threshold}")
        if self.risk is not None and self.risk not in RISKS:
            raise InputError(f"unknown risk code {self.risk!r}")

    def add(self, hashes: Iterable[PdqHash], entry: BankEntry, *, min_quality: int = MIN_QUALITY) -> BankEntry:
        """Add one entry with its hashes (e.g. the 8 dihedral variants); matchable when this returns."""
        good = [h for h in hashes if h.quality >= min_quality]
        if not good:
            raise InputError(f"hash quality below {min_quality}: not added to bank {self.name!r}")
        with self._lock:
            if not entry.added_at:
                entry = BankEntry(**{**asdict(entry), "added_at": now()})
            row = len(self.entries)
            self.entries.append(entry)
            self.index.add(np.stack([h.array for h in good]), np.full(len(good), row))
        return entry

    def add_many(self, hashes: Hashes, entries: list[BankEntry]) -> None:
        """Bulk-add one hash per entry (already quality-checked), e.g. from an import."""
        with self._lock:
            base = len(self.entries)
            self.entries.extend(entries)
            self.index.add(hashes, np.arange(base, base + len(entries)))

    def lookup(self, query: PdqHash) -> list[HashMatch]:
        """Entries within this bank's threshold, nearest first (one match per entry)."""
        rows, dists = self.index.search(query.array, self.threshold)
        best: dict[int, int] = {}
        for row, dist in zip(rows.tolist(), dists.tolist(), strict=True):
            if row not in best or dist < best[row]:
                best[row] = dist
        return sorted(
            (HashMatch(self.name, self.entries[r], d, self.negative) for r, d in best.items()),
            key=lambda m: m.distance,
        )


@dataclass(frozen=True, slots=True)
class BankResult:
    """The outcome of one lookup: matches that count, and those a negative bank suppressed."""

    matches: tuple[HashMatch, ...]
    suppressed: tuple[HashMatch, ...] = ()
    low_quality: bool = False


class HashBanks:
    """All banks; a hit in a negative bank suppresses hits in the others."""

    def __init__(self, banks: Iterable[Bank] = ()) -> None:
        self.banks: dict[str, Bank] = {b.name: b for b in banks}

    def bank(self, name: str, **options: Any) -> Bank:
        """The bank with this name, created with options if absent."""
        if name not in self.banks:
            self.banks[name] = Bank(name, **options)
        return self.banks[name]

    def lookup(self, query: PdqHash, *, min_quality: int = MIN_QUALITY) -> BankResult:
        """Match one hash against every bank (hashes below min_quality are not matched)."""
        if query.quality < min_quality:
            return BankResult((), (), low_quality=True)
        found = [m for b in self.banks.values() for m in b.lookup(query)]
        negative = [m for m in found if m.negative]
        positive = [m for m in found if not m.negative]
        if negative:
            return BankResult(tuple(negative), tuple(positive))
        return BankResult(tuple(positive))

    def save(self, directory: str | Path) -> None:
        """Write banks.json and one .npy of hashes and rows per bank into directory."""
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        meta = []
        for bank in self.banks.values():
            hashes, rows = bank.index.arrays()
            buf = io.BytesIO()
            np.savez(buf, hashes=hashes, rows=rows)
            write_atomic(root / f"{bank.name}.npz", buf.getvalue())
            meta.append(
                {
                    "name": bank.name,
                    "threshold": bank.threshold,
                    "negative": bank.negative,
                    "risk": bank.risk,
                    "action": str(bank.action),
                    "entries": [asdict(e) for e in bank.entries],
                }
            )
        doc = {"format": "synthguard-hashbanks/1", "banks": meta}
        write_atomic(root / "banks.json", json.dumps(doc, ensure_ascii=False, indent=1).encode())

    @classmethod
    def load(cls, directory: str | Path) -> HashBanks:
        """Read banks saved with save()."""
        root = Path(directory)
        try:
            doc = json.loads(read_input(root / "banks.json"))
            banks = []
            for meta in doc["banks"]:
                bank = Bank(
                    meta["name"],
                    threshold=int(meta["threshold"]),
                    negative=bool(meta["negative"]),
                    risk=meta.get("risk"),
                    action=Action(meta.get("action", "block")),
                    entries=[BankEntry(**e) for e in meta["entries"]],
                )
                with np.load(io.BytesIO(read_input(root / f"{bank.name}.npz"))) as arrays:
                    if arrays["hashes"].shape[0]:
                        bank.index.add(arrays["hashes"], arrays["rows"])
                banks.append(bank)
        except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
            raise CorruptInput(f"malformed hash banks: {exc}", path=str(root)) from None
        return cls(banks)
