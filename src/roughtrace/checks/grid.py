"""Precision classes of polished weights: for each lab and size bracket, the grid its weights are
measured to and the market's share of weights that sit on the next coarser grid.

A class (a lab and a price-list size bracket) is reported to the thousandth of a carat or to the
hundredth, as the market's own weights show it. A weight is on the coarser grid when, in a
thousandth class, its thousandth digit is 0 (written to 0.01 ct) or, in a hundredth class, it is a
multiple of 0.05 ct. `rounded_weights` compares a sightholder's count on that grid with what its
classes' shares expect; the shares are whole millionths so that a fact query can sum a box's
expected count exactly on any engine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

UNIFORM_GRID_SHARE = {"thousandth": 0.1, "hundredth": 0.2}
"""The share of measured weights that land on the next coarser grid by chance when their last digit is
spread evenly: a thousandth digit of 0 (one in ten), a hundredth digit of 0 or 5 (two in ten)."""

GRID_STEP = {"thousandth": 10, "hundredth": 50}
"""The coarser grid of each unit, in thousandths of a carat: 0.01 ct and 0.05 ct."""

MILLION = 1_000_000

NO_BOX_JUDGED = 2**62
"""A count no box reaches: every weight of the market sits on the coarser grid, so none is judged."""


@dataclass(frozen=True)
class GridClasses:
    """The precision classes of a market's weights, and where each row of `weight_grid` falls."""

    labs: np.ndarray
    size_classes: np.ndarray
    units: np.ndarray
    """Per class: "thousandth" or "hundredth"."""
    share_millionths: np.ndarray
    """Per class: the market's share of weights on the coarser grid, in whole millionths."""
    row_class: np.ndarray
    """Per row of the `weight_grid` fact: its class."""

    @property
    def shares(self) -> np.ndarray:
        return self.share_millionths / MILLION

    def table(self) -> pa.Table:
        """The classes as a table a fact query joins to the outcome rows: lab, size class, the grid
        step in thousandths and the share in millionths."""
        return pa.table({
            "lab": pa.array(self.labs.tolist(), pa.string()),
            "size_class": pa.array(self.size_classes.tolist(), pa.string()),
            "grid_step": pa.array([GRID_STEP[u] for u in self.units], pa.int64()),
            "share_millionths": pa.array(self.share_millionths.tolist(), pa.int64()),
        })


def _codes(table: pa.Table, column: str) -> tuple[np.ndarray, np.ndarray]:
    """A text column's distinct values in sorted order and each row's index into them (the same
    whatever the rows' order)."""
    encoded = pc.dictionary_encode(pc.cast(table.column(column), pa.string()).combine_chunks())
    values = np.asarray(encoded.dictionary.to_pylist(), dtype=object).astype(str)
    order = np.argsort(values, kind="stable")
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return values[order], rank[np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)]


def learn(grid: pa.Table, settings: Mapping[str, Any]) -> GridClasses:
    """The classes of the `weight_grid` fact's rows. A class's unit is the hundredth when the median
    share of weights with thousandth digit 0, over the sightholders with
    checks_digit_class_min_stones weights in it (or over every weight of the class when none has
    that many), is above checks_digit_two_decimal_share. Its share on the coarser grid is the median
    over those sightholders when checks_digit_market_sightholders of them show it, else the median
    of the sightholders' shares over every class of that unit; never below what evenly spread digits
    give (UNIFORM_GRID_SHARE)."""
    class_min = int(settings["checks_digit_class_min_stones"])
    enough_holders = int(settings["checks_digit_market_sightholders"])
    two_decimal_share = float(settings["checks_digit_two_decimal_share"])
    names, who = _codes(grid, "sightholder_id")
    labs, lab = _codes(grid, "lab")
    brackets, bracket = _codes(grid, "size_class")
    keys, row_class = np.unique(lab * len(brackets) + bracket, return_inverse=True)
    row_class = row_class.reshape(-1)
    count = len(keys)
    stones, on_hundredth, on_twentieth = (
        pc.fill_null(pc.cast(grid.column(c), pa.float64()), 0.0).to_numpy(zero_copy_only=False)
        for c in ("stones", "on_hundredth", "on_twentieth"))
    per = np.zeros((len(names), count))
    np.add.at(per, (who, row_class), stones)
    hundredth_n = np.zeros_like(per)
    np.add.at(hundredth_n, (who, row_class), on_hundredth)
    twentieth_n = np.zeros_like(per)
    np.add.at(twentieth_n, (who, row_class), on_twentieth)
    reference = per >= class_min
    zero_share = hundredth_n / np.maximum(per, 1)
    pooled_zero_share = hundredth_n.sum(axis=0) / np.maximum(per.sum(axis=0), 1)
    hundredths = np.array([np.median(zero_share[reference[:, c], c]) if reference[:, c].any()
                           else pooled_zero_share[c] for c in range(count)]) > two_decimal_share
    on_grid = np.where(hundredths[None, :], twentieth_n, hundredth_n)
    grid_share = on_grid / np.maximum(per, 1)
    units = np.where(hundredths, "hundredth", "thousandth")
    market = np.zeros(count)
    for unit in ("thousandth", "hundredth"):
        mine = units == unit
        unit_stones, unit_grid = per[:, mine].sum(axis=1), on_grid[:, mine].sum(axis=1)
        judged = unit_stones >= class_min
        fallback = float(np.median(unit_grid[judged] / unit_stones[judged])) if judged.any() else 0.0
        for c in np.flatnonzero(mine):
            market[c] = (np.median(grid_share[reference[:, c], c]) if reference[:, c].sum() >= enough_holders
                         else fallback)
        market[mine] = np.maximum(market[mine], UNIFORM_GRID_SHARE[unit])
    share_millionths = np.minimum(np.round(market * MILLION), MILLION).astype(np.int64)
    return GridClasses(labs[keys // len(brackets)], brackets[keys % len(brackets)], units, share_millionths,
                       row_class)


def most_on_grid_by_chance(classes: GridClasses, chance: float) -> int:
    """The largest count on the coarser grid that weights measured at the market's shares reach with
    a probability of at least `chance` whatever their number: at least the lowest share to that
    power, as the first weights alone may all land on the grid. A box needs more to be judged."""
    if len(classes.share_millionths) == 0:
        return 0
    lowest = float(classes.share_millionths.min()) / MILLION
    if lowest >= 1.0:
        return NO_BOX_JUDGED
    return max(0, math.ceil(math.log(chance) / math.log(lowest)) - 1)
