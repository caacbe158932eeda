"""A snapshot of the store's tables as Parquet, one file per input kind, for an engine that reads
files where the store cannot reach (a Spark cluster reading a shared directory or object store).
The rows are read a page at a time, in import order, so a table of any size is written in the
memory of one page."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from ..domain.kinds import KINDS
from ..errors import writing
from ..store.port import Store

PAGE_ROWS = 1_000_000


def write_snapshot(store: Store, directory: Path) -> dict[str, int]:
    """Every input kind's stored rows as `directory`/<kind>.parquet (all its columns, as the store
    types them); returns the rows written per kind."""
    written: dict[str, int] = {}
    with writing(directory):
        directory.mkdir(parents=True, exist_ok=True)
    for kind in KINDS:
        path = directory / f"{kind}.parquet"
        last: tuple[int, int] | None = None
        rows = 0
        writer: pq.ParquetWriter | None = None
        with writing(path):
            try:
                while True:
                    where, params = ("", ()) if last is None else ("WHERE (batch_id, source_row) > (?, ?)", last)
                    page = store.query(f"SELECT * FROM {kind} {where} ORDER BY batch_id, source_row LIMIT {PAGE_ROWS}",
                                       params)
                    if writer is None:
                        writer = pq.ParquetWriter(path, page.schema)
                    if page.num_rows == 0:
                        break
                    writer.write_table(page)
                    rows += page.num_rows
                    last = (int(page.column("batch_id")[-1].as_py()), int(page.column("source_row")[-1].as_py()))
            finally:
                if writer is not None:
                    writer.close()
        written[kind] = rows
    return written
