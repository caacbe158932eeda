"""`prices build | quote | export | history`: the transaction price index, quotes from it, its grids
and its history."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from ..errors import FileRejected, Problem
from . import Context

if TYPE_CHECKING:
    from ..pricing.index import BuildReport
    from ..pricing.quotes import Quote, Quoter, Stone


def _store(context: Context) -> Any:
    """The store with the price index's tables in place."""
    from ..pricing.schema import ensure_schema

    ensure_schema(context.store)
    return context.store


@dataclass(frozen=True)
class IndexBuilt:
    """What an index build did, and the headline index after it."""

    report: BuildReport
    headline: dict[str, Any]


def build_price_index(context: Context) -> IndexBuilt:
    """Bring the index up to date: recompute the periods whose transactions changed and refit the
    quote model; with the headline index (first period = 100) it leaves."""
    from ..pricing import index

    report = index.build(_store(context), context.settings)
    return IndexBuilt(report, index.headline(context.store))


def quote_stone(context: Context, stone: Stone, quoter: Quoter | None = None) -> Quote:
    """One stone's price per carat in USD with its band, the trades behind it and the method: from
    `quoter` (a model the caller loaded from this store under these settings and keeps), else from
    the store's loaded quote model, kept with the store until a build refits it."""
    from ..pricing.quotes import quote
    from .access import require

    require(context.actor, "prices")
    if quoter is not None:
        return quoter.quote(stone)
    return quote(_store(context), stone, context.settings)


@dataclass(frozen=True)
class StoneQuotes:
    """The stones of a file, each row with its quote columns (null where it could not be quoted),
    and the problems of the rows refused (by row and column)."""

    stones: pa.Table
    problems: list[Problem]


def quote_stones(context: Context, stones: pa.Table, file: str | None = None) -> StoneQuotes:
    """Quote every stone of a table of text columns (shape, carat, color, clarity[, cut, lab, date]):
    each row that cannot be quoted gets its own problem and the others are quoted, every row kept in
    the table's order. `FileRejected` when no row can be quoted for a reason of the whole table."""
    from ..pricing.quotes import Quoter, check_stones

    stones, problems, good = check_stones(stones, file=file)
    if not good.any() and (problems and problems[0].row is None):
        raise FileRejected(problems)
    quoter = Quoter.load(_store(context), context.settings)
    at = np.flatnonzero(good)
    quotes = quoter.quote_table(stones.take(pa.array(at)))
    # each quote back on its own row; refused rows take nulls
    source = np.full(stones.num_rows, -1)
    source[at] = np.arange(len(at))
    back = pa.array(source, mask=source < 0)
    result = stones
    for name in quotes.column_names:
        result = result.append_column(f"quote_{name}" if name in stones.column_names else name, quotes.column(name).take(back))
    return StoneQuotes(result, problems)


def price_grids(context: Context, period: dt.date | None = None, raw: bool = False) -> str:
    """The grids of one period (the latest by default) as CSV text in the trade's layout: a table
    per shape family and size bracket, colour rows by clarity columns, USD per carat; the raw
    medians or the monotone view. Empty when the index has no cells for that period."""
    from ..pricing.export import grids_csv

    return grids_csv(_store(context), period, "raw" if raw else "monotone")


def price_history(context: Context, cell: tuple[str, str, str, str] | None = None) -> list[dict[str, Any]]:
    """The headline index period by period with its change, or one cell's (shape family, size
    bracket, colour, clarity) median and quartiles; `NotFound` when there is nothing to show."""
    from ..pricing.history import history
    from .access import require

    require(context.actor, "prices")
    return history(_store(context), cell)
