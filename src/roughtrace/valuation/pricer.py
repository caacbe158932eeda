"""What valuation asks of the polished price index: a price per carat for many stones at once.

Valuation depends on this small protocol, not on how the index is built; `index_pricer(store)`
adapts the pricing package's vectorised quotes (`pricing.quotes.Quoter.quote_table`) to it.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import NotFound


class PolishedPricer(Protocol):
    """Transaction-based polished prices for columns of stones."""

    def price_per_carat(
        self, shape: pa.Array, carat: np.ndarray, color: pa.Array, clarity: pa.Array, date: np.ndarray,
        cut: pa.Array | None = None,
    ) -> np.ndarray:
        """USD per polished carat for each stone (float64, one per row), as of each row's date.

        `shape`, `color`, `clarity`, `cut` are Arrow string arrays in the canonical spellings of
        domain.grades (cut null when not graded); `carat` is float64 carats; `date` is numpy
        datetime64[D]."""


class PricerUnavailable(NotFound):
    """No polished price index can be had from this store (none built, or no transactions)."""

    code = "no_price_index"


def index_pricer(store: Any, settings: Any = None) -> PolishedPricer:
    """The pricing package's transaction index over `store` (built by `roughtrace prices build`),
    as a PolishedPricer. Raises PricerUnavailable when no index has been built."""
    from ..pricing.quotes import Quoter

    try:
        return _IndexPricer(Quoter.load(store, settings))
    except NotFound as error:
        raise PricerUnavailable(
            "there is no polished price index to value the outcomes with: import transactions, then run "
            "`roughtrace prices build`") from error


class _IndexPricer:
    """Adapter from the pricing package's vectorised quotes (Quoter.quote_table) to PolishedPricer."""

    def __init__(self, quoter: Any) -> None:
        self.quoter = quoter

    def price_per_carat(
        self, shape: pa.Array, carat: np.ndarray, color: pa.Array, clarity: pa.Array, date: np.ndarray,
        cut: pa.Array | None = None,
    ) -> np.ndarray:
        columns = {
            "shape": shape, "carat": pa.array(np.asarray(carat, dtype=np.float64)), "color": color,
            "clarity": clarity, "date": pa.array(np.asarray(date, dtype="datetime64[D]"), pa.date32()),
        }
        if cut is not None:
            columns["cut"] = cut
        quotes = self.quoter.quote_table(pa.table(columns))
        return np.asarray(pc.cast(quotes["price_per_carat"], pa.float64()).to_numpy(zero_copy_only=False))
