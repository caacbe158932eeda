"""Columns to text and text to CSV in the interchange format (formats.md): exact decimals
(carats 3 places, dollars 2), dates YYYY-MM-DD, enumerations in their canonical spelling, empty
cells for missing optional values. Every column is made text before writing (Arrow's CSV writer
formats strings much more cheaply than decimals, dates or dictionaries); batches are appended to one file
so memory stays bounded."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv


def _validity(valid: np.ndarray | None) -> pa.Buffer | None:
    if valid is None or valid.all():
        return None
    return pa.py_buffer(np.packbits(valid.astype(bool), bitorder="little"))


_PAIRS = np.array([[48 + i // 10, 48 + i % 10] for i in range(100)], dtype=np.uint8).view(np.uint16).ravel()
"""The two ASCII digits of 0..99 as one 16-bit word, to write numbers two digits at a time."""


def _digit_matrix(units: np.ndarray, whole_digits: int, scale: int) -> np.ndarray:
    """Right-aligned ASCII text of each amount as a byte matrix: `whole_digits` integer digits
    (zero-padded), then '.' and `scale` fraction digits when scale > 0."""
    wide = whole_digits + (scale + 1 if scale else 0)
    matrix = np.empty((len(units), wide), dtype=np.uint8)
    rest = units.copy()
    column = wide

    def put(count: int) -> None:
        nonlocal column, rest
        if count % 2:
            matrix[:, column - 1] = 48 + rest % 10
            rest //= 10
            column -= 1
        for _ in range(count // 2):
            pair = _PAIRS[rest % 100]
            matrix[:, column - 2] = pair & 0xFF
            matrix[:, column - 1] = pair >> 8
            rest //= 100
            column -= 2

    if scale:
        put(scale)
        matrix[:, column - 1] = 46
        column -= 1
    put(whole_digits)
    return matrix


def text_matrix(texts: Sequence[str]) -> np.ndarray:
    """Equal-length ASCII texts as a byte matrix (one row per text), to prefix fixed-width ids."""
    encoded = [t.encode("ascii") for t in texts]
    if len({len(e) for e in encoded}) > 1:
        raise ValueError("text_matrix takes texts of one length")
    return np.frombuffer(b"".join(encoded), dtype=np.uint8).reshape(len(encoded), -1) if encoded else np.empty(
        (0, 0), np.uint8)


def fixed_ids(numbers: np.ndarray, width: int, prefix: np.ndarray | None = None,
              valid: np.ndarray | None = None) -> pa.Array:
    """Ids of one length: an optional per-row prefix (a byte matrix row, see text_matrix) then the
    number zero-padded to exactly `width` digits, e.g. 'B2024-03-000017-' + '0042'."""
    numbers = np.ascontiguousarray(numbers, dtype=np.int64)
    if len(numbers) and (numbers.min() < 0 or numbers.max() >= 10**width):
        raise ValueError(f"fixed_ids takes numbers of at most {width} digits")
    digits = _digit_matrix(numbers, width, 0)
    matrix = digits if prefix is None else np.concatenate([prefix, digits], axis=1)
    keep = np.ones(len(numbers), dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    length = np.where(keep, matrix.shape[1], 0).astype(np.int64)
    offsets = np.zeros(len(numbers) + 1, dtype=np.int64)
    np.cumsum(length, out=offsets[1:])
    data = matrix if valid is None else matrix[keep]
    return pa.Array.from_buffers(pa.string(), len(numbers), [None if valid is None else _validity(keep),
                                                             pa.py_buffer(offsets.astype(np.int32)),
                                                             pa.py_buffer(np.ascontiguousarray(data))])


def decimal_text(units: np.ndarray, scale: int, valid: np.ndarray | None = None, width: int = 1) -> pa.Array:
    """Exact decimal text from non-negative integer counts of 10^-scale (milli-carats for carats,
    cents for dollars): 500 at scale 3 is '0.500'. The integer part is zero-padded to `width`
    digits; `valid` False leaves a cell empty. Digits are written by numpy into a right-aligned byte
    matrix whose used tail of each row becomes the Arrow string buffer: no cell-by-cell formatting."""
    units = np.ascontiguousarray(units, dtype=np.int64)
    n = len(units)
    if n and units.min() < 0:
        raise ValueError("decimal_text takes non-negative amounts")
    whole = units // 10**scale if scale else units
    low = max(width, 1)
    most = max(len(str(int(whole.max()))) if n else 1, low)
    matrix = _digit_matrix(units, most, scale)
    wide = matrix.shape[1]
    if most == low:  # every cell as wide: the matrix is the string buffer
        length = np.full(n, wide, dtype=np.int64)
        if valid is not None:
            length[~valid] = 0
        data = matrix.ravel() if valid is None else matrix[np.asarray(valid, dtype=bool)].ravel()
    else:
        digits = np.full(n, low, dtype=np.int64)
        for bound in (10**k for k in range(low, most)):
            digits += whole >= bound
        length = digits + (wide - most)
        if valid is not None:
            length[~valid] = 0
        data = matrix[np.arange(wide)[None, :] >= (wide - length)[:, None]]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(length, out=offsets[1:])
    if offsets[-1] > np.iinfo(np.int32).max:
        raise ValueError("a text column over 2 GB: write smaller chunks")
    validity = None if valid is None else _validity(np.asarray(valid, dtype=bool))
    return pa.Array.from_buffers(pa.string(), n, [validity, pa.py_buffer(offsets.astype(np.int32)),
                                                  pa.py_buffer(np.ascontiguousarray(data))])


def carats_column(mct: np.ndarray, valid: np.ndarray | None = None, hundredths: np.ndarray | None = None) -> pa.Array:
    """Carats as text from milli-carats: 3 decimals ('0.500'), or 2 ('0.51') where `hundredths` is
    True (those amounts must be whole hundredths): a weight is written with the decimals it was
    reported to."""
    text = decimal_text(mct, 3, valid)
    if hundredths is None or not np.any(hundredths):
        return text
    short = np.asarray(hundredths, dtype=bool)
    if valid is not None:
        short &= np.asarray(valid, dtype=bool)
    if np.any(np.asarray(mct)[short] % 10):
        raise ValueError("carats written to two decimals must be whole hundredths")
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[:len(text) + 1].astype(np.int64)
    data = np.frombuffer(text.buffers()[2], dtype=np.uint8)[:offsets[-1]]
    keep = np.ones(len(data), dtype=bool)
    keep[offsets[1:][short] - 1] = False  # the last digit, a zero
    new_offsets = offsets - np.concatenate([[0], np.cumsum(short)])
    return pa.Array.from_buffers(pa.string(), len(text), [text.buffers()[0], pa.py_buffer(new_offsets.astype(np.int32)),
                                                          pa.py_buffer(np.ascontiguousarray(data[keep]))])


def usd_column(cents: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """US dollars as text from cents: 2 decimals ('1250.00')."""
    return decimal_text(cents, 2, valid)


def date_column(days: np.ndarray) -> pa.Array:
    """Dates as YYYY-MM-DD text from day numbers (days since 1970-01-01)."""
    days = np.asarray(days, dtype=np.int64)
    if not len(days):
        return pa.array([], pa.string())
    first = int(days.min())
    epoch = dt.date(1970, 1, 1)
    calendar = [(epoch + dt.timedelta(days=d)).isoformat() for d in range(first, int(days.max()) + 1)]
    return coded(days - first, calendar)


def coded(indices: np.ndarray, spellings: Sequence[str], valid: np.ndarray | None = None) -> pa.Array:
    """A text column from codes into `spellings` (written as the spelling; empty where not valid)."""
    codes = pa.array(np.ascontiguousarray(indices, dtype=np.int32), mask=None if valid is None else ~valid)
    return pc.take(pa.array(list(spellings), pa.string()), codes)


@dataclass(frozen=True)
class CsvText:
    """Rows of one table as CSV text without a header."""

    columns: tuple[str, ...]
    rows: int
    data: bytes | pa.Buffer


def csv_text(table: pa.Table, columns: Sequence[str] | None = None, quote: bool = False) -> CsvText:
    """The rows of `table` as CSV text. Unquoted unless `quote` (then every text cell is quoted);
    unquoted text holding a comma, quote or line break is refused by Arrow rather than written."""
    columns = tuple(columns or table.column_names)
    if tuple(table.column_names) != columns:
        raise ValueError(f"columns {table.column_names} differ from {list(columns)}")
    sink = pa.BufferOutputStream()
    if table.num_rows:
        options = pacsv.WriteOptions(include_header=False, quoting_style="needed" if quote else "none")
        pacsv.write_csv(table, sink, options)
    return CsvText(columns, table.num_rows, sink.getvalue())


class CsvFile:
    """A CSV file written batch by batch, header first, columns in the contract's order."""

    def __init__(self, path: Path, columns: Sequence[str], quote: bool = False) -> None:
        self.path = path
        self.columns = tuple(columns)
        self.rows = 0
        self.quote = quote
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "wb")  # noqa: SIM115 (closed in close())
        self._file.write((",".join(self.columns) + "\n").encode())

    def write(self, table: pa.Table) -> None:
        self.write_text(csv_text(table, self.columns, self.quote))

    def write_text(self, text: CsvText) -> None:
        """Append rows already turned to CSV text (by `csv_text`, e.g. in a worker thread)."""
        if text.columns != self.columns:
            raise ValueError(f"{self.path.name}: columns {list(text.columns)} differ from {list(self.columns)}")
        self._file.write(text.data)
        self.rows += text.rows

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> CsvFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_table(path: Path, table: pa.Table, quote: bool = False) -> int:
    """Write one whole (small) table; returns its row count."""
    with CsvFile(path, table.column_names, quote=quote) as out:
        out.write(table)
        return out.rows
