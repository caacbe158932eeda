"""Fact queries: what the checks need from the store, aggregated in the engine.

Each query is portable SQL (DuckDB and PostgreSQL alike, `?` placeholders) that reduces the
outcome rows (10 M at the `large` size) to one row per box, per sightholder or per conflicting
claim, so the rules above them work on small Arrow columns. Parameters come from settings. Sums
that may be nought are cast to three places, so both engines give carats the same scale.

Over the whole store each fact is also an analytics `Computation` (`FACT_COMPUTATIONS`): the query
is the store engine's own plan, and `checks/portable.py` the same fact as an Ibis expression that
the spark engine runs (`analytics_engine`). A fact over one box or a few is always the query, a
point lookup in the store.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa

from ..analytics.port import AnalyticsEngine, Computation, InStoreEngine
from ..domain.sizes import BRACKET_LOWER_BOUNDS
from ..store.port import Store


@dataclass(frozen=True)
class FactQuery:
    """One fact table: its SQL and the settings that parametrise it."""

    name: str
    description: str
    sql: str
    params: Callable[[Mapping[str, Any]], tuple[Any, ...]] = lambda settings: ()
    settings: tuple[str, ...] = ()
    """The settings `params` reads: the keyword parameters of the fact's portable form."""


def box_columns(rough_stones: str, over_yield: str) -> str:
    """The SELECT list of the `boxes` facts over a sale `s`, its buyer `p`, its outcome aggregates `po`
    and its dispositions `rd`; `rough_stones` names the relation with the rough-stone counts and the
    highest yield, `over_yield` the one with the stones over the maximum yield (`BOXES` has both in
    `rs`; provenance's set-based refresh keeps them apart)."""
    return f"""SELECT s.box_id, s.sight, s.sale_date, s.buyer_id AS sightholder_id, p.category, s.assortment, s.model,
       s.stones AS rough_stones, s.carats AS rough_carats, s.size_max_ct,
       COALESCE(po.polished_stones, 0) AS polished_stones,
       CAST(COALESCE(po.polished_carats, 0) AS DECIMAL(38, 3)) AS polished_carats,
       po.largest_polished_ct, po.first_polished_date, po.last_polished_date,
       COALESCE(po.fast_stones, 0) AS fast_stones,
       COALESCE(po.early_stones, 0) AS early_stones,
       COALESCE({rough_stones}.tracked_rough_stones, 0) AS tracked_rough_stones,
       COALESCE({rough_stones}.rough_stones_over_weight, 0) AS rough_stones_over_weight,
       COALESCE({over_yield}.rough_stones_over_yield, 0) AS rough_stones_over_yield,
       {over_yield}.example_rough_stone_id, {over_yield}.example_polished_ct,
       {rough_stones}.highest_rough_stone_yield,
       CAST(COALESCE(rd.sold_rough_carats, 0) AS DECIMAL(38, 3)) AS sold_rough_carats,
       CAST(COALESCE(rd.in_process_carats, 0) AS DECIMAL(38, 3)) AS in_process_carats,
       CAST(COALESCE(rd.lost_carats, 0) AS DECIMAL(38, 3)) AS lost_carats,
       COALESCE(rd.dispositions, 0) AS dispositions"""


def rounding(weight: str) -> str:
    """SQL for half the unit a weight in carats was written to: 0.005 when its thousandth digit is 0
    (it may have been rounded to the hundredth, as lab reports from 0.30 ct are), else 0.0005.
    formats.md allows three decimals, so no weight is finer."""
    return f"(CASE WHEN CAST(ROUND({weight} * 1000) AS BIGINT) % 10 = 0 THEN 0.005 ELSE 0.0005 END)"


def half_unit(weight: Decimal) -> Decimal:
    """Half the unit a weight in carats was written to, as `rounding` says it in SQL."""
    return Decimal("0.005") if (weight * 1000) % 10 == 0 else Decimal("0.0005")


def over_yield(polished: str, polished_rounding: str, rough: str) -> str:
    """SQL for "more polished than the maximum yield (the parameter) of the rough, beyond rounding":
    the least the polished can weigh against the most the rough can weigh, each within half the unit
    it was written to (0.320 ct from 0.527 ct is 60.7%, but 0.315 / 0.5275 is 59.7%)."""
    return f"(({polished}) - ({polished_rounding}) > (({rough}) + {rounding(rough)}) * ?)"


BOXES = FactQuery(
    "boxes",
    "one row per box sold: the rough, the polished claimed from it, the rough declared out of it",
    """
WITH po AS (
  SELECT o.box_id,
         COUNT(*) AS polished_stones,
         SUM(o.carat) AS polished_carats,
         MAX(o.carat) AS largest_polished_ct,
         MIN(o.polished_date) AS first_polished_date,
         MAX(o.polished_date) AS last_polished_date,
         CAST(SUM(CASE WHEN o.polished_date - s.sale_date < ? THEN 1 ELSE 0 END) AS BIGINT) AS fast_stones,
         CAST(SUM(CASE WHEN o.polished_date < s.sale_date THEN 1 ELSE 0 END) AS BIGINT) AS early_stones
  FROM {polished_outcomes} o JOIN {rough_sales} s ON s.box_id = o.box_id
  GROUP BY o.box_id
), rs AS (
  SELECT box_id,
         COUNT(rough_stone_id) AS tracked_rough_stones,
         CAST(SUM(CASE WHEN rough_stone_id IS NOT NULL AND polished_ct > rough_ct THEN 1 ELSE 0 END) AS BIGINT)
           AS rough_stones_over_weight,
         CAST(SUM(CASE WHEN rough_stone_id IS NOT NULL AND {over_yield} THEN 1 ELSE 0 END) AS BIGINT)
           AS rough_stones_over_yield,
         MIN(CASE WHEN rough_stone_id IS NOT NULL AND {over_yield} THEN rough_stone_id END)
           AS example_rough_stone_id,
         MAX(CASE WHEN rough_stone_id IS NOT NULL AND {over_yield} THEN polished_ct END)
           AS example_polished_ct,
         MAX(CASE WHEN rough_stone_id IS NOT NULL AND rough_ct > 0
                  THEN CAST(polished_ct AS DOUBLE PRECISION) / CAST(rough_ct AS DOUBLE PRECISION)
                  WHEN rough_stone_id IS NOT NULL AND rough_ct <= 0 THEN CAST('Infinity' AS DOUBLE PRECISION) END)
           AS highest_rough_stone_yield
  FROM (
    -- one row per rough stone (a box's untracked stones form one group, left out above); no WHERE
    -- beside the box's own, so a one-box lookup keeps its index
    SELECT box_id, rough_stone_id, SUM(carat) AS polished_ct, MAX(rough_carats) AS rough_ct,
           SUM({carat_rounding}) AS polished_rounding_ct
    FROM {polished_outcomes} po
    GROUP BY box_id, rough_stone_id
  ) t
  GROUP BY box_id
), rd AS (
  SELECT box_id,
         SUM(CASE WHEN disposition = 'sold_rough' THEN carats ELSE 0 END) AS sold_rough_carats,
         SUM(CASE WHEN disposition = 'in_process' THEN carats ELSE 0 END) AS in_process_carats,
         SUM(CASE WHEN disposition IN ('rejected', 'lost') THEN carats ELSE 0 END) AS lost_carats,
         COUNT(*) AS dispositions
  FROM {rough_dispositions} rd
  GROUP BY box_id
)
""".replace("{over_yield}", over_yield("polished_ct", "polished_rounding_ct", "rough_ct"))
    .replace("{carat_rounding}", rounding("carat"))
    + box_columns(rough_stones="rs", over_yield="rs") + """
FROM {rough_sales} s
LEFT JOIN parties p ON p.party_id = s.buyer_id
LEFT JOIN po ON po.box_id = s.box_id
LEFT JOIN rs ON rs.box_id = s.box_id
LEFT JOIN rd ON rd.box_id = s.box_id
ORDER BY s.box_id
""",
    lambda settings: (
        int(settings["checks_min_processing_days"]),
        settings["checks_max_yield"],
        settings["checks_max_yield"],
        settings["checks_max_yield"],
    ),
    ("checks_min_processing_days", "checks_max_yield"),
)

CLAIMS = FactQuery(
    "claims",
    "every claim on a lab report number that more than one box or sightholder claims, with the chain behind "
    "it: the box's sale (date, buyer, largest rough stone), its rough and polished carats, the rough stone",
    """
WITH conflicted AS (
  SELECT lab, stone_id
  FROM polished_outcomes
  WHERE lab <> 'none'
  GROUP BY lab, stone_id
  HAVING COUNT(*) > 1  -- a row sent again is stored once, so two rows are two claims (the rule drops exact twins)
), claimed AS (
  SELECT o.lab, o.stone_id, o.sightholder_id, o.box_id, o.polished_date, o.carat, o.rough_stone_id, o.rough_carats
  FROM polished_outcomes o
  JOIN conflicted c ON c.lab = o.lab AND c.stone_id = o.stone_id
), box_polished AS (
  SELECT box_id, COUNT(*) AS polished_stones, SUM(carat) AS polished_carats
  FROM polished_outcomes
  WHERE box_id IN (SELECT box_id FROM claimed)
  GROUP BY box_id
), box_out AS (
  SELECT box_id, SUM(carats) AS leaving_carats
  FROM rough_dispositions
  WHERE disposition IN ('sold_rough', 'rejected', 'lost') AND box_id IN (SELECT box_id FROM claimed)
  GROUP BY box_id
)
SELECT c.lab, c.stone_id, c.sightholder_id, c.box_id, s.sight, s.sale_date, s.buyer_id, s.size_min_ct, s.size_max_ct,
       s.stones AS box_rough_stones,
       c.polished_date, c.carat, c.rough_stone_id, c.rough_carats,
       s.carats AS box_rough_carats, CAST(COALESCE(bo.leaving_carats, 0) AS DECIMAL(38, 3)) AS box_leaving_carats,
       CAST(bp.polished_carats AS DECIMAL(38, 3)) AS box_polished_carats, bp.polished_stones AS box_polished_stones,
       (SELECT COUNT(*) FROM parties WHERE role = 'sightholder') AS sightholders
FROM claimed c
JOIN rough_sales s ON s.box_id = c.box_id
JOIN box_polished bp ON bp.box_id = c.box_id
LEFT JOIN box_out bo ON bo.box_id = c.box_id
ORDER BY c.lab, c.stone_id, c.sightholder_id, c.box_id, c.polished_date, c.carat
""",
)

GRADE_MIX = FactQuery(
    "grade_mix",
    "per polished box and grade scale (clarity, colour): the chi-square distance of its grade counts from "
    "the mix of the other boxes of its assortment (leave-one-out), with the stones behind both",
    """
WITH cells AS (
  SELECT o.box_id, 'clarity' AS scale, o.clarity AS grade, COUNT(*) AS n
  FROM polished_outcomes o GROUP BY o.box_id, o.clarity
  UNION ALL
  SELECT o.box_id, 'colour' AS scale, o.color AS grade, COUNT(*) AS n
  FROM polished_outcomes o GROUP BY o.box_id, o.color
), boxed AS (
  SELECT c.box_id, s.assortment, s.buyer_id AS sightholder_id, s.sight, c.scale, c.grade, c.n
  FROM cells c JOIN rough_sales s ON s.box_id = c.box_id
), box_total AS (
  SELECT box_id, scale, SUM(n) AS total FROM boxed GROUP BY box_id, scale
), population AS (
  SELECT assortment, scale, grade, SUM(n) AS n FROM boxed GROUP BY assortment, scale, grade
), population_total AS (
  SELECT assortment, scale, SUM(n) AS total, COUNT(*) AS grades FROM population GROUP BY assortment, scale
)
SELECT b.box_id, b.sightholder_id, b.sight, b.assortment, b.scale,
       CAST(t.total AS BIGINT) AS stones, CAST(pt.total - t.total AS BIGINT) AS other_stones,
       CAST(pt.grades AS BIGINT) AS grades,
       CAST(SUM(CASE WHEN p.n = b.n THEN 1 ELSE 0 END) AS BIGINT) AS grades_only_here,
       SUM(CASE WHEN p.n > b.n
                THEN CAST(b.n AS DOUBLE PRECISION) * b.n * (pt.total - t.total) / ((p.n - b.n) * t.total)
                ELSE 0 END) - MAX(t.total) AS chi_square
FROM boxed b
JOIN box_total t ON t.box_id = b.box_id AND t.scale = b.scale
JOIN population p ON p.assortment = b.assortment AND p.scale = b.scale AND p.grade = b.grade
JOIN population_total pt ON pt.assortment = b.assortment AND pt.scale = b.scale
GROUP BY b.box_id, b.sightholder_id, b.sight, b.assortment, b.scale, t.total, pt.total, pt.grades
ORDER BY b.box_id, b.scale
""",
)

def size_class(weight: str) -> str:
    """SQL for the price-list size bracket of a polished weight (domain.sizes), as its lower bound:
    the size classes within which a lab reports weights to one precision."""
    bounds = sorted(BRACKET_LOWER_BOUNDS, reverse=True)
    cases = " ".join(f"WHEN {weight} >= {bound} THEN '{bound}'" for bound in bounds[:-1])
    return f"(CASE {cases} ELSE '{bounds[-1]}' END)"


DIGITS = FactQuery(
    "digits",
    "per sightholder, lab and size class (price-list bracket): how many polished weights end in each pair "
    "of hundredth and thousandth digits",
    """
SELECT sightholder_id, lab, {size_class} AS size_class,
       CAST(ROUND(carat * 1000) AS BIGINT) % 100 AS last_digits, COUNT(*) AS stones
FROM polished_outcomes
GROUP BY sightholder_id, lab, {size_class}, CAST(ROUND(carat * 1000) AS BIGINT) % 100
ORDER BY sightholder_id, lab, size_class, last_digits
""".replace("{size_class}", size_class("carat")),
)

WEIGHT_GRID = FactQuery(
    "weight_grid",
    "per sightholder, sight, lab and size class (price-list bracket): how many polished weights, how many of "
    "them on the hundredth (thousandth digit 0) and how many on the twentieth (a multiple of 0.05 ct)",
    """
SELECT o.sightholder_id, s.sight, o.lab, {size_class} AS size_class, COUNT(*) AS stones,
       CAST(SUM(CASE WHEN CAST(ROUND(o.carat * 1000) AS BIGINT) % 10 = 0 THEN 1 ELSE 0 END) AS BIGINT) AS on_hundredth,
       CAST(SUM(CASE WHEN CAST(ROUND(o.carat * 1000) AS BIGINT) % 50 = 0 THEN 1 ELSE 0 END) AS BIGINT) AS on_twentieth
FROM polished_outcomes o JOIN rough_sales s ON s.box_id = o.box_id
GROUP BY o.sightholder_id, s.sight, o.lab, {size_class}
ORDER BY o.sightholder_id, s.sight, o.lab, size_class
""".replace("{size_class}", size_class("o.carat")),
)

GRID_BOXES = """
WITH classes(lab, size_class, grid_step, share_millionths) AS (VALUES {classes}),
weights AS (
  SELECT o.sightholder_id, o.box_id, c.grid_step, c.share_millionths,
         CASE WHEN CAST(ROUND(o.carat * 1000) AS BIGINT) % c.grid_step = 0 THEN 1 ELSE 0 END AS on_grid
  FROM polished_outcomes o JOIN classes c ON c.lab = o.lab AND c.size_class = {size_class}
), counted AS (
  SELECT sightholder_id, box_id, COUNT(*) AS stones, CAST(SUM(on_grid) AS BIGINT) AS on_grid,
         CAST(SUM(share_millionths) AS BIGINT) AS expected_millionths,
         CAST(SUM(CASE WHEN grid_step = 10 THEN 1 ELSE 0 END) AS BIGINT) AS thousandth_stones,
         CAST(SUM(CASE WHEN grid_step = 10 THEN on_grid ELSE 0 END) AS BIGINT) AS thousandth_on_grid,
         CAST(SUM(CASE WHEN grid_step = 10 THEN share_millionths ELSE 0 END) AS BIGINT) AS thousandth_expected_millionths
  FROM weights
  GROUP BY sightholder_id, box_id
)
SELECT c.sightholder_id, s.sight, c.box_id, c.stones, c.on_grid, c.expected_millionths, c.thousandth_stones,
       c.thousandth_on_grid, c.thousandth_expected_millionths
FROM counted c JOIN rough_sales s ON s.box_id = c.box_id
WHERE c.on_grid > ? AND c.on_grid * 1000000 - c.expected_millionths >= ? * c.stones
ORDER BY c.sightholder_id, s.sight, c.box_id
""".replace("{size_class}", size_class("o.carat"))
"""The boxes `rounded_weights` judges one by one: per sightholder and box, its weights, how many sit
on their class's coarser grid and how many its classes' market shares expect (in millionths of a
weight), in all and in the thousandth classes; only the boxes above expectation by the grid excess
with more weights on the grid than chance alone reaches at the lowest share. Those bounds are exact
in whole numbers, so every box the rule could flag is kept and the rest (nearly every box) are not
returned."""

REPEATS = FactQuery(
    "repeats",
    "boxes whose outcome (count, total, spread and sum of squares of weights) repeats another box's, unless "
    "the boxes share lab report numbers (duplicate_claims judges those); with each box's rough stones and the "
    "lightest and heaviest tracked rough stone its outcome names",
    """
WITH pattern AS (
  SELECT o.box_id, o.sightholder_id, COUNT(*) AS stones, SUM(o.carat) AS carats,
         SUM(o.carat * o.carat) AS carats_squared, MIN(o.carat) AS smallest_ct, MAX(o.carat) AS largest_ct,
         MIN(CASE WHEN o.lab <> 'none' THEN o.lab || ' ' || o.stone_id END) AS first_report,
         MIN(o.polished_date) AS first_polished_date,
         MIN(o.rough_carats) AS lightest_rough_ct, MAX(o.rough_carats) AS heaviest_rough_ct
  FROM polished_outcomes o
  GROUP BY o.box_id, o.sightholder_id
), repeated AS (
  -- boxes with no lab report count as different stones: a copy under the owner's own ids still repeats
  SELECT stones, carats, carats_squared, smallest_ct, largest_ct
  FROM pattern
  WHERE stones >= ?
  GROUP BY stones, carats, carats_squared, smallest_ct, largest_ct
  HAVING COUNT(DISTINCT COALESCE(first_report, box_id)) > 1
)
SELECT p.box_id, p.sightholder_id, s.sight, p.stones, p.carats, p.carats_squared, p.smallest_ct, p.largest_ct,
       p.first_polished_date, s.sale_date, s.buyer_id, s.size_min_ct, s.size_max_ct, s.carats AS rough_carats,
       s.stones AS rough_stones, p.lightest_rough_ct, p.heaviest_rough_ct
FROM pattern p
JOIN repeated r ON r.stones = p.stones AND r.carats = p.carats AND r.carats_squared = p.carats_squared
  AND r.smallest_ct = p.smallest_ct AND r.largest_ct = p.largest_ct
JOIN rough_sales s ON s.box_id = p.box_id
ORDER BY p.stones, p.carats, p.carats_squared, p.box_id
""",
    lambda settings: (int(settings["checks_repeat_min_stones"]),),
    ("checks_repeat_min_stones",),
)

LATEST_DATE = """
SELECT MAX(d) AS latest FROM (
  SELECT MAX(sale_date) AS d FROM rough_sales
  UNION ALL SELECT MAX(polished_date) FROM polished_outcomes
  UNION ALL SELECT MAX(date) FROM rough_dispositions
) t
"""

FACT_QUERIES: dict[str, FactQuery] = {q.name: q for q in (BOXES, CLAIMS, GRADE_MIX, DIGITS, WEIGHT_GRID, REPEATS)}


_OUTCOMES = ("stone_id", "lab", "sightholder_id", "box_id", "rough_stone_id", "rough_carats", "polished_date",
             "carat", "color", "clarity")
_SALES = ("box_id", "sight", "sale_date", "buyer_id", "assortment", "model", "size_min_ct", "size_max_ct", "stones",
          "carats")
_DISPOSITIONS = ("box_id", "disposition", "carats")
_PARTIES = ("party_id", "role", "category")
FACT_INPUTS: dict[str, dict[str, tuple[str, ...]]] = {
    "boxes": {"polished_outcomes": _OUTCOMES, "rough_sales": _SALES, "rough_dispositions": _DISPOSITIONS,
              "parties": _PARTIES},
    "claims": {"polished_outcomes": _OUTCOMES, "rough_sales": _SALES, "rough_dispositions": _DISPOSITIONS,
               "parties": _PARTIES},
    "grade_mix": {"polished_outcomes": _OUTCOMES, "rough_sales": _SALES},
    "digits": {"polished_outcomes": _OUTCOMES},
    "weight_grid": {"polished_outcomes": _OUTCOMES, "rough_sales": _SALES},
    "repeats": {"polished_outcomes": _OUTCOMES, "rough_sales": _SALES},
}
"""The store's tables each fact reads on an engine outside the store, with the columns read: one
column set a table, whichever fact reads it, so one snapshot or staged copy serves every fact."""


def setting_values(query: FactQuery, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The values of the settings a fact query reads, by setting name."""
    return {name: settings[name] for name in query.settings}


def _in_store(query: FactQuery) -> Callable[..., pa.Table]:
    def native(store: Store, given: Mapping[str, pa.Table], **values: Any) -> pa.Table:
        sql, params = render(query, values)
        return store.query(sql, params)

    return native


FACT_COMPUTATIONS: dict[str, Computation] = {
    name: Computation(f"check facts: {name}", f"roughtrace.checks.portable:{name}", _in_store(query),
                      FACT_INPUTS[name])
    for name, query in FACT_QUERIES.items()
}
"""Each fact over the whole store on the analytics port: its query (the store engine's plan) and
its portable form."""


def _grid_boxes_native(store: Store, given: Mapping[str, pa.Table], *, most_by_chance: int,
                       excess_millionths: int) -> pa.Table:
    classes = given["grid_classes"]
    if classes.num_rows == 0:
        return _GRID_BOXES_EMPTY
    row = "(CAST(? AS VARCHAR), CAST(? AS VARCHAR), CAST(? AS BIGINT), CAST(? AS BIGINT))"
    params: list[Any] = []
    for record in classes.to_pylist():
        params.extend((record["lab"], record["size_class"], record["grid_step"], record["share_millionths"]))
    sql = GRID_BOXES.replace("{classes}", ", ".join([row] * classes.num_rows))
    return store.query(sql, (*params, most_by_chance, excess_millionths))


_GRID_BOXES_EMPTY = pa.schema([
    ("sightholder_id", pa.string()), ("sight", pa.string()), ("box_id", pa.string()),
    *((name, pa.int64()) for name in ("stones", "on_grid", "expected_millionths", "thousandth_stones",
                                      "thousandth_on_grid", "thousandth_expected_millionths")),
]).empty_table()


@dataclass(frozen=True)
class DerivedFact:
    """A fact over the store that also takes tables learnt from other facts (`needs`): `inputs`
    turns those facts and the settings into the tables given and the computation's parameters."""

    name: str
    needs: tuple[str, ...]
    computation: Computation
    inputs: Callable[[Mapping[str, pa.Table], Mapping[str, Any]], tuple[dict[str, pa.Table], dict[str, Any]]]


def _grid_box_inputs(facts: Mapping[str, pa.Table], settings: Mapping[str, Any]
                     ) -> tuple[dict[str, pa.Table], dict[str, Any]]:
    """The market's precision classes learnt from `weight_grid`, and the whole-number bounds a box
    must pass to be judged."""
    from . import grid

    classes = grid.learn(facts["weight_grid"], settings)
    return ({"grid_classes": classes.table()},
            {"most_by_chance": grid.most_on_grid_by_chance(classes, float(settings["checks_pattern_tail"])),
             "excess_millionths": round(float(settings["checks_grid_excess"]) * grid.MILLION)})


DERIVED_FACTS: dict[str, DerivedFact] = {
    "grid_boxes": DerivedFact(
        "grid_boxes", ("weight_grid",),
        Computation("check facts: grid_boxes", "roughtrace.checks.portable:grid_boxes", _grid_boxes_native,
                    {"polished_outcomes": _OUTCOMES, "rough_sales": _SALES}),
        _grid_box_inputs),
}
"""Facts computed with what other facts taught: `grid_boxes` (see GRID_BOXES) with the precision
classes learnt from `weight_grid`."""

FACT_NAMES: tuple[str, ...] = (*FACT_QUERIES, *DERIVED_FACTS)
"""Every fact the checks may read."""


def as_of(store: Store, settings: Mapping[str, Any]) -> dt.date | None:
    """The date coverage is judged at: the setting, else the latest date in the store."""
    given = str(settings["checks_as_of"] or "").strip()
    if given:
        return dt.date.fromisoformat(given)
    return store.query(LATEST_DATE).column("latest")[0].as_py()


_TOKEN = re.compile(r"\?|\{(\w+)\}")


BoxScope = tuple[str, tuple[Any, ...]]
"""Which boxes a fact query covers: a condition on `box_id` with its parameters, e.g.
`("= ?", ("B1",))` or `("IN (SELECT box_id FROM polished_outcomes WHERE batch_id = ?)", (7,))`."""


def render(query: FactQuery, settings: Mapping[str, Any], box_id: str | None = None,
           boxes: BoxScope | None = None) -> tuple[str, tuple[Any, ...]]:
    """The query's SQL and parameters, over the whole store, over one box (`box_id`) or over the
    boxes `boxes` names: each `{table}` marker becomes the table or its rows for those boxes (a
    point lookup for one box, not a scan)."""
    given = iter(query.params(settings))
    params: list[Any] = []
    scope = ("= ?", (box_id,)) if box_id is not None else boxes

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "?":
            params.append(next(given))
            return "?"
        table = match.group(1)
        if scope is None:
            return table
        condition, scope_params = scope
        params.extend(scope_params)
        return f"(SELECT * FROM {table} WHERE box_id {condition})"

    sql = _TOKEN.sub(replace, query.sql)
    return sql, tuple(params)


def gather(store: Store, names: Iterable[str], settings: Mapping[str, Any],
           box_id: str | None = None, engine: AnalyticsEngine | None = None) -> dict[str, pa.Table]:
    """Run the named facts, each once: over the whole store on `engine` (the store's own engine
    unless given), or over the box `box_id` in the store. A derived fact runs after the facts it
    needs, which are gathered with it."""
    names = list(dict.fromkeys(names))
    derived = [name for name in names if name in DERIVED_FACTS]
    names = list(dict.fromkeys([need for name in derived for need in DERIVED_FACTS[name].needs]
                               + [name for name in names if name not in DERIVED_FACTS]))
    facts: dict[str, pa.Table] = {}
    engine = engine or InStoreEngine()
    if box_id is None:
        engine.prepare([FACT_COMPUTATIONS[name] for name in names]
                       + [DERIVED_FACTS[name].computation for name in derived], store)
    elif derived:
        raise ValueError(f"{', '.join(derived)} is judged over the whole market, not one box")
    for name in names:
        query = FACT_QUERIES[name]
        if box_id is None:
            facts[name] = engine.run(FACT_COMPUTATIONS[name], store, **setting_values(query, settings))
        else:
            sql, params = render(query, settings, box_id)
            facts[name] = store.query(sql, params)
    for name in derived:
        fact = DERIVED_FACTS[name]
        given, params = fact.inputs(facts, settings)
        facts[name] = engine.run(fact.computation, store, given, **params)
    return facts
