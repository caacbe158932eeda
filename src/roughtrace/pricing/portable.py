"""The price index cells' heavy part written once, as an Ibis expression any engine Ibis compiles
for runs (Spark; DuckDB in the tests): per period and cell (`index.ROW_CELL_SQL`'s key), the rows,
counts after the outlier rule and the three quartiles of price per carat. The same arithmetic as
`quartiles` (its numpy form, the store engine's own plan): a quartile is the order statistic at
fractional rank p x (n - 1), interpolated between its two neighbours; the rule sets aside a value
outside Tukey's fences on the log scale and the quartiles are taken again over the ranks kept.
Ranks come from one window per cell; no engine's own percentile function is used, so every engine
does the same floating-point operations and the figures agree to the last bit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import ibis

from ..domain.grades import CLARITIES, COLOURS
from ..domain.sizes import BRACKET_LOWER_BOUNDS
from .index import _UNKNOWN_CODE, ASKING_KEY, PERIOD_KEY
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


def _at_rank(ranked: Any, p: float, first: Any, count: Any) -> tuple[Any, Any, Any]:
    """Per row, for percentile p of `count` values from rank `first`: the fraction past the lower
    rank, and whether this row holds the lower or the upper neighbour."""
    position = p * (count - 1).cast("float64")
    low = position.floor().cast("int64")
    high = ibis.least(low + 1, count - 1)
    return position - low.cast("float64"), ranked["rank"] == first + low, ranked["rank"] == first + high


def _quartiles(ranked: Any, first: Any, count: Any, names: tuple[str, str, str], extra: Mapping[str, Any]) -> Any:
    """One aggregate per cell: `extra`, and the quartiles over `count` ranks from `first` (both
    columns of `ranked`, constant within a cell)."""
    parts: dict[str, Any] = dict(extra)
    for p, name in zip(QUARTILES, names, strict=True):
        fraction, at_low, at_high = _at_rank(ranked, p, first, count)
        parts[f"{name}_f"] = fraction.max()
        parts[f"{name}_lo"] = ranked.ppc.max(where=at_low)
        parts[f"{name}_hi"] = ranked.ppc.max(where=at_high)
    figures = ranked.group_by(GROUP).aggregate(**parts)
    return figures.mutate(**{name: figures[f"{name}_lo"] + figures[f"{name}_f"] * (figures[f"{name}_hi"] - figures[f"{name}_lo"])
                             for name in names}).drop(*(f"{n}_{s}" for n in names for s in ("f", "lo", "hi")))


def cell_figures(tables: Mapping[str, Any], *, length: str, outlier_iqr: float,
                 periods: list[dt.date] | None = None) -> Any:
    """Per (period, cell) key (`index.PERIOD_KEY` x days of the period start + cell key), ascending:
    rows, kept values `n`, `n_outliers` and quartiles q25, q50, q75 of price per carat (USD/ct)
    after the outlier rule, which applies to transaction cells only (0 switches it off)."""
    t = tables["transactions"]
    rows = t.select(period_start=t.date.truncate(UNITS[length]), cell=cell_key(t),
                    ppc=t.price_usd.cast("float64") / t.carat.cast("float64"))
    rows = rows.filter(rows.cell >= 0)
    if periods is not None:
        rows = rows.filter(rows.period_start.isin(periods))
    ranked = rows.mutate(rank=ibis.row_number().over(group_by=list(GROUP), order_by=rows.ppc),
                         rows=rows.ppc.count().over(group_by=list(GROUP)))
    first = _quartiles(ranked, 0, ranked.rows, ("q25", "q50", "q75"), {"rows": ranked.rows.max()})
    if outlier_iqr <= 0:
        figures = first.mutate(n=first.rows, n_outliers=ibis.literal(0, "int64"))
    else:
        spread = first.q75.ln() - first.q25.ln()
        fences = first.select(*GROUP, low=(first.q25.ln() - outlier_iqr * spread).exp(),
                              high=(first.q75.ln() + outlier_iqr * spread).exp())
        joined = ranked.inner_join(fences, list(GROUP))
        outside = joined.group_by(GROUP).aggregate(below=(joined.ppc < joined.low).cast("int64").sum(),
                                                   above=(joined.ppc > joined.high).cast("int64").sum())
        rule = first.select(*GROUP, "rows").inner_join(outside, list(GROUP))
        applies = (rule.cell < ASKING_KEY) & (rule.rows - rule.below - rule.above > 0)
        rule = rule.select(*GROUP, skip=ibis.ifelse(applies, rule.below, 0),
                           n=ibis.ifelse(applies, rule.rows - rule.below - rule.above, rule.rows))
        kept = ranked.inner_join(rule, list(GROUP))
        figures = _quartiles(kept, kept.skip, kept.n, ("q25", "q50", "q75"),
                             {"rows": kept.rows.max(), "n": kept.n.max(), "skip": kept.skip.max()})
        figures = figures.mutate(n_outliers=figures.rows - figures.n).drop("skip")
    key = figures.period_start.epoch_days().cast("int64") * PERIOD_KEY + figures.cell
    return figures.select(key=key, rows=figures.rows.cast("int64"), n=figures.n.cast("int64"),
                          n_outliers=figures.n_outliers.cast("int64"), q25="q25", q50="q50", q75="q75").order_by("key")
