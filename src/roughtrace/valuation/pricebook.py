"""The rough price book: reverse-engineered rough prices per carat, per assortment, origin and period,
built from every tracked box.

Each entry holds the number of boxes behind it, the median rough price per carat (the book price),
the carat-weighted mean, the P10-P90 band over boxes, what sightholders paid, the realised uplift and
the yield figures. Broader entries (`*` for any origin, period or assortment) sit beside the finest
ones so a valuator can fall back on them when an (assortment, origin, period) has too few boxes.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..analytics.port import AnalyticsEngine, Computation, InStoreEngine, engine_for
from ..settings import SettingError
from .boxes import BoxRules, value_boxes
from .hs import hs_class
from .method import CostModel, cost_model_from_settings
from .pricer import PolishedPricer

ANY = "*"
"""Stands for any assortment, origin or period in a broader price book entry."""

KEY_COLUMNS: tuple[str, ...] = ("assortment", "hs_code", "origin", "period")
FITTED = "assortment/period fitted"
"""The level of the fitted entries (see `fit_assortment_period`)."""
LEVELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("assortment/origin/period", ("assortment", "hs_code", "origin", "period")),
    ("assortment/period", ("assortment", "hs_code", "period")),
    ("assortment/origin", ("assortment", "hs_code", "origin")),
    ("assortment", ("assortment", "hs_code")),
    ("hs_code/origin/period", ("hs_code", "origin", "period")),
    ("hs_code/origin", ("hs_code", "origin")),
    ("hs_code", ("hs_code",)),
    ("origin/period", ("origin", "period")),
    ("origin", ("origin",)),
    ("all", ()),
)
"""Every grouping the book keeps as observed figures, finest first; a key column outside the grouping
reads `*` (any). An assortment ships under one HS code, so the assortment levels carry it as a key too.
Beside them the book keeps the FITTED level, one entry per assortment and period."""
LEVEL_NAMES: tuple[str, ...] = (FITTED,) + tuple(name for name, _ in LEVELS)
SHRINK_BOXES = 5
"""An assortment's own spread counts as this many boxes' worth against the pooled spread."""

BOOK_COLUMNS: tuple[str, ...] = (
    "assortment", "hs_code", "origin", "period", "level", "model", "quality", "boxes", "rough_carats", "polished_carats",
    "price_per_carat", "mean_price_per_carat", "p10_per_carat", "p90_per_carat", "paid_per_carat",
    "uplift_median", "yield_median", "yield_p10", "yield_p90", "median_box_carats", "price_se", "box_spread",
    "cost_model", "built_at",
)


Z_P10_P90 = 1.2816
MEDIAN_EFFICIENCY = 1.2533
"""The standard error of a median is about 1.2533 times that of a mean (normal data)."""
MAD_TO_SPREAD = 1.4826
"""A normal spread is about 1.4826 times the median absolute deviation."""
MEDIAN_SE_PER_MAD = float(Decimal(str(MEDIAN_EFFICIENCY)) * Decimal(str(MAD_TO_SPREAD)))
"""The standard error of a median of one box per median absolute deviation."""
BOOK_TYPES: dict[str, pa.DataType] = {
    **dict.fromkeys(("assortment", "hs_code", "origin", "period", "level", "model", "quality", "cost_model"), pa.string()),
    "boxes": pa.int64(), "built_at": pa.timestamp("us"),
    **dict.fromkeys(("rough_carats", "polished_carats", "median_box_carats"), pa.decimal128(18, 3)),
    **dict.fromkeys(("price_per_carat", "mean_price_per_carat", "p10_per_carat", "p90_per_carat", "paid_per_carat"),
                    pa.decimal128(18, 2)),
    **dict.fromkeys(("uplift_median", "yield_median", "yield_p10", "yield_p90", "price_se", "box_spread"),
                    pa.decimal128(18, 4)),
}


FIGURE_QUANTILES: tuple[tuple[str, str, float], ...] = (
    ("price_median", "ppc", 0.5), ("price_p10", "ppc", 0.1), ("price_p90", "ppc", 0.9),
    ("uplift_median", "uplift", 0.5), ("yield_median", "yield_", 0.5), ("yield_p10", "yield_", 0.1),
    ("yield_p90", "yield_", 0.9), ("carats_median", "rough_ct", 0.5))
"""The quantile figures of an entry: name, the box value it ranks and p."""
EXACT_SUMS: tuple[tuple[str, str, int], ...] = (
    ("rough_carats", "polished_rough_carats", 3), ("polished_carats", "polished_carats", 3),
    ("value_usd", "rough_value_usd", 2), ("paid_usd", "paid_usd", 2), ("box_carats", "box_carats", 3))
"""The exact sums of an entry: name, the box_valuations column summed and its decimal places."""


@dataclass(frozen=True)
class _Ranked:
    """Values sorted within their groups: group g's are `values[start[g]:start[g] + size[g]]`."""

    values: np.ndarray
    start: np.ndarray
    size: np.ndarray

    def percentile(self, p: float) -> np.ndarray:
        """`percentile_cont(p)` of each group by explicit rank arithmetic: the order statistic at
        fractional rank p x (n - 1) (from 0), interpolated between its two neighbours; NaN for a group
        without values. `portable_book.rank_value` does the same floating-point operations."""
        position = p * (self.size - 1).astype(np.float64)
        low = np.floor(position).astype(np.int64)
        high = np.minimum(low + 1, self.size - 1)
        some = self.size > 0
        if not len(self.values):
            return np.full(len(self.size), np.nan)
        below = self.values[np.where(some, self.start + low, 0)]
        above = self.values[np.where(some, self.start + high, 0)]
        return np.where(some, below + (position - low) * (above - below), np.nan)


@dataclass(frozen=True)
class _Sorted:
    """One value per box (NaN for none) sorted once: the known values ascending and each one's rank,
    so that any grouping sorts them with one integer sort of (group, rank)."""

    values: np.ndarray
    known: np.ndarray
    ascending: np.ndarray
    rank: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray) -> _Sorted:
        known = ~np.isnan(values)
        order = np.argsort(values[known])
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order), dtype=np.int64)
        return cls(values, known, values[known][order], rank)

    def within(self, groups: np.ndarray, count: int) -> _Ranked:
        """The values sorted within each of `count` groups (`groups`, one per box)."""
        n = len(self.ascending)
        grouped = groups[self.known]
        size = np.bincount(grouped, minlength=count)
        key = grouped.astype(np.int64) * max(n, 1) + self.rank
        key.sort()
        return _Ranked(self.ascending[key % max(n, 1)] if n else self.ascending, np.cumsum(size) - size, size)


def _units(column: pa.ChunkedArray | pa.Array, places: int) -> np.ndarray:
    """An exact decimal column as whole units of its last place (NaN for a null); over 10^places,
    the double nearest each value, as the engines convert a decimal."""
    exact = pc.cast(column, pa.decimal128(18, places))
    if isinstance(exact, pa.ChunkedArray):
        exact = exact.combine_chunks()
    return np.asarray(pc.cast(exact.view(pa.decimal128(38, 0)), pa.int64()).to_numpy(zero_copy_only=False))


def _exact(units: np.ndarray, places: int) -> pa.Array:
    """Whole units of the last place as exact decimals of `places` places."""
    return pa.array(units, pa.int64()).cast(pa.decimal128(38, 0)).view(pa.decimal128(38, places))


def _doubles(values: np.ndarray) -> pa.Array:
    return pa.array(values, pa.float64(), mask=np.isnan(values))


def _level_figures(level: str, keys: tuple[str, ...], codes: dict[str, tuple[np.ndarray, np.ndarray]],
                   units: dict[str, np.ndarray], values: dict[str, _Sorted], logs: _Sorted) -> dict[str, Any]:
    n = len(logs.known)
    if n == 0:
        empty = {name: np.zeros(0, dtype=object) for name in KEY_COLUMNS + ("level", "model", "quality")}
        return {**empty, **{name: np.zeros(0, dtype=np.int64) for name in ("boxes",) + tuple(s for s, _, _ in EXACT_SUMS)},
                **{name: np.zeros(0) for name in tuple(q for q, _, _ in FIGURE_QUANTILES) + ("log_price_mad",)}}
    combined = np.zeros(n, dtype=np.int64)
    for name in keys:
        names, code = codes[name]
        combined = combined * len(names) + code
    order = np.argsort(combined, kind="stable")
    ordered = combined[order]
    sorted_groups = np.cumsum(np.r_[False, ordered[1:] != ordered[:-1]])
    groups = np.empty(n, dtype=np.int64)
    groups[order] = sorted_groups
    count = int(sorted_groups[-1]) + 1
    size = np.bincount(groups, minlength=count)
    start = np.cumsum(size) - size
    first = order[start]
    figures: dict[str, Any] = {
        name: codes[name][0][codes[name][1][first]] if name in keys else np.full(count, ANY, dtype=object)
        for name in KEY_COLUMNS}
    figures["level"] = np.full(count, level, dtype=object)
    for name in ("model", "quality"):
        if "assortment" in keys:
            names, code = codes[name]
            lowest, highest = np.minimum.reduceat(code[order], start), np.maximum.reduceat(code[order], start)
            one = np.full(count, None, dtype=object)
            one[lowest == highest] = names[lowest[lowest == highest]]
            figures[name] = one
        else:
            figures[name] = np.full(count, None, dtype=object)
    figures["boxes"] = size
    for name, column, _ in EXACT_SUMS:
        figures[name] = np.add.reduceat(units[column][order], start)
    ranked = {column: values[column].within(groups, count) for column in values}
    for name, column, p in FIGURE_QUANTILES:
        figures[name] = ranked[column].percentile(p)
    centre = logs.within(groups, count).percentile(0.5)
    deviations = np.abs(logs.values - centre[groups])
    figures["log_price_mad"] = _Sorted.of(deviations).within(groups, count).percentile(0.5)
    return figures


def _native_book_figures(store: Any, given: dict[str, pa.Table]) -> pa.Table:
    """`BOOK_FIGURES` in this process over the valued boxes given (the same on any store): each
    level's groups from the boxes' key codes, exact sums in whole units of the last place, and the
    quantiles read at their ranks within each group's sorted values (numpy; the logarithm is the
    C library's, as DuckDB's)."""
    valued = given["valued_boxes"]
    kept = valued.filter(pc.and_(pc.and_(pc.fill_null(valued["in_book"], False),
                                         pc.greater(valued["polished_rough_carats"], 0)),
                                 pc.greater(valued["rough_price_per_carat"], 0)))
    codes = {}
    for name in KEY_COLUMNS + ("model", "quality"):
        encoded = pc.dictionary_encode(pc.cast(kept[name], pa.string()).combine_chunks())
        codes[name] = (np.asarray(encoded.dictionary.to_numpy(zero_copy_only=False), dtype=object),
                       np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64))
    units = {column: _units(kept[column], places) for _, column, places in EXACT_SUMS}
    doubles = {column: _units(kept[source], places) / 10.0 ** places
               for column, source, places in (("ppc", "rough_price_per_carat", 2), ("uplift", "uplift", 4),
                                              ("yield_", "yield_", 4), ("rough_ct", "polished_rough_carats", 3))}
    logs = _Sorted.of(np.asarray(pc.ln(pa.array(doubles["ppc"], pa.float64())).to_numpy(zero_copy_only=False)))
    values = {column: _Sorted.of(column_values) for column, column_values in doubles.items()}
    levels = [_level_figures(level, keys, codes, units, values, logs) for level, keys in LEVELS]

    def joined(name: str) -> np.ndarray:
        return np.concatenate([figures[name] for figures in levels])

    return pa.table({
        **{name: pa.array(joined(name), pa.string()) for name in KEY_COLUMNS + ("level", "model", "quality")},
        "boxes": pa.array(joined("boxes"), pa.int64()),
        **{name: _exact(joined(name), places) for name, _, places in EXACT_SUMS},
        **{name: _doubles(joined(name)) for name, _, _ in FIGURE_QUANTILES},
        "log_price_mad": _doubles(joined("log_price_mad")),
    })


BOOK_INPUT_COLUMNS: tuple[str, ...] = KEY_COLUMNS + (
    "model", "quality", "in_book", "polished_rough_carats", "polished_carats", "rough_value_usd",
    "rough_price_per_carat", "paid_usd", "box_carats", "uplift", "yield_")
"""The box_valuations columns BOOK_FIGURES reads."""
BOOK_FIGURES = Computation("price book figures", "roughtrace.valuation.portable_book:book_figures",
                           _native_book_figures)
"""Per entry of every level of LEVELS, in no order, over the valued boxes given (`valued_boxes`,
box_valuations columns): the keys (`*` outside the level's), the level, the model and quality when
one, the boxes, exact sums of carats and dollars, the quantiles of price per carat, uplift, yield
and box carats, and the median absolute deviation of ln(price per carat), as doubles. The valued
boxes are given rather than read from box_valuations: the build holds them, and a snapshot has
only the input kinds, so a cluster would read them through this process either way. The native
plan is numpy over one row per box, every level from one set of key codes."""


def _rounded(values: pa.ChunkedArray | pa.Array, places: int) -> pa.Array:
    """Doubles to exact decimals of `places` places, a half rounded away from zero (null for none or
    a quotient of nothing)."""
    doubles = pc.cast(values, pa.float64())
    finite = pc.if_else(pc.is_finite(doubles), doubles, pa.scalar(None, pa.float64()))
    rounded = pc.round(finite, places, round_mode="half_towards_infinity")
    return pc.cast(rounded, pa.decimal128(18, places), safe=False)


def _ratio_of(numerator: pa.ChunkedArray, denominator: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.divide(pc.cast(numerator, pa.float64()), pc.cast(denominator, pa.float64()))


def book_entries(figures: pa.Table) -> pa.Table:
    """The book's entries (BOOK_COLUMNS up to `box_spread`) from BOOK_FIGURES' figures, rounded to
    the stored places in this process, so that the rounding is the same whichever engine computed
    the figures; ordered by level and keys."""
    figures = figures.sort_by([(name, "ascending") for name in ("level",) + KEY_COLUMNS])
    mad = pc.cast(figures["log_price_mad"], pa.float64())
    per_box = pc.sqrt(pc.cast(figures["boxes"], pa.float64()))
    columns = {name: figures[name] for name in KEY_COLUMNS + ("level", "model", "quality", "boxes")}
    return pa.table({
        **columns,
        "rough_carats": pc.cast(figures["rough_carats"], pa.decimal128(18, 3)),
        "polished_carats": pc.cast(figures["polished_carats"], pa.decimal128(18, 3)),
        "price_per_carat": _rounded(figures["price_median"], 2),
        "mean_price_per_carat": _rounded(_ratio_of(figures["value_usd"], figures["rough_carats"]), 2),
        "p10_per_carat": _rounded(figures["price_p10"], 2),
        "p90_per_carat": _rounded(figures["price_p90"], 2),
        "paid_per_carat": _rounded(_ratio_of(figures["paid_usd"], figures["box_carats"]), 2),
        "uplift_median": _rounded(figures["uplift_median"], 4),
        "yield_median": _rounded(figures["yield_median"], 4),
        "yield_p10": _rounded(figures["yield_p10"], 4),
        "yield_p90": _rounded(figures["yield_p90"], 4),
        "median_box_carats": _rounded(figures["carats_median"], 3),
        "price_se": _rounded(pc.divide(pc.multiply(mad, MEDIAN_SE_PER_MAD), per_box), 4),
        "box_spread": _rounded(pc.multiply(mad, MAD_TO_SPREAD), 4),
    })


def aggregate_price_book(boxes: pa.Table, cost_model: dict[str, Any] | str, built_at: dt.datetime | None = None,
                         engine: AnalyticsEngine | None = None, store: Any = None) -> pa.Table:
    """The price book entries (BOOK_COLUMNS) of the boxes given (box_valuations columns, in_book only),
    at every level of LEVELS: BOOK_FIGURES on the engine given (without one, its native plan in this
    process), rounded here."""
    given = {"valued_boxes": boxes.select(list(BOOK_INPUT_COLUMNS))}
    book = book_entries((engine or InStoreEngine()).run(BOOK_FIGURES, store, given))
    n = book.num_rows
    described = cost_model if isinstance(cost_model, str) else json.dumps(cost_model, sort_keys=True)
    stamp = built_at or dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    return book.append_column("cost_model", pa.array([described] * n, pa.string())).append_column(
        "built_at", pa.array([stamp] * n, pa.timestamp("us"))
    ).select(list(BOOK_COLUMNS)).cast(pa.schema([(name, BOOK_TYPES[name]) for name in BOOK_COLUMNS]))


def _group_median(groups: np.ndarray, values: np.ndarray, count: int) -> np.ndarray:
    """The median of `values` within each group 0..count-1 (NaN for an empty group)."""
    if len(values):
        low, high = float(values.min()), float(values.max())
        # one float sort key: the group, then the value scaled into [0, 0.5) (faster than lexsort)
        order = np.argsort(groups + (values - low) / (2.0 * (high - low) + 1e-300), kind="quicksort")
    else:
        order = np.zeros(0, dtype=np.int64)
    sorted_values = values[order]
    sizes = np.bincount(groups, minlength=count)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    lower = starts + np.maximum(sizes - 1, 0) // 2
    upper = starts + sizes // 2
    safe = np.minimum(np.stack([lower, upper]), max(len(values) - 1, 0))
    medians = (sorted_values[safe[0]] + sorted_values[safe[1]]) / 2 if len(values) else np.zeros(count)
    return np.where(sizes > 0, medians, np.nan)


def _period_calendar(first: str, last: str, period: str) -> list[str]:
    """Every period label from `first` to `last` inclusive."""
    if period == "year":
        return [str(y) for y in range(int(first), int(last) + 1)]
    per_year = 12 if period == "month" else 4

    def ordinal(label: str) -> int:
        year, part = label.split("-")
        return int(year) * per_year + int(part.lstrip("Q")) - 1

    labels = []
    for n in range(ordinal(first), ordinal(last) + 1):
        year, part = divmod(n, per_year)
        labels.append(f"{year:04d}-{part + 1:02d}" if period == "month" else f"{year:04d}-Q{part + 1}")
    return labels


DESCRIPTOR_COLUMNS: tuple[str, ...] = ("model", "colour", "quality", "size_range")
"""What a rough assortment is, in the trade's words shared by every producer (rough_sales columns)."""
DESCRIPTORS_SQL = (
    "SELECT assortment, MIN(model) AS model, MIN(colour) AS colour, MIN(quality) AS quality, "
    "CAST(MIN(size_min_ct) AS VARCHAR) || '-' || CAST(MAX(size_max_ct) AS VARCHAR) AS size_range "
    "FROM rough_sales GROUP BY assortment"
)
MIN_BETWEEN_SPREAD = 0.02


def descriptor_prior(levels: np.ndarray, weights: np.ndarray, factors: list[np.ndarray]) -> np.ndarray:
    """Each assortment's expected log price level from what it is (model, colour, quality, size range):
    an additive model, one step per factor value, fitted by weighted ridge least squares to the levels
    of the assortments that have boxes (weights 0 for those that have none) and predicted for all."""
    columns = [np.ones(len(levels))]
    for codes in factors:
        for value in np.unique(codes)[1:]:
            columns.append((codes == value).astype(float))
    x = np.column_stack(columns)
    w = np.sqrt(weights)[:, None]
    seen = weights > 0
    ridge = 1e-3 * np.eye(x.shape[1])
    ridge[0, 0] = 0.0
    xs, ys = x[seen] * w[seen], levels[seen] * w[seen, 0]
    coef = np.linalg.solve(xs.T @ xs + ridge, xs.T @ ys)
    return x @ coef


def smooth_periods(raw: np.ndarray, counts: np.ndarray, positions: np.ndarray, min_boxes: int,
                   box_variance: float) -> np.ndarray:
    """Period levels (natural log) shrunk toward their neighbours: the levels b minimising
    sum n_p (b_p - raw_p)^2 / s^2 + sum (b_p - b_q)^2 / (gap x t^2) over neighbouring periods p, q,
    with n_p a period's boxes (0 below `min_boxes`, so a period with too few boxes takes its level
    from its neighbours), s^2 `box_variance` (the error of one box's level) and t^2 how far the market
    moves per period, estimated from the raw levels themselves (empirical Bayes: the median squared
    step between neighbouring periods less what their boxes' noise explains; the median, so that one
    stray period does not pass for a market that moves a lot). `positions` are the
    periods' places on the calendar, so a gap of two periods allows twice the move."""
    n = np.where(counts >= max(min_boxes, 1), counts, 0).astype(float)
    p = len(raw)
    if p == 0:
        return raw
    if p == 1:
        return raw * (n > 0)
    gaps = np.maximum(np.diff(positions).astype(float), 1.0)
    both = (n[:-1] > 0) & (n[1:] > 0)
    s2 = max(box_variance, 1e-8)
    if both.any():
        steps = (np.diff(raw) ** 2 - s2 * (1 / np.maximum(n[:-1], 1) + 1 / np.maximum(n[1:], 1))) / gaps
        move = max(float(np.median(steps[both])), MIN_BETWEEN_SPREAD ** 2)
    else:
        move = MIN_BETWEEN_SPREAD ** 2
    link = 1.0 / (gaps * move)
    a = np.diag(n / s2 + 1e-9)
    idx = np.arange(p - 1)
    a[idx, idx] += link
    a[idx + 1, idx + 1] += link
    a[idx, idx + 1] -= link
    a[idx + 1, idx] -= link
    return np.linalg.solve(a, n / s2 * np.where(n > 0, raw, 0.0))


def fit_assortment_period(boxes: pa.Table, period: str, cost_model: dict[str, Any] | str,
                          built_at: dt.datetime | None = None, iterations: int = 30,
                          descriptors: pa.Table | None = None, period_min_boxes: int = 1) -> FittedBook:
    """The FITTED entries: log rough price per carat = assortment level + period level + cutter level,
    fitted by alternating medians over every box in the book (BOOK_COLUMNS, origin `*`), and priced
    for the typical cutter (the median sightholder's level).

    An assortment seen in a few boxes still gets a price in every period, its level learnt from all
    its boxes and the period's from every assortment sold then (so market swings between sights are
    followed without waiting for each assortment to be sold again). The cutter level answers the
    critique that the same rough yields differently in different hands: a skilled cutter, or one whose
    outcomes claim more than rough can give, moves its own level, not the assortment's price. Periods
    between sights carry the last level forward. Period levels are shrunk toward their neighbours
    (`smooth_periods`), and a period with fewer than `period_min_boxes` boxes takes its neighbours'
    level, so one box never sets a period.

    With `descriptors` (assortment, model, colour, quality, size_range; DESCRIPTORS_SQL), each
    assortment's level is shrunk toward what rough of its description is worth (`descriptor_prior`),
    by empirical Bayes: level = prior + (own - prior) x n / (n + s^2 / t^2), s the per-box standard
    error of a median and t the spread of true levels around the prior. An assortment with few boxes
    leans on its description; one sold but never tracked gets its description's price, with a wide
    standard error (t).

    `box_spread` is the assortment's robust spread of box residuals (1.4826 x median absolute residual,
    shrunk toward the pooled spread by n / (n + SHRINK_BOXES)); `price_se` the standard error of the
    level; the P10-P90 band is exp(+-1.2816 box_spread) around the fit; `boxes` the assortment's own."""
    keep = np.asarray(boxes["in_book"].to_numpy(zero_copy_only=False), dtype=bool) if boxes.num_rows else np.zeros(0, bool)
    ppc = pc.cast(boxes["rough_price_per_carat"], pa.float64()).to_numpy(zero_copy_only=False)[keep] if keep.any() else np.zeros(0)
    positive = ppc > 0
    if not positive.any():
        return FittedBook(pa.table({name: pa.array([], BOOK_TYPES[name]) for name in BOOK_COLUMNS}), _cutters([], [], [], None))

    def column(name: str) -> np.ndarray:
        return np.asarray(boxes[name].to_numpy(zero_copy_only=False))[keep][positive]

    y = np.log(ppc[positive])
    assortments, a = np.unique(column("assortment").astype(str), return_inverse=True)
    periods, p = np.unique(column("period").astype(str), return_inverse=True)
    cutters, c = np.unique(column("buyer_id").astype(str), return_inverse=True)
    n_a, n_p, n_c = len(assortments), len(periods), int(c.max()) + 1
    alpha, beta, gamma = np.zeros(n_a), np.zeros(n_p), np.zeros(n_c)
    period_boxes = np.bincount(p, minlength=n_p)
    calendar_place = np.searchsorted(np.array(_period_calendar(periods[0], periods[-1], period)), periods)
    for _ in range(iterations):
        alpha = _group_median(a, y - beta[p] - gamma[c], n_a)
        raw_beta = _group_median(p, y - alpha[a] - gamma[c], n_p)
        spread = 1.4826 * float(np.median(np.abs(y - alpha[a] - raw_beta[p] - gamma[c])))
        new_beta = smooth_periods(raw_beta, period_boxes, calendar_place, period_min_boxes,
                                  (MEDIAN_EFFICIENCY * spread) ** 2)
        new_beta -= np.median(new_beta[period_boxes >= period_min_boxes]) if (period_boxes >= period_min_boxes).any() \
            else np.median(new_beta)
        new_gamma = _group_median(c, y - alpha[a] - new_beta[p], n_c)
        new_gamma -= np.median(new_gamma)
        moved = max(np.max(np.abs(new_beta - beta)), np.max(np.abs(new_gamma - gamma)))
        beta, gamma = new_beta, new_gamma
        if moved < 1e-6:
            break
    alpha = _group_median(a, y - beta[p] - gamma[c], n_a)
    residual = y - alpha[a] - beta[p] - gamma[c]
    pooled = 1.4826 * float(np.median(np.abs(residual)))
    count = np.bincount(a, minlength=n_a)
    own = 1.4826 * _group_median(a, np.abs(residual), n_a)
    sigma = np.sqrt((count * own ** 2 + SHRINK_BOXES * pooled ** 2) / (count + SHRINK_BOXES))
    sampling = np.maximum((MEDIAN_EFFICIENCY * sigma) ** 2, 1e-8)
    price_se = np.sqrt(sampling / count)
    first = np.zeros(n_a, dtype=np.int64)
    first[a[::-1]] = np.arange(len(a))[::-1]
    hs, models, qualities = column("hs_code")[first], column("model")[first], column("quality")[first]

    if descriptors is not None and descriptors.num_rows:
        known = {name: np.asarray(descriptors[name].to_numpy(zero_copy_only=False)).astype(str)
                 for name in ("assortment",) + DESCRIPTOR_COLUMNS}
        untracked = ~np.isin(known["assortment"], assortments)
        everything = np.concatenate([assortments, known["assortment"][untracked]])
        order = {code: i for i, code in enumerate(known["assortment"])}
        rows = np.array([order.get(code, -1) for code in everything])
        if np.all(rows >= 0):
            factors = [np.unique(known[name][rows], return_inverse=True)[1] for name in DESCRIPTOR_COLUMNS]
            m = len(everything)
            own_level = np.concatenate([alpha, np.zeros(m - n_a)])
            n_all = np.concatenate([count, np.zeros(m - n_a, dtype=count.dtype)])
            s2 = np.concatenate([sampling, np.full(m - n_a, max((MEDIAN_EFFICIENCY * pooled) ** 2, 1e-8))])
            prior = descriptor_prior(own_level, n_all / (n_all + 3.0), factors)
            seen = n_all > 0
            excess = (own_level - prior) ** 2 - s2 / np.maximum(n_all, 1)
            between = max(float(np.average(excess[seen], weights=(n_all / (n_all + 3.0))[seen])), MIN_BETWEEN_SPREAD ** 2)
            weight = n_all / (n_all + s2 / between)
            alpha = prior + weight * (own_level - prior)
            price_se = np.sqrt(1.0 / (n_all / s2 + 1.0 / between))
            sigma = np.concatenate([sigma, np.full(m - n_a, pooled)])
            count = n_all
            extra = known["assortment"][untracked]
            model_of = known["model"][untracked]
            quality_of = known["quality"][untracked]
            hs = np.concatenate([hs.astype(str), np.array([hs_class(mo, qu) for mo, qu in zip(model_of, quality_of, strict=True)], dtype=str)])
            models = np.concatenate([models.astype(str), model_of])
            qualities = np.concatenate([qualities.astype(str), quality_of])
            assortments = np.concatenate([assortments, extra])

    calendar = _period_calendar(periods[0], periods[-1], period)
    position = np.searchsorted(periods, np.array(calendar), side="right") - 1
    beta_calendar = beta[position]

    def per_assortment(values: np.ndarray, how: str) -> np.ndarray:
        if how == "sum":
            return all_assortments(np.bincount(a, weights=values, minlength=n_a))
        return all_assortments(_group_median(a, values, n_a))

    rough = pc.cast(boxes["polished_rough_carats"], pa.float64()).to_numpy(zero_copy_only=False)[keep][positive]
    polished = pc.cast(boxes["polished_carats"], pa.float64()).to_numpy(zero_copy_only=False)[keep][positive]
    yields = pc.cast(boxes["yield_"], pa.float64()).to_numpy(zero_copy_only=False)[keep][positive]

    def all_assortments(values: np.ndarray) -> np.ndarray:
        return np.concatenate([values, np.full(len(assortments) - n_a, np.nan)])

    t = len(calendar)
    n_a = len(assortments)
    rows_a = np.repeat(np.arange(n_a), t)
    rows_p = np.tile(np.arange(t), n_a)
    centre = alpha[rows_a] + beta_calendar[rows_p]
    spread = sigma[rows_a]
    stamp = built_at or dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    described = cost_model if isinstance(cost_model, str) else json.dumps(cost_model, sort_keys=True)
    n = len(rows_a)

    def decimal(values: np.ndarray, places: int) -> pa.Array:
        return pc.cast(pa.array(np.round(values, places)), pa.decimal128(18, places), safe=False)

    yield_median = per_assortment(yields, "median")
    entries = pa.table({
        "assortment": pa.array(assortments[rows_a], pa.string()),
        "hs_code": pa.array(hs[rows_a].astype(str), pa.string()),
        "origin": pa.array([ANY] * n, pa.string()),
        "period": pa.array(np.array(calendar)[rows_p], pa.string()),
        "level": pa.array([FITTED] * n, pa.string()),
        "model": pa.array(models[rows_a].astype(str), pa.string()),
        "quality": pa.array(qualities[rows_a].astype(str), pa.string()),
        "boxes": pa.array(count[rows_a], pa.int64()),
        "rough_carats": decimal(np.nan_to_num(per_assortment(rough, "sum"))[rows_a], 3),
        "polished_carats": decimal(np.nan_to_num(per_assortment(polished, "sum"))[rows_a], 3),
        "price_per_carat": decimal(np.exp(centre), 2),
        "mean_price_per_carat": decimal(np.exp(centre + spread ** 2 / 2), 2),
        "p10_per_carat": decimal(np.exp(centre - Z_P10_P90 * spread), 2),
        "p90_per_carat": decimal(np.exp(centre + Z_P10_P90 * spread), 2),
        "paid_per_carat": pa.nulls(n, pa.decimal128(18, 2)),
        "uplift_median": pa.nulls(n, pa.decimal128(18, 4)),
        "yield_median": decimal(yield_median[rows_a], 4),
        "yield_p10": pa.nulls(n, pa.decimal128(18, 4)),
        "yield_p90": pa.nulls(n, pa.decimal128(18, 4)),
        "median_box_carats": decimal(per_assortment(rough, "median")[rows_a], 3),
        "price_se": decimal(price_se[rows_a], 4),
        "box_spread": decimal(sigma[rows_a], 4),
        "cost_model": pa.array([described] * n, pa.string()),
        "built_at": pa.array([stamp] * n, pa.timestamp("us")),
    })
    return FittedBook(entries, _cutters(cutters, gamma, np.bincount(c, minlength=n_c), stamp))


def _cutters(ids: Any, levels: Any, boxes: Any, stamp: dt.datetime | None) -> pa.Table:
    n = len(ids)
    return pa.table({
        "sightholder_id": pa.array(list(ids), pa.string()),
        "level": pc.cast(pa.array(np.round(np.asarray(levels, dtype=float), 4)), pa.decimal128(18, 4), safe=False),
        "boxes": pa.array(np.asarray(boxes, dtype=np.int64), pa.int64()),
        "built_at": pa.array([stamp] * n, pa.timestamp("us")),
    })


@dataclass(frozen=True)
class FittedBook:
    """What the fit gives: the FITTED price book entries and each sightholder's cutter level
    (valuation_cutter_levels)."""

    entries: pa.Table
    cutters: pa.Table


@dataclass(frozen=True)
class PriceBookBuild:
    """What a build did."""

    boxes_valued: int
    boxes_in_book: int
    entries: int
    polished_keys_priced: int
    seconds: float
    cost_model: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"ok": True, "boxes_valued": self.boxes_valued, "boxes_in_book": self.boxes_in_book,
                "entries": self.entries, "polished_keys_priced": self.polished_keys_priced,
                "seconds": round(self.seconds, 3), "cost_model": self.cost_model}


def build_price_book(
    store: Any,
    settings: Any,
    pricer: PolishedPricer,
    cost_model: CostModel | None = None,
    as_of: dt.date | None = None,
) -> PriceBookBuild:
    """Value every tracked box (box_valuations; its passes over the outcome stones on the analytics
    engine the settings choose) and rebuild rough_price_book from those that pass
    the book's rules (`pricebook_max_yield`, `pricebook_min_polished_share`), in one transaction.
    Stones are priced as of `as_of`, else as the `pricebook_price_date` setting says."""
    started = time.perf_counter()
    model = cost_model or cost_model_from_settings(settings)
    rules = BoxRules.from_settings(settings, excluded_buyers=risky_sightholders(store, settings))
    engine = engine_for(settings)
    try:
        boxes = value_boxes(store, pricer, model, rules, as_of=as_of, persist=True,
                            price_date=settings["pricebook_price_date"], engine=engine)
        book = aggregate_price_book(boxes, model.describe(), engine=engine, store=store)
    finally:
        engine.close()
    fitted = fit_assortment_period(boxes, rules.period, model.describe(), descriptors=store.query(DESCRIPTORS_SQL),
                                   period_min_boxes=int(settings["pricebook_period_min_boxes"]))
    if fitted.entries.num_rows:
        book = pa.concat_tables([fitted.entries, book])
    with store.transaction():
        store.execute("DELETE FROM rough_price_book")
        store.execute("DELETE FROM valuation_cutter_levels")
        if book.num_rows:
            store.append("rough_price_book", book)
        if fitted.cutters.num_rows:
            store.append("valuation_cutter_levels", fitted.cutters)
    keys = store.query(
        "SELECT (SELECT COUNT(*) FROM valuation_polished_quotes) + (SELECT COUNT(*) FROM valuation_price_moves) + "
        "(SELECT COUNT(*) FROM (SELECT DISTINCT shape_family, bracket, color, clarity FROM valuation_price_moves) c) AS n"
    )["n"][0].as_py()
    in_book = int(sum(boxes["in_book"].to_pylist())) if boxes.num_rows else 0
    return PriceBookBuild(
        boxes_valued=boxes.num_rows, boxes_in_book=in_book, entries=book.num_rows, polished_keys_priced=int(keys),
        seconds=time.perf_counter() - started, cost_model=model.describe(),
    )


RISK_LEVELS: dict[str, tuple[str, ...]] = {"none": (), "high": ("high",), "medium": ("high", "medium")}
"""The `pricebook_exclude_risk` choices and the verification risk levels each leaves out."""


def risky_sightholders(store: Any, settings: Any) -> frozenset[str]:
    """Sightholders whose boxes stay out of the book: those the checks rate at `pricebook_exclude_risk`
    or above (none when the setting is `none`). The checks' risk is a verdict over the whole store, so
    the rows' order does not change it."""
    choice = str(settings["pricebook_exclude_risk"]).strip().lower()
    if choice not in RISK_LEVELS:
        raise SettingError(f"pricebook_exclude_risk is one of {', '.join(RISK_LEVELS)}, not {choice!r}")
    if not RISK_LEVELS[choice]:
        return frozenset()
    from ..checks.verify import assess

    return frozenset(r.sightholder_id for r in assess(store, settings) if r.level in RISK_LEVELS[choice])


def read_price_book(store: Any, assortment: str | None = None, origin: str | None = None,
                    period: str | None = None, level: str | None = None) -> pa.Table:
    """Entries of the stored price book, filtered by any of assortment, origin, period, level."""
    where, params = [], []
    for name, value in (("assortment", assortment), ("origin", origin), ("period", period), ("level", level)):
        if value is not None:
            where.append(f"{name} = ?")
            params.append(value)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return store.query(
        f"SELECT {', '.join(BOOK_COLUMNS)} FROM rough_price_book{clause} ORDER BY level, assortment, origin, period",
        tuple(params),
    )


def headline(store: Any) -> dict[str, Any] | None:
    """The price book in one line: boxes, carats, median and band of the whole book, and the latest
    period's figures. None when no book has been built."""
    overall = read_price_book(store, level="all")
    if overall.num_rows == 0:
        return None
    row = overall.to_pylist()[0]
    periods = store.query(
        "SELECT period, SUM(boxes) AS boxes, SUM(rough_carats) AS carats, "
        "SUM(mean_price_per_carat * rough_carats) / SUM(rough_carats) AS ppc "
        "FROM rough_price_book WHERE level = 'origin/period' GROUP BY period ORDER BY period DESC LIMIT 1"
    ).to_pylist()
    assortments = store.query(
        "SELECT COUNT(*) AS n FROM rough_price_book WHERE level = 'assortment'"
    )["n"][0].as_py()
    result = {
        "assortments": int(assortments),
        "boxes": int(row["boxes"]),
        "rough_carats": str(row["rough_carats"]),
        "median_price_per_carat": str(row["price_per_carat"]),
        "mean_price_per_carat": str(row["mean_price_per_carat"]),
        "p10_per_carat": str(row["p10_per_carat"]),
        "p90_per_carat": str(row["p90_per_carat"]),
        "median_uplift": None if row["uplift_median"] is None else str(row["uplift_median"]),
        "median_yield": None if row["yield_median"] is None else str(row["yield_median"]),
        "cost_model": json.loads(row["cost_model"]),
    }
    if periods:
        latest = periods[0]
        result["latest_period"] = {
            "period": latest["period"], "boxes": int(latest["boxes"]),
            "mean_price_per_carat": f"{float(latest['ppc']):.2f}",
        }
    return result
