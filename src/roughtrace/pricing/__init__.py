"""The polished transaction price index and price quotes.

`index.build(store, settings)` brings the index (cells per shape family, size bracket, colour,
clarity and period; raw and monotone figures; the asking-to-transaction gap; the headline
composite) up to date incrementally and refits the quote model; `quotes.quote(store, Stone(...))`
and `quotes.Quoter.load(store).quote_table(table)` price any stone; `export.grids_csv` writes the
grids in the trade's layout. docs/pricing.md describes the method.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_SOURCES = {
    "BuildReport": "index", "build": "index", "cell_series": "index", "headline": "index", "Quote": "quotes",
    "Quoter": "quotes", "Stone": "quotes", "quote": "quotes",
}
"""Where each public name lives: imported on first use, so that importing the area's settings or
schema (as every command does) does not load its computations and their libraries."""

__all__ = ["BuildReport", "Quote", "Quoter", "Stone", "build", "cell_series", "headline", "quote"]


def __getattr__(name: str) -> Any:
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_SOURCES[name]}"), name)
    globals()[name] = value
    return value
