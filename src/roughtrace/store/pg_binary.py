"""PostgreSQL's binary COPY format, built from Arrow columns: no loop over rows, no I/O.

A binary COPY row is a field count (int16) and, for each field, its length (int32; -1 for NULL)
and the value in the type's binary form, all big-endian. PostgreSQL takes that form with less
work than CSV text, having no dates or decimals to parse (docs/performance.md), so the bulk path
into the store sends it whenever every column of a batch has an encoding here (`encodable`);
otherwise it falls back to CSV. Fixed-width values are laid out as numpy matrices, one row per
record; variable-width
values (text, bytes) are Arrow arrays; Arrow's element-wise join then concatenates the pieces of
each record, so the whole batch is one contiguous buffer.

DECIMAL is sent with a fixed number of base-10000 digit groups for its precision and scale;
PostgreSQL strips the leading and trailing zero groups on receipt (and applies the column's
precision and scale as it does for text), so every value of a column has one width.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

try:
    from . import _pgcopy as native  # type: ignore[attr-defined]  # compiled: no source for mypy to read
except ImportError:  # installed without a C compiler: the numpy path
    native = None

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
"""What a binary COPY stream starts with: the signature, no flags, no header extension."""
TRAILER = b"\xff\xff"

_PG_EPOCH_DAYS = 10_957
"""Days from 1970-01-01 (Arrow's date32 origin) to 2000-01-01 (PostgreSQL's)."""
_NUMERIC_NEG = 0x4000
_MAX_DECIMAL_PRECISION = 18
"""Up to 18 digits a decimal's unscaled value fits int64, which numpy works in."""

# PostgreSQL type names (format_type without modifiers) each Arrow type may be sent as.
_TEXT = {"text", "character varying", "character"}
_INTEGERS = {"bigint": ">i8", "integer": ">i4", "smallint": ">i2"}
_INTEGER_BITS = {"bigint": 64, "integer": 32, "smallint": 16}
_FLOATS = {"double precision": ">f8", "real": ">f4"}


def encodable(arrow_type: pa.DataType, pg_type: str) -> bool:
    """Whether a column of `arrow_type` can be sent in binary form to a column of PostgreSQL type
    `pg_type` (its name without modifiers, as `format_type(oid, NULL)` gives it)."""
    if pa.types.is_null(arrow_type):
        return True
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return pg_type in _TEXT
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return pg_type == "bytea"
    if pa.types.is_integer(arrow_type):  # never narrowed: a value that does not fit is not sent
        bits = _INTEGER_BITS.get(pg_type, 0)
        return bool(arrow_type.bit_width < bits or (arrow_type.bit_width == bits and pa.types.is_signed_integer(arrow_type)))
    if pa.types.is_floating(arrow_type):
        return arrow_type.bit_width > 16 and (pg_type == "double precision" or (pg_type == "real" and arrow_type.bit_width == 32))
    if pa.types.is_date32(arrow_type):
        return pg_type == "date"
    if pa.types.is_boolean(arrow_type):
        return pg_type == "boolean"
    if pa.types.is_decimal128(arrow_type):
        return pg_type == "numeric" and arrow_type.precision <= _MAX_DECIMAL_PRECISION
    return False


def encode(batch: pa.RecordBatch, pg_types: list[str]) -> pa.Buffer:
    """The binary COPY rows of `batch` (without the stream's signature and trailer), its columns
    sent as the PostgreSQL types `pg_types` say (each `encodable`): written record by record in C
    (`_pgcopy`) when every column is of a kind it writes, else laid out here column by column."""
    spec = _native_spec(batch, pg_types) if native is not None else None
    if spec is not None:
        return pa.py_buffer(native.encode_rows(batch.num_rows, spec))
    n = batch.num_rows
    pieces: list[pa.Array] = []
    run: list[np.ndarray] = [np.full(n, batch.num_columns, dtype=">i2")]
    for column, pg_type in zip(batch.columns, pg_types, strict=True):
        header, payload = _field(column, pg_type)
        run.append(header)
        if isinstance(payload, np.ndarray):
            run.append(payload)
        elif payload is not None:
            pieces += [_fixed_rows(run, n), payload]
            run = []
    if run:
        pieces.append(_fixed_rows(run, n))
    if len(pieces) == 1:
        joined = pieces[0]
    else:
        joined = pc.binary_join_element_wise(*pieces, b"", null_handling="replace", null_replacement=b"")
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int32, count=joined.offset + n + 1)[joined.offset:]
    return joined.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0]))


def _native_spec(batch: pa.RecordBatch, pg_types: list[str]) -> list[tuple[int, int, object, object, object, int]] | None:
    """Each column as `_pgcopy.encode_rows` takes it, or None when one is of a kind it does not write."""
    spec: list[tuple[int, int, object, object, object, int]] = []
    for column, pg_type in zip(batch.columns, pg_types, strict=True):
        t = column.type
        if pa.types.is_null(t) or column.null_count == len(column):
            spec.append((0, 0, None, None, None, 0))
            continue
        kind = (1 if (pa.types.is_string(t) and pg_type in _TEXT) or (pa.types.is_binary(t) and pg_type == "bytea")
                else 2 if t == pa.int64() and pg_type == "bigint"
                else 3 if t == pa.int32() and pg_type == "integer"
                else 4 if pa.types.is_date32(t) and pg_type == "date"
                else 5 if pa.types.is_decimal128(t) and pg_type == "numeric" and t.precision <= _MAX_DECIMAL_PRECISION
                else 6 if pa.types.is_boolean(t) and pg_type == "boolean"
                else 7 if t == pa.float64() and pg_type == "double precision"
                else None)
        if kind is None:
            return None
        buffers = column.buffers()
        validity = buffers[0] if column.null_count else None
        data = buffers[2] if kind == 1 else None
        if kind == 1 and data is None:
            data = b""
        aux = t.precision * 256 + t.scale if kind == 5 else 0
        spec.append((kind, column.offset, validity, buffers[1], data, aux))
    return spec


def _fixed_rows(parts: list[np.ndarray], n: int) -> pa.Array:
    """Fixed-width parts side by side, as n binary values (one per record). A part is a column of
    big-endian numbers (n,) or (n, k), or of raw bytes (n, width) uint8; each is written into
    the record matrix as one item per record, not byte by byte."""
    widths = [part.dtype.itemsize * (part.shape[1] if part.ndim == 2 else 1) for part in parts]
    matrix = np.empty((n, sum(widths)), dtype=np.uint8)
    at = 0
    for part, width in zip(parts, widths, strict=True):
        target = matrix[:, at : at + width]
        if width == 0:  # a column of empty texts
            continue
        if part.dtype == np.uint8 and part.ndim == 2:
            target.view(f"V{width}")[:, 0] = np.ascontiguousarray(part).view(f"V{width}")[:, 0]
        else:
            target.view(part.dtype)[...] = part.reshape(n, -1)
        at += width
    offsets = np.arange(0, (n + 1) * matrix.shape[1], matrix.shape[1], dtype=np.int32)
    return pa.BinaryArray.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(matrix)])


def _field(column: pa.Array, pg_type: str) -> tuple[np.ndarray, np.ndarray | pa.Array | None]:
    """One column's length words (-1 for NULL) and its values: fixed-width parts when every value
    is there and has one width, else a binary array (NULL rows empty), or None when all NULL."""
    n = len(column)
    if pa.types.is_null(column.type) or column.null_count == n:
        return np.full(n, -1, dtype=">i4"), None
    t = column.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return _bytes(column)
    if pa.types.is_integer(t):
        payload = column.fill_null(0).to_numpy(zero_copy_only=False).astype(_INTEGERS[pg_type])
    elif pa.types.is_floating(t):
        payload = column.fill_null(0).to_numpy(zero_copy_only=False).astype(_FLOATS[pg_type])
    elif pa.types.is_date32(t):
        payload = (column.fill_null(0).cast(pa.int32()).to_numpy(zero_copy_only=False) - _PG_EPOCH_DAYS).astype(">i4")
    elif pa.types.is_boolean(t):
        payload = column.fill_null(False).to_numpy(zero_copy_only=False).astype(np.uint8)
    else:
        payload = _numeric(column)
    return _with_nulls(column, payload)


def _bytes(column: pa.Array) -> tuple[np.ndarray, np.ndarray | pa.Array]:
    """Text (UTF-8, as PostgreSQL's text receive takes it) or bytes. A column whose values all
    have one length (codes, identifiers) is laid out as a matrix, so it joins the fixed run."""
    if pa.types.is_large_string(column.type) or pa.types.is_large_binary(column.type):
        column = column.cast(pa.binary())
    values = column.view(pa.binary())
    n = len(values)
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32, count=values.offset + n + 1)[values.offset:]
    lengths = np.diff(offsets).astype(">i4")
    if values.null_count == 0 and n and lengths.min() == lengths.max():
        data = np.frombuffer(values.buffers()[2], dtype=np.uint8, count=int(offsets[-1]))[int(offsets[0]):]
        return lengths, data.reshape(n, int(lengths[0]))
    if values.null_count:
        lengths[~values.is_valid().to_numpy(zero_copy_only=False)] = -1
    return lengths, values


def _with_nulls(column: pa.Array, payload: np.ndarray) -> tuple[np.ndarray, np.ndarray | pa.Array]:
    """Fixed-width values with their length words; with NULLs among them, as a binary array."""
    n = len(payload)
    width = payload.dtype.itemsize * (payload.shape[1] if payload.ndim == 2 else 1)
    if column.null_count == 0:
        return np.full(n, width, dtype=">i4"), payload
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    offsets = np.concatenate([[0], np.cumsum(np.where(valid, width, 0))]).astype(np.int32)
    kept = np.ascontiguousarray(payload[valid]).view(np.uint8)
    values = pa.BinaryArray.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(kept)])
    return np.where(valid, width, -1).astype(">i4"), values


def _numeric(column: pa.Array) -> np.ndarray:
    """DECIMAL(p, s) values as PostgreSQL NUMERIC, (n, k) int16: ndigits, weight, sign, dscale and
    the base-10000 digit groups, enough before the point for p - s digits and after it for s."""
    precision, scale = column.type.precision, column.type.scale
    before = max(1, -(-(precision - scale) // 4))
    after = -(-scale // 4)
    # The low 64 bits of each little-endian 128-bit value: the whole value at precision <= 18.
    words = np.frombuffer(column.buffers()[1], dtype="<i8", count=2 * (column.offset + len(column)))
    unscaled = words[2 * column.offset :: 2].copy()
    if column.null_count:
        unscaled[~column.is_valid().to_numpy(zero_copy_only=False)] = 0
    magnitude = np.abs(unscaled)
    whole, fraction = np.divmod(magnitude, 10**scale)
    out = np.empty((len(column), 4 + before + after), dtype=">i2")
    out[:, 0] = before + after
    out[:, 1] = before - 1
    out[:, 2] = np.where(unscaled < 0, _NUMERIC_NEG, 0)
    out[:, 3] = scale
    for k in range(before):
        out[:, 4 + k] = (whole // 10_000 ** (before - 1 - k)) % 10_000
    for k in range(after):
        digits_left = scale - 4 * k  # fraction digits from this group's first on
        if digits_left >= 4:
            out[:, 4 + before + k] = (fraction // 10 ** (digits_left - 4)) % 10_000
        else:
            out[:, 4 + before + k] = (fraction % 10**digits_left) * 10 ** (4 - digits_left)
    return out
