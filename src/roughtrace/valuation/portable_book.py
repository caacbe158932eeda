"""The price book's aggregation written once, as an Ibis expression any engine Ibis compiles for runs
(Spark; DuckDB in the tests): per entry of every level of `pricebook.LEVELS`, the figures of
`pricebook.BOOK_FIGURES`, the rows its native plan (numpy, in this process) gives.

Each group's values become sorted arrays (one grouping per level) and every quantile is read from
their ranks with the arithmetic of the native plan (`pricebook._Ranked.percentile`): the order
statistic at fractional rank p x (n - 1), interpolated between its two neighbours. The robust spread
is the median of the absolute deviations of ln(price per carat) from their median, over the array
of logs. No engine's own percentile function is used, so every engine does the same floating-point
operations; sums of carats and dollars are exact decimals.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ibis

from .pricebook import ANY, KEY_COLUMNS, LEVELS

CARATS = "decimal(38,3)"
DOLLARS = "decimal(38,2)"


def rank_value(values: Any, p: float) -> Any:
    """`percentile_cont(p)` of a sorted array (null when it is empty or null)."""
    count = values.length()
    position = ibis.literal(p, "float64") * (count - 1).cast("float64")
    low = position.floor().cast("int64")
    high = ibis.least(low + 1, count - 1)
    below, above = values[low.cast("int32")], values[high.cast("int32")]
    return ibis.ifelse(count > 0, below + (position - low.cast("float64")) * (above - below), ibis.null("float64"))


def _one_name(column: Any) -> Any:
    """The column's one value within the group, null when the group holds several."""
    return ibis.ifelse(column.nunique() == 1, column.min(), ibis.null("string"))


def _level(boxes: Any, level: str, keys: tuple[str, ...]) -> Any:
    single = "assortment" in keys
    names = {"model": _one_name(boxes.model), "quality": _one_name(boxes.quality)} if single else {}
    metrics = {
        **names, "boxes": boxes.count(),
        "rough_carats": boxes.rough.sum(), "polished_carats": boxes.polished.sum(),
        "value_usd": boxes.value.sum(), "paid_usd": boxes.paid.sum(), "box_carats": boxes.box.sum(),
        "prices": boxes.ppc.collect().sort(), "uplifts": boxes.uplift.collect().sort(),
        "yields": boxes.yield_.collect().sort(), "carats": boxes.rough_ct.collect().sort(),
    }
    grouped = boxes.aggregate(by=list(keys), **metrics) if keys else boxes.aggregate(**metrics)
    logs = grouped.prices.map(lambda v: v.ln()).sort()
    grouped = grouped.mutate(logs=logs, log_median=rank_value(logs, 0.5))
    deviations = grouped.logs.map(lambda v: (v - grouped.log_median).abs()).sort()
    return grouped.select(
        **{name: grouped[name] if name in keys else ibis.literal(ANY, "string") for name in KEY_COLUMNS},
        level=ibis.literal(level, "string"),
        **{name: grouped[name] if single else ibis.null("string") for name in ("model", "quality")},
        boxes=grouped.boxes.cast("int64"),
        rough_carats=grouped.rough_carats.cast(CARATS), polished_carats=grouped.polished_carats.cast(CARATS),
        value_usd=grouped.value_usd.cast(DOLLARS), paid_usd=grouped.paid_usd.cast(DOLLARS),
        box_carats=grouped.box_carats.cast(CARATS),
        price_median=rank_value(grouped.prices, 0.5), price_p10=rank_value(grouped.prices, 0.1),
        price_p90=rank_value(grouped.prices, 0.9), uplift_median=rank_value(grouped.uplifts, 0.5),
        yield_median=rank_value(grouped.yields, 0.5), yield_p10=rank_value(grouped.yields, 0.1),
        yield_p90=rank_value(grouped.yields, 0.9), carats_median=rank_value(grouped.carats, 0.5),
        log_price_mad=rank_value(deviations, 0.5),
    )


def book_figures(tables: Mapping[str, Any]) -> Any:
    """The figures of every price book entry over the valued boxes given (`valued_boxes`, the
    box_valuations columns): those in the book with rough and a price left."""
    v = tables["valued_boxes"]
    kept = v.filter(v.in_book & (v.polished_rough_carats > 0) & (v.rough_price_per_carat > 0))
    boxes = kept.select(
        *KEY_COLUMNS, "model", "quality",
        rough=kept.polished_rough_carats, polished=kept.polished_carats, value=kept.rough_value_usd,
        paid=kept.paid_usd, box=kept.box_carats, ppc=kept.rough_price_per_carat.cast("float64"),
        uplift=kept.uplift.cast("float64"), yield_=kept.yield_.cast("float64"),
        rough_ct=kept.polished_rough_carats.cast("float64"))
    figures = ibis.union(*(_level(boxes, level, keys) for level, keys in LEVELS), distinct=False)
    return figures.filter(figures.boxes > 0)
