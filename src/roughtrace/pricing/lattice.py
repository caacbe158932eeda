"""The grade lattice and the monotone view of a price grid.

A grid holds one shape family, size bracket and period: rows are colours D to Z, columns are
clarities FL to I3. Better grades are never cheaper, so a monotone grid is non-increasing down
every column and along every row. The monotone view is the count-weighted least-squares
projection of the log medians onto such grids (2-D isotonic regression), found by Dykstra's
alternating projections onto the row-monotone and column-monotone sets (each a 1-D weighted
isotonic regression), then closed by raising each cell to the highest value of any worse-or-equal
cell, which guarantees monotonicity exactly also through cells with no trades.
"""

from __future__ import annotations

import numpy as np

from ..domain.grades import CLARITIES, COLOURS

LATTICE_COLOURS: tuple[str, ...] = COLOURS[:-1]
"""D to Z; `fancy` colours sit outside the D-Z order and are left as they are."""


def _isotonic_decreasing(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted non-increasing isotonic regression along the last axis of 2-D arrays, by the
    max-min formula over block averages (exact, vectorised; rows are short). Cells of weight 0
    take a value between their neighbours and constrain nothing."""
    rows, length = values.shape
    cw = np.concatenate([np.zeros((rows, 1)), np.cumsum(weights, axis=1)], axis=1)
    cwy = np.concatenate([np.zeros((rows, 1)), np.cumsum(weights * values, axis=1)], axis=1)
    s = np.arange(length)[:, None]
    t = np.arange(length)[None, :]
    wsum = cw[:, None, 1:] - cw[:, :-1, None]  # [row, s, t] weight of block s..t
    ysum = cwy[:, None, 1:] - cwy[:, :-1, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        average = np.where((s <= t) & (wsum > 0), ysum / np.where(wsum > 0, wsum, 1), np.nan)
    # non-increasing fit: f_i = min over s <= i of max over t >= i of avg(s..t)
    high = np.fmax.accumulate(average[:, :, ::-1], axis=2)[:, :, ::-1]  # max over t >= i, [row, s, i]
    high = np.where(s <= t, high, np.nan)
    fitted = np.fmin.reduce(high, axis=1)
    return np.where(np.isnan(fitted), values, fitted)


def monotone_grids(log_prices: np.ndarray, weights: np.ndarray, iterations: int = 60, tolerance: float = 1e-5) -> np.ndarray:
    """The monotone view of a stack of grids [grid, colour, clarity] of log price per carat
    (NaN where a cell has no trades) weighted by trade counts. Returns the same shape; cells
    without trades get the value the monotone order implies (NaN when nothing bounds them from
    below). Iteration stops per grid once no traded cell moves by more than `tolerance`."""
    present = ~np.isnan(log_prices)
    out = np.full(log_prices.shape, np.nan)
    if not present.any():
        return out
    # work on the grades that trade at all: untraded rows and columns constrain nothing
    rows_used = np.flatnonzero(present.any(axis=(0, 2)))
    cols_used = np.flatnonzero(present.any(axis=(0, 1)))
    rows_used = np.arange(rows_used.min(), rows_used.max() + 1)
    cols_used = np.arange(cols_used.min(), cols_used.max() + 1)
    sub = np.ix_(np.arange(log_prices.shape[0]), rows_used, cols_used)
    mask = present[sub]
    y = np.where(mask, log_prices[sub], 0.0)
    w = np.where(mask, weights[sub], 0.0).astype(float)
    x = y.copy()
    p = np.zeros_like(y)
    q = np.zeros_like(y)
    active = np.arange(len(y))
    for _ in range(iterations):
        if len(active) == 0:
            break
        xa, pa_, qa, wa = x[active], p[active], q[active], w[active]
        grids, n_colours, n_clarities = xa.shape
        a = xa + pa_
        rows = _isotonic_decreasing(a.reshape(-1, n_clarities), wa.reshape(-1, n_clarities)).reshape(a.shape)
        p[active] = a - rows
        b = rows + qa
        bt = b.transpose(0, 2, 1).reshape(-1, n_colours)
        wt = wa.transpose(0, 2, 1).reshape(-1, n_colours)
        cols = _isotonic_decreasing(bt, wt).reshape(grids, n_clarities, n_colours).transpose(0, 2, 1)
        q[active] = b - cols
        change = np.max(np.abs(np.where(mask[active], cols - xa, 0.0)), axis=(1, 2))
        x[active] = cols
        active = active[change >= tolerance]
    out[sub] = np.where(mask, x, np.nan)
    return close_monotone(out)


def close_monotone(grid: np.ndarray) -> np.ndarray:
    """Raise each cell to the highest value among cells of worse-or-equal colour and clarity
    (NaN ignored): the result is exactly non-increasing along both grade axes."""
    worse_first = grid[:, ::-1, ::-1]
    raised = np.fmax.accumulate(np.fmax.accumulate(worse_first, axis=1), axis=2)
    return raised[:, ::-1, ::-1]


def grid_shape() -> tuple[int, int]:
    return len(LATTICE_COLOURS), len(CLARITIES)
