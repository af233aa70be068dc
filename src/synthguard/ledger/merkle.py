"""RFC 9162 Merkle tree hashing, proof construction from stored subtree hashes, and proof verification."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

from synthguard.errors import LedgerError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Node = tuple[int, int]
"""A perfect subtree: (level, index), covering leaves [index << level, (index + 1) << level)."""

NodeFetcher = Callable[[Sequence[Node]], Mapping[Node, bytes]]


class ProofError(LedgerError):
    """A Merkle proof is malformed or does not verify against the given root."""

    exit_code = 9
    http_status = 422


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def storage_id(level: int, index: int) -> int:
    """Position of a perfect subtree hash in append (post-order) order; ids grow with every append."""
    last_leaf = ((index + 1) << level) - 1
    return 2 * last_leaf - last_leaf.bit_count() + level


def nodes_before(size: int) -> int:
    """How many perfect subtree hashes a tree of `size` leaves has (the next storage id)."""
    return 2 * size - size.bit_count()


def split(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def range_nodes(start: int, end: int) -> list[Node]:
    """The aligned perfect subtrees, left to right, whose concatenation is leaves [start, end)."""
    out: list[Node] = []
    pos = start
    width = end - start
    for level in range(width.bit_length() - 1, -1, -1):
        if width >> level & 1:
            out.append((level, pos >> level))
            pos += 1 << level
    return out


def fold(hashes: Sequence[bytes]) -> bytes:
    """Combine the hashes of a left-to-right decomposition into the subtree hash (right to left)."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def frontier(size: int) -> list[Node]:
    """The perfect subtrees on the right edge of a tree of `size` leaves (its compact form)."""
    return range_nodes(0, size)


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose subtree hashes form the RFC 9162 inclusion path, bottom first."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    out: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = split(hi - lo)
        if index < lo + k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo = lo + k
    out.reverse()
    return out


def consistency_ranges(old: int, new: int) -> list[tuple[int, int]]:
    """Leaf ranges whose subtree hashes form the RFC 9162 consistency proof from old to new, in order."""
    if not 0 < old <= new:
        raise ProofError(f"no consistency proof from size {old} to size {new}")
    out: list[tuple[int, int]] = []
    lo, hi, m, complete = 0, new, old, True
    while True:
        if m == hi - lo:
            if not complete:
                out.append((lo, hi))
            break
        k = split(hi - lo)
        if m <= k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    out.reverse()
    return out


def hashes_for(ranges: Iterable[tuple[int, int]], fetch: NodeFetcher) -> list[bytes]:
    """Subtree hashes for leaf ranges, fetching every stored node needed in one call."""
    ranges = list(ranges)
    parts = [range_nodes(a, b) for a, b in ranges]
    wanted = sorted({n for p in parts for n in p})
    got = fetch(wanted)
    missing = [n for n in wanted if n not in got]
    if missing:
        level, index = missing[0]
        raise LedgerError(
            f"the ledger lacks the hash of subtree level {level} index {index} "
            f"({len(missing)} missing): it was pruned or the store is damaged"
        )
    return [fold([got[n] for n in p]) for p in parts]


def root_from_leaves(leaves: Sequence[bytes]) -> bytes:
    """Tree hash of a list of leaf hashes (reference implementation for small trees and tests)."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = split(len(leaves))
    return node_hash(root_from_leaves(leaves[:k]), root_from_leaves(leaves[k:]))


def _check_hashes(proof: Sequence[bytes], *more: bytes) -> None:
    for h in (*proof, *more):
        if len(h) != HASH_SIZE:
            raise ProofError(f"a hash in the proof has {len(h)} bytes, not {HASH_SIZE}")


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root implied by an inclusion proof (RFC 9162 section 2.1.3.2); raises on a malformed proof."""
    _check_hashes(proof, leaf)
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("the inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the inclusion proof is shorter than the tree is deep")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Raise ProofError unless the proof shows leaf at index in the tree of this size and root."""
    if root_from_inclusion(index, size, leaf, proof) != root:
        raise ProofError(f"inclusion proof for leaf {index} does not lead to the tree head of size {size}")


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """Raise ProofError unless the proof shows the tree (old, old_root) is a prefix of (new, new_root)."""
    _check_hashes(proof, old_root, new_root)
    if old > new or old < 0:
        raise ProofError(f"a tree of size {new} cannot extend one of size {old}")
    if old in (new, 0):
        if proof:
            raise ProofError("the consistency proof should be empty for these sizes")
        if old == new and old_root != new_root:
            raise ProofError(f"two different tree heads for the same size {old}: the log forked")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    path = list(proof)
    if old & (old - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the consistency proof is too short")
    if fr != old_root:
        raise ProofError(f"the consistency proof does not reproduce the old tree head of size {old}")
    if sr != new_root:
        raise ProofError(f"the consistency proof does not reproduce the new tree head of size {new}")


class Appender:
    """Incremental tree builder: feeds leaf hashes, emits every completed subtree hash in storage order."""

    def __init__(self, size: int, edge: Sequence[bytes]) -> None:
        """Start from a tree of `size` leaves whose frontier hashes (left to right) are `edge`."""
        if len(edge) != size.bit_count():
            raise LedgerError(f"frontier of a {size}-leaf tree needs {size.bit_count()} hashes, got {len(edge)}")
        self.size = size
        self._stack = list(edge)

    def add(self, leaf: bytes, out: list[bytes]) -> None:
        """Append one leaf hash; the new subtree hashes it completes are appended to out."""
        out.append(leaf)
        h = leaf
        n = self.size
        stack = self._stack
        while n & 1:
            h = node_hash(stack.pop(), h)
            out.append(h)
            n >>= 1
        stack.append(h)
        self.size += 1

    def add_subtree(self, level: int, subtree: bytes, out: list[bytes]) -> None:
        """Append a whole aligned perfect subtree of 2**level leaves by its hash (for pruned segments)."""
        if self.size & ((1 << level) - 1):
            raise LedgerError(f"a level-{level} subtree cannot start at leaf {self.size}")
        out.append(subtree)
        h = subtree
        n = self.size >> level
        stack = self._stack
        while n & 1:
            h = node_hash(stack.pop(), h)
            out.append(h)
            n >>= 1
        stack.append(h)
        self.size += 1 << level

    def root(self) -> bytes:
        """Tree hash of everything added so far."""
        return fold(self._stack) if self._stack else EMPTY_ROOT

    @property
    def edge(self) -> list[bytes]:
        """The current frontier hashes, left to right."""
        return list(self._stack)
