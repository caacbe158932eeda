"""Parquet files, read by a DuckDB connection of the source's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa

from .source import (
    BATCH_ROWS,
    FileScan,
    SourceFile,
    _engine_error,
    _sql_text,
    reader_engine,
)


def _open_parquet(path: Path, scan: FileScan) -> SourceFile:
    con = reader_engine()
    relation = f"read_parquet({_sql_text(str(path))}, file_row_number = true)"
    try:
        described = con.sql(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    except duckdb.Error as exc:
        con.close()
        raise _engine_error(path, "parquet", exc) from None
    header = [name for name, *_ in described if name != "file_row_number"]
    types = {name: sql_type for name, sql_type, *_ in described}
    selects = []
    for i, name in enumerate(header):
        quoted = '"' + name.replace('"', '""') + '"'
        if types[name].startswith("TIMESTAMP"):
            expr = f"CASE WHEN {quoted}::TIME = TIME '00:00:00' THEN {quoted}::DATE::VARCHAR ELSE {quoted}::VARCHAR END"
        else:
            expr = f"{quoted}::VARCHAR"
        selects.append(f"{expr} AS c{i}")
    select_sql = f"SELECT {', '.join(selects)}, file_row_number + 1 AS _row FROM {relation} ORDER BY file_row_number"
    source = SourceFile(path, "parquet", header, scan, stream=lambda: iter(()))

    def stream() -> Iterator[pa.RecordBatch]:
        try:
            yield from con.sql(select_sql).to_arrow_reader(BATCH_ROWS)
        except duckdb.Error as exc:
            raise _engine_error(path, "parquet", exc) from None

    source.stream = stream
    source.engine = con
    return source
