"""The rules: small pure functions from fact tables and settings to findings.

Each rule reads Arrow columns as numpy arrays, marks the rows that break its expectation with one
vectorised comparison, and builds findings (with their evidence) for those rows only. No rule
touches the store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .facts import half_unit
from .findings import Finding

MAD_TO_SIGMA = 1.4826
"""Scale of the median absolute deviation to a normal standard deviation."""


@dataclass(frozen=True)
class Facts:
    """What the rules see: the fact tables by name, and the date coverage is judged at."""

    tables: Mapping[str, pa.Table]
    as_of: dt.date | None

    def __getitem__(self, name: str) -> pa.Table:
        return self.tables[name]


def _floats(table: pa.Table, column: str) -> np.ndarray:
    return pc.fill_null(pc.cast(table.column(column), pa.float64()), 0.0).to_numpy(zero_copy_only=False)


def _ints(table: pa.Table, column: str) -> np.ndarray:
    return pc.fill_null(pc.cast(table.column(column), pa.int64()), 0).to_numpy(zero_copy_only=False)


def _texts(table: pa.Table, column: str) -> np.ndarray:
    return np.asarray(table.column(column).to_pylist(), dtype=object)


def _ratio(value: float) -> Decimal:
    """A ratio for evidence, to three places."""
    return Decimal(repr(round(float(value), 3)))


def _rows(table: pa.Table, mask: np.ndarray) -> list[Mapping[str, Any]]:
    """The flagged rows as Python records (exact Decimal carats), few by construction."""
    if not mask.any():
        return []
    flagged = table.filter(pa.array(mask))
    columns: dict[str, list[Any]] = {}
    return [_Row(flagged, columns, i) for i in range(flagged.num_rows)]


class _Row(Mapping[str, Any]):
    """One flagged row. A column becomes Python values for all the flagged rows at once, when a rule
    first reads it: a rule reads a few of a fact table's columns, and converting the others (decimals
    above all) would take most of a rule's time when many rows are flagged."""

    __slots__ = ("_table", "_columns", "_index")

    def __init__(self, table: pa.Table, columns: dict[str, list[Any]], index: int) -> None:
        self._table, self._columns, self._index = table, columns, index

    def __getitem__(self, name: str) -> Any:
        values = self._columns.get(name)
        if values is None:
            values = self._columns[name] = self._table.column(name).to_pylist()
        return values[self._index]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table.column_names)

    def __len__(self) -> int:
        return self._table.num_columns


def _leaving(boxes: pa.Table) -> np.ndarray:
    """Rough carats declared as leaving the box as rough: sold, rejected or lost."""
    return _floats(boxes, "sold_rough_carats") + _floats(boxes, "lost_carats")


# --- mass balance -------------------------------------------------------------------------------

def mass_balance(facts: Facts, settings: Mapping[str, Any]) -> list[Finding]:
    """Polished carats of a box against its rough: polished plus rough declared out never above the
    rough (high); polished above max_yield x the rough left to polish (high); one rough stone giving
    more polished than it weighs (high) or more than max_yield of it (medium)."""
    boxes = facts["boxes"]
    max_yield = Decimal(settings["checks_max_yield"])
    rough, polished, leaving = _floats(boxes, "rough_carats"), _floats(boxes, "polished_carats"), _leaving(boxes)
    over_rough = polished + leaving > rough + 1e-9
    rounding = _box_rounding(boxes)
    over_yield = (~over_rough & (polished - rounding > float(max_yield) * (rough - leaving + _rough_rounding(boxes)) + 1e-9)
                  & (polished > 0))
    findings: list[Finding] = []
    for row in _rows(boxes, over_rough):
        out = row["sold_rough_carats"] + row["lost_carats"]
        findings.append(Finding(
            "mass_balance", "high", row["sightholder_id"],
            f"box {row['box_id']}: {row['polished_carats']} ct polished plus {out} ct declared out as rough "
            f"exceed the {row['rough_carats']} ct of rough bought",
            {"rough_carats": row["rough_carats"], "polished_carats": row["polished_carats"],
             "declared_out_carats": out, "expected": "polished + rough declared out <= rough carats",
             "certainty": "arithmetic: the carats reported exceed the carats bought"},
            row["box_id"], row["sight"]))
    for row in _rows(boxes, over_yield):
        left = row["rough_carats"] - row["sold_rough_carats"] - row["lost_carats"]
        allowance = POLISHED_ROUNDING * row["polished_stones"]
        findings.append(Finding(
            "mass_balance", "high", row["sightholder_id"],
            f"box {row['box_id']}: {row['polished_carats']} ct polished from {left} ct of rough is a "
            f"{_ratio(row['polished_carats'] / left):.1%} yield, above the plausible {max_yield:.0%} even allowing "
            f"{allowance} ct for the rounding of {row['polished_stones']} reported weights",
            {"rough_carats": row["rough_carats"], "rough_left_to_polish_carats": left,
             "polished_carats": row["polished_carats"], "yield": _ratio(row["polished_carats"] / left),
             "rounding_allowance_carats": allowance, "max_yield": max_yield,
             "certainty": "physical: no cutting gives more than the maximum yield",
             "expected": f"polished - rounding <= {max_yield} x (rough left to polish + its rounding)"},
            row["box_id"], row["sight"]))
    over_weight = _ints(boxes, "rough_stones_over_weight") > 0
    over_stone_yield = ~over_weight & (_ints(boxes, "rough_stones_over_yield") > 0)
    for mask, severity, what in ((over_weight, "high", "more than it weighs"),
                                 (over_stone_yield, "medium", f"more than {max_yield:.0%} of its weight")):
        for row in _rows(boxes, mask):
            findings.append(Finding(
                "mass_balance", severity, row["sightholder_id"],
                f"box {row['box_id']}: {row['rough_stones_over_yield']} of {row['tracked_rough_stones']} tracked "
                f"rough stones gave {what} in polished (e.g. rough stone {row['example_rough_stone_id']}, "
                f"{row['example_polished_ct']} ct polished)",
                {"tracked_rough_stones": row["tracked_rough_stones"],
                 "rough_stones_over_weight": row["rough_stones_over_weight"],
                 "rough_stones_over_yield": row["rough_stones_over_yield"],
                 "example_rough_stone_id": row["example_rough_stone_id"],
                 "example_polished_carats": row["example_polished_ct"], "max_yield": max_yield,
                 "expected": f"polished from one rough stone <= {max_yield} x its rough carats, each weight "
                             "within half the unit it was written to (0.005 ct when it ends in 0, else 0.0005)",
                 "certainty": ("physical: a stone gives no more than it weighs" if severity == "high"
                               else "plausibility: above the maximum yield a cutter achieves")},
                row["box_id"], row["sight"]))
    return findings


POLISHED_ROUNDING = Decimal("0.005")
"""The most a reported polished weight can differ from the stone's by rounding: half a hundredth of a
carat (formats.md: no weight is written coarser than to the hundredth)."""


def _box_rounding(boxes: pa.Table) -> np.ndarray:
    """The most rounding can add to a box's polished carats: half a hundredth per stone."""
    return _floats(boxes, "polished_stones") * float(POLISHED_ROUNDING)


def _rough_rounding(boxes: pa.Table) -> np.ndarray:
    """Half the unit each box's rough weight was written to (facts.half_unit, in numpy)."""
    thousandths = np.rint(_floats(boxes, "rough_carats") * 1000).astype(np.int64)
    return np.where(thousandths % 10 == 0, float(half_unit(Decimal("0.010"))), float(half_unit(Decimal("0.001"))))


# --- yield plausibility -------------------------------------------------------------------------

def yield_outlier(facts: Facts, settings: Mapping[str, Any]) -> list[Finding]:
    """A box's yield (polished / rough left to polish: rough less the rough declared sold, rejected,
    lost or still in process) against the boxes of the same assortment, or of the same rough model
    when the assortment has too few: robust z-score from the median and MAD. Far above: medium
    (polished from elsewhere?); far below: low (rough gone undeclared?)."""
    boxes = facts["boxes"]
    threshold = float(settings["checks_yield_outlier_z"])
    min_boxes = int(settings["checks_yield_min_boxes"])
    left = _floats(boxes, "rough_carats") - _leaving(boxes) - _floats(boxes, "in_process_carats")
    polished = _floats(boxes, "polished_carats")
    usable = (polished > 0) & (left > 0)
    yield_ = np.where(usable, polished / np.where(left > 0, left, 1.0), np.nan)
    assortment, model = _texts(boxes, "assortment"), _texts(boxes, "model")
    group = np.where(_group_sizes(assortment, usable) >= min_boxes, "assortment " + assortment.astype(str),
                     "model " + model.astype(str))
    z = np.full(len(yield_), np.nan)
    medians = np.full(len(yield_), np.nan)
    sizes_of = np.zeros(len(yield_), dtype=np.int64)
    index = np.flatnonzero(usable)
    if len(index):
        names, member = np.unique(group[index], return_inverse=True)
        values = yield_[index]
        median = _group_median(values, member, len(names))
        spread = MAD_TO_SIGMA * _group_median(np.abs(values - median[member]), member, len(names))
        sizes = np.bincount(member, minlength=len(names))
        judged = (sizes[member] >= min_boxes) & (spread[member] > 0)
        z[index[judged]] = (values[judged] - median[member][judged]) / spread[member][judged]
        medians[index[judged]] = median[member][judged]
        sizes_of[index] = sizes[member]
    findings: list[Finding] = []
    for mask, severity, side in ((z > threshold, "medium", "above"), (z < -threshold, "low", "below")):
        index = np.flatnonzero(mask)
        for i, row in zip(index, _rows(boxes, mask), strict=True):
            findings.append(Finding(
                "yield_outlier", severity, row["sightholder_id"],
                f"box {row['box_id']}: yield {yield_[i]:.1%} sits far {side} the {medians[i]:.1%} median of "
                f"{group[i]} (robust z {z[i]:+.1f})",
                {"yield": _ratio(yield_[i]), "population": str(group[i]), "population_median": _ratio(medians[i]),
                 "population_boxes": int(sizes_of[i]), "robust_z": _ratio(z[i]),
                 "polished_carats": row["polished_carats"], "rough_carats": row["rough_carats"],
                 "rough_left_to_polish_carats": row["rough_carats"] - row["sold_rough_carats"] - row["lost_carats"]
                 - row["in_process_carats"],
                 "expected": f"|robust z| <= {settings['checks_yield_outlier_z']}"},
                row["box_id"], row["sight"]))
    return findings


def _group_median(values: np.ndarray, group: np.ndarray, groups: int) -> np.ndarray:
    """The median of `values` within each group (0..groups-1), by one sort."""
    order = np.lexsort((values, group))
    sizes = np.bincount(group, minlength=groups)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    last = max(len(values) - 1, 0)
    low = order[np.minimum(starts + np.maximum(sizes - 1, 0) // 2, last)]
    high = order[np.minimum(starts + np.maximum(sizes // 2, 0), last)]
    return np.where(sizes > 0, (values[low] + values[high]) / 2, np.nan)


def _group_sizes(keys: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """For each row, how many usable rows share its key."""
    values, inverse = np.unique(keys.astype(str), return_inverse=True)
    counts = np.bincount(inverse, weights=usable.astype(float), minlength=len(values))
    return counts[inverse]


# --- size and timing ----------------------------------------------------------------------------

def size_and_timing(facts: Facts, settings: Mapping[str, Any]) -> list[Finding]:
    """A polished stone larger than the box's largest rough stone (high); a stone polished before
    the box was sold (high); several stones polished within the minimum processing days (high), one
    or two of them (low)."""
    boxes = facts["boxes"]
    days = int(settings["checks_min_processing_days"])
    fast_limit = int(settings["checks_fast_stones"])
    larger = _floats(boxes, "largest_polished_ct") > _floats(boxes, "size_max_ct") + 1e-9
    early = _ints(boxes, "early_stones") > 0
    fast = _ints(boxes, "fast_stones")
    findings: list[Finding] = []
    for row in _rows(boxes, larger):
        findings.append(Finding(
            "size_and_timing", "high", row["sightholder_id"],
            f"box {row['box_id']}: a {row['largest_polished_ct']} ct polished stone is larger than the box's "
            f"largest rough stone ({row['size_max_ct']} ct)",
            {"largest_polished_carats": row["largest_polished_ct"], "size_max_carats": row["size_max_ct"],
             "expected": "polished carat <= the box's size_max_ct",
             "certainty": "physical: a polished stone is cut from one rough stone, and none in the box was larger"},
            row["box_id"], row["sight"]))
    for row in _rows(boxes, early):
        findings.append(Finding(
            "size_and_timing", "high", row["sightholder_id"],
            f"box {row['box_id']}: {row['early_stones']} stones polished before the box was sold "
            f"on {row['sale_date']}",
            {"early_stones": row["early_stones"], "sale_date": row["sale_date"],
             "first_polished_date": row["first_polished_date"], "expected": "polished_date >= sale_date",
             "certainty": "the record: the dates as reported"},
            row["box_id"], row["sight"]))
    for mask, severity in ((fast >= fast_limit, "high"), ((fast > 0) & (fast < fast_limit), "low")):
        for row in _rows(boxes, mask & ~early):
            findings.append(Finding(
                "size_and_timing", severity, row["sightholder_id"],
                f"box {row['box_id']}: {row['fast_stones']} stones polished within {days} days of the sale "
                f"on {row['sale_date']} (first on {row['first_polished_date']})",
                {"fast_stones": row["fast_stones"], "sale_date": row["sale_date"],
                 "first_polished_date": row["first_polished_date"], "min_processing_days": days,
                 "expected": f"polishing takes at least {days} days from the sale",
                 "certainty": (f"{fast_limit} or more stones: a pattern no cutting room gives" if severity == "high"
                               else "one or two stones: a question (a mis-keyed date, a stone recut)")},
                row["box_id"], row["sight"]))
    return findings


# --- coverage -----------------------------------------------------------------------------------

def _aged(facts: Facts, boxes: pa.Table, settings: Mapping[str, Any]) -> np.ndarray:
    """Boxes sold longer ago than the processing window, as of the judging date."""
    if facts.as_of is None or boxes.num_rows == 0:
        return np.zeros(boxes.num_rows, dtype=bool)
    cutoff = facts.as_of - dt.timedelta(days=int(settings["checks_processing_window_days"]))
    sale = pc.cast(boxes.column("sale_date"), pa.date32())
    return pc.fill_null(pc.less(sale, pa.scalar(cutoff, pa.date32())), False).to_numpy(zero_copy_only=False)


def _uncovered(facts: Facts, boxes: pa.Table, settings: Mapping[str, Any]) -> np.ndarray:
    return _aged(facts, boxes, settings) & (_ints(boxes, "polished_stones") == 0) & (_ints(boxes, "dispositions") == 0)


def coverage(facts: Facts, settings: Mapping[str, Any]) -> list[Finding]:
    """Every box past the processing window with neither an outcome nor a declared disposition
    (medium); a sightholder with more than checks_uncovered_share of its past-window boxes so
    (high)."""
    boxes = facts["boxes"]
    window = int(settings["checks_processing_window_days"])
    aged = _aged(facts, boxes, settings)
    uncovered = _uncovered(facts, boxes, settings)
    findings: list[Finding] = []
    for row in _rows(boxes, uncovered):
        findings.append(Finding(
            "coverage", "medium", row["sightholder_id"],
            f"box {row['box_id']} ({row['rough_carats']} ct, sold {row['sale_date']}) has no polished outcome "
            f"and no declared disposition {window} days on",
            {"rough_carats": row["rough_carats"], "sale_date": row["sale_date"], "as_of": facts.as_of,
             "processing_window_days": window,
             "expected": "an outcome or a disposition within the processing window",
             "certainty": "a question, not a verdict: one box late is what a slow box of an honest cutter shows"},
            row["box_id"], row["sight"]))
    share_limit = Decimal(settings["checks_uncovered_share"])
    holders = _texts(boxes, "sightholder_id").astype(str)
    names, inverse = np.unique(holders, return_inverse=True)
    aged_n = np.bincount(inverse, weights=aged.astype(float), minlength=len(names))
    uncovered_n = np.bincount(inverse, weights=uncovered.astype(float), minlength=len(names))
    share = np.divide(uncovered_n, aged_n, out=np.zeros_like(aged_n, dtype=float), where=aged_n > 0)
    flagged = np.flatnonzero((share > float(share_limit)) & (uncovered_n >= 2))
    # how sure: the chance of that many silent boxes at the market's own rate (all sightholders' boxes)
    market_rate = float(uncovered_n.sum() / max(aged_n.sum(), 1))
    tail = _binomial_tail(uncovered_n[flagged], aged_n[flagged], min(max(market_rate, 1e-6), 1.0)) if len(flagged) \
        else np.empty(0)
    findings.extend(_silent_sights(facts, boxes, settings, uncovered, aged, set(names[flagged]), market_rate))
    for i, chance in zip(flagged, tail, strict=True):
        box_ids = [str(b) for b in _texts(boxes, "box_id")[uncovered & (inverse == i)][:10]]
        findings.append(Finding(
            "coverage", "high", str(names[i]),
            f"{int(uncovered_n[i])} of {int(aged_n[i])} boxes past the {window}-day window "
            f"({share[i]:.0%}) have no outcome and no declared disposition",
            {"uncovered_boxes": int(uncovered_n[i]), "boxes_past_window": int(aged_n[i]),
             "share": _ratio(share[i]), "max_share": share_limit, "example_box_ids": box_ids,
             "market_share": _ratio(market_rate), "chance_at_market_share": float(f"{chance:.3g}"),
             "population": "every box past the window in the store",
             "expected": f"at most {share_limit:.0%} of boxes unaccounted for after {window} days"}))
    return findings


def _silent_sights(facts: Facts, boxes: pa.Table, settings: Mapping[str, Any], uncovered: np.ndarray,
                   aged: np.ndarray, already: set[str], market_rate: float) -> list[Finding]:
    """Sight by sight (a flipper active in one period only): a sightholder with at least two silent
    boxes of one sight, more than checks_uncovered_share of its boxes there past the window, and a
    binomial chance at the market's own share of silent boxes below checks_pattern_tail (high)."""
    if not aged.any():
        return []
    share_limit = float(settings["checks_uncovered_share"])
    chance_limit = float(settings["checks_pattern_tail"])
    key = np.char.add(np.char.add(_texts(boxes, "sightholder_id").astype(str), "\x1f"),
                      _texts(boxes, "sight").astype(str))
    groups, member = np.unique(key, return_inverse=True)
    n = np.bincount(member, weights=aged.astype(float), minlength=len(groups))
    k = np.bincount(member, weights=uncovered.astype(float), minlength=len(groups))
    candidates = np.flatnonzero((k >= 2) & (k > share_limit * n))
    chance = _binomial_tail(k[candidates], n[candidates], min(max(market_rate, 1e-6), 1.0))
    findings = []
    for i, p in zip(candidates, chance, strict=True):
        holder, sight = str(groups[i]).split("\x1f")
        if p >= chance_limit or holder in already:
            continue
        box_ids = [str(b) for b in _texts(boxes, "box_id")[uncovered & (member == i)][:10]]
        findings.append(Finding(
            "coverage", "high", holder,
            f"{int(k[i])} of its {int(n[i])} boxes of sight {sight} have no outcome and no declared disposition "
            f"(chance {p:.2g} at the market's {market_rate:.1%} of silent boxes)",
            {"uncovered_boxes": int(k[i]), "boxes_past_window": int(n[i]), "period": sight,
             "share": _ratio(k[i] / n[i]), "max_share": settings["checks_uncovered_share"],
             "market_share": _ratio(market_rate), "chance_at_market_share": float(f"{p:.3g}"),
             "max_chance": settings["checks_pattern_tail"], "example_box_ids": box_ids,
             "population": "every box past the window in the store",
             "expected": "a sight's boxes accounted for after the processing window, as the market's are"},
            None, sight))
    return findings


# --- category consistency -----------------------------------------------------------------------

def category_consistency(facts: Facts, settings: Mapping[str, Any]) -> list[Finding]:
    """A manufacturer whose rough mostly leaves as rough: declared sold_rough carats plus the carats
    of past-window boxes with nothing reported, over its past-window rough (medium)."""
    boxes = facts["boxes"]
    limit = Decimal(settings["checks_rough_resale_share"])
    aged = _aged(facts, boxes, settings)
    manufacturer = np.array([c == "manufacturer" for c in _texts(boxes, "category")], dtype=bool)
    keep = aged & manufacturer
    if not keep.any():
        return []
    rough = _floats(boxes, "rough_carats")
    sold = _floats(boxes, "sold_rough_carats")
    silent = np.where(_uncovered(facts, boxes, settings), rough, 0.0)
    holders = _texts(boxes, "sightholder_id").astype(str)
    names, inverse = np.unique(holders[keep], return_inverse=True)
    rough_n = np.bincount(inverse, weights=rough[keep], minlength=len(names))
    sold_n = np.bincount(inverse, weights=sold[keep], minlength=len(names))
    silent_n = np.bincount(inverse, weights=silent[keep], minlength=len(names))
    share = (sold_n + silent_n) / np.where(rough_n > 0, rough_n, 1.0)
    findings = []
    for i in np.flatnonzero(share > float(limit)):
        findings.append(Finding(
            "category_consistency", "medium", str(names[i]),
            f"a manufacturer whose rough mostly leaves as rough: {share[i]:.0%} of {rough_n[i]:.3f} ct "
            f"past the processing window ({sold_n[i]:.3f} ct declared sold rough, {silent_n[i]:.3f} ct unreported)",
            {"rough_carats": Decimal(f"{rough_n[i]:.3f}"), "sold_rough_carats": Decimal(f"{sold_n[i]:.3f}"),
             "unreported_carats": Decimal(f"{silent_n[i]:.3f}"), "share": _ratio(share[i]), "max_share": limit,
             "expected": f"a manufacturer polishes most of its rough (at most {limit:.0%} leaves as rough)",
             "certainty": "a question about the category: a dealer's rough leaves as rough"}))
    return findings


# --- duplicate claims ---------------------------------------------------------------------------

CHAIN_REASONS: tuple[tuple[str, str], ...] = (
    ("polished_before_own_sale", "polished before its own box was sold"),
    ("polished_before_this_sale", "polished, by the other claim, before this claim's box was sold"),
    ("larger_than_box", "larger than the largest rough stone of this claim's box"),
    ("not_the_buyer", "claimed by a sightholder who did not buy the box"),
    ("box_over_yield", "from a box whose polished already exceeds the maximum yield of its rough"),
    ("rough_outside_box", "cut, by this claim, from a rough stone whose weight lies outside this box's size range"),
    ("stones_beyond_box", "from a box claiming more polished stones than its rough stones can give"),
)
"""Evidence in a claim's own chain that the stone cannot have come from its box (any one settles it)."""


@dataclass(frozen=True)
class Conflicts:
    """Conflicting claims judged by box pair: which side the order-free evidence makes the likely
    copier. Each row of the arrays is one pair of boxes (side a sorts before side b by sightholder id,
    then box id) sharing at least one lab report number."""

    holder_a: np.ndarray
    box_a: np.ndarray
    holder_b: np.ndarray
    box_b: np.ndarray
    stones: list[list[str]]
    """The lab reports (lab and number) the two boxes share, sorted."""
    copier: np.ndarray
    """'a' or 'b' (the likely copier), '' when the evidence does not decide."""
    decided_by: list[str]
    """Which evidence decided, in words ('' when undecided)."""
    certainty: list[dict[str, Any]]
    """How sure: the counts or the probability behind the decision, with the population compared."""
    evidence: list[dict[str, Any]]
    """Everything weighed, decided or not."""
    sight_a: np.ndarray
    sight_b: np.ndarray


def _binomial_tail(at_least: np.ndarray, trials: np.ndarray, p: float | np.ndarray) -> np.ndarray:
    """P(X >= at_least) for X ~ Binomial(trials, p)."""
    from scipy import special

    at_least = np.asarray(at_least).astype(np.int64)
    trials = np.maximum(np.asarray(trials).astype(np.int64), at_least)
    return np.where(at_least <= 0, 1.0, special.bdtrc(np.maximum(at_least, 1) - 1, trials, p))


def attribute_claims(claims: pa.Table, settings: Mapping[str, Any],
                     graph: Iterable[tuple[str, str]] | None = None) -> Conflicts:
    """Judge every conflict in the `claims` facts by evidence that does not depend on the order rows
    or files were stored in. Per pair of boxes sharing lab reports, in this order:
    1. the chain: a side whose claims cannot hold (CHAIN_REASONS) while the other's all can;
    2. the conflict graph: a sightholder clashing with at least checks_claims_hub_parties others that
       clash with no one else, more than accidents spread over the market's sightholders would give
       (binomial tail below checks_claims_graph_tail), against one that is no such hub;
    3. dates: one side's claims dated after the other's on the shared stones more often than chance
       allows (sign test tail below checks_claims_date_tail): a report is copied after it exists.
    Otherwise the conflict is undecided (a clerical duplicate, a re-graded or mis-keyed stone).
    `graph`, when given, is the market's conflict graph (the pairs of sightholders sharing a lab
    report) for `claims` that hold only some of the market's conflicts; else it is read from them."""
    n = claims.num_rows
    empty = np.empty(0, dtype=object)
    if n == 0:
        return Conflicts(empty, empty, empty, empty, [], empty, [], [], [], empty, empty)
    max_yield = float(Decimal(settings["checks_max_yield"]))
    key = np.char.add(np.char.add(_texts(claims, "lab").astype(str), " "), _texts(claims, "stone_id").astype(str))
    holder, box = _texts(claims, "sightholder_id").astype(str), _texts(claims, "box_id").astype(str)
    sight = _texts(claims, "sight")
    sale = _ints_of_dates(claims, "sale_date")
    polished = _ints_of_dates(claims, "polished_date")
    carat = _floats(claims, "carat")
    # one claim per (stone, sightholder, box): a row sent twice, or re-graded, is no conflict
    order = np.lexsort((carat, polished, box, holder, key))
    key, holder, box, sight, sale, polished, carat = (a[order] for a in (key, holder, box, sight, sale, polished, carat))
    claims = claims.take(pa.array(order))
    first = np.ones(n, dtype=bool)
    first[1:] = (key[1:] != key[:-1]) | (holder[1:] != holder[:-1]) | (box[1:] != box[:-1])
    keep = np.flatnonzero(first)
    key, holder, box, sight, sale, polished, carat = (a[keep] for a in (key, holder, box, sight, sale, polished, carat))
    claims = claims.take(pa.array(keep))
    against = {
        "polished_before_own_sale": polished < sale,
        "larger_than_box": carat > _floats(claims, "size_max_ct") + 1e-9,
        "not_the_buyer": holder != _texts(claims, "buyer_id").astype(str),
        "box_over_yield": (_floats(claims, "box_polished_carats") - _floats(claims, "box_polished_stones")
                           * float(POLISHED_ROUNDING)
                           > max_yield * (_floats(claims, "box_rough_carats") - _floats(claims, "box_leaving_carats"))
                           + 1e-9),
        "rough_outside_box": _outside_size_range(claims, "rough_carats", "rough_carats", settings),
        "stones_beyond_box": _beyond_stones(_floats(claims, "box_polished_stones"),
                                            _floats(claims, "box_rough_stones"), settings),
    }
    tracked = pc.is_valid(claims.column("rough_stone_id")).to_numpy(zero_copy_only=False)
    # every pair of claims on one stone (groups are small: two claims, rarely more)
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    sizes = np.diff(np.r_[starts, len(key)])
    pair_count = sizes * (sizes - 1) // 2
    group = np.repeat(np.arange(len(starts)), pair_count)
    rank = np.arange(pair_count.sum()) - np.repeat(np.cumsum(pair_count) - pair_count, pair_count)
    gs = sizes[group]
    # rank -> (i, j), i < j, within a group of size g
    i_local = np.zeros(len(rank), dtype=np.int64)
    remaining = rank.copy()
    for step in range(int(sizes.max()) - 1 if len(sizes) else 0):
        row = gs - 1 - step
        move = (remaining >= row) & (i_local == step)
        remaining = np.where(move, remaining - row, remaining)
        i_local = np.where(move, i_local + 1, i_local)
    a = starts[group] + i_local
    b = a + 1 + remaining
    same_holder = holder[a] == holder[b]
    chain = {name: (flags[a], flags[b]) for name, flags in against.items()}
    chain["polished_before_this_sale"] = (polished[b] < sale[a], polished[a] < sale[b])
    bad_a = np.zeros(len(a), dtype=bool)
    bad_b = np.zeros(len(a), dtype=bool)
    for flags_a, flags_b in chain.values():
        bad_a |= flags_a
        bad_b |= flags_b
    later_a, later_b = polished[a] > polished[b], polished[b] > polished[a]
    # the box pairs
    pair_key = np.char.add(np.char.add(np.char.add(np.char.add(holder[a], "\x1f"), box[a]), "\x1f"),
                           np.char.add(np.char.add(holder[b], "\x1f"), box[b]))
    pairs, member = np.unique(pair_key, return_inverse=True)
    count = len(pairs)
    head = np.zeros(count, dtype=np.int64)
    head[member] = np.arange(len(member))
    pa_, pb_ = a[head], b[head]

    def per_pair(flags: np.ndarray) -> np.ndarray:
        return np.bincount(member, weights=flags.astype(float), minlength=count)

    shared = np.bincount(member, minlength=count)
    against_a = {name: per_pair(fa) for name, (fa, _) in chain.items()}
    against_b = {name: per_pair(fb) for name, (_, fb) in chain.items()}
    n_bad_a, n_bad_b = per_pair(bad_a), per_pair(bad_b)
    n_later_a, n_later_b = per_pair(later_a), per_pair(later_b)
    n_tracked_a, n_tracked_b = per_pair(tracked[a]), per_pair(tracked[b])
    # the conflict graph between sightholders
    other = ~same_holder[head]
    if graph is None:
        edge_names = np.unique(np.char.add(np.char.add(holder[pa_][other], "\x1f"), holder[pb_][other]))
        ends = [e.split("\x1f") for e in edge_names]
    else:
        ends = sorted({(min(x, y), max(x, y)) for x, y in graph if x != y})
    degree: dict[str, int] = {}
    for x, y in ends:
        degree[x] = degree.get(x, 0) + 1
        degree[y] = degree.get(y, 0) + 1
    leaves: dict[str, int] = {}
    for x, y in ends:
        if degree[y] == 1:
            leaves[x] = leaves.get(x, 0) + 1
        if degree[x] == 1:
            leaves[y] = leaves.get(y, 0) + 1
    edges = len(ends)
    sightholders = max(int(_ints(claims, "sightholders").max()), len(degree), 2)
    hub_min = int(settings["checks_claims_hub_parties"])
    graph_tail = float(settings["checks_claims_graph_tail"])
    date_tail = float(settings["checks_claims_date_tail"])
    parties = sorted(degree)
    tails = dict(zip(parties, _binomial_tail(np.array([degree[p] for p in parties]), np.full(len(parties), edges),
                                             min(2 / sightholders, 1.0)), strict=True)) if parties else {}

    def hub(party: str) -> bool:
        return leaves.get(party, 0) >= hub_min and tails.get(party, 1.0) < graph_tail

    copier = np.full(count, "", dtype=object)
    decided_by, certainty, evidence = [], [], []
    sign_tail = _binomial_tail(np.maximum(n_later_a, n_later_b), n_later_a + n_later_b, 0.5)
    for k in range(count):
        ha, hb = str(holder[pa_[k]]), str(holder[pb_[k]])
        reasons_a = {name: int(v[k]) for name, v in against_a.items() if v[k]}
        reasons_b = {name: int(v[k]) for name, v in against_b.items() if v[k]}
        weighed = {
            "shared_stones": int(shared[k]),
            "chain_against": {ha + " box " + str(box[pa_[k]]): reasons_a, hb + " box " + str(box[pb_[k]]): reasons_b},
            "tracked_rough_stones": {ha: int(n_tracked_a[k]), hb: int(n_tracked_b[k])},
            "dated_later": {ha: int(n_later_a[k]), hb: int(n_later_b[k])},
            "date_sign_test_tail": float(f"{sign_tail[k]:.3g}"),
        }
        if ha != hb:
            weighed["conflict_graph"] = {
                p: {"clashes_with_sightholders": degree.get(p, 0), "of_which_clash_only_with_it": leaves.get(p, 0),
                    "chance_by_accident": float(f"{tails.get(p, 1.0):.3g}")} for p in (ha, hb)}
            weighed["conflict_graph_population"] = {"sightholder_pairs_in_conflict": edges,
                                                    "sightholders": sightholders}
        side, why, sure = "", "", {}
        if n_bad_a[k] and not n_bad_b[k]:
            side, why, sure = "a", _chain_words(reasons_a, int(shared[k])), {"basis": "chain", "stones": reasons_a}
        elif n_bad_b[k] and not n_bad_a[k]:
            side, why, sure = "b", _chain_words(reasons_b, int(shared[k])), {"basis": "chain", "stones": reasons_b}
        elif ha != hb and hub(ha) != hub(hb):
            side = "a" if hub(ha) else "b"
            p = ha if side == "a" else hb
            why = (f"the conflict graph: {p} clashes with {degree[p]} sightholders, {leaves[p]} of which clash "
                   f"with no one else (a copier copies from many owners)")
            sure = {"basis": "conflict graph", "probability_by_accident": float(f"{tails[p]:.3g}"),
                    "population": f"{edges} conflicting sightholder pairs among {sightholders} sightholders"}
        elif sign_tail[k] < date_tail:
            side = "a" if n_later_a[k] > n_later_b[k] else "b"
            later = max(int(n_later_a[k]), int(n_later_b[k]))
            why = (f"dates: {later} of {int(n_later_a[k] + n_later_b[k])} shared stones are dated later in this "
                   f"claim than in the other (a report is copied after it exists)")
            sure = {"basis": "dates", "sign_test_tail": float(f"{sign_tail[k]:.3g}"),
                    "population": "the stones the two boxes share, dated differently"}
        copier[k] = side
        decided_by.append(why)
        certainty.append(sure)
        evidence.append(weighed)
    stones_of: list[list[str]] = [[] for _ in range(count)]
    for m, stone in zip(member, key[a], strict=True):
        stones_of[m].append(str(stone))
    return Conflicts(holder[pa_], box[pa_], holder[pb_], box[pb_], [sorted(set(x)) for x in stones_of], copier,
                     decided_by, certainty, evidence, sight[pa_], sight[pb_])


def _outside_size_range(table: pa.Table, lightest: str, heaviest: str, settings: Mapping[str, Any]) -> np.ndarray:
    """Rough stones named by the outcome that cannot be in the box: the lightest below the box's
    size_min_ct, or the heaviest above its size_max_ct, by more than checks_rough_size_tolerance of the
    bound (a sieve sorts by size, not weight) and half a hundredth of a carat (rounding). Untracked
    stones (no rough weight) prove nothing."""
    tolerance = float(Decimal(settings["checks_rough_size_tolerance"]))
    rounding = float(POLISHED_ROUNDING)
    low, high = table.column(lightest), table.column(heaviest)
    below = pc.is_valid(low).to_numpy(zero_copy_only=False) & (
        _floats(table, lightest) < _floats(table, "size_min_ct") * (1 - tolerance) - rounding)
    above = pc.is_valid(high).to_numpy(zero_copy_only=False) & (
        _floats(table, heaviest) > _floats(table, "size_max_ct") * (1 + tolerance) + rounding)
    return below | above


def _beyond_stones(polished_stones: np.ndarray, rough_stones: np.ndarray, settings: Mapping[str, Any]) -> np.ndarray:
    """Boxes claiming more polished stones than checks_max_polished_per_rough per rough stone sold."""
    most = float(Decimal(settings["checks_max_polished_per_rough"]))
    return (rough_stones > 0) & (polished_stones > most * rough_stones)


def _ints_of_dates(table: pa.Table, column: str) -> np.ndarray:
    """Dates as day numbers (missing: far in the future, so they prove nothing)."""
    days = pc.cast(pc.cast(table.column(column), pa.date32()), pa.int32())
    return pc.fill_null(days, 2**30).to_numpy(zero_copy_only=False).astype(np.int64)


def _chain_words(reasons: Mapping[str, int], shared: int) -> str:
    words = dict(CHAIN_REASONS)
    return "the chain: " + "; ".join(f"{count} of {shared} shared stones {words[name]}" for name, count in reasons.items())


def duplicate_claims(facts: Facts, settings: Mapping[str, Any]) -> list[Finding]:
    """The same lab report number claimed from two boxes or by two sightholders: a finding for both
    sides, weighed by `attribute_claims` (never by the order claims were stored in). The likely copier
    is high; the side the evidence supports gets an info finding that its stones are claimed
    elsewhere; an undecided conflict, or one sightholder claiming a stone from two of its boxes, is
    medium for each side (worth a question, not a verdict)."""
    conflicts = attribute_claims(facts["claims"], settings)
    grouped: dict[tuple[str, str, str], list[int]] = {}
    for k in range(len(conflicts.copier)):
        ha, hb, side = str(conflicts.holder_a[k]), str(conflicts.holder_b[k]), conflicts.copier[k]
        if ha == hb:
            grouped.setdefault((ha, str(conflicts.box_a[k]), "medium"), []).append(k)
            continue
        for own, holder, box in (("a", ha, conflicts.box_a[k]), ("b", hb, conflicts.box_b[k])):
            severity = "medium" if not side else ("high" if side == own else "info")
            grouped.setdefault((holder, str(box), severity), []).append(k)
    findings: list[Finding] = []
    for (holder, box, severity), rows in sorted(grouped.items()):
        others, stones, why, sure, weighed, sight = [], set(), [], [], [], None
        for k in rows:
            mine_a = str(conflicts.holder_a[k]) == holder and str(conflicts.box_a[k]) == box
            other = (conflicts.holder_b[k], conflicts.box_b[k]) if mine_a else (conflicts.holder_a[k],
                                                                                conflicts.box_a[k])
            sight = conflicts.sight_a[k] if mine_a else conflicts.sight_b[k]
            others.append({"sightholder_id": str(other[0]), "box_id": str(other[1])})
            stones.update(conflicts.stones[k])
            if conflicts.decided_by[k]:
                why.append(conflicts.decided_by[k])
                sure.append(conflicts.certainty[k])
            weighed.append(conflicts.evidence[k])
        examples = sorted(stones)[:5]
        other_text = ", ".join(f"{o['sightholder_id']} box {o['box_id']}" for o in others[:5])
        reports = _reports(len(stones))
        if severity == "high":
            role = "likely copier"
            message = (f"box {box}: {reports} also claimed by {other_text}; the evidence makes this the copy "
                       f"({why[0]})")
        elif severity == "info":
            role = "likely owner"
            message = (f"box {box}: {reports} claimed here {'is' if len(stones) == 1 else 'are'} also claimed by "
                       f"{other_text}; the evidence supports this claim ({why[0]})")
        elif all(o["sightholder_id"] == holder for o in others):
            role = "same sightholder"
            message = (f"box {box}: {reports} claimed here {'is' if len(stones) == 1 else 'are'} also claimed from "
                       f"its box {other_text.replace(holder + ' box ', '')}: a stone counted in two boxes")
        else:
            role = "undecided"
            message = (f"box {box}: {reports} claimed here {'is' if len(stones) == 1 else 'are'} also claimed by "
                       f"{other_text}; nothing in the chain, the conflict graph or the dates tells which claim holds")
        findings.append(Finding(
            "duplicate_claims", severity, holder, message,
            {"conflicting_stones": len(stones), "example_stones": examples, "other_claims": others[:10],
             "role": role, "decided_by": sorted(set(why)),
             "certainty": sure[:5] or [{"basis": "the record", "note": "the same lab report claimed twice is a "
                                                                      "fact; which claim holds is not decided"}],
             "weighed": weighed[:5],
             "expected": "one lab report number names one stone, claimed from one box"},
            box, None if sight is None else str(sight)))
    return findings


def _chance(probability: float) -> str:
    """A tail probability in words a reader weighs at a glance."""
    if probability < 1e-6:
        return "less than once in a million"
    return f"about once in {1 / max(probability, 1e-300):,.0f}"


def _reports(count: int) -> str:
    return f"{count} lab report{'' if count == 1 else 's'}"


# --- signs of fabrication -----------------------------------------------------------------------

def repeated_outcomes(facts: Facts, settings: Mapping[str, Any]) -> list[Finding]:
    """Two boxes with different stones whose outcomes have the same count, total, smallest and
    largest weight and sum of squared weights. Which is the copy comes from order-free evidence: a
    box whose own chain cannot hold the outcome (a stone larger than its largest rough stone, polished
    before its sale, a yield above checks_max_yield beyond rounding, or bought by someone else) while
    the others' can; else a sightholder repeating the outcomes of at least checks_claims_hub_parties
    others that repeat no one else's. The copy is high, the others info; undecided, every box of the
    pattern is medium."""
    repeats = facts["repeats"]
    if repeats.num_rows == 0:
        return []
    max_yield = float(Decimal(settings["checks_max_yield"]))
    hub_min = int(settings["checks_claims_hub_parties"])
    columns = ("stones", "carats", "carats_squared", "smallest_ct", "largest_ct")
    pattern = [tuple(r) for r in zip(*(repeats.column(c).to_pylist() for c in columns), strict=True)]
    holder, box, sight = (_texts(repeats, c).astype(str) for c in ("sightholder_id", "box_id", "sight"))
    stones, carats = _floats(repeats, "stones"), _floats(repeats, "carats")
    cannot = {
        "larger_than_box": _floats(repeats, "largest_ct") > _floats(repeats, "size_max_ct") + 1e-9,
        "polished_before_sale": _ints_of_dates(repeats, "first_polished_date") < _ints_of_dates(repeats, "sale_date"),
        "box_over_yield": carats - stones * float(POLISHED_ROUNDING) > max_yield * _floats(repeats, "rough_carats") + 1e-9,
        "not_the_buyer": holder != _texts(repeats, "buyer_id").astype(str),
        "rough_outside_box": _outside_size_range(repeats, "lightest_rough_ct", "heaviest_rough_ct", settings),
        "stones_beyond_box": _beyond_stones(stones, _floats(repeats, "rough_stones"), settings),
    }
    bad = np.zeros(len(box), dtype=bool)
    for flags in cannot.values():
        bad |= flags
    members: dict[tuple, list[int]] = {}
    for i, p in enumerate(pattern):
        members.setdefault(p, []).append(i)
    partners: dict[str, set[str]] = {}
    for rows in members.values():
        for i in rows:
            partners.setdefault(holder[i], set()).update(holder[j] for j in rows if holder[j] != holder[i])
    leaves = {h: sum(1 for q in others if partners[q] == {h}) for h, others in partners.items()}
    findings = []
    for p, rows in sorted(members.items(), key=lambda item: min(box[j] for j in item[1])):
        copies, why = [], ""
        if bad[rows].any() and not bad[rows].all():
            copies = [i for i in rows if bad[i]]
            why = "the chain: " + "; ".join(
                f"box {box[i]} " + ", ".join(name.replace("_", " ") for name, f in cannot.items() if f[i]) for i in copies)
        else:
            hubs = {holder[i] for i in rows if leaves.get(holder[i], 0) >= hub_min}
            if len(hubs) == 1:
                [hub] = hubs
                copies = [i for i in rows if holder[i] == hub]
                why = (f"the pattern of repeats: {hub} repeats the outcomes of {len(partners[hub])} sightholders, "
                       f"{leaves[hub]} of which repeat no one else's")
        for i in rows:
            others = sorted(str(box[j]) for j in rows if j != i)
            severity = ("high" if i in copies else "info") if copies else "medium"
            verb = {"high": "repeats, as the copy,", "info": "is repeated in", "medium": "is the same as"}[severity]
            findings.append(Finding(
                "repeated_outcomes", severity, str(holder[i]),
                f"box {box[i]}: its outcome ({p[0]} stones, {p[1]} ct, {p[3]} to {p[4]} ct) {verb} that of "
                f"box {', '.join(others[:5])}" + (f" ({why})" if why else "; nothing tells which is the copy"),
                {"stones": p[0], "polished_carats": p[1], "smallest_carats": p[3], "largest_carats": p[4],
                 "same_outcome_boxes": others[:10],
                 "role": {"high": "likely copy", "info": "likely original", "medium": "undecided"}[severity],
                 "decided_by": why, "chain_against": {name: bool(f[i]) for name, f in cannot.items()},
                 "certainty": "the chain cannot hold the outcome" if why.startswith("the chain") else
                 ("a sightholder repeating many others that repeat no one else" if why else "undecided"),
                 "expected": "no two boxes give the same polished weights"},
                str(box[i]), str(sight[i])))
    return findings


def average_grade_mix(facts: Facts, settings: Mapping[str, Any]) -> list[Finding]:
    """Grade mixes that are exactly average. A box's clarity and colour counts are compared with the
    mix of the other boxes of its assortment (chi-square, its expectation widened by the noise of that
    mix: df x (1 + stones / other stones)); a box is too average when random sampling would sit that
    close with probability below checks_grade_mix_tail. A sightholder with far more such boxes than
    the market's usual share (binomial tail below 1e-6, at least checks_grade_mix_min_boxes judged
    boxes, and a share above the usual one by checks_grade_mix_excess) is high."""
    mix = facts["grade_mix"]
    if mix.num_rows == 0:
        return []
    tail_limit = float(settings["checks_grade_mix_tail"])
    min_boxes = int(settings["checks_grade_mix_min_boxes"])
    excess = float(settings["checks_grade_mix_excess"])
    box_ids = _texts(mix, "box_id").astype(str)
    boxes, inverse = np.unique(box_ids, return_inverse=True)
    only_here = np.bincount(inverse, weights=_floats(mix, "grades_only_here"), minlength=len(boxes))
    chi = np.bincount(inverse, weights=_floats(mix, "chi_square"), minlength=len(boxes))
    dof = np.bincount(inverse, weights=np.maximum(_ints(mix, "grades") - 1, 0).astype(float), minlength=len(boxes))
    stones, others = np.zeros(len(boxes)), np.zeros(len(boxes))
    np.maximum.at(stones, inverse, _floats(mix, "stones"))
    np.maximum.at(others, inverse, _floats(mix, "other_stones"))
    holder = np.empty(len(boxes), dtype=object)
    holder[inverse] = _texts(mix, "sightholder_id")
    from scipy import special

    judged = (dof > 0) & (stones >= 10) & (others >= stones) & (only_here == 0)
    widening = 1 + stones / np.maximum(others, 1)
    tail = np.where(judged, special.chdtr(np.maximum(dof, 1), chi / widening), 1.0)
    too_average = judged & (tail < tail_limit)
    names, who = np.unique(holder[judged].astype(str), return_inverse=True)
    if len(names) == 0:
        return []
    n = np.bincount(who, minlength=len(names))
    k = np.bincount(who, weights=too_average[judged].astype(float), minlength=len(names))
    usual = max(float(np.median(k / np.maximum(n, 1))), tail_limit)
    chance = float(settings["checks_pattern_tail"])
    judged_boxes, judged_ratio = boxes[judged], (chi / (np.maximum(dof, 1) * widening))[judged]
    box_sight = np.empty(len(boxes), dtype=object)
    box_sight[inverse] = _texts(mix, "sight")
    sights = box_sight[judged].astype(str)
    # over all its boxes, and sight by sight (a flipper active in one period only)
    periods, period = np.unique(np.char.add(np.char.add(names[who], "\x1f"), sights), return_inverse=True)
    groups = ((names, who, None), (np.array([p.split("\x1f")[0] for p in periods]), period,
                                   np.array([p.split("\x1f")[1] for p in periods])))
    findings = []
    found: set[str] = set()
    for holders, member, sight_of in groups:
        n = np.bincount(member, minlength=len(holders))
        k = np.bincount(member, weights=too_average[judged].astype(float), minlength=len(holders))
        binomial = special.bdtrc(k - 1, n, usual)
        for i in np.flatnonzero((binomial < chance) & (n >= min_boxes) & (k / np.maximum(n, 1) > usual + excess)):
            if str(holders[i]) in found:
                continue
            found.add(str(holders[i]))
            mine = (member == i) & too_average[judged]
            examples = [f"{b} ({r:.2f})" for b, r in zip(judged_boxes[mine][:10], judged_ratio[mine][:10], strict=True)]
            where = "" if sight_of is None else f" of sight {sight_of[i]}"
            findings.append(Finding(
                "average_grade_mix", "high", str(holders[i]),
                f"{int(k[i])} of {int(n[i])} polished boxes{where} have grade mixes closer to their assortment's "
                f"average than sampling allows (usual share {usual:.1%}), e.g. {', '.join(examples[:3])}",
                {"too_average_boxes": int(k[i]), "judged_boxes": int(n[i]), "usual_share": _ratio(usual),
                 "binomial_tail": float(f"{binomial[i]:.3g}"), "max_binomial_tail": settings["checks_pattern_tail"],
                 "example_boxes_chi_square_per_dof": examples, "period": None if sight_of is None else str(sight_of[i]),
                 "population": "the market's usual share of too-average boxes (median over sightholders)",
                 "expected": f"about {usual:.1%} of a sightholder's boxes sit this close to the average by chance"},
                None, None if sight_of is None else str(sight_of[i])))
    return findings


def digit_preference(facts: Facts, settings: Mapping[str, Any]) -> list[Finding]:
    """Digit preference in polished weights, within precision classes. A class is a lab and a size
    bracket; it is reported to the hundredth when the median share, over the sightholders with at least
    checks_digit_class_min_stones weights there, of weights whose thousandth digit is 0 exceeds
    checks_digit_two_decimal_share (lab reports from 0.30 ct), else to the thousandth. The market's
    spread of the last reported digit in a class is the median share of each digit over those
    sightholders (magic weights included) when there are checks_digit_market_sightholders of them,
    else that of all classes reported to the same unit. A sightholder's last digits, by unit, are
    compared with the mix of its classes' spreads (chi-square, 9 degrees of freedom per unit): a
    z-score above checks_digit_z over at least checks_digit_min_stones weights, with more than
    checks_digit_excess of them out of place (total variation distance), is high: weights written
    down rather than weighed."""
    digits = facts["digits"]
    if digits.num_rows == 0:
        return []
    from scipy import special

    min_stones = int(settings["checks_digit_min_stones"])
    class_min = int(settings["checks_digit_class_min_stones"])
    enough_holders = int(settings["checks_digit_market_sightholders"])
    two_decimal_share = float(settings["checks_digit_two_decimal_share"])
    threshold, limit = float(settings["checks_digit_z"]), float(settings["checks_digit_excess"])
    names, who = np.unique(_texts(digits, "sightholder_id").astype(str), return_inverse=True)
    keys = np.char.add(np.char.add(_texts(digits, "lab").astype(str), " "), _texts(digits, "size_class").astype(str))
    classes, cls = np.unique(keys, return_inverse=True)
    last, stones = _ints(digits, "last_digits"), _floats(digits, "stones")
    per = np.zeros((len(names), len(classes)))
    np.add.at(per, (who, cls), stones)
    zeros = np.zeros_like(per)
    np.add.at(zeros, (who, cls), np.where(last % 10 == 0, stones, 0.0))
    reference = per >= class_min
    zero_share = zeros / np.maximum(per, 1)
    pooled_zero_share = zeros.sum(axis=0) / np.maximum(per.sum(axis=0), 1)
    hundredths = np.array([np.median(zero_share[reference[:, c], c]) if reference[:, c].any()
                           else pooled_zero_share[c] for c in range(len(classes))]) > two_decimal_share
    digit = np.where(hundredths[cls], last // 10, last % 10)
    counts = np.zeros((len(names), len(classes), 10))
    np.add.at(counts, (who, cls, digit), stones)
    units = ("thousandth", "hundredth")
    unit_of = hundredths.astype(int)
    # the market's spread: per class when enough sightholders show it, else per unit
    by_unit = np.zeros((len(names), 2, 10))
    for u in (0, 1):
        by_unit[:, u] = counts[:, unit_of == u].sum(axis=1)
    unit_stones = by_unit.sum(axis=2)
    unit_market = np.full((2, 10), 0.1)
    for u in (0, 1):
        ok = unit_stones[:, u] >= class_min
        if ok.sum() >= 1:
            unit_market[u] = np.median(by_unit[ok, u] / unit_stones[ok, u][:, None], axis=0)
    market = unit_market[unit_of].copy()
    shares = counts / np.maximum(per, 1)[:, :, None]
    for c in np.flatnonzero(reference.sum(axis=0) >= enough_holders):
        market[c] = np.median(shares[reference[:, c], c], axis=0)
    market = np.maximum(market, 1e-3)
    market /= market.sum(axis=1, keepdims=True)
    expected = np.zeros_like(by_unit)
    for u in (0, 1):
        expected[:, u] = per[:, unit_of == u] @ market[unit_of == u]
    squares = np.divide((by_unit - expected) ** 2, expected, out=np.zeros_like(expected), where=expected > 0)
    judged_unit = unit_stones >= class_min
    unit_chi = np.where(judged_unit, squares.sum(axis=2), 0.0)
    chi, dof = unit_chi.sum(axis=1), 9.0 * judged_unit.sum(axis=1)
    z = (chi - dof) / np.sqrt(2 * np.maximum(dof, 1))
    observed_share = by_unit / np.maximum(unit_stones, 1)[:, :, None]
    expected_share = expected / np.maximum(unit_stones, 1)[:, :, None]
    unit_distance = 0.5 * np.abs(observed_share - expected_share).sum(axis=2)
    judged_stones = np.where(judged_unit, unit_stones, 0.0).sum(axis=1)
    distance = np.where(judged_unit, unit_stones * unit_distance, 0.0).sum(axis=1) / np.maximum(judged_stones, 1)
    flagged = (z > threshold) & (judged_stones >= min_stones) & (distance > limit)
    findings = []
    for i in np.flatnonzero(flagged):
        u = int(np.argmax(unit_chi[i]))
        preferred = int(np.argmax(observed_share[i, u] - expected_share[i, u]))
        tail = float(special.chdtrc(dof[i], chi[i]))
        mine = np.flatnonzero((unit_of == u) & (per[i] > 0))
        findings.append(Finding(
            "digit_preference", "high", str(names[i]),
            f"{observed_share[i, u][preferred]:.0%} of {int(unit_stones[i, u])} polished weights in classes reported "
            f"to the {units[u]} end in the {units[u]} digit {preferred} (the market's share in the same labs and sizes "
            f"is {expected_share[i, u][preferred]:.0%}; over {int(judged_stones[i])} weights, a spread this far from the "
            f"market's arises by chance {_chance(tail)})",
            {"stones": int(judged_stones[i]), "reported_to": units[u], "preferred_digit": preferred,
             "share": _ratio(observed_share[i, u][preferred]), "market_share": _ratio(expected_share[i, u][preferred]),
             "digit_shares": [_ratio(v) for v in observed_share[i, u]],
             "market_digit_shares": [_ratio(v) for v in expected_share[i, u]],
             "precision_classes": [f"{classes[c]} ({int(per[i, c])})" for c in mine[np.argsort(-per[i, mine])][:10]],
             "chi_square": _ratio(chi[i]), "degrees_of_freedom": int(dof[i]), "chi_square_z": _ratio(z[i]),
             "probability": float(f"{tail:.3g}"), "distance": _ratio(distance[i]),
             "max_distance": settings["checks_digit_excess"],
             "population": "every sightholder's weights of the same lab and size bracket",
             "expected": "the last reported digit of measured weights spreads like the market's in each lab and "
                         "size class"}))
    return findings


def rounded_weights(facts: Facts, settings: Mapping[str, Any]) -> list[Finding]:
    """Weights written on a coarser grid than their class is measured to. A class (a lab and a size
    bracket) is measured to the hundredth or the thousandth, and has a market share of weights on the
    next coarser grid, both learnt from the market's weights (`grid.learn`). A sightholder's count on
    that grid against the count its classes' shares expect: a binomial tail below
    checks_pattern_tail, with a share above the expected one by more than checks_grid_excess, is high:
    weights written down rather than weighed. The same test runs on each sight's weights of a
    sightholder not high on its whole history (an outcome invented in one period), counted under that
    sight, then on each box of a sightholder high on neither (outcomes invented box by box among boxes
    really cut, whose measured weights dilute the invented ones in the history and in the sight),
    counted under that box; the `grid_boxes` fact returns only the boxes that could reach the tail.
    Unlike digit_preference's chi-square, the exact tail needs no minimum count, so a handful of small
    stones rounded in a sightholder of larger goods still shows."""
    grid = facts["weight_grid"]
    if grid.num_rows == 0:
        return []
    from scipy import special

    from . import grid as precision

    chance = float(settings["checks_pattern_tail"])
    excess = float(settings["checks_grid_excess"])
    classes = precision.learn(grid, settings)
    cls = classes.row_class
    holder = _texts(grid, "sightholder_id").astype(str)
    sight = _texts(grid, "sight").astype(str)
    stones, on_hundredth, on_twentieth = (_floats(grid, c) for c in ("stones", "on_hundredth", "on_twentieth"))
    units = classes.units
    row_grid = np.where(units[cls] == "hundredth", on_twentieth, on_hundredth)
    row_expected = stones * classes.shares[cls]

    def judged(n: np.ndarray, k: np.ndarray, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p = np.clip(expected / np.maximum(n, 1), 1e-9, 1.0)
        tail = special.bdtrc((np.maximum(k, 1) - 1).astype(np.int64), np.maximum(n, k).astype(np.int64), p)
        return p, tail, (k > 0) & (tail < chance) & (k / np.maximum(n, 1) - p > excess)

    def finding(name: str, n: float, k: float, p: float, tail: float, by_unit: dict[str, Any],
                when: str, which: str) -> Finding:
        where = f" of box {which}" if which else f" of sight {when}" if when else ""
        return Finding(
            "rounded_weights", "high", name,
            f"{int(k)} of {int(n)} polished weights{where} sit on a coarser grid than their lab and size "
            f"class are measured to ({k / n:.0%}; the market's share in the same classes is {p:.0%}): "
            f"measured weights do this by chance {_chance(float(tail))}",
            {"weights": int(n), "on_coarser_grid": int(k), "share": _ratio(k / n),
             "market_share": _ratio(p), "by_unit": by_unit, "probability": float(f"{tail:.3g}"),
             "max_probability": settings["checks_pattern_tail"], "min_excess": settings["checks_grid_excess"],
             "period": when or None, "box": which or None,
             "population": "every sightholder's weights of the same lab and size bracket",
             "expected": "in a class measured to the thousandth, about one weight in ten ends in 0; in a class "
                         "reported to the hundredth, about as many are multiples of 0.05 ct as the market's"},
            which or None, when or None)

    findings: list[Finding] = []
    flagged: set[str] = set()
    for period in (np.full(len(holder), ""), sight):  # the whole history, then each sight
        group_key = np.char.add(np.char.add(holder, "\x1f"), period)
        groups, member = np.unique(group_key, return_inverse=True)
        member = member.reshape(-1)
        n = np.bincount(member, weights=stones, minlength=len(groups))
        k = np.bincount(member, weights=row_grid, minlength=len(groups))
        expected = np.bincount(member, weights=row_expected, minlength=len(groups))
        p, tail, hit = judged(n, k, expected)
        for i in np.flatnonzero(hit):
            name, when = str(groups[i]).split("\x1f")
            if when and name in flagged:
                continue
            flagged.add(name)
            rows = member == i
            by_unit = {}
            for unit in ("thousandth", "hundredth"):
                in_unit = rows & (units[cls] == unit)
                if in_unit.any():
                    by_unit[unit] = {"weights": int(stones[in_unit].sum()), "on_coarser_grid": int(row_grid[in_unit].sum()),
                                     "market_share": _ratio(row_expected[in_unit].sum() / stones[in_unit].sum())}
            findings.append(finding(name, n[i], k[i], p[i], tail[i], by_unit, when, ""))
    boxes = facts["grid_boxes"]
    if boxes.num_rows == 0:
        return findings
    box_holder, box_sight, box_id = (_texts(boxes, c).astype(str) for c in ("sightholder_id", "sight", "box_id"))
    n, k, expected_millionths, thousandth_n, thousandth_k, thousandth_expected = (
        _floats(boxes, c) for c in ("stones", "on_grid", "expected_millionths", "thousandth_stones",
                                    "thousandth_on_grid", "thousandth_expected_millionths"))
    p, tail, hit = judged(n, k, expected_millionths / precision.MILLION)
    hit &= ~np.isin(box_holder, sorted(flagged))
    for i in sorted(np.flatnonzero(hit), key=lambda i: (box_holder[i], box_sight[i], box_id[i])):
        by_unit = {}
        for unit, weights, on_grid, share in (
                ("thousandth", thousandth_n[i], thousandth_k[i], thousandth_expected[i]),
                ("hundredth", n[i] - thousandth_n[i], k[i] - thousandth_k[i], expected_millionths[i] - thousandth_expected[i])):
            if weights:
                by_unit[unit] = {"weights": int(weights), "on_coarser_grid": int(on_grid),
                                 "market_share": _ratio(share / precision.MILLION / weights)}
        findings.append(finding(str(box_holder[i]), n[i], k[i], p[i], tail[i], by_unit, str(box_sight[i]),
                                str(box_id[i])))
    return findings
