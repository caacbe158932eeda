"""SHA-256 over whole columns of hashes, vectorised: the compute kernel for building trees.

A plain Python loop over hashlib manages well under a million hashes a second. The kernel hashes a
whole column in one call: in C (`_sha256.c`, built at install, on the CPU's SHA extensions where it
has them), or, where the extension could not be built, through DuckDB's sha256 over an Arrow
column on every core (an in-memory connection used purely as a calculator; nothing is stored).
Hashes travel as numpy arrays of shape (n, 32) uint8. Both paths give the same hashes.
"""

from __future__ import annotations

import binascii
import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import duckdb
import numpy as np
import pyarrow as pa

from .merkle import HASH_SIZE

try:
    from . import _sha256 as native
except ImportError:  # installed without a C compiler
    native = None

_SMALL = 2048
"""Below this many hashes (without the C kernel) hashlib is faster than a DuckDB query."""
_SPLIT = 1 << 16
"""From this many messages on, the C kernel hashes a column in two halves on two threads (it
releases the GIL, so they run on two cores)."""
_halves: ThreadPoolExecutor | None = None


def _on_two_cores(hash_part, n: int) -> bytes:
    """hash_part(start, stop) -> digests, over [0, n) in two halves at once when n is large."""
    global _halves
    if n < _SPLIT or (os.cpu_count() or 1) < 2:
        return hash_part(0, n)
    if _halves is None:
        _halves = ThreadPoolExecutor(max_workers=2, thread_name_prefix="roughtrace-sha256")
    middle = n // 2
    first, second = _halves.submit(hash_part, 0, middle), _halves.submit(hash_part, middle, n)
    return first.result() + second.result()

_local = threading.local()


def backend() -> str:
    """Which kernel hashes columns: 'sha-ni' or 'portable' (the C extension), or 'duckdb'."""
    return native.backend() if native is not None else "duckdb"


def _calculator() -> duckdb.DuckDBPyConnection:
    connection = getattr(_local, "connection", None)
    if connection is None:
        connection = duckdb.connect(":memory:")
        _local.connection = connection
    return connection


def as_matrix(hashes: pa.Array | pa.ChunkedArray | np.ndarray | list[bytes]) -> np.ndarray:
    """Hashes (Arrow binary or fixed_size_binary(32), bytes list, or an array) as an (n, 32) uint8 matrix."""
    if isinstance(hashes, np.ndarray):
        return hashes.reshape(-1, HASH_SIZE)
    if isinstance(hashes, list):
        return np.frombuffer(b"".join(hashes), dtype=np.uint8).reshape(-1, HASH_SIZE)
    if isinstance(hashes, pa.ChunkedArray):
        hashes = hashes.combine_chunks()
    if hashes.null_count:
        raise ValueError("a hash column holds NULLs")
    n = len(hashes)
    if pa.types.is_fixed_size_binary(hashes.type):
        if hashes.type.byte_width != HASH_SIZE:
            raise ValueError(f"hashes are {hashes.type.byte_width} bytes, not {HASH_SIZE}")
        data = hashes.buffers()[1]
        return np.frombuffer(data, dtype=np.uint8, count=n * HASH_SIZE, offset=hashes.offset * HASH_SIZE).reshape(n, HASH_SIZE)
    if pa.types.is_binary(hashes.type):  # int32 offsets: read in place, no copy
        offsets = np.frombuffer(hashes.buffers()[1], dtype=np.int32, count=n + 1, offset=hashes.offset * 4)
    else:
        hashes = hashes.cast(pa.large_binary())
        offsets = np.frombuffer(hashes.buffers()[1], dtype=np.int64, count=n + 1, offset=hashes.offset * 8)
    if n and not np.all(np.diff(offsets) == HASH_SIZE):
        raise ValueError(f"every hash must be {HASH_SIZE} bytes")
    data = np.frombuffer(hashes.buffers()[2], dtype=np.uint8)
    return data[offsets[0] : offsets[0] + n * HASH_SIZE].reshape(n, HASH_SIZE)


def _sha256_rows(messages: pa.Array, leaf: bool = False) -> np.ndarray:
    """SHA-256 of each message of an Arrow binary column (prefixed by 0x00 when `leaf`), as an
    (n, 32) matrix."""
    calculator = _calculator()
    calculator.register("ledger_messages", pa.table({"m": messages}))
    try:
        expression = "sha256('\\x00'::BLOB || m::BLOB)" if leaf else "sha256(m)"
        hexes = calculator.sql(f"SELECT {expression} AS h FROM ledger_messages").to_arrow_table().column(0).combine_chunks()
    finally:
        calculator.unregister("ledger_messages")
    n = len(hexes)
    start = np.frombuffer(hexes.buffers()[1], dtype=np.int32, count=1, offset=hexes.offset * 4)[0]
    digits = memoryview(hexes.buffers()[2])[start : start + n * 2 * HASH_SIZE]
    return np.frombuffer(binascii.a2b_hex(digits), dtype=np.uint8).reshape(n, HASH_SIZE)


def pair_hashes(level: np.ndarray) -> np.ndarray:
    """Interior hashes of the next level up: SHA-256(0x01 || level[2i] || level[2i+1]) for every
    complete pair; an odd last hash has no parent yet and is left out."""
    pairs = len(level) // 2
    if pairs == 0:
        return np.empty((0, HASH_SIZE), dtype=np.uint8)
    if native is not None:
        flat = np.ascontiguousarray(level[: 2 * pairs]).reshape(-1)
        width = 2 * HASH_SIZE
        digests = _on_two_cores(lambda a, b: native.digest_fixed(b"\x01", flat[a * width : b * width], width), pairs)
        return np.frombuffer(digests, dtype=np.uint8).reshape(pairs, HASH_SIZE)
    messages = np.empty((pairs, 1 + 2 * HASH_SIZE), dtype=np.uint8)
    messages[:, 0] = 1
    messages[:, 1:] = level[: 2 * pairs].reshape(pairs, 2 * HASH_SIZE)
    if pairs < _SMALL:
        flat = messages.tobytes()
        width = 1 + 2 * HASH_SIZE
        digests = b"".join([hashlib.sha256(flat[i : i + width]).digest() for i in range(0, len(flat), width)])
        return np.frombuffer(digests, dtype=np.uint8).reshape(pairs, HASH_SIZE)
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(messages.shape[1]), pairs, [None, pa.py_buffer(messages)])
    return _sha256_rows(fixed)


def leaf_hashes(bodies: pa.Array | pa.ChunkedArray | list[bytes]) -> np.ndarray:
    """RFC 9162 leaf hashes SHA-256(0x00 || body) of every entry body (bytes, or Arrow
    binary/UTF-8 text), as an (n, 32) matrix."""
    if isinstance(bodies, pa.ChunkedArray):
        bodies = bodies.combine_chunks()
    if isinstance(bodies, pa.Array) and bodies.null_count:
        raise ValueError("an entry body is NULL")
    if native is not None:
        if isinstance(bodies, list):
            bodies = pa.array(bodies, pa.large_binary())
        data, offsets = _data_and_offsets(bodies)
        digests = _on_two_cores(lambda a, b: native.digest_offsets(b"\x00", data, offsets[a : b + 1]), len(offsets) - 1)
        return np.frombuffer(digests, dtype=np.uint8).reshape(-1, HASH_SIZE)
    if isinstance(bodies, pa.Array) and len(bodies) < _SMALL:
        bodies = [v if isinstance(v, bytes) else v.encode() for v in bodies.to_pylist()]
    if isinstance(bodies, list):
        digests = b"".join([hashlib.sha256(b"\x00" + body).digest() for body in bodies])
        return np.frombuffer(digests, dtype=np.uint8).reshape(len(bodies), HASH_SIZE)
    return _sha256_rows(bodies.cast(pa.large_binary()), leaf=True)


def _data_and_offsets(values: pa.Array) -> tuple[pa.Buffer, np.ndarray]:
    """The value bytes and the n + 1 int64 offsets into them of a binary or text column, in place."""
    if not (pa.types.is_binary(values.type) or pa.types.is_string(values.type)
            or pa.types.is_large_binary(values.type) or pa.types.is_large_string(values.type)):
        values = values.cast(pa.large_binary())
    wide = pa.types.is_large_binary(values.type) or pa.types.is_large_string(values.type)
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int64 if wide else np.int32,
                            count=len(values) + 1, offset=values.offset * (8 if wide else 4))
    data = values.buffers()[2]
    return (data if data is not None else pa.py_buffer(b"")), offsets.astype(np.int64)
