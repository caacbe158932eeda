"""Columns to Arrow and Arrow to CSV in the interchange format (formats.md): exact decimals
(carats 3 places, dollars 2), dates YYYY-MM-DD, enumerations in their canonical spelling, empty
cells for missing optional values. Batches are appended to one file so memory stays bounded."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv


def _validity(valid: np.ndarray | None) -> pa.Buffer | None:
    if valid is None or valid.all():
        return None
    return pa.py_buffer(np.packbits(valid.astype(bool), bitorder="little"))


def fixed_decimal(units: np.ndarray, scale: int, valid: np.ndarray | None = None) -> pa.Array:
    """An exact decimal column from integer counts of 10^-scale (milli-carats for carats, cents for
    dollars); `valid` False leaves a cell empty."""
    units = np.ascontiguousarray(units, dtype=np.int64)
    words = np.empty((len(units), 2), dtype=np.int64)
    words[:, 0] = units
    words[:, 1] = units >> 63
    return pa.Array.from_buffers(pa.decimal128(18, scale), len(units), [_validity(valid), pa.py_buffer(words)])


def carats_column(mct: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Carats from milli-carats, 3 decimals."""
    return fixed_decimal(mct, 3, valid)


def usd_column(cents: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """US dollars from cents, 2 decimals."""
    return fixed_decimal(cents, 2, valid)


def date_column(days: np.ndarray) -> pa.Array:
    """Dates from day numbers (days since 1970-01-01)."""
    days = np.ascontiguousarray(days, dtype=np.int32)
    return pa.Array.from_buffers(pa.date32(), len(days), [None, pa.py_buffer(days)])


def coded(indices: np.ndarray, spellings: Sequence[str], valid: np.ndarray | None = None) -> pa.Array:
    """A text column from codes into `spellings` (written as the spelling)."""
    codes = pa.array(np.ascontiguousarray(indices, dtype=np.int32), mask=None if valid is None else ~valid)
    return pa.DictionaryArray.from_arrays(codes, pa.array(list(spellings), pa.string()))


def numbered(prefix: pa.Array | str, numbers: np.ndarray, width: int = 0) -> pa.Array:
    """Text ids: a prefix joined to a number zero-padded to `width`, e.g. 'TX' + 0000000042."""
    text = pc.cast(pa.array(np.ascontiguousarray(numbers, dtype=np.int64)), pa.string())
    if width:
        text = pc.utf8_lpad(text, width=width, padding="0")
    if isinstance(prefix, str):
        return pc.binary_join_element_wise(prefix, text, "") if prefix else text
    return pc.binary_join_element_wise(prefix, text, "")


class CsvFile:
    """A CSV file written batch by batch, header first, columns in the contract's order."""

    def __init__(self, path: Path, columns: Sequence[str], quote: bool = False) -> None:
        self.path = path
        self.columns = tuple(columns)
        self.rows = 0
        self._options = pacsv.WriteOptions(include_header=False, quoting_style="needed" if quote else "none")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "wb")  # noqa: SIM115 (closed in close())
        self._file.write((",".join(self.columns) + "\n").encode())

    def write(self, table: pa.Table) -> None:
        if table.column_names != list(self.columns):
            raise ValueError(f"{self.path.name}: columns {table.column_names} differ from {list(self.columns)}")
        if table.num_rows:
            pacsv.write_csv(table, self._file, self._options)
            self.rows += table.num_rows

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
