"""Hash banks: PDQ with dihedral variants, quality gate, thresholds, negative banks, live additions."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthguard.errors import CorruptInput, InputError
from synthguard.review.hashbank import BankEntry, HashBanks, PdqHash, hash_image
from synthguard.review.hashindex import HashIndex
from synthguard.review.reviewer import Reviewer
from synthguard.review.taxonomy import Decision


def png(seed: int, transform: int | None = None) -> bytes:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
    image = Image.fromarray(small).resize((128, 128), Image.Resampling.BICUBIC)
    if transform is not None:
        image = image.transpose(transform)  # type: ignore[arg-type]
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def test_flipped_image_matches_through_dihedral_entries() -> None:
    banks = HashBanks()
    bank = banks.bank("csam-like", risk="A.1.6")
    bank.add(hash_image(png(1), dihedral=True), BankEntry("img-1", label="known", added_by="t"))
    (query,) = hash_image(png(1, Image.Transpose.FLIP_LEFT_RIGHT))
    result = banks.lookup(query)
    assert result.matches and result.matches[0].entry.id == "img-1" and result.matches[0].distance <= 31
    (other,) = hash_image(png(2))
    assert banks.lookup(other).matches == ()


def test_negative_bank_suppresses_and_quality_gate() -> None:
    banks = HashBanks()
    banks.bank("deny").add(hash_image(png(3)), BankEntry("d"))
    banks.bank("ok", negative=True).add(hash_image(png(3)), BankEntry("n"))
    result = banks.lookup(hash_image(png(3))[0])
    assert [m.bank for m in result.matches] == ["ok"] and [m.bank for m in result.suppressed] == ["deny"]
    assert banks.lookup(PdqHash((1, 2, 3, 4), 10)).low_quality
    with pytest.raises(InputError):
        banks.bank("deny").add([PdqHash((1, 2, 3, 4), 10)], BankEntry("low"))


def test_reviewer_blocks_banked_image_and_save_load(tmp_path: Path) -> None:
    banks = HashBanks()
    banks.bank("deny", risk="A.1.6").add(hash_image(png(4)), BankEntry("x"))
    banks.save(tmp_path)
    reviewer = Reviewer(banks=HashBanks.load(tmp_path))
    assert reviewer.review_image(png(4)).decision is Decision.BLOCK
    assert reviewer.review_image(png(5)).decision is Decision.PASS
    with pytest.raises(CorruptInput):
        reviewer.review_image(b"not an image")


def test_index_search_is_exact_within_radius() -> None:
    rng = np.random.default_rng(7)
    base = rng.integers(0, 2**63, size=(40_000, 4), dtype=np.uint64)
    index = HashIndex()
    index.add(base, np.arange(base.shape[0]))
    for flips in (0, 15, 16, 31):
        bits = np.unpackbits(base[17].copy().view(np.uint8))
        bits[rng.choice(256, flips, replace=False)] ^= 1
        query = np.packbits(bits).view(np.uint64)
        rows, dists = index.search(query, 31)
        assert 17 in rows.tolist() and dists[rows.tolist().index(17)] == flips
    index.add(query.reshape(1, 4), np.array([99_999]))
    assert 99_999 in index.search(query, 0)[0].tolist()


def test_hex_round_trip() -> None:
    (h,) = hash_image(png(6))
    assert PdqHash.from_hex(h.hex, h.quality) == h
    with pytest.raises(InputError):
        PdqHash.from_hex("zz")
