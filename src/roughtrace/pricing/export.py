"""The index as the trade reads it: one grid per shape family and size bracket, colour rows by
clarity columns, USD per carat."""

from __future__ import annotations

import csv
import datetime as dt
import io

from ..domain.grades import CLARITIES, COLOURS
from ..domain.sizes import BRACKETS
from ..store.port import Store

FORMULA_STARTS = ("=", "+", "-", "@")


def csv_safe(text: str) -> str:
    """A cell a spreadsheet will not run as a formula: text starting with = + - @ gets a leading
    apostrophe."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def grids(store: Store, period: dt.date | None = None, view: str = "monotone") -> list[tuple[str, str, dt.date, list[list[str]]]]:
    """(shape family, size bracket, period, rows) for every grid of one period (the latest when
    None); rows[0] is the header, then one row per colour with a cell per clarity ('' untraded).
    `view` is `monotone` or `raw` (the median)."""
    column = "monotone_ppc" if view == "monotone" else "median_ppc"
    if period is None:
        latest = store.query("SELECT max(period_start) AS p FROM price_index_cells").column("p")[0].as_py()
        if latest is None:
            return []
        period = latest
    cells = store.query(f"SELECT shape_family, size_bracket, color, clarity, {column} AS v FROM price_index_cells "
                        "WHERE period_start = ?", (period,)).to_pylist()
    by_grid: dict[tuple[str, str], dict[tuple[str, str], str]] = {}
    for row in cells:
        by_grid.setdefault((row["shape_family"], row["size_bracket"]), {})[(row["color"], row["clarity"])] = str(row["v"])
    out = []
    for family in ("round", "fancy"):
        for bracket in BRACKETS:
            values = by_grid.get((family, bracket))
            if not values:
                continue
            colours = [c for c in COLOURS if any((c, k) in values for k in CLARITIES)]
            clarities = [k for k in CLARITIES if any((c, k) in values for c in COLOURS)]
            rows = [["color"] + clarities] + [[c] + [values.get((c, k), "") for k in clarities] for c in colours]
            out.append((family, bracket, period, rows))
    return out


def grids_csv(store: Store, period: dt.date | None = None, view: str = "monotone") -> str:
    """All grids of a period as one CSV text: a title line per grid, its table, a blank line."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for family, bracket, start, rows in grids(store, period, view):
        writer.writerow([csv_safe(f"{family} {bracket} ct, {start.isoformat()}, USD per carat ({view})")])
        for row in rows:
            writer.writerow([csv_safe(cell) for cell in row])
        writer.writerow([])
    return buffer.getvalue()
