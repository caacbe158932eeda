"""The order of the rows in a written file (`row_order`): real files arrive in any order, so the
simulator can write them as drawn, shuffled, sorted by sightholder, or with a copier's claims first.

A file is rewritten through DuckDB, each line read as one opaque text (never parsed, so the cells
stay byte-identical), sorted, and written back: memory stays bounded (DuckDB sorts out of core)
whatever the file's size, and the order depends on the seed and the rows only."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import duckdb

SORT_MEMORY = "512MB"
"""DuckDB's memory for one sort; larger files spill to a temporary folder beside them."""
_OPAQUE = "\x01"
"""A delimiter no written file holds, so each line is one column."""


def reorder_rows(path: Path, order: str, seed: int, sightholder_column: str,
                 first_sightholders: Sequence[str] = ()) -> None:
    """Rewrite the CSV file at `path` (header kept first) with its rows in `order`:
    `generated` leaves it as is; `shuffled` sorts by a hash of (seed, row); `by_sightholder` by the
    `sightholder_column` then the row's text; `copier_first` puts the rows of `first_sightholders`
    first, each part shuffled. The file's cells must be unquoted (no comma inside a value)."""
    if order == "generated":
        return
    header = path.open("rb").readline().decode().rstrip("\n")
    position = header.split(",").index(sightholder_column) + 1
    holder = f"split_part(line, ',', {position})"
    shuffled = f"hash({int(seed)}, line), line"
    if order == "shuffled":
        key = shuffled
    elif order == "by_sightholder":
        key = f"{holder}, line"
    elif order == "copier_first":
        listed = ", ".join("'" + h.replace("'", "''") + "'" for h in first_sightholders)
        key = f"{holder} NOT IN ({listed}), {shuffled}" if listed else shuffled
    else:
        raise ValueError(f"unknown row order {order!r}")
    temporary = path.with_name(path.name + ".sorting")
    spill = path.with_name(path.name + ".spill")
    quoted_header = header.replace('"', '""')
    # the folder is the user's: its paths go in as configuration and an escaped literal, never as bare SQL
    con = duckdb.connect(config={"memory_limit": SORT_MEMORY, "threads": 2, "temp_directory": str(spill)})
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute(f"""COPY (SELECT line AS "{quoted_header}" FROM read_csv(?, columns = {{'line': 'VARCHAR'}},
                delim = '{_OPAQUE}', quote = '', escape = '', header = true, auto_detect = false)
                ORDER BY {key})
            TO '{str(temporary).replace("'", "''")}' (FORMAT csv, DELIMITER '{_OPAQUE}', QUOTE '', HEADER true)""", [str(path)])
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
    os.replace(temporary, path)
