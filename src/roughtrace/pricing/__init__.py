"""The polished transaction price index and price quotes.

`index.build(store, settings)` brings the index (cells per shape family, size bracket, colour,
clarity and period; raw and monotone figures; the asking-to-transaction gap; the headline
composite) up to date incrementally and refits the quote model; `quotes.quote(store, Stone(...))`
and `quotes.Quoter.load(store).quote_table(table)` price any stone; `export.grids_csv` writes the
grids in the trade's layout. docs/pricing.md describes the method.
"""

from __future__ import annotations

from ..lazy import lazy_names

_SOURCES = {
    "BuildReport": "index", "build": "index", "cell_series": "index", "headline": "index", "Quote": "quotes",
    "Quoter": "quotes", "Stone": "quotes", "quote": "quotes",
}
"""Where each public name lives (roughtrace.lazy imports it on first use)."""

__all__ = ["BuildReport", "Quote", "Quoter", "Stone", "build", "cell_series", "headline", "quote"]


__getattr__ = lazy_names(__name__, globals(), _SOURCES)
