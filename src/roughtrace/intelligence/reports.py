"""A sightholder's market intelligence report and the producer's view, from the market's cells.

`Market.build` protects the market once: one magnitude table per segment kind (segments x periods,
with each segment's total over the periods, each period's total and the grand total), contributors
only, passed through `domain.disclosure.protect`, which returns only a pattern its audit passes
(over every earlier release) and otherwise refuses (`DisclosureRefused`). A report
is then a view of it: the sightholder's own figures beside the market's published totals and
quartiles, for the segments it bought in the period, and the trend over the periods it contributed
in. Every market figure a report holds comes from a published cell.

Figures (`FIGURES`) are ratios of sums over a sightholder's boxes in a cell; the market's quartiles
of a figure are taken over the contributors with a value (at least the minimum number of them), the
market's totals are the magnitudes' sums (`cells.MAGNITUDES`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from ..domain import disclosure
from ..domain.disclosure import Record, Release, Rules, Suppression, Table
from ..errors import NotFound
from . import cells as cell_sums
from .cells import MAGNITUDES, SEGMENT_KINDS, MarketCells

OTHER_ASSORTMENTS = "other assortments"
"""The pooled row of the assortments that lack the minimum number of contributors in a period they sold in."""

FIGURES: dict[str, tuple[str, str, int, str]] = {
    "yield": ("polished_mct", "outcome_rough_mct", 1, "polished carats / rough carats of the boxes with an outcome"),
    "top_colour_share": ("top_colour_mct", "polished_mct", 1, "share of the polished carats in colours D to H"),
    "top_clarity_share": ("top_clarity_mct", "polished_mct", 1, "share of the polished carats in clarities FL to VS2"),
    "large_share": ("large_mct", "polished_mct", 1, "share of the polished carats in stones of 0.30 ct and up"),
    "processing_days": ("polish_days", "stones", 1, "days from the sale to the polished date, per stone"),
    "polished_share": ("outcome_rough_mct", "rough_mct", 1, "share of the rough carats bought with a polished outcome"),
    "sold_rough_share": ("sold_rough_mct", "rough_mct", 1, "share of the rough carats declared sold as rough"),
    "in_process_share": ("in_process_mct", "rough_mct", 1, "share of the rough carats declared in process"),
    "price_per_carat": ("priced_value_cents", "priced_mct", 10, "the price index's median USD per carat of the "
                        "polished produced (dollars per carat)"),
}
"""Each figure: numerator, denominator (sums per cell), the factor that turns their ratio into the
figure's unit (cents per thousandth of a carat x 10 = dollars per carat), and what it is."""

PLACES = {"processing_days": Decimal("0.1"), "price_per_carat": Decimal("0.01")}
"""How each figure is rounded when shown (shares and yields to four places)."""


def _figure(name: str, numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """A figure's value (float) where its denominator is above zero, NaN elsewhere."""
    factor = FIGURES[name][2]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, factor * numerator / np.where(denominator > 0, denominator, 1), np.nan)


def exact(name: str, value: float | None) -> Decimal | None:
    """A figure as a Decimal rounded to its places; None for no value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return Decimal(repr(float(value))).quantize(PLACES.get(name, Decimal("0.0001")))


def carats(thousandths: float | int) -> Decimal:
    """Thousandths of a carat as exact carats."""
    return Decimal(int(round(thousandths))).scaleb(-3)


@dataclass(frozen=True)
class KindTable:
    """One segment kind's protected table, and its figures per sightholder."""

    kind: str
    segments: tuple[str, ...]
    rows: np.ndarray
    """Each of the kind's segments' row in the table (the pooled row for a pooled assortment)."""
    table: Table
    """The kind's table joined to its earlier releases (its own cells first)."""
    suppression: Suppression
    sums: dict[str, np.ndarray]
    """(sightholders, table rows, periods) sums, every sightholder."""
    record: Record | None = None
    """What the earlier releases fix in `table` (None: no earlier release)."""
    own: Table | None = None
    """The kind's own table, as it will be released (`table` when there is no record)."""

    def release(self) -> Release:
        """This table as a report releases it: its own cells, every contributor's values, the pattern."""
        own = self.own if self.own is not None else self.table
        return Release(own, self.suppression.published()[:len(own.cells)].copy())


@dataclass(frozen=True)
class Market:
    """The market's cells, each segment kind's protected table, and the rules applied."""

    cells: MarketCells
    rules: Rules
    kinds: dict[str, KindTable]
    figures: dict[tuple[str, str, str], MarketFigures] = field(default_factory=dict, compare=False, repr=False)
    """Each cell's market figures once worked out (every report of the market shares them)."""
    own: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, compare=False, repr=False)
    """Each kind's figures of every sightholder, segment and period (float, NaN for none), once worked out."""

    @classmethod
    def build(cls, cells: MarketCells, rules: Rules, released: dict[str, Sequence[Release]] | None = None) -> Market:
        """Protect every segment kind's table (totals shared between tables hidden alike): each pattern
        `protect` returns is one its audit passed, so it is not audited a second time;
        `DisclosureRefused` when any table fails. `released` holds each kind's earlier releases
        (`record.load`): each table is then joined to them, protected and audited over every period."""
        staged = {kind: _staged(cells, kind, rules) for kind in SEGMENT_KINDS}
        joined: dict[str, tuple[Table, Record | None]] = {}
        for kind, (_, _, table, _) in staged.items():
            earlier = (released or {}).get(kind, ())
            joined[kind] = disclosure.with_record(table, earlier) if earlier else (table, None)
        forced: set[Any] = set()
        while True:
            protected = {}
            for kind, (table, record) in joined.items():
                mask = np.array([key in forced for key in table.cells], bool)
                protected[kind] = disclosure.protect(table, rules, mask, record)
            shared = {key for kind, s in protected.items() for key, hidden in zip(s.table.cells, s.suppressed, strict=True)
                      if hidden and len(key) == 2 and key[0] == "*"}
            if shared <= forced:
                break
            forced |= shared
        return cls(cells, rules, {kind: KindTable(kind, staged[kind][0], staged[kind][1], joined[kind][0],
                                                  protected[kind], staged[kind][3], joined[kind][1], staged[kind][2])
                                  for kind in SEGMENT_KINDS})

    def published(self, kind: str, row: str, period: str) -> bool:
        protected = self.kinds[kind]
        return bool(protected.suppression.published()[protected.table.index((row, period))])


def _staged(cells: MarketCells, kind: str, rules: Rules) -> tuple[tuple[str, ...], np.ndarray, Table, dict[str, np.ndarray]]:
    """A kind's table rows (assortments that never reach the minimum contributors pooled), its
    magnitude table over contributors, and its sums per table row."""
    segments = cells.segments[kind]
    sums = cells.sums[kind]
    rows = np.arange(len(segments))
    labels = list(segments)
    if kind == "assortment":
        # an assortment keeps a row of its own when every period it sold in has the minimum contributors
        # of polished outcome; the others, each bought by few, share one row
        contributing = (np.where(cells.contributed[:, None, :], sums["polished_mct"], 0) > 0).sum(axis=0)
        sold = sums["rough_mct"].sum(axis=0) > 0
        pooled = ((contributing < rules.min_contributors) & sold).any(axis=1)
        if pooled.any():
            kept = np.flatnonzero(~pooled)
            rows = np.full(len(segments), len(kept))
            rows[kept] = np.arange(len(kept))
            labels = [segments[i] for i in kept] + [OTHER_ASSORTMENTS]
    n_rows = len(labels)
    into = (rows[:, None] == np.arange(n_rows)[None, :]).astype(np.int64)  # segment -> its table row
    folded = {name: np.einsum("hsp,sr->hrp", values, into) for name, values in sums.items()}
    keep = cells.contributed[:, None, :]
    magnitudes = np.stack([np.where(keep, folded[name], 0) for name in ("rough_mct", "outcome_rough_mct", "polished_mct")])
    table = disclosure.two_way(magnitudes.astype(np.float64), labels, cells.periods, MAGNITUDES, cells.sightholders)
    return tuple(labels), rows, table, folded


@dataclass(frozen=True)
class MarketFigures:
    """The market's published figures for one cell, or why there are none."""

    published: bool
    reason: tuple[str, ...]
    """The rules that hid the cell ('complementary' for a cell hidden to protect another)."""
    contributors: int
    rough_carats: Decimal | None = None
    polished_carats: Decimal | None = None
    yield_: Decimal | None = None
    quartiles: dict[str, tuple[Decimal | None, Decimal | None, Decimal | None]] | None = None

    def as_dict(self) -> dict[str, Any]:
        if not self.published:
            return {"published": False, "suppressed_by": list(self.reason)}
        return {"published": True, "contributors": self.contributors, "rough_carats": self.rough_carats,
                "polished_carats": self.polished_carats, "yield": self.yield_,
                "quartiles": {name: {"q1": q[0], "median": q[1], "q3": q[2]} for name, q in (self.quartiles or {}).items()}}


def market_figures(market: Market, kind: str, row: str, period: str) -> MarketFigures:
    """The market's totals and quartiles in one cell when it is published; its reason otherwise."""
    key = (kind, row, period)
    if key not in market.figures:
        market.figures[key] = _market_figures(market, kind, row, period)
    return market.figures[key]


def _market_figures(market: Market, kind: str, row: str, period: str) -> MarketFigures:
    protected = market.kinds[kind]
    j = protected.table.index((row, period))
    contributors = int((protected.table.contributions[0, :, j] > 0).sum())
    if not protected.suppression.published()[j]:
        return MarketFigures(False, protected.suppression.reasons.get(j, ()), contributors)
    totals = protected.table.totals[:, j]
    if contributors == 0:
        return MarketFigures(True, (), 0, Decimal("0.000"), Decimal("0.000"), None, {})
    quartiles: dict[str, tuple[Decimal | None, Decimal | None, Decimal | None]] = {}
    row_index = protected.segments.index(row)
    period_index = market.cells.periods.index(period)
    contributed = market.cells.contributed[:, period_index]
    for name, (numerator, denominator, _, _) in FIGURES.items():
        values = _figure(name, protected.sums[numerator][:, row_index, period_index],
                         protected.sums[denominator][:, row_index, period_index])[contributed]
        values = values[~np.isnan(values)]
        if values.size >= market.rules.min_contributors:
            q = np.percentile(values, [25, 50, 75])
            quartiles[name] = (exact(name, q[0]), exact(name, q[1]), exact(name, q[2]))
    market_yield = exact("yield", float(totals[2]) / float(totals[1])) if totals[1] > 0 else None
    return MarketFigures(True, (), contributors, carats(totals[0]), carats(totals[2]), market_yield, quartiles)


def own_figures(market: Market, kind: str, sightholder: int, segment: int, period: int) -> dict[str, Decimal | None]:
    """A sightholder's own figures in one segment (unpooled) and period."""
    if kind not in market.own:
        sums = market.cells.sums[kind]
        market.own[kind] = {name: _figure(name, sums[numerator], sums[denominator])
                            for name, (numerator, denominator, _, _) in FIGURES.items()}
    return {name: exact(name, float(values[sightholder, segment, period])) for name, values in market.own[kind].items()}


@dataclass(frozen=True)
class SegmentReport:
    """One segment a sightholder bought in the period: its figures, the market's, and the trend."""

    kind: str
    segment: str
    market_row: str
    """The market row it is compared with (the pooled row for a sparse assortment)."""
    rough_carats: Decimal
    own: dict[str, Decimal | None]
    market: MarketFigures
    trend: tuple[dict[str, Any], ...]
    """Per period up to the report's: its own yield, and the market's where it contributed and it is published."""

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "segment": self.segment, "market_row": self.market_row,
                "rough_carats": self.rough_carats, "own": self.own, "market": self.market.as_dict(),
                "trend": list(self.trend)}


@dataclass(frozen=True)
class IntelligenceReport:
    """What one sightholder is given for one period."""

    sightholder_id: str
    period: str
    contributor: bool
    boxes: int
    reported_boxes: int
    boxes_needed: int
    """More boxes with an outcome it would need to report to count as a contributor (0 when it does)."""
    unreported_boxes: tuple[str, ...]
    segments: tuple[SegmentReport, ...]
    rules: dict[str, Any]
    receipt: dict[str, Any] | None = None

    def cells(self) -> list[dict[str, Any]]:
        """Every figure the report holds, one line each (what the ledger entry's hash covers)."""
        lines: list[dict[str, Any]] = []
        for s in self.segments:
            lines += [{"kind": s.kind, "segment": s.segment, "period": self.period, "figure": f"own_{name}", "value": v}
                      for name, v in s.own.items()]
            if s.market.published:
                market = s.market.as_dict()
                lines += [{"kind": s.kind, "segment": s.market_row, "period": self.period, "figure": f"market_{name}",
                           "value": market[name]} for name in ("contributors", "rough_carats", "polished_carats", "yield")]
                lines += [{"kind": s.kind, "segment": s.market_row, "period": self.period,
                           "figure": f"market_{name}_{which}", "value": value}
                          for name, q in (s.market.quartiles or {}).items()
                          for which, value in zip(("q1", "median", "q3"), q, strict=True)]
            lines += [{"kind": s.kind, "segment": s.market_row, "period": t["period"], "figure": "market_yield",
                       "value": t["market_yield"]} for t in s.trend if t.get("market_yield") is not None]
        return lines

    def market_figures(self) -> int:
        """How many market figures the report holds."""
        return sum(1 for line in self.cells() if line["figure"].startswith("market_"))

    def as_dict(self) -> dict[str, Any]:
        return {"sightholder_id": self.sightholder_id, "period": self.period, "contributor": self.contributor,
                "boxes": self.boxes, "reported_boxes": self.reported_boxes, "boxes_needed": self.boxes_needed,
                "unreported_boxes": list(self.unreported_boxes), "rules": self.rules,
                "segments": [s.as_dict() for s in self.segments], "receipt": self.receipt}


def rules_dict(rules: Rules, contribution_share: Decimal) -> dict[str, Any]:
    return {"min_contributors": rules.min_contributors, "dominance_n": rules.dominance_n,
            "dominance_k": rules.dominance_k, "p_percent": rules.p_percent, "contribution_share": contribution_share}


def report_for(market: Market, sightholder_id: str, period: str | None, contribution_share: Decimal) -> IntelligenceReport:
    """One sightholder's report for `period` (its latest period with a purchase when None) from a
    protected market: `NotFound` when it bought nothing then."""
    cells = market.cells
    if sightholder_id not in cells.sightholders:
        raise NotFound(f"sightholder {sightholder_id!r} bought no box in the store", code="sightholder_not_found")
    h = cells.sightholder(sightholder_id)
    if period is None:
        bought = np.flatnonzero(cells.boxes[h] > 0)
        period = cells.periods[int(bought[-1])]
    if period not in cells.periods or cells.boxes[h, cells.periods.index(period)] == 0:
        raise NotFound(f"sightholder {sightholder_id} bought no box in period {period}", code="period_not_found")
    p = cells.periods.index(period)
    boxes, reported = int(cells.boxes[h, p]), int(cells.reported[h, p])
    needed = max(0, math.ceil(float(contribution_share) * boxes - 1e-9) - reported)
    unreported = cells.unreported.get((sightholder_id, period), ())
    rules = rules_dict(market.rules, contribution_share)
    if not cells.contributed[h, p]:
        return IntelligenceReport(sightholder_id, period, False, boxes, reported, needed, unreported, (), rules)
    segments: list[SegmentReport] = []
    for kind in SEGMENT_KINDS:
        protected = market.kinds[kind]
        bought = np.flatnonzero(cells.sums[kind]["rough_mct"][h, :, p] > 0)
        for s in bought:
            row = protected.segments[int(protected.rows[s])]
            trend = []
            for q in range(p + 1):
                entry: dict[str, Any] = {"period": cells.periods[q],
                                         "own_yield": own_figures(market, kind, h, int(s), q)["yield"]}
                if cells.contributed[h, q] and market.published(kind, row, cells.periods[q]):
                    entry["market_yield"] = market_figures(market, kind, row, cells.periods[q]).yield_
                trend.append(entry)
            segments.append(SegmentReport(kind, cells.segments[kind][s], row,
                                          carats(cells.sums[kind]["rough_mct"][h, s, p]), own_figures(market, kind, h, int(s), p),
                                          market_figures(market, kind, row, period), tuple(trend)))
    return IntelligenceReport(sightholder_id, period, True, boxes, reported, 0, unreported, tuple(segments), rules)


@dataclass(frozen=True)
class ProducerView:
    """Every cell of a producer's sales, unsuppressed: per segment and period, every buyer counted."""

    producer_id: str | None
    period: str | None
    rows: tuple[dict[str, Any], ...]
    receipt: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"producer_id": self.producer_id, "period": self.period, "rows": list(self.rows), "receipt": self.receipt}


def producer_rows(cells: MarketCells, period: str | None) -> tuple[dict[str, Any], ...]:
    """The full view: for each segment kind, segment and period (or the one asked for), the buyers,
    boxes, carats and figures over every sightholder who bought, contributor or not."""
    rows: list[dict[str, Any]] = []
    chosen = range(len(cells.periods)) if period is None else [cells.periods.index(period)]
    for kind in SEGMENT_KINDS:
        sums = cells.sums[kind]
        total = {name: values.sum(axis=0) for name, values in sums.items()}
        buyers = (sums["rough_mct"] > 0).sum(axis=0)
        contributors = ((sums["rough_mct"] > 0) & cells.contributed[:, None, :]).sum(axis=0)
        for s, segment in enumerate(cells.segments[kind]):
            for p in chosen:
                if buyers[s, p] == 0:
                    continue
                figures = {name: exact(name, float(_figure(name, np.asarray(total[num][s, p]), np.asarray(total[den][s, p]))))
                           for name, (num, den, _, _) in FIGURES.items()}
                rows.append({"kind": kind, "segment": segment, "period": cells.periods[p], "buyers": int(buyers[s, p]),
                             "contributors": int(contributors[s, p]), "boxes": int(total["boxes"][s, p]),
                             "rough_carats": carats(total["rough_mct"][s, p]),
                             "polished_carats": carats(total["polished_mct"][s, p]), **figures})
    return tuple(rows)


def load_market(store: Any, settings: Any) -> Market:
    """The protected market of the store, by the call's settings, over every earlier release."""
    from . import record
    from .settings import rules

    return Market.build(cell_sums.load(store, settings), rules(settings), record.load(store, settings["intelligence_period"]))
