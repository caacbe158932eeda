"""RFC 9162 Merkle tree hashing, proofs and their verification: a pure core, no I/O.

A tree over n leaves has the Merkle Tree Hash MTH of RFC 9162 §2.1.1: the leaf hash is
SHA-256(0x00 || data), an interior node SHA-256(0x01 || left || right), and a tree that is not a
power of two splits at the largest power of two below its size.

Proof generation reads stored hashes of *complete* subtrees only: the hash at (level, index)
covers leaves [index * 2**level, (index + 1) * 2**level). Any range the RFC recursion produces
starts at a multiple of the largest power of two not above its length, so it decomposes into at
most log2(n) complete subtrees; a proof is therefore O(log n) reads, whatever the size.
The verification functions follow RFC 9162 §2.1.3.2 and §2.1.4.2 step by step and need nothing but
hashes, so a receipt can be checked without the store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from ..errors import CheckFailed

HASH_SIZE = 32
"""Bytes in a SHA-256 hash."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH of the empty tree: SHA-256 of nothing."""

Position = tuple[int, int]
"""(level, index): the complete subtree of 2**level leaves starting at leaf index * 2**level."""

HashReader = Callable[[Sequence[Position]], Sequence[bytes]]
"""Returns the stored hash of each complete subtree asked for, in the order asked."""


class ProofError(CheckFailed):
    """A proof that does not prove what it claims, or arguments no proof can exist for."""

    code = "proof_invalid"


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 || data), 32 bytes."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: SHA-256(0x01 || left || right), 32 bytes."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes, by the RFC's recursive definition (for small trees and tests)."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return node_hash(root_of(leaf_hashes[:k]), root_of(leaf_hashes[k:]))


def complete_subtrees(lo: int, hi: int) -> list[Position]:
    """The complete subtrees that make up leaves [lo, hi), largest first (left to right).

    `lo` must be a multiple of the largest power of two not above hi - lo, as every range of the
    RFC recursion is; MTH(lo, hi) is then the right fold of these subtrees' hashes."""
    positions: list[Position] = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        if lo % (1 << level):
            raise ValueError(f"range [{lo}, {hi}) is not aligned to a subtree")
        positions.append((level, lo >> level))
        lo += 1 << level
    return positions


def fold(hashes: Sequence[bytes]) -> bytes:
    """Combine the hashes of consecutive complete subtrees, largest first, into their MTH."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose MTHs form the inclusion proof of leaf `index` in a tree of `size`
    leaves, in proof order (RFC 9162 §2.1.3.1, PATH), bottom up."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size} leaves")
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index - lo < k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo = lo + k
    return ranges[::-1]


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose MTHs form the consistency proof between trees of `old_size` and
    `new_size` leaves, in proof order (RFC 9162 §2.1.4.1, SUBPROOF)."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"no consistency proof from {old_size} to {new_size} leaves")
    if old_size in (0, new_size):
        return []
    ranges: list[tuple[int, int]] = []
    m, lo, hi, whole = old_size, 0, new_size, True
    while True:
        n = hi - lo
        if m == n:
            if not whole:
                ranges.append((lo, hi))
            break
        k = _split(n)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            m, lo, whole = m - k, lo + k, False
    return ranges[::-1]


def hashes_of_ranges(read: HashReader, ranges: Iterable[tuple[int, int]]) -> list[bytes]:
    """MTH of each leaf range, reading every complete subtree they need in one call."""
    plans = [complete_subtrees(lo, hi) for lo, hi in ranges]
    wanted = sorted({p for plan in plans for p in plan})
    found = dict(zip(wanted, read(wanted), strict=True))
    return [fold([found[p] for p in plan]) for plan in plans]


def tree_root(read: HashReader, size: int) -> bytes:
    """MTH of the first `size` leaves from stored complete-subtree hashes (O(log size) reads)."""
    if size == 0:
        return EMPTY_ROOT
    return hashes_of_ranges(read, [(0, size)])[0]


def prove_inclusion(read: HashReader, index: int, size: int) -> list[bytes]:
    """The RFC 9162 inclusion proof of leaf `index` in the tree of `size` leaves."""
    return hashes_of_ranges(read, inclusion_ranges(index, size))


def prove_consistency(read: HashReader, old_size: int, new_size: int) -> list[bytes]:
    """The RFC 9162 consistency proof that the tree of `old_size` leaves is a prefix of the
    tree of `new_size` leaves."""
    return hashes_of_ranges(read, consistency_ranges(old_size, new_size))


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        raise ProofError(f"{what} is not a {HASH_SIZE}-byte hash")


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 §2.1.3.2, steps 1 to 4).

    Raises ProofError when the proof has the wrong length for (index, size)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size} leaves")
    _check_hash(leaf, "the leaf hash")
    fn, sn, r = index, size - 1, bytes(leaf)
    for p in proof:
        _check_hash(p, "a proof element")
        if sn == 0:
            raise ProofError("the inclusion proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the inclusion proof is shorter than the tree is high")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Check that `leaf` is leaf `index` of the tree of `size` leaves whose MTH is `root`.

    Raises ProofError when it is not."""
    _check_hash(root, "the root")
    if root_from_inclusion(index, size, leaf, proof) != root:
        raise ProofError(f"the inclusion proof of leaf {index} does not lead to the root of size {size}")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """Check that the tree of `old_size` leaves with MTH `old_root` is a prefix of the tree of
    `new_size` leaves with MTH `new_root` (RFC 9162 §2.1.4.2). Raises ProofError when not."""
    _check_hash(old_root, "the old root")
    _check_hash(new_root, "the new root")
    if not 0 <= old_size <= new_size:
        raise ProofError(f"a tree of {old_size} leaves cannot be a prefix of one of {new_size}")
    if old_size == new_size or old_size == 0:
        if proof:
            raise ProofError("a consistency proof between these sizes must be empty")
        if old_size == new_size and old_root != new_root:
            raise ProofError(f"two different roots for the same size {old_size}")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    for p in proof:
        _check_hash(p, "a proof element")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, bytes(old_root))
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the consistency proof is shorter than the tree is high")
    if fr != old_root:
        raise ProofError(f"the consistency proof does not lead to the root of size {old_size}")
    if sr != new_root:
        raise ProofError(f"the consistency proof does not lead to the root of size {new_size}")
