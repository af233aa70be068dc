"""Concentrating the flat areas' mark on one block in four."""

from __future__ import annotations

import numpy as np

from synthguard.watermark.image_flat import BLOCK, FLAT_VARIANCE, block_signs, concentration


def test_one_block_of_every_two_by_two_group_is_chosen() -> None:
    signs = block_signs(0, 40 * BLOCK, 60 * BLOCK)
    blocks = signs[::BLOCK, ::BLOCK]
    assert np.array_equal(signs, np.repeat(np.repeat(blocks, BLOCK, axis=0), BLOCK, axis=1))  # constant per block
    groups = (blocks == 1).reshape(20, 2, 30, 2).sum(axis=(1, 3))
    assert np.all(groups == 1)
    positions = np.argmax((blocks == 1).reshape(20, 2, 30, 2).transpose(0, 2, 1, 3).reshape(20, 30, 4), axis=2)
    assert len(np.unique(positions)) == 4 and np.bincount(positions.ravel()).min() > 100  # no fixed position


def test_block_pattern_is_the_same_for_any_strip_of_rows() -> None:
    whole = block_signs(0, 300, 123)
    for r0, height in ((0, 17), (5, 40), (37, 200), (299, 1)):
        assert np.array_equal(block_signs(r0, height, 123), whole[r0 : r0 + height])


def test_flat_areas_keep_their_energy_and_textured_ones_are_untouched() -> None:
    var = np.zeros((256, 512), np.float32)
    var[:, 256:] = 4 * FLAT_VARIANCE  # textured right half
    factor = concentration(var, 0)
    assert factor is not None
    flat, textured = factor[:, :256], factor[:, 256:]
    assert set(np.unique(flat)) == {0.0, 2.0}
    assert np.isclose(np.mean(flat**2), 1.0, atol=0.1)  # the same expected energy
    assert np.all(textured == 1.0)
    assert concentration(np.full((64, 64), 2 * FLAT_VARIANCE, np.float32), 0) is None


def test_concentration_fades_between_flat_and_textured() -> None:
    var = np.tile(np.linspace(0, 3 * FLAT_VARIANCE, 64, dtype=np.float32), (32, 1))
    factor = concentration(var, 0)
    assert factor is not None
    deviation = np.abs(factor - 1.0).max(axis=0)
    assert np.all(np.diff(deviation) <= 1e-6)  # less concentrated as the texture grows
    assert deviation[0] == 1.0 and deviation[-1] == 0.0
