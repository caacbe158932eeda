"""Export: the stored rows of one kind, written back in the formats the importer reads.

Only the contract columns of the kind are written, in the order the rows were imported (batch,
then source row), so a file exported here imports again as the same records. Carats are written
as exact text with 3 decimals and US dollars with 2 (Parquet keeps them as exact DECIMAL); never
a binary float. Text is written verbatim: cells that a spreadsheet would run as a formula are NOT
escaped, because this is a data export meant to be re-imported (`quarantine export`, meant for
people, is the one that escapes them).

Rows are read from the store in pages by (batch_id, source_row), so memory stays bounded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..domain import kinds
from ..domain.kinds import KINDS, Kind
from ..domain.money import CARAT_PLACES, USD_PLACES
from ..errors import Problem, UsageError
from ..store.port import Store

EXPORT_FORMATS = ("csv", "xlsx", "json", "jsonl", "parquet")
PAGE_ROWS = 100_000
XLSX_MAX_ROWS = 1_048_575
"""A worksheet holds 1,048,576 rows, the header included."""


def export_kind(store: Store, kind: str, path: str | Path, file_format: str = "csv") -> int:
    """Write every stored row of `kind` to `path` as `file_format`; returns the number of rows."""
    if kind not in KINDS:
        raise UsageError(Problem("unknown_kind", f"{kind!r} is not a kind roughtrace stores; use one of {', '.join(KINDS)}"))
    if file_format not in EXPORT_FORMATS:
        raise UsageError(Problem("unknown_format", f"{file_format!r} is not a format roughtrace writes; use one of {', '.join(EXPORT_FORMATS)}"))
    spec = KINDS[kind]
    path = Path(path)
    pages = _pages(store, spec)
    if file_format == "csv":
        return _write_csv(spec, pages, path)
    if file_format == "parquet":
        return _write_parquet(spec, pages, path)
    if file_format == "xlsx":
        return _write_xlsx(spec, pages, path)
    return _write_json(spec, pages, path, lines=file_format == "jsonl")


# -- reading the store in pages ---------------------------------------------------------------------
def _pages(store: Store, spec: Kind) -> Iterator[pa.Table]:
    """The kind's rows in import order, a page at a time as the engine streams them, typed as the
    contract says."""
    names = ", ".join(spec.column_names)
    for page in store.pages(f"SELECT {names} FROM {spec.name} ORDER BY batch_id, source_row", rows=PAGE_ROWS):
        if page.num_rows:
            yield _typed(spec, page)


def _arrow_type(column: kinds.Column) -> pa.DataType:
    if column.type == kinds.CARATS:
        return pa.decimal128(18, CARAT_PLACES)
    if column.type == kinds.USD:
        return pa.decimal128(18, USD_PLACES)
    if column.type == kinds.DATE:
        return pa.date32()
    if column.type == kinds.INTEGER:
        return pa.int64()
    return pa.string()


def _typed(spec: Kind, page: pa.Table) -> pa.Table:
    """The contract columns with one Arrow type each, whatever the engine returned."""
    return pa.table({c.name: pc.cast(page.column(c.name), _arrow_type(c)) for c in spec.columns})


def _as_text(spec: Kind, page: pa.Table, dates_as_text: bool = True) -> pa.Table:
    """Amounts (and dates) as exact text: 3 decimals for carats, 2 for dollars, YYYY-MM-DD."""
    columns = {}
    for column in spec.columns:
        values = page.column(column.name)
        if column.type in (kinds.CARATS, kinds.USD) or (dates_as_text and column.type == kinds.DATE):
            values = pc.cast(values, pa.string())
        columns[column.name] = values
    return pa.table(columns)


def _empty(spec: Kind) -> pa.Table:
    return pa.table({c.name: pa.array([], _arrow_type(c)) for c in spec.columns})


# -- writers -------------------------------------------------------------------------------------------
def _write_csv(spec: Kind, pages: Iterator[pa.Table], path: Path) -> int:
    written = 0
    schema = _as_text(spec, _empty(spec)).schema
    with pacsv.CSVWriter(str(path), schema, write_options=pacsv.WriteOptions(quoting_style="needed")) as writer:
        for page in pages:
            writer.write_table(_as_text(spec, page))
            written += page.num_rows
    return written


def _write_parquet(spec: Kind, pages: Iterator[pa.Table], path: Path) -> int:
    written = 0
    with pq.ParquetWriter(str(path), _empty(spec).schema) as writer:
        for page in pages:
            writer.write_table(page)
            written += page.num_rows
    return written


def _write_json(spec: Kind, pages: Iterator[pa.Table], path: Path, lines: bool) -> int:
    """JSON Lines (one object a line) or a JSON array of objects; each object is encoded by the
    engine, whole columns at a time."""
    written = 0
    fields = ", ".join(f"{json.dumps(c.name)} := {json.dumps(c.name)}" for c in spec.columns)
    con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False})
    try:
        with path.open("w", encoding="utf-8", newline="\n") as handle:
            if not lines:
                handle.write("[")
            for page in pages:
                con.register("rt_page", _as_text(spec, page))
                objects = con.sql(f"SELECT to_json(struct_pack({fields}))::VARCHAR AS o FROM rt_page").to_arrow_table()
                con.unregister("rt_page")
                texts = objects.column("o").to_pylist()
                if lines:
                    handle.write("\n".join(texts) + "\n")
                else:
                    handle.write(("," if written else "") + "\n" + ",\n".join(texts))
                written += page.num_rows
            if not lines:
                handle.write("\n]\n")
    finally:
        con.close()
    return written


def _write_xlsx(spec: Kind, pages: Iterator[pa.Table], path: Path) -> int:
    """One worksheet named after the kind; amounts as exact text cells, dates as date cells,
    text always as text (a value starting with '=' is not turned into a formula)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet(spec.name)
    sheet.append(list(spec.column_names))
    written = 0
    text_columns = {i for i, c in enumerate(spec.columns) if c.type not in (kinds.DATE, kinds.INTEGER)}
    for page in pages:
        if written + page.num_rows > XLSX_MAX_ROWS:
            raise UsageError(Problem("too_many_rows", f"{spec.name} holds more rows than a worksheet can ({XLSX_MAX_ROWS:,}); export it as csv, jsonl or parquet"))
        columns = [c.to_pylist() for c in _as_text(spec, page, dates_as_text=False).columns]
        for values in zip(*columns, strict=True):
            row = []
            for i, value in enumerate(values):
                if i in text_columns and value is not None:
                    cell = WriteOnlyCell(sheet, value=value)
                    cell.data_type = "s"
                    row.append(cell)
                else:
                    row.append(value)
            sheet.append(row)
        written += page.num_rows
    book.save(path)
    return written


__all__ = ["EXPORT_FORMATS", "export_kind"]
