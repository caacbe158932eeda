"""Per-cell counts and quartiles of price per carat under the outlier rule, from one sort.

Pure numpy, no I/O. The engine hands over one row per price record, an integer cell key and the
price per carat; the rows are grouped by key with one integer sort and the values are sorted
within each group. Every figure is then rank arithmetic on sorted values: a quartile is the order
statistic at fractional rank p x (n - 1) (counted from 0), interpolated linearly between its two
neighbours exactly as SQL's `percentile_cont` does, and the figures after the outlier rule are the
same arithmetic over the ranks the rule keeps. The engines' ordered-set aggregates cannot apply a
rule that depends on the cell's own quartiles without a second pass over the rows; this does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

QUARTILES: tuple[float, float, float] = (0.25, 0.5, 0.75)


@dataclass(frozen=True)
class SortedGroups:
    """Values grouped by an integer key, ascending within each group.

    `keys` holds the distinct keys in ascending order and `counts` the values of each; group g's
    values in ascending order are `values[start[g]:start[g] + counts[g]]` (each group sits in a
    block of `width[g]` slots, the slots past its values hold +inf)."""

    keys: np.ndarray
    counts: np.ndarray
    start: np.ndarray
    width: np.ndarray
    values: np.ndarray

    def ranked(self, rank: np.ndarray, groups: np.ndarray | slice = slice(None)) -> np.ndarray:
        """The value of 0-based rank `rank` in each of `groups`."""
        return self.values[self.start[groups] + rank]

    def percentile(self, p: float, groups: np.ndarray | slice = slice(None), first: np.ndarray | int = 0,
                   count: np.ndarray | None = None) -> np.ndarray:
        """`percentile_cont(p)` of each of `groups` over its `count` values from rank `first` on
        (default: all its values)."""
        n = self.counts[groups] if count is None else count
        position = p * (n - 1)
        low = np.floor(position).astype(np.int64)
        high = np.minimum(low + 1, n - 1)
        below, above = self.ranked(first + low, groups), self.ranked(first + high, groups)
        return below + (position - low) * (above - below)

    def count_outside(self, groups: np.ndarray, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each of `groups`: how many of its values lie below `low`, and how many above `high`."""
        below = np.zeros(len(groups), dtype=np.int64)
        above = np.zeros(len(groups), dtype=np.int64)
        widths = self.width[groups]
        for width in np.unique(widths):
            at = np.flatnonzero(widths == width)
            g = groups[at]
            block = self.values[self.start[g][:, None] + np.arange(width)]
            below[at] = np.count_nonzero(block < low[at, None], axis=1)
            above[at] = np.count_nonzero(block > high[at, None], axis=1) - (width - self.counts[g])
        return below, above


def sort_groups(keys: np.ndarray, values: np.ndarray) -> SortedGroups:
    """Group `values` (finite) by integer `keys` and sort each group: one integer sort of
    (key, row) packed into 64 bits brings the groups together, then each group is sorted in a
    block padded to the next power of two, all blocks of one width sorted as one 2-D array."""
    keys = np.asarray(keys, dtype=np.int64)
    values = np.asarray(values, dtype=float)
    n = len(keys)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return SortedGroups(empty, empty, empty, empty, np.zeros(0))
    base = int(keys.min())
    row_bits = max((n - 1).bit_length(), 1)
    if (int(keys.max()) - base) >> (63 - row_bits):
        order = np.argsort(keys, kind="stable")  # keys too wide to pack beside the row number
        grouped_keys = keys[order]
    else:
        grouped_keys = keys - base
        grouped_keys <<= row_bits
        grouped_keys |= np.arange(n, dtype=np.int64)
        grouped_keys.sort()
        order = grouped_keys & ((1 << row_bits) - 1)
        grouped_keys >>= row_bits
        grouped_keys += base
    first_row = np.r_[0, np.flatnonzero(grouped_keys[1:] != grouped_keys[:-1]) + 1]
    counts = np.diff(np.r_[first_row, n])
    width = np.left_shift(1, np.ceil(np.log2(counts)).astype(np.int64))
    by_width = np.argsort(width, kind="stable")
    start = np.empty(len(counts), dtype=np.int64)
    start[by_width] = np.r_[0, np.cumsum(width[by_width])[:-1]]
    buffer = np.full(int(width.sum()), np.inf)
    slot = np.repeat(start - first_row, counts)
    slot += np.arange(n, dtype=np.int64)
    buffer[slot] = values[order]
    del slot, order
    ordered = width[by_width]
    edges = np.r_[0, np.flatnonzero(ordered[1:] != ordered[:-1]) + 1, len(ordered)]
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        block_width = int(ordered[a])
        offset = int(start[by_width[a]])
        buffer[offset:offset + (b - a) * block_width].reshape(b - a, block_width).sort(axis=1)
    return SortedGroups(grouped_keys[first_row], counts, start, width, buffer)


@dataclass(frozen=True)
class CellFigures:
    """Per group: values kept and set aside by the outlier rule, and the quartiles of the kept
    values (columns q25, q50, q75)."""

    n: np.ndarray
    n_outliers: np.ndarray
    quartiles: np.ndarray


def outlier_rule(groups: SortedGroups, iqr_multiple: float, applies: np.ndarray | None = None) -> CellFigures:
    """Counts and quartiles of each group after the outlier rule: from the group's quartiles Q1
    and Q3, a value is an outlier when it lies below Q1 x (Q1/Q3)^k or above Q3 x (Q3/Q1)^k,
    k = `iqr_multiple` (Tukey's fences on the log scale; 0 switches the rule off). Outliers are
    counted and leave the count and the quartiles (unless they would be all of the group's values).
    `applies` (a mask over the groups, default all)
    says which groups the rule is for; the others keep every value."""
    quartiles = np.column_stack([groups.percentile(p) for p in QUARTILES]) if len(groups.keys) else np.zeros((0, 3))
    n = groups.counts.copy()
    n_outliers = np.zeros(len(n), dtype=np.int64)
    if iqr_multiple <= 0 or len(n) == 0:
        return CellFigures(n, n_outliers, quartiles)
    log_q1, log_q3 = np.log(quartiles[:, 0]), np.log(quartiles[:, 2])
    fence_low = np.exp(log_q1 - iqr_multiple * (log_q3 - log_q1))
    fence_high = np.exp(log_q3 + iqr_multiple * (log_q3 - log_q1))
    lowest, highest = groups.ranked(0), groups.ranked(n - 1)
    flagged = (lowest < fence_low) | (highest > fence_high)
    if applies is not None:
        flagged &= applies
    at = np.flatnonzero(flagged)
    if len(at):
        below, above = groups.count_outside(at, fence_low[at], fence_high[at])
        kept = n[at] - below - above
        some = kept > 0  # (a rule so tight that it would set aside every value is not applied)
        at, below, above, kept = at[some], below[some], above[some], kept[some]
        quartiles[at] = np.column_stack([groups.percentile(p, at, below, kept) for p in QUARTILES])
        n_outliers[at] = below + above
        n[at] = kept
    return CellFigures(n, n_outliers, quartiles)
