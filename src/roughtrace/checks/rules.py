"""The rules: small pure functions from fact tables and settings to findings.

Each rule reads Arrow columns as numpy arrays, marks the rows that break its expectation with one
vectorised comparison, and builds findings (with their evidence) for those rows only. No rule
touches the store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
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
    above all) took most of a rule's time when many rows were flagged."""

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
             "declared_out_carats": out, "expected": "polished + rough declared out <= rough carats"},
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
                             "within half the unit it was written to (0.005 ct when it ends in 0, else 0.0005)"},
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
             "expected": "polished carat <= the box's size_max_ct"},
            row["box_id"], row["sight"]))
    for row in _rows(boxes, early):
        findings.append(Finding(
            "size_and_timing", "high", row["sightholder_id"],
            f"box {row['box_id']}: {row['early_stones']} stones polished before the box was sold "
            f"on {row['sale_date']}",
            {"early_stones": row["early_stones"], "sale_date": row["sale_date"],
             "first_polished_date": row["first_polished_date"], "expected": "polished_date >= sale_date"},
            row["box_id"], row["sight"]))
    for mask, severity in ((fast >= fast_limit, "high"), ((fast > 0) & (fast < fast_limit), "low")):
        for row in _rows(boxes, mask & ~early):
            findings.append(Finding(
                "size_and_timing", severity, row["sightholder_id"],
                f"box {row['box_id']}: {row['fast_stones']} stones polished within {days} days of the sale "
                f"on {row['sale_date']} (first on {row['first_polished_date']})",
                {"fast_stones": row["fast_stones"], "sale_date": row["sale_date"],
                 "first_polished_date": row["first_polished_date"], "min_processing_days": days,
                 "expected": f"polishing takes at least {days} days from the sale"},
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
             "expected": "an outcome or a disposition within the processing window"},
            row["box_id"], row["sight"]))
    share_limit = Decimal(settings["checks_uncovered_share"])
    holders = _texts(boxes, "sightholder_id").astype(str)
    names, inverse = np.unique(holders, return_inverse=True)
    aged_n = np.bincount(inverse, weights=aged.astype(float), minlength=len(names))
    uncovered_n = np.bincount(inverse, weights=uncovered.astype(float), minlength=len(names))
    share = np.divide(uncovered_n, aged_n, out=np.zeros_like(aged_n), where=aged_n > 0)
    for i in np.flatnonzero((share > float(share_limit)) & (uncovered_n >= 2)):
        box_ids = [str(b) for b in _texts(boxes, "box_id")[uncovered & (inverse == i)][:10]]
        findings.append(Finding(
            "coverage", "high", str(names[i]),
            f"{int(uncovered_n[i])} of {int(aged_n[i])} boxes past the {window}-day window "
            f"({share[i]:.0%}) have no outcome and no declared disposition",
            {"uncovered_boxes": int(uncovered_n[i]), "boxes_past_window": int(aged_n[i]),
             "share": _ratio(share[i]), "max_share": share_limit, "example_box_ids": box_ids,
             "expected": f"at most {share_limit:.0%} of boxes unaccounted for after {window} days"}))
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
             "expected": f"a manufacturer polishes most of its rough (at most {limit:.0%} leaves as rough)"}))
    return findings


# --- duplicate claims ---------------------------------------------------------------------------

def duplicate_claims(facts: Facts, settings: Mapping[str, Any]) -> list[Finding]:
    """The same lab report number claimed from two boxes or by two sightholders. The first claim
    stored stands; every later claim is high (it must be answered), and the first claimant gets an
    info finding (no risk points) that its stones are claimed elsewhere."""
    claims = facts["claims"]
    if claims.num_rows == 0:
        return []
    key = pc.binary_join_element_wise(claims.column("lab"), claims.column("stone_id"), "\x1f")
    key_np = np.asarray(key.to_pylist(), dtype=object)
    first = np.ones(len(key_np), dtype=bool)
    first[1:] = key_np[1:] != key_np[:-1]  # the query orders claims by stone, then by storage order
    first_index = np.maximum.accumulate(np.where(first, np.arange(len(first)), 0))
    holder, box = _texts(claims, "sightholder_id"), _texts(claims, "box_id")
    sight, stone = _texts(claims, "sight"), _texts(claims, "stone_id")
    lab = _texts(claims, "lab")
    # the same claim stored twice (same sightholder, same box) is no conflict
    twin = ~first & (holder == holder[first_index]) & (box == box[first_index])
    conflicted = np.zeros(len(first), dtype=bool)
    np.logical_or.at(conflicted, first_index, ~first & ~twin)
    first &= conflicted
    keep = conflicted[first_index] & ~twin
    findings: list[Finding] = []
    for is_first, severity in ((False, "high"), (True, "info")):
        mask = keep & (first == is_first)
        groups: dict[tuple[str, str], list[int]] = {}
        for i in np.flatnonzero(mask):
            groups.setdefault((holder[i], box[i]), []).append(int(i))
        for (who, which), rows in groups.items():
            if is_first:
                others = _other_claims(rows, first_index, key_np, holder, box)
            else:
                others = sorted({(str(holder[first_index[i]]), str(box[first_index[i]])) for i in rows})
            examples = [f"{lab[i]} {stone[i]}" for i in rows[:5]]
            other_text = ", ".join(f"{h} box {b}" for h, b in others[:5])
            if is_first:
                message = (f"box {which}: {_reports(len(rows))} claimed first here "
                           f"{'is' if len(rows) == 1 else 'are'} also claimed by {other_text} (e.g. {', '.join(examples)})")
            else:
                message = (f"box {which}: {_reports(len(rows))} {'was' if len(rows) == 1 else 'were'} already "
                           f"claimed by {other_text} (e.g. {', '.join(examples)})")
            findings.append(Finding(
                "duplicate_claims", severity, str(who), message,
                {"conflicting_stones": len(rows), "example_stones": examples,
                 "other_claims": [{"sightholder_id": h, "box_id": b} for h, b in others[:10]],
                 "claimed_first": is_first,
                 "expected": "one lab report number names one stone, claimed from one box"},
                str(which), str(sight[rows[0]])))
    return findings


def _reports(count: int) -> str:
    return f"{count} lab report{'' if count == 1 else 's'}"


def _other_claims(rows: list[int], first_index: np.ndarray, key: np.ndarray, holder: np.ndarray,
                  box: np.ndarray) -> list[tuple[str, str]]:
    """The later claimants of the stones first claimed at `rows`."""
    others: set[tuple[str, str]] = set()
    for i in rows:
        j = i + 1
        while j < len(key) and key[j] == key[i]:
            if (holder[j], box[j]) != (holder[i], box[i]):
                others.add((str(holder[j]), str(box[j])))
            j += 1
    return sorted(others)


# --- signs of fabrication -----------------------------------------------------------------------

def repeated_outcomes(facts: Facts, settings: Mapping[str, Any]) -> list[Finding]:
    """Two boxes with different stones whose outcomes have the same count, total, smallest and
    largest weight and sum of squared weights: the later stored was copied from the first (high);
    the first stored gets an info finding."""
    repeats = facts["repeats"]
    if repeats.num_rows == 0:
        return []
    pattern = [tuple(r) for r in zip(*(repeats.column(c).to_pylist() for c in
                                       ("stones", "carats", "carats_squared", "smallest_ct", "largest_ct")),
                                     strict=True)]
    members: dict[tuple, list[int]] = {}
    for i, p in enumerate(pattern):
        members.setdefault(p, []).append(i)
    holder, box, sight = _texts(repeats, "sightholder_id"), _texts(repeats, "box_id"), _texts(repeats, "sight")
    stored = _ints(repeats, "first_row")
    findings = []
    for p, rows in members.items():
        original = min(rows, key=lambda j: (stored[j], str(box[j])))
        for i in rows:
            others = [str(box[j]) for j in rows if j != i]
            first = i == original
            verb = "is repeated in" if first else "repeats that of"
            findings.append(Finding(
                "repeated_outcomes", "info" if first else "high", str(holder[i]),
                f"box {box[i]}: its outcome ({p[0]} stones, {p[1]} ct, {p[3]} to {p[4]} ct) {verb} "
                f"box {', '.join(others[:5])}",
                {"stones": p[0], "polished_carats": p[1], "smallest_carats": p[3], "largest_carats": p[4],
                 "same_outcome_boxes": others[:10], "stored_first": first,
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
    binomial = special.bdtrc(k - 1, n, usual)
    judged_boxes, judged_ratio = boxes[judged], (chi / (np.maximum(dof, 1) * widening))[judged]
    findings = []
    for i in np.flatnonzero((binomial < 1e-6) & (n >= min_boxes) & (k / np.maximum(n, 1) > usual + excess)):
        mine = (who == i) & too_average[judged]
        examples = [f"{b} ({r:.2f})" for b, r in zip(judged_boxes[mine][:10], judged_ratio[mine][:10], strict=True)]
        findings.append(Finding(
            "average_grade_mix", "high", str(names[i]),
            f"{int(k[i])} of {int(n[i])} polished boxes have grade mixes closer to their assortment's average than "
            f"sampling allows (usual share {usual:.1%}), e.g. {', '.join(examples[:3])}",
            {"too_average_boxes": int(k[i]), "judged_boxes": int(n[i]), "usual_share": _ratio(usual),
             "binomial_tail": float(f"{binomial[i]:.3g}"), "example_boxes_chi_square_per_dof": examples,
             "expected": f"about {usual:.1%} of a sightholder's boxes sit this close to the average by chance"}))
    return findings


def digit_preference(facts: Facts, settings: Mapping[str, Any]) -> list[Finding]:
    """Digit preference in polished weights, within precision classes. A class is a lab and a size
    bracket; it is reported to the hundredth when the median sightholder's share of weights there whose
    thousandth digit is 0 exceeds checks_digit_two_decimal_share (lab reports from 0.30 ct), else to
    the thousandth. In each class the last reported digit of a sightholder's weights is compared with
    the market's spread for that class (the median share of each digit over the sightholders with at
    least checks_digit_class_min_stones weights there, magic weights included; a class with fewer than
    checks_digit_market_sightholders such sightholders is not judged); chi-square summed over
    the sightholder's classes. A z-score above checks_digit_z over at least checks_digit_min_stones
    judged weights, with more than checks_digit_excess of them out of place (total variation
    distance), is high: weights written down rather than weighed."""
    digits = facts["digits"]
    if digits.num_rows == 0:
        return []
    from scipy import special

    min_stones = int(settings["checks_digit_min_stones"])
    class_min = int(settings["checks_digit_class_min_stones"])
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
    hundredths = np.array([np.median(zero_share[reference[:, c], c]) > two_decimal_share
                           if reference[:, c].any() else False for c in range(len(classes))], dtype=bool)
    digit = np.where(hundredths[cls], last // 10, last % 10)
    counts = np.zeros((len(names), len(classes), 10))
    np.add.at(counts, (who, cls, digit), stones)
    shares = counts / np.maximum(per, 1)[:, :, None]
    market = np.full((len(classes), 10), np.nan)
    for c in np.flatnonzero(reference.any(axis=0)):
        market[c] = np.median(shares[reference[:, c], c], axis=0)
    market = np.maximum(np.nan_to_num(market, nan=0.1), 1e-3)
    market /= market.sum(axis=1, keepdims=True)
    judged = reference & (reference.sum(axis=0) >= int(settings["checks_digit_market_sightholders"]))[None, :]
    expected = per[:, :, None] * market[None, :, :]
    squares = np.divide((counts - expected) ** 2, expected, out=np.zeros_like(expected), where=expected > 0)
    cell_chi = np.where(judged, squares.sum(axis=2), 0.0)
    chi, dof = cell_chi.sum(axis=1), 9.0 * judged.sum(axis=1)
    z = (chi - dof) / np.sqrt(2 * np.maximum(dof, 1))
    distance_by_class = 0.5 * np.abs(shares - market[None, :, :]).sum(axis=2)
    judged_stones = np.where(judged, per, 0.0).sum(axis=1)
    distance = np.where(judged, per * distance_by_class, 0.0).sum(axis=1) / np.maximum(judged_stones, 1)
    flagged = (z > threshold) & (judged_stones >= min_stones) & (distance > limit)
    findings = []
    for i in np.flatnonzero(flagged):
        c = int(np.argmax(cell_chi[i]))
        excess = shares[i, c] - market[c]
        preferred = int(np.argmax(excess))
        lab, bracket = str(classes[c]).split(" ", 1)
        unit = "hundredth" if hundredths[c] else "thousandth"
        tail = float(special.chdtrc(dof[i], chi[i]))
        findings.append(Finding(
            "digit_preference", "high", str(names[i]),
            f"{shares[i, c][preferred]:.0%} of {int(per[i, c])} {lab} weights from {bracket} ct end in the {unit} "
            f"digit {preferred} (the market's share there is {market[c][preferred]:.0%}); over "
            f"{int(judged_stones[i])} weights in {int(judged[i].sum())} precision classes, chi-square z {z[i]:.0f}",
            {"stones": int(judged_stones[i]), "precision_classes": int(judged[i].sum()),
             "preferred_digit": preferred, "share": _ratio(shares[i, c][preferred]),
             "market_share": _ratio(market[c][preferred]),
             "worst_class": {"lab": lab, "size_from_carats": bracket, "reported_to": unit,
                             "stones": int(per[i, c]), "preferred_digit": preferred,
                             "share": _ratio(shares[i, c][preferred]), "market_share": _ratio(market[c][preferred]),
                             "digit_shares": [_ratio(v) for v in shares[i, c]],
                             "market_digit_shares": [_ratio(v) for v in market[c]],
                             "market_sightholders": int(reference[:, c].sum())},
             "chi_square": _ratio(chi[i]), "degrees_of_freedom": int(dof[i]), "chi_square_z": _ratio(z[i]),
             "probability": float(f"{tail:.3g}"), "distance": _ratio(distance[i]),
             "max_distance": settings["checks_digit_excess"],
             "expected": "the last reported digit of measured weights spreads like the market's in each lab and "
                         "size class"}))
    return findings
