"""The Merkle core against published vectors, every small tree, and forged proofs."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roughtrace.ledger import kernel, merkle, tiles

# Test vectors of transparency-dev/merkle, proof/verify_test.go (Apache-2.0, Google LLC), the
# RFC 6962 reference data of Certificate Transparency (also in google/certificate-transparency-go).
# Leaf data of the 8-leaf tree; roots[i] is the root of the first i + 1 leaves.
LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                     "606162636465666768696a6b6c6d6e6f")]
ROOTS = [bytes.fromhex(h) for h in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]
# (leaf, size, proof): leaf numbers are 1-based in the source.
INCLUSION = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (2, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CONSISTENCY = [
    (1, 1, []),
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
]
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")

VECTOR_HASHES = [merkle.leaf_hash(d) for d in LEAVES]


def stored(leaf_hashes: list[bytes]) -> merkle.HashReader:
    """A reader over the tiles of a tree, as the store keeps them."""
    built = tiles.build(kernel.as_matrix(leaf_hashes)) if leaf_hashes else {}
    return tiles.TileHashes(lambda keys: {k: built[k] for k in keys})


def leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(f"entry {i}".encode()) for i in range(n)]


def test_empty_tree_hash_is_sha256_of_nothing():
    assert merkle.EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert merkle.root_of([]) == merkle.EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_the_published_vectors(size):
    assert merkle.root_of(VECTOR_HASHES[:size]) == ROOTS[size - 1]
    assert merkle.tree_root(stored(VECTOR_HASHES), size) == ROOTS[size - 1]


@pytest.mark.parametrize("leaf, size, proof", INCLUSION)
def test_inclusion_proofs_match_the_published_vectors(leaf, size, proof):
    expected = [bytes.fromhex(h) for h in proof]
    assert merkle.prove_inclusion(stored(VECTOR_HASHES[:size]), leaf - 1, size) == expected
    merkle.verify_inclusion(leaf - 1, size, VECTOR_HASHES[leaf - 1], expected, ROOTS[size - 1])


@pytest.mark.parametrize("old, new, proof", CONSISTENCY)
def test_consistency_proofs_match_the_published_vectors(old, new, proof):
    expected = [bytes.fromhex(h) for h in proof]
    assert merkle.prove_consistency(stored(VECTOR_HASHES[:new]), old, new) == expected
    merkle.verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], expected)


def _inclusion_forgeries(index, size, leaf, proof, root):
    """The corruptions transparency-dev's verifier tests try, plus a proof from another tree."""
    yield "index - 1", (index - 1, size, leaf, proof, root)
    yield "index + 1", (index + 1, size, leaf, proof, root)
    yield "index ^ 2", (index ^ 2, size, leaf, proof, root)
    yield "size * 2", (index, size * 2, leaf, proof, root)
    yield "size / 2", (index, size // 2, leaf, proof, root)
    yield "wrong leaf", (index, size, SOME_HASH, proof, root)
    yield "empty root", (index, size, leaf, proof, merkle.EMPTY_ROOT)
    yield "trailing root", (index, size, leaf, [*proof, root], root)
    yield "preceding root", (index, size, leaf, [root, *proof], root)
    yield "prefix shift", (index, size, leaf, [*proof[1:], SOME_HASH], root)
    for i in range(len(proof)):
        flipped = bytearray(proof[i])
        flipped[0] ^= 8
        yield f"bit flip {i}", (index, size, leaf, [*proof[:i], bytes(flipped), *proof[i + 1:]], root)
    if proof:
        yield "truncated", (index, size, leaf, proof[:-1], root)
    if len(proof) > 1:
        yield "inserted element", (index, size, leaf, [proof[0], SOME_HASH, *proof[1:]], root)
        yield "swapped elements", (index, size, leaf, [proof[1], proof[0], *proof[2:]], root)
    other = leaves(size + 3)
    yield "hash from another tree", (index, size, leaf, merkle.prove_inclusion(stored(other), index, size), root)


def _rejects(call, *args):
    try:
        call(*args)
    except merkle.ProofError:
        return True
    return False


def test_every_inclusion_proof_up_to_64_verifies_and_forgeries_fail():
    for size in range(1, 65):
        hashes = leaves(size)
        reader = stored(hashes)
        root = merkle.tree_root(reader, size)
        assert root == merkle.root_of(hashes)
        for index in range(size):
            proof = merkle.prove_inclusion(reader, index, size)
            merkle.verify_inclusion(index, size, hashes[index], proof, root)
            for name, args in _inclusion_forgeries(index, size, hashes[index], proof, root):
                if args[:2] == (index, size) and args[3] == proof and args[2] == hashes[index]:
                    continue
                if name == "swapped elements" and proof[0] == proof[1]:
                    continue
                assert _rejects(merkle.verify_inclusion, *args), (name, index, size)


def test_every_consistency_proof_up_to_64_verifies_and_forgeries_fail():
    hashes = leaves(64)
    reader = stored(hashes)
    roots = [merkle.root_of(hashes[:n]) for n in range(65)]
    for new in range(1, 65):
        for old in range(1, new + 1):
            proof = merkle.prove_consistency(reader, old, new)
            merkle.verify_consistency(old, new, roots[old], roots[new], proof)
            if old == new:
                assert proof == []
                continue
            forgeries = [
                (old - 1, new, roots[old], roots[new], proof), (old + 1, new, roots[old], roots[new], proof),
                (old, new * 2, roots[old], roots[new], proof),
                (old, new, roots[new], roots[old], proof), (old, new, SOME_HASH, roots[new], proof),
                (old, new, roots[old], SOME_HASH, proof), (old, new, roots[old], roots[new], []),
                (old, new, roots[old], roots[new], proof[:-1]), (old, new, roots[old], roots[new], [*proof, roots[new]]),
                (old, new, roots[old], roots[new], [proof[0], *proof]),
                (old, new, roots[old], roots[new], [*proof[1:], SOME_HASH]),
                (old, new, roots[old], roots[new], merkle.prove_consistency(stored(leaves(new + 5)[5:]), old, new)),
            ]
            for i in range(len(proof)):
                flipped = bytearray(proof[i])
                flipped[0] ^= 16
                forgeries.append((old, new, roots[old], roots[new], [*proof[:i], bytes(flipped), *proof[i + 1:]]))
            for args in forgeries:
                if args[0] == 0 and args[1] >= 1 and not args[4]:  # the empty tree is a prefix of every tree
                    continue
                assert _rejects(merkle.verify_consistency, *args), (old, new, args[:2])


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_change_to_a_proof_element_is_caught(data):
    size = data.draw(st.integers(2, 300))
    index = data.draw(st.integers(0, size - 1))
    hashes = leaves(size)
    reader = stored(hashes)
    proof = merkle.prove_inclusion(reader, index, size)
    element = data.draw(st.integers(0, len(proof) - 1))
    byte = data.draw(st.integers(0, 31))
    bit = data.draw(st.integers(0, 7))
    forged = bytearray(proof[element])
    forged[byte] ^= 1 << bit
    proof[element] = bytes(forged)
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(index, size, hashes[index], proof, merkle.tree_root(reader, size))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3000), st.lists(st.integers(1, 2999), max_size=6))
def test_tiles_grown_in_any_batches_equal_tiles_built_at_once(size, cuts):
    hashes = kernel.as_matrix(leaves(size))
    store: dict[tuple[int, int], np.ndarray] = {}
    bounds = sorted({c for c in cuts if c < size} | {0, size})
    for start, end in zip(bounds, bounds[1:], strict=False):
        kept = {band: store[key] for band, key in tiles.partial_tiles(start).items()}
        for rows in tiles.extend(start, hashes[start:end], kept):
            for i in range(0, len(rows.hashes), tiles.TILE_WIDTH):
                store[(rows.band, rows.first_index + i // tiles.TILE_WIDTH)] = rows.hashes[i : i + tiles.TILE_WIDTH]
    built = tiles.build(hashes)
    assert store.keys() == built.keys()
    assert all(np.array_equal(store[k], built[k]) for k in built)


KERNELS = ["native", "portable", "duckdb"]


@pytest.fixture(params=KERNELS)
def kernel_path(request, monkeypatch):
    """Each way the kernel can hash: the C extension on the CPU's SHA extensions, the C extension's
    portable code, and DuckDB (where no C compiler built the extension)."""
    if request.param == "duckdb":
        monkeypatch.setattr(kernel, "native", None)
    elif kernel.native is None:
        pytest.skip("the C kernel was not built")
    elif request.param == "portable":
        kernel.native.use_portable(True)
        request.addfinalizer(lambda: kernel.native.use_portable(False))
    else:
        monkeypatch.setattr(kernel, "_SPLIT", 100)  # columns of 100 messages and more go in two halves
    return request.param


def test_vectorised_hashing_equals_hashlib(kernel_path):
    bodies = [f'{{"box":"B{i}","carats":"1.250"}}'.encode() for i in range(5000)]  # above the hashlib cut-over
    matrix = kernel.leaf_hashes(pa.array(bodies, pa.binary()))
    assert [bytes(r) for r in matrix] == [merkle.leaf_hash(b) for b in bodies]
    pairs = kernel.pair_hashes(matrix)
    assert len(pairs) == 2500
    assert [bytes(p) for p in pairs] == [hashlib.sha256(b"\x01" + bytes(matrix[2 * i]) + bytes(matrix[2 * i + 1])).digest()
                                         for i in range(2500)]


def test_every_padding_boundary_hashes_as_hashlib_does(kernel_path):
    """Messages of every length around the 55/56/64-byte padding edges, and long ones, as text
    (int32 offsets), as large binary (int64), and sliced (offsets not starting at zero)."""
    rng = np.random.default_rng(9)
    lengths = list(range(0, 200)) + [1000, 4095, 4096, 10_000]
    bodies = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in lengths]
    for column in (pa.array(bodies, pa.binary()), pa.array(bodies, pa.large_binary()), pa.array(bodies, pa.binary())[7:150]):
        expected = [merkle.leaf_hash(b) for b in column.to_pylist()]
        assert [bytes(r) for r in kernel.leaf_hashes(column)] == expected
    text = pa.array([f"é{'x' * n}" for n in range(130)], pa.string())
    assert [bytes(r) for r in kernel.leaf_hashes(text)] == [merkle.leaf_hash(t.encode()) for t in text.to_pylist()]
    assert kernel.leaf_hashes(pa.array([], pa.binary())).shape == (0, 32)


@given(st.lists(st.one_of(st.integers(0, 260), st.integers(0, 3000)), max_size=60), st.integers(0, 2**32 - 1))
@settings(max_examples=200, deadline=None)
def test_any_mix_of_message_lengths_hashes_as_hashlib_does(lengths, seed):
    """The C kernel pads short neighbours of equal block count into pairs and streams long ones
    alone: any order of short and long messages gives hashlib's digests."""
    rng = np.random.default_rng(seed)
    bodies = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in lengths]
    column = pa.array(bodies, pa.large_binary())
    expected = [merkle.leaf_hash(b) for b in bodies]
    for portable in ((False, True) if kernel.native is not None else (False,)):
        if kernel.native is not None:
            kernel.native.use_portable(portable)
        try:
            assert [bytes(r) for r in kernel.leaf_hashes(column)] == expected
        finally:
            if kernel.native is not None:
                kernel.native.use_portable(False)


def test_the_c_kernel_refuses_what_is_not_a_column_of_messages():
    if kernel.native is None:
        pytest.skip("the C kernel was not built")
    with pytest.raises(ValueError):
        kernel.native.digest_fixed(b"\x01", bytes(65), 64)
    with pytest.raises(ValueError):
        kernel.native.digest_offsets(b"\x00", bytes(10), np.array([0, 11], dtype=np.int64).tobytes())
    with pytest.raises(ValueError):
        kernel.native.digest_offsets(b"\x00", bytes(10), np.array([5, 2], dtype=np.int64).tobytes())


def test_roots_agree_with_pymerkle():
    pymerkle = pytest.importorskip("pymerkle")
    tree = pymerkle.InmemoryTree(algorithm="sha256")  # RFC 9162 hashing: 0x00/0x01 prefixes (security on)
    data = [f"row {i}".encode() for i in range(70)]
    for n, item in enumerate(data, start=1):
        tree.append_entry(item)
        assert tree.get_root() == merkle.tree_root(stored([merkle.leaf_hash(d) for d in data[:n]]), n)


def test_ranges_a_proof_needs_are_logarithmic():
    size = 10_000_000
    positions = {p for lo, hi in merkle.inclusion_ranges(123_457, size) for p in merkle.complete_subtrees(lo, hi)}
    assert len(positions) <= 2 * size.bit_length()
    assert len({tiles.span_of(p).tile for p in positions}) <= 2 * (size.bit_length() // tiles.TILE_HEIGHT + 1)
