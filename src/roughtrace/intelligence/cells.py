"""Each sightholder's figures per segment and period, from the store: the facts a report is built of.

One engine query reduces the store to one row per sold box (its buyer, sale date, assortment,
model and size class, and what its buyer reported of it: polished carats by grade and size group,
days to polish, declared dispositions, the price index's value of the polished). numpy then sums
the boxes into cells, one per (sightholder, segment, period): integer thousandths of a carat and
cents, so every total is exact. The query is an analytics `Computation` (`BOX_FACTS`): the store
engine's own plan, beside its portable form (`intelligence/portable.py`) that the spark engine runs
(`analytics_engine`).

A **segment** is what a sightholder bought, seen three ways (`SEGMENT_KINDS`): the assortment, the
rough model, the size class (sand, smalls, sizes, specials by the box's average stone).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa

from ..analytics.port import AnalyticsEngine, Computation, InStoreEngine, engine_for
from ..domain import periods
from ..domain.grades import CLARITIES, COLOURS
from ..store.port import Store

SEGMENT_KINDS: tuple[str, ...] = ("assortment", "model", "size_class")
"""The ways a report groups what a sightholder bought."""

TOP_COLOURS = COLOURS[:COLOURS.index("H") + 1]
"""D to H: the colours whose share of the polished is a report's colour mix."""
TOP_CLARITIES = CLARITIES[:CLARITIES.index("VS2") + 1]
"""FL to VS2: the clarities whose share of the polished is a report's clarity mix."""
LARGE_CT = Decimal("0.30")
"""Polished stones from this weight up make a report's size mix (the lab-report threshold)."""

MAGNITUDES: tuple[str, ...] = ("rough_carats", "outcome_rough_carats", "polished_carats")
"""The totals a market cell publishes (thousandths of a carat): rough bought, rough of the boxes with
a polished outcome, polished reported; the market yield is the third over the second."""

SUMS: tuple[str, ...] = (
    "boxes", "reported_boxes", "rough_mct", "outcome_rough_mct", "polished_mct", "top_colour_mct", "top_clarity_mct",
    "large_mct", "stones", "polish_days", "sold_rough_mct", "in_process_mct", "priced_mct", "priced_value_cents")
"""What numpy sums per cell from the boxes (mct: thousandths of a carat)."""


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def box_facts_sql(price_period: str) -> str:
    """One row per sold box with its buyer's outcome and dispositions (DuckDB and PostgreSQL alike)."""
    from ..pricing.index import BRACKET_SQL, FAMILY_SQL

    mct = "CAST(round(o.carat * 1000) AS BIGINT)"
    return f"""
WITH priced AS (
  SELECT box_id, sightholder_id, carat, color, clarity, polished_date,
         {FAMILY_SQL} AS shape_family, {BRACKET_SQL} AS size_bracket,
         {periods.start_sql('polished_date', price_period)} AS period_start
  FROM polished_outcomes
), outcome AS (
  SELECT o.box_id,
         sum({mct}) AS polished_mct,
         sum(CASE WHEN {_in('o.color', TOP_COLOURS)} THEN {mct} ELSE 0 END) AS top_colour_mct,
         sum(CASE WHEN {_in('o.clarity', TOP_CLARITIES)} THEN {mct} ELSE 0 END) AS top_clarity_mct,
         sum(CASE WHEN o.carat >= {LARGE_CT} THEN {mct} ELSE 0 END) AS large_mct,
         count(*) AS stones,
         sum(CAST(o.polished_date - s.sale_date AS BIGINT)) AS polish_days,
         sum(CASE WHEN p.median_ppc IS NULL THEN 0 ELSE {mct} END) AS priced_mct,
         sum(CASE WHEN p.median_ppc IS NULL THEN 0
             ELSE CAST(round(o.carat * p.median_ppc * 100) AS BIGINT) END) AS priced_value_cents
  FROM priced o
  JOIN rough_sales s ON s.box_id = o.box_id AND s.buyer_id = o.sightholder_id
  LEFT JOIN price_index_cells p ON p.period_start = o.period_start AND p.shape_family = o.shape_family
       AND p.size_bracket = o.size_bracket AND p.color = o.color AND p.clarity = o.clarity
  GROUP BY o.box_id
), declared AS (
  SELECT d.box_id,
         sum(CASE WHEN d.disposition = 'sold_rough' THEN CAST(round(d.carats * 1000) AS BIGINT) ELSE 0 END) AS sold_rough_mct,
         sum(CASE WHEN d.disposition = 'in_process' THEN CAST(round(d.carats * 1000) AS BIGINT) ELSE 0 END) AS in_process_mct,
         count(*) AS declarations
  FROM rough_dispositions d JOIN rough_sales s ON s.box_id = d.box_id AND s.buyer_id = d.sightholder_id
  GROUP BY d.box_id
)
SELECT s.box_id, s.buyer_id AS sightholder_id, s.seller_id, s.sale_date, s.assortment, s.model,
       CASE WHEN s.carats < 0.1 * s.stones THEN 'sand' WHEN s.carats <= 1 * s.stones THEN 'smalls'
            WHEN s.carats <= 15 * s.stones THEN 'sizes' ELSE 'specials' END AS size_class,
       CAST(round(s.carats * 1000) AS BIGINT) AS rough_mct,
       CASE WHEN o.box_id IS NULL THEN 0 ELSE CAST(round(s.carats * 1000) AS BIGINT) END AS outcome_rough_mct,
       CASE WHEN o.box_id IS NULL AND d.box_id IS NULL THEN 0 ELSE 1 END AS reported_boxes,
       coalesce(o.polished_mct, 0) AS polished_mct, coalesce(o.top_colour_mct, 0) AS top_colour_mct,
       coalesce(o.top_clarity_mct, 0) AS top_clarity_mct, coalesce(o.large_mct, 0) AS large_mct,
       coalesce(o.stones, 0) AS stones, coalesce(o.polish_days, 0) AS polish_days,
       coalesce(d.sold_rough_mct, 0) AS sold_rough_mct, coalesce(d.in_process_mct, 0) AS in_process_mct,
       coalesce(o.priced_mct, 0) AS priced_mct, coalesce(o.priced_value_cents, 0) AS priced_value_cents
FROM rough_sales s
LEFT JOIN outcome o ON o.box_id = s.box_id
LEFT JOIN declared d ON d.box_id = s.box_id
JOIN parties p ON p.party_id = s.buyer_id AND p.role = 'sightholder'
"""


def _native_box_facts(store: Store, given: dict[str, pa.Table], *, price_period: str) -> pa.Table:
    """`BOX_FACTS` in the store's engine."""
    return store.query(box_facts_sql(price_period))


BOX_FACTS = Computation(
    "intelligence box facts", "roughtrace.intelligence.portable:box_facts", _native_box_facts,
    {"polished_outcomes": ("box_id", "sightholder_id", "shape", "carat", "color", "clarity", "polished_date"),
     "rough_sales": ("box_id", "buyer_id", "seller_id", "sale_date", "assortment", "model", "stones", "carats"),
     "rough_dispositions": ("box_id", "sightholder_id", "disposition", "carats"),
     "parties": ("party_id", "role"),
     "price_index_cells": ("period_start", "shape_family", "size_bracket", "color", "clarity", "median_ppc")})
"""`box_facts_sql` over the whole store on the analytics port: one row per box sold to a
sightholder, in no order."""


def box_facts(store: Store, period_kind: str, price_period: str, engine: AnalyticsEngine | None = None) -> pa.Table:
    """Every box sold to a sightholder, with its report period's label and what its buyer reported,
    computed on `engine` (the store's own unless given), in box id order whichever engine ran it."""
    table = (engine or InStoreEngine()).run(BOX_FACTS, store, price_period=price_period).sort_by("box_id")
    sale = table.column("sale_date").to_numpy(zero_copy_only=False).astype("datetime64[D]")
    return table.append_column("period", pa.array(periods.labels(sale, period_kind), pa.string()))


def market_facts(store: Store, settings: Any) -> pa.Table:
    """`box_facts` by the call's settings, on the analytics engine they choose."""
    engine = engine_for(settings)
    try:
        return box_facts(store, settings["intelligence_period"], settings["price_period"], engine)
    finally:
        engine.close()


@dataclass(frozen=True)
class MarketCells:
    """Every sightholder's sums per segment and period, and who contributed when.

    `sums[kind][name]` is an int64 array (sightholders, segments of that kind, periods)."""

    sightholders: tuple[str, ...]
    periods: tuple[str, ...]
    segments: dict[str, tuple[str, ...]]
    sums: dict[str, dict[str, np.ndarray]]
    contributed: np.ndarray
    """bool (sightholders, periods): reported an outcome for at least the settable share of its boxes."""
    boxes: np.ndarray
    """int64 (sightholders, periods): boxes bought."""
    reported: np.ndarray
    """int64 (sightholders, periods): boxes with an outcome or a declared disposition."""
    unreported: dict[tuple[str, str], tuple[str, ...]]
    """The boxes each (sightholder, period) bought and reported nothing of."""

    def sightholder(self, sightholder_id: str) -> int:
        return self.sightholders.index(sightholder_id)

    def magnitudes(self, kind: str) -> np.ndarray:
        """(magnitudes, sightholders, segments, periods) thousandths of a carat, contributors only."""
        keep = self.contributed[:, None, :]
        names = ("rough_mct", "outcome_rough_mct", "polished_mct")
        return np.stack([np.where(keep, self.sums[kind][name], 0) for name in names])


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, tuple[str, ...]]:
    values = np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)
    labels, codes = np.unique(values.astype(str), return_inverse=True)
    return np.asarray(codes).reshape(-1), tuple(str(x) for x in labels)


def market_cells(facts: pa.Table, contribution_share: Decimal) -> MarketCells:
    """Sum the boxes (`box_facts`) into cells per sightholder, segment and period, and decide who
    contributed in each period (reported boxes at least `contribution_share` of bought boxes)."""
    holder, sightholders = _codes(facts.column("sightholder_id"))
    period, labels = _codes(facts.column("period"))
    h, p = len(sightholders), len(labels)
    columns = {name: facts.column(name).to_numpy(zero_copy_only=False).astype(np.int64)
               for name in SUMS if name != "boxes"}
    columns["boxes"] = np.ones(facts.num_rows, np.int64)
    segments: dict[str, tuple[str, ...]] = {}
    sums: dict[str, dict[str, np.ndarray]] = {}
    for kind in SEGMENT_KINDS:
        segment, names = _codes(facts.column(kind))
        segments[kind] = names
        flat = (holder * len(names) + segment) * p + period
        size = h * len(names) * p
        sums[kind] = {name: np.bincount(flat, weights=values, minlength=size).round().astype(np.int64)
                      .reshape(h, len(names), p) if len(values) else np.zeros((h, len(names), p), np.int64)
                      for name, values in columns.items()}
    cell = holder * p + period
    boxes = np.bincount(cell, minlength=h * p).reshape(h, p).astype(np.int64)
    reported = np.bincount(cell, weights=columns["reported_boxes"], minlength=h * p).reshape(h, p).round().astype(np.int64)
    share = float(contribution_share)
    contributed = (boxes > 0) & (reported >= share * boxes - 1e-9)
    silent = np.flatnonzero(columns["reported_boxes"] == 0)
    box_ids = np.asarray(facts.column("box_id").to_numpy(zero_copy_only=False), dtype=object)
    silent = silent[np.lexsort((box_ids[silent].astype(str), cell[silent]))]
    groups, starts = np.unique(cell[silent], return_index=True)
    unreported = {(sightholders[g // p], labels[g % p]): tuple(ids.astype(str).tolist())
                  for g, ids in zip(groups.tolist(), np.split(box_ids[silent], starts[1:]), strict=True)} if silent.size else {}
    return MarketCells(sightholders, labels, segments, sums, contributed, boxes, reported, unreported)


def load(store: Store, settings: Any) -> MarketCells:
    """The market's cells from the store, by the call's settings."""
    return market_cells(market_facts(store, settings), settings["intelligence_contribution_share"])
