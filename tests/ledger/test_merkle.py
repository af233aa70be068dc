"""RFC 9162 hashing and proofs against the Certificate Transparency reference vectors.

Where the figures come from: the leaf inputs, per-size root hashes, inclusion paths and consistency
proofs are the RFC 6962 reference vectors of the certificate-transparency project (merkle_tree_test.cc),
as republished as data in transparency-dev/merkle: testonly/constants.go (LeafInputs, RootHashes,
NodeHashes) and proof/verify_test.go (inclusionProofs, consistencyProofs; their leaf numbers are
1-based, converted to 0-based indices here). Found with the project's search tool; values only.
"""

from __future__ import annotations

import hashlib

import pytest

from synthguard.ledger.merkle import (
    EMPTY_ROOT,
    Appender,
    ProofError,
    consistency_ranges,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    nodes_before,
    range_nodes,
    root_from_leaves,
    storage_id,
    verify_consistency,
    verify_inclusion,
)

LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (0-based index, tree size, path)
INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip
CONSISTENCY = [
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]  # fmt: skip

LEAVES = [leaf_hash(x) for x in LEAF_INPUTS]


def _tree_hash(lo: int, hi: int, leaves: list[bytes]) -> bytes:
    return root_from_leaves(leaves[lo:hi])


def test_empty_tree_hash_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.mark.parametrize("size", range(1, 9))
def test_reference_roots(size: int) -> None:
    assert root_from_leaves(LEAVES[:size]).hex() == ROOTS[size - 1]
    appender = Appender(0, [])
    out: list[bytes] = []
    for leaf in LEAVES[:size]:
        appender.add(leaf, out)
    assert appender.root().hex() == ROOTS[size - 1]
    assert len(out) == nodes_before(size)


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_reference_inclusion_paths(index: int, size: int, path: list[str]) -> None:
    built = [_tree_hash(a, b, LEAVES) for a, b in inclusion_ranges(index, size)]
    assert [h.hex() for h in built] == path
    verify_inclusion(index, size, LEAVES[index], [bytes.fromhex(h) for h in path], bytes.fromhex(ROOTS[size - 1]))


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY)
def test_reference_consistency_proofs(old: int, new: int, path: list[str]) -> None:
    built = [_tree_hash(a, b, LEAVES) for a, b in consistency_ranges(old, new)]
    assert [h.hex() for h in built] == path
    proof = [bytes.fromhex(h) for h in path]
    verify_consistency(old, new, bytes.fromhex(ROOTS[old - 1]), bytes.fromhex(ROOTS[new - 1]), proof)


def _inclusion_forgeries(
    index: int, size: int, proof: list[bytes], root: bytes, leaf: bytes
) -> list[tuple[int, int, bytes, list[bytes], bytes]]:
    other = hashlib.sha256(b"other").digest()
    out = [
        (index + 1, size, leaf, proof, root),
        (index ^ 1, size, leaf, proof, root),
        (index, size * 2, leaf, proof, root),
        (index, size, other, proof, root),
        (index, size, leaf, proof, other),
        (index, size, leaf, [*proof, root], root),
        (index, size, leaf, [root, *proof], root),
    ]
    if index > 0:
        out.append((index - 1, size, leaf, proof, root))
    if proof:
        out.append((index, size, leaf, proof[:-1], root))
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([proof[i][0] ^ 4]) + proof[i][1:]
        out.append((index, size, leaf, flipped, root))
    return out


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_forged_inclusion_proofs_are_rejected(index: int, size: int, path: list[str]) -> None:
    proof = [bytes.fromhex(h) for h in path]
    for args in _inclusion_forgeries(index, size, proof, bytes.fromhex(ROOTS[size - 1]), LEAVES[index]):
        with pytest.raises(ProofError):
            verify_inclusion(*args)


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY)
def test_forged_consistency_proofs_are_rejected(old: int, new: int, path: list[str]) -> None:
    proof = [bytes.fromhex(h) for h in path]
    r1, r2 = bytes.fromhex(ROOTS[old - 1]), bytes.fromhex(ROOTS[new - 1])
    cases = [
        (old, new, r2, r2, proof),
        (old, new, r1, r1, proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, proof[:-1]),
        (old, new, r1, r2, [*proof, r1]),
        (old, new, r1, r2, [r2, *proof]),
        (new, old, r2, r1, proof),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([proof[i][0] ^ 16]) + proof[i][1:]
        cases.append((old, new, r1, r2, bad))
    for args in cases:
        with pytest.raises(ProofError):
            verify_consistency(*args)


def test_every_proof_in_trees_up_to_40_leaves() -> None:
    leaves = [leaf_hash(bytes([i, i * 3 % 256])) for i in range(40)]
    for n in range(1, 41):
        root = root_from_leaves(leaves[:n])
        for i in range(n):
            path = [_tree_hash(a, b, leaves) for a, b in inclusion_ranges(i, n)]
            verify_inclusion(i, n, leaves[i], path, root)
        for m in range(1, n + 1):
            proof = [_tree_hash(a, b, leaves) for a, b in consistency_ranges(m, n)] if m < n else []
            verify_consistency(m, n, root_from_leaves(leaves[:m]), root, proof)


def test_storage_ids_follow_append_order() -> None:
    appender = Appender(0, [])
    out: list[bytes] = []
    leaves = [leaf_hash(bytes([i])) for i in range(33)]
    for leaf in leaves:
        appender.add(leaf, out)
    for level in range(6):
        for index in range(33 >> level):
            lo, hi = index << level, (index + 1) << level
            assert out[storage_id(level, index)] == root_from_leaves(leaves[lo:hi])
    assert range_nodes(0, 13) == [(3, 0), (2, 2), (0, 12)]


def test_node_hash_prefix() -> None:
    assert node_hash(LEAVES[0], LEAVES[1]).hex() == ROOTS[1]


def test_wrong_hash_length_is_a_proof_error() -> None:
    with pytest.raises(ProofError):
        verify_inclusion(0, 2, LEAVES[0], [b"short"], bytes.fromhex(ROOTS[1]))
