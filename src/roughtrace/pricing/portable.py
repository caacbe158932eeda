"""The price index cells' heavy part written once, as an Ibis expression any engine Ibis compiles
for runs (Spark; DuckDB in the tests): per period and cell (`index.ROW_CELL_SQL`'s key), the rows,
counts after the outlier rule and the three quartiles of price per carat. The same arithmetic as
`quartiles` (its numpy form, the store engine's own plan): a quartile is the order statistic at
fractional rank p x (n - 1), interpolated between its two neighbours; the rule sets aside a value
outside Tukey's fences on the log scale and the quartiles are taken again over the ranks kept.
Each cell's prices become one sorted array (one grouping, one shuffle on a cluster) and every figure
is read from its ranks; no engine's own percentile function is used, so every engine does the same
floating-point operations and the figures agree to the last bit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import ibis

from ..domain.grades import CLARITIES, COLOURS
from ..domain.sizes import BRACKET_LOWER_BOUNDS
from .index import _UNKNOWN_CODE, ASKING_KEY, COUNT_GROUP, DRAW_MODULUS, DRAW_STEPS, MODEL_COLUMNS, PERIOD_KEY
from .quartiles import QUARTILES

UNITS = {"week": "W", "month": "M", "quarter": "Q", "year": "Y"}
GROUP = ("period_start", "cell")


def _grade_code(column: Any, scale: tuple[str, ...], unknown: int) -> Any:
    return ibis.cases(*((column == value, code) for code, value in enumerate(scale)), else_=unknown)


def cell_key(t: Any) -> Any:
    """A price record's cell key without its period (as `index.ROW_CELL_SQL`): negative for a
    price type other than transaction or asking."""
    price_type = ibis.cases((t.price_type == "transaction", 0), (t.price_type == "asking", ASKING_KEY),
                            else_=-PERIOD_KEY)
    family = ibis.cases((t.shape == "round", 0), else_=16384)
    bracket = ibis.cases(*((t.carat >= ibis.literal(low, type="decimal(18,3)"), code * 512)
                           for code, low in reversed(list(enumerate(BRACKET_LOWER_BOUNDS)))), else_=0)
    colour = _grade_code(t.color, COLOURS, _UNKNOWN_CODE["color"])
    clarity = _grade_code(t.clarity, CLARITIES, _UNKNOWN_CODE["clarity"])
    return (price_type + family + bracket + colour * 16 + clarity).cast("int64")


def _percentile(values: Any, p: float, first: Any, count: Any) -> Any:
    """`percentile_cont(p)` of `count` values of a sorted array from (0-based) rank `first`."""
    position = p * (count - 1).cast("float64")
    low = position.floor().cast("int64")
    high = ibis.least(low + 1, count - 1)
    below, above = values[(first + low).cast("int32")], values[(first + high).cast("int32")]
    return below + (position - low.cast("float64")) * (above - below)


def cell_figures(tables: Mapping[str, Any], *, length: str, outlier_iqr: float,
                 periods: list[dt.date] | None = None) -> Any:
    """Per (period, cell) key (`index.PERIOD_KEY` x days of the period start + cell key), ascending:
    rows, kept values `n`, `n_outliers` and quartiles q25, q50, q75 of price per carat (USD/ct)
    after the outlier rule, which applies to transaction cells only (0 switches it off). One
    grouping: each cell's prices as one sorted array, whose ranks give every figure."""
    t = tables["transactions"]
    rows = t.select(period_start=t.date.truncate(UNITS[length]), cell=cell_key(t),
                    ppc=t.price_usd.cast("float64") / t.carat.cast("float64"))
    rows = rows.filter(rows.cell >= 0)
    if periods is not None:
        rows = rows.filter(rows.period_start.isin(periods))
    cells = rows.group_by(GROUP).aggregate(values=rows.ppc.collect().sort(), rows=rows.ppc.count())
    if outlier_iqr > 0:
        cells = cells.mutate(q25=_percentile(cells["values"], 0.25, 0, cells.rows),
                             q75=_percentile(cells["values"], 0.75, 0, cells.rows))
        spread = cells.q75.ln() - cells.q25.ln()
        cells = cells.mutate(low=(cells.q25.ln() - outlier_iqr * spread).exp(),
                             high=(cells.q75.ln() + outlier_iqr * spread).exp())
        cells = cells.mutate(below=cells["values"].filter(lambda v: v < cells.low).length(),
                             above=cells["values"].filter(lambda v: v > cells.high).length())
        kept = cells.rows - cells.below - cells.above
        applies = (cells.cell < ASKING_KEY) & (kept > 0)
        cells = cells.mutate(skip=ibis.ifelse(applies, cells.below, 0), n=ibis.ifelse(applies, kept, cells.rows))
    else:
        cells = cells.mutate(skip=ibis.literal(0, "int64"), n=cells.rows)
    figures = cells.select(
        key=cells.period_start.epoch_days().cast("int64") * PERIOD_KEY + cells.cell, rows=cells.rows.cast("int64"),
        n=cells.n.cast("int64"), n_outliers=(cells.rows - cells.n).cast("int64"),
        **{name: _percentile(cells["values"], p, cells.skip, cells.n) for p, name in zip(QUARTILES, ("q25", "q50", "q75"),
                                                                                        strict=True)})
    return figures.order_by("key")


def model_trades(tables: Mapping[str, Any], *, length: str) -> Any:
    """Every transaction (not asking) row as the quote model reads it (`index.MODEL_COLUMNS`): shape
    family, carat, grades, cut, lab, period start, price (the store's decimals) and identity, and the
    index cell when the table given has one."""
    t = tables["transactions"]
    t = t.filter(t.price_type == "transaction")
    cell = {"cell": t.cell} if "cell" in t.columns else {}
    return t.select(shape_family=ibis.ifelse(t.shape == "round", "round", "fancy"), carat=t.carat, color=t.color,
                    clarity=t.clarity, cut=t.cut, lab=t.lab, period_start=t.date.truncate(UNITS[length]).cast("date"),
                    price_usd=t.price_usd, batch_id=t.batch_id.cast("int64"), source_row=t.source_row.cast("int64"), **cell)


def _drawn(tables: Mapping[str, Any], *, length: str) -> Any:
    """The model's trade rows with their draw (`index.draw_of`: the identity folded to one number
    below `index.DRAW_MODULUS`, then two quadratic mixing steps, all in 64-bit integers no step
    overflows)."""
    m = ibis.literal(DRAW_MODULUS, "int64")
    trades = model_trades(tables, length=length)
    value = (trades.batch_id % m * 1000003 + trades.source_row % m) % m
    for a, b, c in DRAW_STEPS:
        trades = trades.mutate(draw=value)
        value = (trades.draw * trades.draw % m * a + trades.draw * b + c) % m
    return trades.mutate(draw=value)


def model_sample(tables: Mapping[str, Any], *, length: str, below: int) -> Any:
    """The transaction rows whose draw (`_drawn`) is below `below`, with their draw."""
    drawn = _drawn(tables, length=length)
    return drawn.filter(drawn.draw < ibis.literal(below, "int64"))


def model_effect_trades(tables: Mapping[str, Any], *, length: str, cap: int) -> Any:
    """In each index cell, the transaction rows of the `cap` lowest draws (ties by identity): a rank
    within the cell (`index.MODEL_EFFECT_TRADES`)."""
    t = tables["transactions"]
    t = t.filter(t.price_type == "transaction")
    drawn = _drawn({"transactions": t.mutate(cell=cell_key(t))}, length=length)
    place = ibis.row_number().over(group_by=drawn.cell, order_by=[drawn.draw, drawn.batch_id, drawn.source_row])
    ranked = drawn.mutate(place=place)
    return ranked.filter(ranked.place < ibis.literal(cap, "int64")).select(*MODEL_COLUMNS)


def model_trade_counts(tables: Mapping[str, Any], *, length: str) -> Any:
    """Per index cell, shape family, grades, cut and period (`index.COUNT_GROUP`): the transaction
    rows `n` and their lowest and highest carat."""
    t = tables["transactions"]
    t = t.filter(t.price_type == "transaction")
    trades = model_trades({"transactions": t.mutate(cell=cell_key(t))}, length=length)
    return trades.group_by(list(COUNT_GROUP)).aggregate(n=trades.count().cast("int64"), low_carat=trades.carat.min(),
                                                        high_carat=trades.carat.max())
