"""Box valuation from reported outcomes: every polished stone priced at the index, each box's rough
value per carat reverse-engineered, and set against what the sightholder paid (realised uplift).

The work runs on columns: the store groups the outcome stones into distinct price keys (shape
family, colour, clarity, cut, weight to the hundredth of a carat) and index cell-months, the pricer
quotes those in two vectorised calls, and the store joins the quotes back and sums per box. No Python
loop touches a stone, so 10M outcome rows cost a few group-bys.

A stone is priced at the middle of its hundredth of a carat (0.523 ct at 0.525 ct): every size
bracket and magic weight of the price lists starts on a hundredth, so no stone changes bracket.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..analytics.port import AnalyticsEngine, Computation, InStoreEngine
from ..domain import periods
from ..domain.money import CARAT_PLACES, USD_PLACES
from ..domain.sizes import BRACKET_LOWER_BOUNDS, BRACKETS
from .hs import hs_class_sql
from .method import CostModel, rough_value_array
from .pricer import PolishedPricer

MONTH_KEY_SQL = "CAST(EXTRACT(YEAR FROM {col}) AS BIGINT) * 100 + CAST(EXTRACT(MONTH FROM {col}) AS BIGINT)"
RATIO_PLACES = 4
MOVE_PLACES = 6


def month_key(date: dt.date) -> int:
    """year x 100 + month, the month a stone is priced in."""
    return date.year * 100 + date.month


def _month_pricing_dates(keys: np.ndarray) -> np.ndarray:
    """The 15th of each year*100+month key, as datetime64[D]: the middle of the index's month."""
    years, months = keys // 100, keys % 100
    first = (years - 1970) * 12 + (months - 1)
    return first.astype("datetime64[M]").astype("datetime64[D]") + np.timedelta64(14, "D")


FAMILY_SQL = "CASE WHEN {col} = 'round' THEN 'round' ELSE 'fancy' END"
FAMILY_SHAPE = {"round": "round", "fancy": "pear"}
"""The shape a family is quoted as: fancy shapes trade on the pear grid (DOMAIN.md)."""
BRACKET_SQL = "CASE " + " ".join(
    f"WHEN {{col}} >= {low} THEN '{label}'" for low, label in reversed(list(zip(BRACKET_LOWER_BOUNDS, BRACKETS, strict=True)))
) + f" ELSE '{BRACKETS[0]}' END"


def _quote(pricer: PolishedPricer, family: pa.Array, cents: np.ndarray, color: pa.Array, clarity: pa.Array,
           dates: np.ndarray, cut: pa.Array | None) -> np.ndarray:
    shape = pc.if_else(pc.equal(family, "round"), FAMILY_SHAPE["round"], FAMILY_SHAPE["fancy"])
    price = np.asarray(pricer.price_per_carat(shape, (cents + 0.5) / 100.0, color, clarity, dates, cut=cut),
                       dtype=np.float64)
    if len(price) and not np.all(np.isfinite(price) & (price >= 0)):
        raise ValueError("the polished pricer returned a price that is negative or not a number")
    return price


PRICE_DATES: tuple[str, ...] = ("polished", "sale")
"""When a stone is priced, unless a fixed date is given: in its polished month (the outcome date) or
in the month its box was sold (the rough's date, which a price book of rough wants)."""
DATE_COLUMN = {"polished": "o.polished_date", "sale": "r.sale_date"}


def _native_price_keys(store: Any, given: dict[str, pa.Table], *, price_date: str, fixed: bool) -> pa.Table:
    """`PRICE_KEYS` in the store's engine."""
    month_sql = "0" if fixed else MONTH_KEY_SQL.format(col=DATE_COLUMN[price_date])
    return store.query(
        f"SELECT {FAMILY_SQL.format(col='o.shape')} AS shape_family, o.color, o.clarity, COALESCE(o.cut, '') AS cut, "
        f"CAST(FLOOR(o.carat * 100) AS BIGINT) AS carat_cents, {month_sql} AS month_key "
        "FROM polished_outcomes o JOIN rough_sales r ON r.box_id = o.box_id GROUP BY 1, 2, 3, 4, 5, 6"
    )


PRICE_KEYS = Computation(
    "price keys of the outcome stones", "roughtrace.valuation.portable:price_keys", _native_price_keys,
    {"polished_outcomes": ("box_id", "shape", "color", "clarity", "cut", "carat", "polished_date"),
     "rough_sales": ("box_id", "sale_date")})
"""The distinct (shape family, colour, clarity, cut, hundredth of a carat, month key) of the outcome
stones of sold boxes, in no order: what the pricer quotes."""


def price_outcome_stones(
    store: Any, pricer: PolishedPricer, cost_model: CostModel, as_of: dt.date | None = None,
    price_date: str = "polished", engine: AnalyticsEngine | None = None,
) -> int:
    """Quote every distinct price key of polished_outcomes, in two columnar calls, and store them:

    1. valuation_polished_quotes: each (shape family, colour, clarity, cut, hundredth of a carat) at
       one reference date (`as_of`, else the middle of the latest month), with the cost
       model's cutting cost per carat;
    2. valuation_price_moves: when stones are priced as of their polished month (`price_date`
       "polished") or their box's sale month ("sale") rather than one date, how far each index
       cell (shape family, size bracket, colour, clarity) moved from the reference date to each month,
       from one representative stone of the cell quoted at both dates.

    A stone's price is then its key's quote x its cell's move: exact for an index whose month-to-month
    movement is shared by the stones of a cell (the pricing package's model is), and it keeps the
    number of quotes to the distinct keys plus the distinct cell-months. Returns the quotes made."""
    if not as_of and price_date not in PRICE_DATES:
        raise ValueError(f"stones are priced at their polished or sale date, not {price_date!r}")
    groups = (engine or InStoreEngine()).run(PRICE_KEYS, store, price_date=price_date, fixed=bool(as_of))
    local = duckdb.connect()
    try:
        local.register("price_groups", groups)
        keys = local.sql(
            f"SELECT shape_family, color, clarity, cut, carat_cents, {BRACKET_SQL.format(col='((carat_cents + 0.5) / 100)')} "
            "AS bracket FROM price_groups GROUP BY ALL ORDER BY ALL").to_arrow_table()
        cells = None if as_of else local.sql(
            "SELECT shape_family, bracket, color, clarity, month_key, "
            "MIN(smallest) OVER (PARTITION BY shape_family, bracket, color, clarity) AS carat_cents FROM ("
            f"SELECT shape_family, {BRACKET_SQL.format(col='((carat_cents + 0.5) / 100)')} AS bracket, color, clarity, "
            "month_key, MIN(carat_cents) AS smallest FROM price_groups GROUP BY 1, 2, 3, 4, 5) "
            "ORDER BY shape_family, bracket, color, clarity, month_key").to_arrow_table()
    finally:
        local.close()
    if as_of:
        reference = np.datetime64(as_of, "D")
        moves, quoted_moves = None, 0
    else:
        months = cells["month_key"].to_numpy().astype(np.int64)
        reference = _month_pricing_dates(np.array([months.max()]))[0] if len(months) else np.datetime64("today", "D")
        # one representative stone per cell (its smallest hundredth), quoted at every month and once
        # at the reference date
        cell_codes = pc.binary_join_element_wise(cells["shape_family"], cells["bracket"], cells["color"],
                                                 cells["clarity"], "|").combine_chunks()
        unique_cells, cell_index = np.unique(np.asarray(cell_codes.to_numpy(zero_copy_only=False), dtype=object),
                                             return_inverse=True)
        representative = np.zeros(len(unique_cells), dtype=np.int64)
        representative[cell_index[::-1]] = np.arange(len(cell_index))[::-1]
        m, u = cells.num_rows, len(unique_cells)
        rows = pa.concat_tables([cells, cells.take(pa.array(representative))])
        dates = np.concatenate([_month_pricing_dates(months), np.full(u, reference)])
        price = _quote(pricer, rows["shape_family"].combine_chunks(), rows["carat_cents"].to_numpy().astype(np.int64),
                       rows["color"].combine_chunks(), rows["clarity"].combine_chunks(), dates, None)
        at_month, at_reference = price[:m], price[m:][cell_index]
        with np.errstate(divide="ignore", invalid="ignore"):
            move = np.where(at_reference > 0, at_month / at_reference, 1.0)
        moves = pa.table({
            "shape_family": cells["shape_family"], "bracket": cells["bracket"], "color": cells["color"],
            "clarity": cells["clarity"], "month_key": pa.array(months, pa.int64()),
            "move": pc.cast(pa.array(np.round(move, MOVE_PLACES)), pa.decimal128(18, MOVE_PLACES), safe=False),
        })
        quoted_moves = m + u
    n = keys.num_rows
    cents = keys["carat_cents"].to_numpy().astype(np.int64)
    cut = keys["cut"].combine_chunks()
    graded = pc.if_else(pc.equal(cut, ""), pa.scalar(None, pa.string()), cut)
    price = _quote(pricer, keys["shape_family"].combine_chunks(), cents, keys["color"].combine_chunks(),
                   keys["clarity"].combine_chunks(), np.full(n, reference), graded)
    cost = cost_model.cutting_cost_per_carat_array((cents + 0.5) / 100.0)
    quotes = keys.append_column("price_per_carat", _usd(price)).append_column("cutting_cost_per_carat", _usd(cost))
    with store.transaction():
        store.execute("DELETE FROM valuation_polished_quotes")
        store.execute("DELETE FROM valuation_price_moves")
        if n:
            store.append("valuation_polished_quotes", quotes)
        if moves is not None and moves.num_rows:
            store.append("valuation_price_moves", moves)
    return n + quoted_moves


BOX_TOTALS_SQL = """
WITH stones AS (
  SELECT o.box_id, COUNT(*) AS stones_polished, SUM(o.carat) AS polished_carats,
         SUM(o.carat * q.price_per_carat * COALESCE(m.move, 1)) AS polished_total_usd,
         SUM(o.carat * q.cutting_cost_per_carat) AS cutting_costs_usd
  FROM polished_outcomes o
  JOIN rough_sales r ON r.box_id = o.box_id
  JOIN valuation_polished_quotes q
    ON q.shape_family = {family_sql} AND q.color = o.color AND q.clarity = o.clarity AND q.cut = COALESCE(o.cut, '')
   AND q.carat_cents = CAST(FLOOR(o.carat * 100) AS BIGINT)
  LEFT JOIN valuation_price_moves m
    ON m.shape_family = q.shape_family AND m.bracket = q.bracket AND m.color = q.color AND m.clarity = q.clarity
   AND m.month_key = {month_sql}
  GROUP BY o.box_id
), set_aside AS (
  SELECT box_id, SUM(carats) AS carats FROM rough_dispositions GROUP BY box_id
)
SELECT r.box_id, r.buyer_id, r.sight, r.sale_date, r.origin, r.assortment, r.model, r.quality,
       {hs_sql} AS hs_code, r.carats AS box_carats, r.price_usd AS paid_usd, COALESCE(a.carats, 0) AS set_aside_carats,
       s.stones_polished, s.polished_carats, s.polished_total_usd, s.cutting_costs_usd
FROM rough_sales r
JOIN stones s ON s.box_id = r.box_id
LEFT JOIN set_aside a ON a.box_id = r.box_id
ORDER BY r.box_id
"""


def _native_box_totals(store: Any, given: dict[str, pa.Table], *, price_date: str) -> pa.Table:
    """`BOX_TOTALS` in the store's engine."""
    return store.query(BOX_TOTALS_SQL.format(
        month_sql=MONTH_KEY_SQL.format(col=DATE_COLUMN.get(price_date, "o.polished_date")),
        family_sql=FAMILY_SQL.format(col="o.shape"), hs_sql=hs_class_sql("r.model", "r.quality")))


BOX_TOTALS = Computation(
    "box totals of the outcome stones", "roughtrace.valuation.portable:box_totals", _native_box_totals,
    {"polished_outcomes": ("box_id", "shape", "color", "clarity", "cut", "carat", "polished_date"),
     "rough_sales": ("box_id", "buyer_id", "sight", "sale_date", "origin", "assortment", "model", "quality", "carats",
                     "price_usd"),
     "valuation_polished_quotes": ("shape_family", "color", "clarity", "cut", "carat_cents", "bracket",
                                   "price_per_carat", "cutting_cost_per_carat"),
     "valuation_price_moves": ("shape_family", "bracket", "color", "clarity", "month_key", "move"),
     "rough_dispositions": ("box_id", "carats")})
"""Per sold box with an outcome, by box id: BOX_TOTALS_SQL's columns (the stones' sums at the
stored quotes and moves)."""


@dataclass(frozen=True)
class BoxRules:
    """Which valued boxes may enter the price book (the `pricebook_*` settings)."""

    max_yield: float = 0.60
    min_polished_share: float = 0.50
    period: str = "month"
    uplift_gate: float = 4.0
    """Robust spreads of ln(value / price paid) beyond which a box's value is implausible against its price."""
    excluded_buyers: frozenset[str] = frozenset()
    """Sightholders whose boxes stay out of the book (rated at `pricebook_exclude_risk` or above)."""

    @classmethod
    def from_settings(cls, settings: Any, excluded_buyers: frozenset[str] = frozenset()) -> BoxRules:
        return cls(
            max_yield=float(settings["pricebook_max_yield"]),
            min_polished_share=float(settings["pricebook_min_polished_share"]),
            period=settings["pricebook_period"],
            uplift_gate=float(settings["pricebook_uplift_gate"]),
            excluded_buyers=excluded_buyers,
        )


def value_boxes(
    store: Any,
    pricer: PolishedPricer,
    cost_model: CostModel,
    rules: BoxRules | None = None,
    as_of: dt.date | None = None,
    persist: bool = True,
    price_date: str = "polished",
    engine: AnalyticsEngine | None = None,
) -> pa.Table:
    """Value every box that has a reported outcome (see box_valuations in schema.py for the columns).
    Each stone is priced as of `as_of` when given, else in its polished month or its box's sale month
    (`price_date`: polished or sale).

    Polished total = sum of carat x index price per carat over the box's stones; rough value by the
    cost model; rough price per carat over the box's carats less the rough declared set aside in
    rough_dispositions; uplift against the price paid. `in_book` says whether the box may enter the
    price book, `excluded_reason` why not. Replaces box_valuations when `persist`."""
    rules = rules or BoxRules()
    engine = engine or InStoreEngine()
    engine.prepare((PRICE_KEYS, BOX_TOTALS), store)  # (the outcome rows both passes read, copied once)
    price_outcome_stones(store, pricer, cost_model, as_of, price_date, engine)
    raw = engine.run(BOX_TOTALS, store, price_date=price_date)
    boxes = _reverse_engineer_boxes(raw, cost_model, rules, as_of)
    if persist:
        with store.transaction():
            store.execute("DELETE FROM box_valuations")
            if boxes.num_rows:
                store.append("box_valuations", boxes)
    return boxes


def _reverse_engineer_boxes(raw: pa.Table, cost_model: CostModel, rules: BoxRules, as_of: dt.date | None) -> pa.Table:
    n = raw.num_rows
    box_carats = _float(raw["box_carats"])
    set_aside = _float(raw["set_aside_carats"])
    exact_left = pc.subtract(raw["box_carats"], pc.cast(raw["set_aside_carats"], raw.schema.field("box_carats").type))
    left = box_carats - set_aside
    has_left = left > 0
    base = np.where(has_left, left, box_carats)
    polished_rough = pc.if_else(pa.array(has_left), exact_left, raw["box_carats"])
    total = _float(raw["polished_total_usd"])
    cutting = _float(raw["cutting_costs_usd"])
    value = rough_value_array(total, cutting, cost_model.margin)
    price_per_carat = value / base
    polished_carats = _float(raw["polished_carats"])
    yield_ = polished_carats / base
    paid = _float(raw["paid_usd"])
    paid_per_carat = paid / box_carats
    with np.errstate(divide="ignore", invalid="ignore"):
        uplift = np.where(paid_per_carat > 0, price_per_carat / paid_per_carat - 1.0, np.nan)
    share = base / box_carats
    reason = np.full(n, None, dtype=object)
    reason[value <= 0] = "no value left after costs"
    reason[share < rules.min_polished_share] = "most of the rough set aside unpolished"
    reason[~has_left] = "rough declared set aside exceeds the box"
    reason[yield_ > rules.max_yield] = "yield above the physically plausible maximum"
    candidate = np.array([r is None for r in reason], dtype=bool) if n else np.zeros(0, dtype=bool)
    implausible = implausible_against_price(price_per_carat, paid_per_carat, _texts(raw["assortment"]), candidate,
                                            rules.uplift_gate)
    reason[implausible] = "value implausible against the price paid"
    if rules.excluded_buyers:
        risky = np.isin(_texts(raw["buyer_id"]), np.array(sorted(rules.excluded_buyers), dtype=object))
        reason[risky & np.array([r is None for r in reason], dtype=bool)] = "bought by a sightholder at high verification risk"
    in_book = np.array([r is None for r in reason], dtype=bool) if n else np.zeros(0, dtype=bool)
    built_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    return pa.table({
        "box_id": raw["box_id"],
        "buyer_id": raw["buyer_id"],
        "sight": raw["sight"],
        "sale_date": raw["sale_date"],
        "period": pa.array(periods.labels(_days(raw["sale_date"]), rules.period), pa.string()),
        "origin": raw["origin"],
        "assortment": raw["assortment"],
        "model": raw["model"],
        "quality": raw["quality"],
        "hs_code": raw["hs_code"],
        "box_carats": pc.cast(raw["box_carats"], pa.decimal128(18, CARAT_PLACES)),
        "polished_rough_carats": pc.cast(polished_rough, pa.decimal128(18, CARAT_PLACES)),
        "stones_polished": pc.cast(raw["stones_polished"], pa.int64()),
        "polished_carats": pc.cast(raw["polished_carats"], pa.decimal128(18, CARAT_PLACES)),
        "polished_total_usd": _usd(total),
        "cutting_costs_usd": _usd(cutting),
        "rough_value_usd": _usd(value),
        "rough_price_per_carat": _usd(price_per_carat),
        "paid_usd": pc.cast(raw["paid_usd"], pa.decimal128(18, USD_PLACES)),
        "paid_per_carat": _usd(paid_per_carat),
        "uplift": _ratio(uplift),
        "yield_": _ratio(yield_),
        "in_book": pa.array(in_book, pa.bool_()),
        "excluded_reason": pa.array(reason, pa.string()),
        "priced_as_of": pa.array([as_of] * n, pa.date32()),
        "cost_model": pa.array([json.dumps(cost_model.describe(), sort_keys=True)] * n, pa.string()),
        "built_at": pa.array([built_at] * n, pa.timestamp("us")),
    })


MIN_RATIO_SPREAD = 0.05
"""The narrowest spread of ln(value / price paid) the gate assumes: the polished index and grading
alone scatter a box's value by about 5%, even when the book's boxes agree more closely."""
MIN_ASSORTMENT_BOXES = 3
"""An assortment's own median ratio of value to price is its centre once it has this many boxes;
before that the whole book's median is (a median of one or two boxes is the boxes themselves)."""


def implausible_against_price(value_per_carat: np.ndarray, paid_per_carat: np.ndarray, assortment: np.ndarray,
                              candidate: np.ndarray, gate: float) -> np.ndarray:
    """Boxes whose reverse-engineered value per carat is implausible against the price paid: ln(value /
    paid) farther than `gate` robust spreads from its assortment's median (the book's median for an
    assortment of fewer than MIN_ASSORTMENT_BOXES boxes). Centres and spread come from the `candidate`
    boxes only (those passing the book's other rules); a set computation, so the rows' order is moot."""
    n = len(value_per_carat)
    out = np.zeros(n, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.log(value_per_carat / paid_per_carat)
    usable = candidate & np.isfinite(ratio)
    if usable.sum() < MIN_ASSORTMENT_BOXES or not np.isfinite(gate) or gate <= 0:
        return out
    codes, group = np.unique(assortment.astype(str), return_inverse=True)
    overall = float(np.median(ratio[usable]))
    centre = np.full(len(codes), overall)
    counts = np.bincount(group[usable], minlength=len(codes))
    order = np.argsort(group[usable], kind="stable")
    sorted_groups, sorted_ratio = group[usable][order], ratio[usable][order]
    starts = np.searchsorted(sorted_groups, np.arange(len(codes)))
    for g in np.flatnonzero(counts >= MIN_ASSORTMENT_BOXES):
        centre[g] = float(np.median(sorted_ratio[starts[g]:starts[g] + counts[g]]))
    deviation = ratio - centre[group]
    spread = max(1.4826 * float(np.median(np.abs(deviation[usable]))), MIN_RATIO_SPREAD)
    out[usable] = np.abs(deviation[usable]) > gate * spread
    return out


def _texts(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)


def _float(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)


def _usd(values: np.ndarray) -> pa.Array:
    """Float dollars to exact DECIMAL(18,2), rounded half-even to the cent."""
    return pc.cast(pa.array(np.round(np.asarray(values, dtype=np.float64), USD_PLACES)), pa.decimal128(18, USD_PLACES), safe=False)


def _ratio(values: np.ndarray) -> pa.Array:
    rounded = np.round(np.asarray(values, dtype=np.float64), RATIO_PLACES)
    mask = ~np.isfinite(rounded)
    return pc.cast(pa.array(np.where(mask, 0.0, rounded), mask=mask), pa.decimal128(18, RATIO_PLACES), safe=False)


def _days(dates: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """An Arrow date column as numpy days, for `domain.periods`."""
    return np.asarray(dates.to_numpy(zero_copy_only=False), dtype="datetime64[D]")
