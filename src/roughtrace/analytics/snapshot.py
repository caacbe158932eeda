"""A snapshot of the store's tables as Parquet, one file per input kind, for an engine that reads
files where the store cannot reach (a Spark cluster reading a shared directory or object store).
The rows are streamed a page at a time, in import order, so a table of any size is written in the
memory of one page."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
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
        with writing(path):
            written[kind] = write_pages(path, store.pages(f"SELECT * FROM {kind} ORDER BY batch_id, source_row",
                                                          rows=PAGE_ROWS))
    return written


def write_pages(path: Path, pages: Iterable[pa.Table]) -> int:
    """Pages of one schema (the first page's; at least one page) as one Parquet file, written a
    page at a time; returns the rows written."""
    rows = 0
    writer: pq.ParquetWriter | None = None
    try:
        for page in pages:
            if writer is None:
                writer = pq.ParquetWriter(path, page.schema)
            writer.write_table(page.cast(writer.schema))
            rows += page.num_rows
    finally:
        if writer is not None:
            writer.close()
    return rows
