"""The polished transaction price index and price quotes.

`index.build(store, settings)` brings the index (cells per shape family, size bracket, colour,
clarity and period; raw and monotone figures; the asking-to-transaction gap; the headline
composite) up to date incrementally and refits the quote model; `quotes.quote(store, Stone(...))`
and `quotes.Quoter.load(store).quote_table(table)` price any stone; `export.grids_csv` writes the
grids in the trade's layout. docs/pricing.md describes the method.
"""

from __future__ import annotations

from .index import BuildReport, build, cell_series, headline
from .quotes import Quote, Quoter, Stone, quote

__all__ = ["BuildReport", "Quote", "Quoter", "Stone", "build", "cell_series", "headline", "quote"]
