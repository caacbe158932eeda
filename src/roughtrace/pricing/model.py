"""The hedonic quote model: log price per carat explained by size, grades and period, fitted
robustly on transactions, with cell effects weighted by evidence on top of it.

Everything here is pure numpy over columns (no I/O); `index.py` feeds it from the store.

The model (all terms in natural log of USD per carat):

* size: a line in ln(carat) with hinges at the magic weights and halfway (in ln carat) between
  them, plus a step at the lower bound of every size bracket (price per carat jumps there);
* grades: one step per colour grade D..Z and per clarity grade FL..I3 (cumulative steps, so the
  ridge penalty pulls each grade toward its neighbour, not toward zero), fancy colour, cut steps
  EX..P plus `cut unknown`, lab indicators; the fancy shape family with its own carat slope;
* interactions: colour and clarity steps x ln(carat), colour step x clarity step, and colour or
  clarity step x size bracket (how grade premiums change with size);
* time: one step per period (a random walk under the ridge penalty);

fitted by ridge-penalised Huber regression (iteratively reweighted least squares, run until the
fit stops moving: the estimate is the robust one, not a few reweightings of least squares).
Residuals then give three levels of cell effects (the index cell pooled over periods, the cell in one period,
the cell for one cut grade), each cell's median residual weighted by empirical Bayes: the level's
between-cell variance against the median's sampling noise, both estimated from the data; from
every trade, or from a share of each index cell's trades with every trade counted (`fit_on_sample`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..domain.grades import CLARITIES, COLOURS, CUTS, LABS, SHAPE_FAMILIES
from ..domain.sizes import BRACKET_LOWER_BOUNDS, BRACKETS, MAGIC_WEIGHTS

FANCY_COLOUR = COLOURS.index("fancy")
N_LATTICE_COLOURS = len(COLOURS) - 1
LAB_TERMS = tuple(lab for lab in LABS if lab != "none")
BRACKET_LOWS = np.array([float(b) for b in BRACKET_LOWER_BOUNDS])
BRACKET_MIDDLES = np.sqrt(BRACKET_LOWS * np.r_[BRACKET_LOWS[1:], BRACKET_LOWS[-1]])
"""The geometric middle of each size bracket (between its lower bound and the next one's; the open
last bracket: its lower bound), ct."""
_MAGIC = np.log(np.array([float(w) for w in MAGIC_WEIGHTS]))
KNOTS = np.sort(np.concatenate([_MAGIC, (_MAGIC[1:] + _MAGIC[:-1]) / 2]))
HUBER = 1.345
HUBER_ROUNDS = 30
HUBER_TOLERANCE = 1e-3
"""The Huber fit's reweighting stops when no fitted trade's log price moves by more than
HUBER_TOLERANCE from one round to the next (0.1%), or after HUBER_ROUNDS rounds."""
MAD_TO_SIGMA = 1.4826
IQR_TO_SIGMA = 1.349

# penalty multipliers of the ridge setting per term group
GROUP_PENALTY = {"intercept": 0.0, "main": 1 / 3, "step": 1.0, "slope": 3.0, "interaction": 30.0}


@dataclass(frozen=True)
class Stones:
    """A batch of stones as integer grade codes (indices into domain.grades tuples, -1 unknown)
    and carats as floats; `period` is the index into the model's periods (may be -1 or past the
    end: then the nearest period is used and, before the first, the quote says it extrapolates)."""

    family: np.ndarray
    carat: np.ndarray
    colour: np.ndarray
    clarity: np.ndarray
    cut: np.ndarray
    lab: np.ndarray
    period: np.ndarray

    def __len__(self) -> int:
        return len(self.carat)

    @property
    def bracket(self) -> np.ndarray:
        return np.clip(np.searchsorted(BRACKET_LOWS, self.carat, side="right") - 1, 0, len(BRACKETS) - 1)

    def cell_key(self) -> np.ndarray:
        """One integer per index cell: shape family x size bracket x colour x clarity."""
        return ((self.family.astype(np.int64) * 32 + self.bracket) * 32 + self.colour) * 16 + self.clarity


def terms(n_periods: int) -> list[tuple[str, str]]:
    """Every candidate term (name, penalty group) in design-matrix order."""
    out = [("1", "intercept"), ("lc", "main"), ("fancy", "main"), ("fancy*lc", "main")]
    out += [(f"hinge:{k:.6f}", "main") for k in KNOTS]
    out += [(f"bracket>={j}", "step") for j in range(1, len(BRACKETS))]
    out += [(f"colour>={j}", "main") for j in range(1, N_LATTICE_COLOURS)] + [("colour=fancy", "main")]
    out += [(f"clarity>={j}", "main") for j in range(1, len(CLARITIES))]
    out += [(f"cut>={j}", "main") for j in range(1, len(CUTS))] + [("cut=unknown", "main")]
    out += [(f"lab={lab}", "main") for lab in LAB_TERMS]
    out += [(f"period>={j}", "step") for j in range(1, n_periods)]
    out += [(f"colour>={j}*lc", "slope") for j in range(1, N_LATTICE_COLOURS)]
    out += [(f"clarity>={j}*lc", "slope") for j in range(1, len(CLARITIES))]
    out += [(f"colour>={j}*clarity>={i}", "interaction") for j in range(1, N_LATTICE_COLOURS) for i in range(1, len(CLARITIES))]
    out += [(f"colour>={j}*bracket={b}", "interaction") for b in range(len(BRACKETS)) for j in range(1, N_LATTICE_COLOURS)]
    out += [(f"clarity>={j}*bracket={b}", "interaction") for b in range(len(BRACKETS)) for j in range(1, len(CLARITIES))]
    return out


def _blocks(stones: Stones, n_periods: int, mix: dict | None = None) -> list:
    """The design's column blocks in term order: ("plain", matrix) or ("pair", left, right) for
    the products of two factor blocks (left x right, row-major). With `mix` (at quote time), a
    stone whose cut or lab is not given takes the fitted trades' mix of cut steps and labs (their
    mean columns) instead of the columns of excellent cut and no lab."""
    n = len(stones)
    lc = np.log(stones.carat)
    fancy = (stones.family == 1).astype(float)
    lattice_colour = np.where(stones.colour == FANCY_COLOUR, -1, stones.colour)
    bracket = stones.bracket
    period = np.clip(stones.period, 0, max(n_periods - 1, 0))
    colour_steps = (lattice_colour[:, None] >= np.arange(1, N_LATTICE_COLOURS)[None, :]).astype(float)
    clarity_steps = (stones.clarity[:, None] >= np.arange(1, len(CLARITIES))[None, :]).astype(float)
    bracket_onehot = (bracket[:, None] == np.arange(len(BRACKETS))[None, :]).astype(float)
    cut_steps = (stones.cut[:, None] >= np.arange(1, len(CUTS))[None, :]).astype(float)
    labs = (stones.lab[:, None] == np.array([LABS.index(lab) for lab in LAB_TERMS])[None, :]).astype(float)
    if mix is not None:
        if mix.get("cut") is not None:
            cut_steps[stones.cut < 0] = mix["cut"]
        labs[stones.lab < 0] = mix["lab"]

    def pairs(left: np.ndarray, right: np.ndarray) -> tuple:
        return ("pair", left, right)

    def plain(block: np.ndarray) -> tuple:
        return ("plain", block)

    return [
        plain(np.ones((n, 1))), plain(lc[:, None]), plain(fancy[:, None]), plain((fancy * lc)[:, None]),
        plain(np.maximum(lc[:, None] - KNOTS[None, :], 0.0)),
        plain((bracket[:, None] >= np.arange(1, len(BRACKETS))[None, :]).astype(float)),
        plain(colour_steps), plain((stones.colour == FANCY_COLOUR).astype(float)[:, None]),
        plain(clarity_steps),
        plain(cut_steps), plain((stones.cut < 0).astype(float)[:, None]), plain(labs),
        plain((period[:, None] >= np.arange(1, n_periods)[None, :]).astype(float)),
        plain(colour_steps * lc[:, None]), plain(clarity_steps * lc[:, None]),
        pairs(colour_steps, clarity_steps), pairs(bracket_onehot, colour_steps), pairs(bracket_onehot, clarity_steps),
    ]


def _width(block: tuple) -> int:
    return block[1].shape[1] if block[0] == "plain" else block[1].shape[1] * block[2].shape[1]


def design(stones: Stones, n_periods: int, keep: np.ndarray | None = None, mix: dict | None = None) -> np.ndarray:
    """The design matrix [stone, term] (only the kept terms when `keep` is given; products of
    two factors are then formed for the kept pairs only, which bounds time and memory)."""
    out, start = [], 0
    for block in _blocks(stones, n_periods, mix):
        width = _width(block)
        mask = np.ones(width, dtype=bool) if keep is None else keep[start:start + width]
        start += width
        if not mask.any():
            continue
        if block[0] == "plain":
            out.append(block[1][:, mask])
        else:
            chosen = np.flatnonzero(mask)
            left, right = block[1], block[2]
            out.append(left[:, chosen // right.shape[1]] * right[:, chosen % right.shape[1]])
    return np.concatenate(out, axis=1)


def linear_predictor(stones: Stones, n_periods: int, keep: np.ndarray, beta: np.ndarray,
                     mix: dict | None = None) -> np.ndarray:
    """X beta without forming the product columns: a product block contributes
    sum_ij left_i B_ij right_j = rowsum((left @ B) * right)."""
    total = np.zeros(len(stones))
    start, used = 0, 0
    for block in _blocks(stones, n_periods, mix):
        width = _width(block)
        mask = keep[start:start + width]
        start += width
        k = int(mask.sum())
        if k == 0:
            continue
        coefficients = np.zeros(width)
        coefficients[mask] = beta[used:used + k]
        used += k
        if block[0] == "plain":
            total += block[1] @ coefficients
        else:
            left, right = block[1], block[2]
            total += np.einsum("ij,ij->i", left @ coefficients.reshape(left.shape[1], right.shape[1]), right)
    return total


def median_variance(within: float, n: np.ndarray) -> np.ndarray:
    """Variance of the median of n trades of noise variance `within`: within / n, times pi / 2
    (the median's efficiency against the mean for normal noise) from three trades on (the median
    of one or two trades is their mean). Infinite for n = 0."""
    n = np.asarray(n, dtype=float)
    factor = np.where(n >= 3, math.pi / 2, 1.0)
    return np.where(n > 0, within * factor / np.maximum(n, 1), np.inf)


@dataclass(frozen=True)
class Effects:
    """Shrunken median residuals of one level: sorted integer keys, trade counts, effects and
    robust spreads (log scale), and the level's two variances estimated from the data (empirical
    Bayes): `between`, how far true cell effects spread around the model, and `within`, the noise
    of one trade around its cell's centre."""

    keys: np.ndarray
    n: np.ndarray
    effect: np.ndarray
    scale: np.ndarray
    between: float = 0.0
    within: float = 0.0

    def sampling_variance(self, n: np.ndarray) -> np.ndarray:
        """Variance of a cell's median residual from n trades (`median_variance`)."""
        return median_variance(self.within, n)

    def weight(self, n: np.ndarray) -> np.ndarray:
        """How much a cell's own median is trusted against the model: between / (between +
        sampling variance); 0 for an untraded cell or a level whose cells do not differ."""
        v = self.sampling_variance(n)
        if self.between <= 0:
            return np.zeros(len(v))
        return np.where(np.isfinite(v), self.between / (self.between + np.where(np.isfinite(v), v, 0.0)), 0.0)

    def posterior_variance(self, n: np.ndarray) -> np.ndarray:
        """Variance left in a cell's effect after its n trades: between x (1 - weight); the whole
        between-cell variance for an untraded cell."""
        return self.between * (1.0 - self.weight(n))

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(n, effect, scale) for each key; zeros (and NaN scale) where the level has no trades."""
        if len(self.keys) == 0:
            zeros = np.zeros(len(keys))
            return zeros.astype(np.int64), zeros, np.full(len(keys), np.nan)
        at = np.clip(np.searchsorted(self.keys, keys), 0, len(self.keys) - 1)
        hit = self.keys[at] == keys
        return (np.where(hit, self.n[at], 0), np.where(hit, self.effect[at], 0.0), np.where(hit, self.scale[at], np.nan))


@dataclass(frozen=True)
class HedonicModel:
    """A fitted model: kept terms and coefficients, the residual scale, the mean leverage of a
    fitted trade (effective parameters / trades fitted: sigma^2 x leverage is the variance of the
    model's own estimate at a typical stone), the data's ranges and the three levels of cell
    effects."""

    periods: tuple[str, ...]
    keep: np.ndarray
    beta: np.ndarray
    sigma: float
    carat_range: dict[int, tuple[float, float]]
    colour_range: tuple[int, int]
    clarity_range: tuple[int, int]
    leverage: float
    cell: Effects
    cell_period: Effects
    cell_cut: Effects
    n_trades: int
    mix: dict | None = None
    """The fitted trades' mix of cut steps (None when some trades have no cut grade: the model
    then prices `cut unknown` itself) and of labs, for stones quoted without them."""
    covariance_factor: np.ndarray | None = None
    """Upper-triangular F with F F' = (X'WX + penalty)^-1 over the kept terms: the coefficients'
    covariance is sigma^2 F F' (the ridge penalty read as a prior)."""
    extras: dict = field(default_factory=dict)

    def base(self, stones: Stones) -> np.ndarray:
        """The model's log price per carat before cell effects."""
        return linear_predictor(stones, len(self.periods), self.keep, self.beta, self.mix)

    def base_and_variance(self, stones: Stones) -> tuple[np.ndarray, np.ndarray]:
        """The model's log price per carat of each stone and the variance of that estimate:
        sigma^2 x' (X'WX + penalty)^-1 x, large where the stone's terms are seen in few trades (a
        grade combination or a size the data hardly holds); the mean leverage times sigma^2 when
        the factor is not stored. The variance is taken once per distinct family, size bracket,
        grades, lab and period, at the bracket's middle weight (it changes little within a
        bracket; a weight outside the data widens the band on its own), in single precision."""
        base = self.base(stones)
        if self.covariance_factor is None:
            return base, np.full(len(stones), self.sigma ** 2 * self.leverage)
        bracket = stones.bracket
        period = np.clip(stones.period, 0, max(len(self.periods) - 1, 0))
        combo = (((((stones.family.astype(np.int64) * 32 + bracket) * 32 + stones.colour) * 16 + stones.clarity) * 8
                  + stones.cut + 1) * 8 + stones.lab + 1) * 4096 + period
        _, first, inverse = np.unique(combo, return_index=True, return_inverse=True)
        typical = Stones(stones.family[first], BRACKET_MIDDLES[bracket[first]], stones.colour[first], stones.clarity[first],
                         stones.cut[first], stones.lab[first], period[first])
        rows = design(typical, len(self.periods), self.keep, self.mix).astype(np.float32)
        projected = rows @ self.covariance_factor.astype(np.float32)
        return base, self.sigma ** 2 * np.einsum("ij,ij->i", projected, projected).astype(float)[inverse]


def _sorted_groups(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Values sorted by key, then by value: (distinct keys, counts, start of each group, sorted
    values); one sort."""
    order = np.lexsort((values, keys))
    k, v = keys[order], values[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    return k[starts], np.diff(np.r_[starts, len(k)]), starts, v


def _medians(counts: np.ndarray, starts: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per group of sorted values: the median, and the robust standard deviation (interquartile
    range / 1.349, lower and upper quartile by rank)."""
    median = (v[starts + (counts - 1) // 2] + v[starts + counts // 2]) / 2
    spread = (v[starts + (3 * (counts - 1)) // 4] - v[starts + (counts - 1) // 4]) / IQR_TO_SIGMA
    return median, spread


def group_medians(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per distinct key: (keys, counts, median, robust standard deviation) of `values`, the
    latter the interquartile range / 1.349 (lower quartile and upper quartile by rank); one sort."""
    if len(keys) == 0:
        empty = np.zeros(0)
        return keys[:0], empty.astype(np.int64), empty, empty
    unique, counts, starts, v = _sorted_groups(keys, values)
    return (unique, counts, *_medians(counts, starts, v))


def level_variances(counts: np.ndarray, starts: np.ndarray, v: np.ndarray, medians: np.ndarray,
                    rounds: int = 50) -> tuple[float, float]:
    """(between, within) variances of one level of cell effects, from residuals sorted by cell
    (`_sorted_groups`) and each cell's median. `within` is the pooled variance of trades around
    their cell's mean over cells of two or more trades (residuals first limited to 4 robust
    standard deviations, so that a gross price error does not inflate it); `between` solves
    between = sum w (m^2 - v) / sum w, w = 1 / (between + v)^2 (the likelihood equation of normal
    cell effects around the model, by fixed-point steps), over cell medians m of sampling variance
    v. With no cell of two trades, noise and cell differences cannot be told apart, and the level
    gets no effects."""
    if len(v) == 0:
        return 0.0, 0.0
    spread = float(np.median(np.abs(v - np.median(v)))) * MAD_TO_SIGMA
    limited = np.clip(v, -4 * spread, 4 * spread) if spread > 0 else v
    group = np.repeat(np.arange(len(counts)), counts)
    mean = np.add.reduceat(limited, starts) / counts
    dof = float(np.sum(counts - 1))
    if dof < 1:
        return 0.0, float(np.var(limited))
    within = float(np.sum((limited - mean[group]) ** 2)) / dof
    sampling = median_variance(within, counts)
    m2 = medians ** 2
    between = max(0.0, float(np.mean(m2 - sampling)))
    for _ in range(rounds):
        w = 1.0 / (between + sampling) ** 2
        updated = max(0.0, float(np.sum(w * (m2 - sampling)) / np.sum(w)))
        converged = abs(updated - between) <= 1e-6 * max(between, 1e-6)
        between = updated
        if converged:
            break
    return between, within


def _totals(counted: tuple[np.ndarray, np.ndarray], keys: np.ndarray) -> np.ndarray:
    """The trades of each of `keys` (sorted, every one among the counted keys) from (key, trades)
    pairs of the trade counts, summed per key."""
    unique, inverse = np.unique(counted[0], return_inverse=True)
    totals = np.zeros(len(unique), dtype=np.int64)
    np.add.at(totals, inverse, counted[1])
    return totals[np.searchsorted(unique, keys)]


def _effects(keys: np.ndarray, residual: np.ndarray,
             counted: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[Effects, np.ndarray]:
    """One level of cell effects from residuals: each cell's median, weighted by the level's
    empirical-Bayes trust in it (`Effects.weight`, from the trades behind the median); returns the
    level and the residuals after it. With `counted` (keys and trades of `TradeCounts` groups, when
    the residuals are a share of the trades), each cell's `n` is its every trade, not the share's."""
    if len(keys) == 0:
        empty = np.zeros(0)
        return Effects(keys[:0], empty.astype(np.int64), empty, empty), residual
    unique, counts, starts, v = _sorted_groups(keys, residual)
    median, spread = _medians(counts, starts, v)
    between, within = level_variances(counts, starts, v, median)
    trust = Effects(unique, counts, median, spread, between, within).weight(counts)
    n = counts if counted is None else _totals(counted, unique)
    effects = Effects(unique, n, median * trust, spread, between, within)
    _, effect, _ = effects.lookup(keys)
    return effects, residual - effect


@dataclass(frozen=True)
class TradeCounts:
    """Every trade of a fit counted by index cell, period and cut grade, for cell effects taken from
    a share of them: one stone per group (its family, grades, cut and period, and the group's
    lowest carat), the group's trades `n` and its highest carat."""

    stones: Stones
    n: np.ndarray
    high_carat: np.ndarray


def fit(stones: Stones, log_ppc: np.ndarray, periods: tuple[str, ...], ridge: float,
        sample: int, seed: int = 20240101, chunk: int = 20000) -> HedonicModel:
    """Fit the hedonic model on at most `sample` trades (an even random sample when there are
    more) and the cell effects on every trade. `log_ppc` is ln(USD per carat)."""
    n = len(stones)
    if n == 0:
        raise ValueError("no transactions to fit the price model on")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, size=sample, replace=False)) if n > sample else np.arange(n)
    return fit_on_sample(stones, log_ppc, take(stones, rows), log_ppc[rows], periods, ridge, chunk)


def take(stones: Stones, rows: np.ndarray) -> Stones:
    """The stones at positions `rows`, in that order."""
    return Stones(*(getattr(stones, f)[rows] for f in Stones.__dataclass_fields__))


def fit_on_sample(stones: Stones, log_ppc: np.ndarray, sub: Stones, y: np.ndarray, periods: tuple[str, ...],
                  ridge: float, chunk: int = 20000, counts: TradeCounts | None = None) -> HedonicModel:
    """Fit the hedonic model's regression on the trades `sub` (log prices `y`: a sample the caller
    chose) and the cell effects on the trades `stones` (log prices `log_ppc`, ln USD per carat):
    every trade, or with `counts` (every trade counted) a share of each index cell's trades chosen
    independently of their prices. The same trades in the same order give the same model to the
    last bit (the regression's sums and each trade's model price follow the order).

    Every level of effects refines the index cell (the cell; the cell in one period; the cell for
    one cut grade) and each effect is a median over one key's trades, never pooled across cells. So
    a share of a cell's trades drawn without regard to price is a fair sample of each of its keys
    at once: its medians estimate the whole key's, with no reweighting, and each level's trust
    (`level_variances`) is read from the trades the medians were taken over, which is what their
    noise depends on. The counts give each key's `n` (every trade: what a quote reports and how it
    chooses its method), the trades of the model and the data's ranges. A key whose few trades in a
    large cell all fell outside the share has no effect of its own (it is quoted from its cell)."""
    n_periods = max(len(periods), 1)
    n = len(stones)
    if n == 0 or len(sub) == 0:
        raise ValueError("no transactions to fit the price model on")
    names = terms(n_periods)
    penalty_of = np.array([GROUP_PENALTY[group] * ridge for _, group in names])
    # keep a term only when it varies in the sample (an unseen grade borrows its neighbour's price)
    low = np.full(len(names), np.inf)
    high = np.full(len(names), -np.inf)
    for start in range(0, len(y), chunk):
        block = design(Stones(*(getattr(sub, f)[start:start + chunk] for f in Stones.__dataclass_fields__)), n_periods)
        low = np.minimum(low, block.min(axis=0))
        high = np.maximum(high, block.max(axis=0))
    keep = high > low
    keep[0] = True
    penalty = np.diag(penalty_of[keep])
    weights = np.ones(len(y))
    blocks = [design(Stones(*(getattr(sub, f)[s:s + chunk] for f in Stones.__dataclass_fields__)), n_periods, keep)
              for s in range(0, len(y), chunk)]
    beta = np.zeros(keep.sum())
    sigma = 1.0
    fitted = np.zeros(len(y))
    xtx = penalty.copy()
    xty = np.zeros(keep.sum())
    applied = np.zeros(len(y))
    for _ in range(HUBER_ROUNDS):
        # X'WX and X'Wy are updated by the trades whose weight changed: most trades keep weight 1
        # round after round, so a round costs a fraction of the first
        change = weights - applied
        for i, block in enumerate(blocks):
            start = i * chunk
            rows = np.flatnonzero(change[start:start + len(block)])
            if len(rows) == 0:
                continue
            part = block if len(rows) == len(block) else block[rows]
            weighted = part.T * change[start + rows]
            xtx += weighted @ part
            xty += weighted @ y[start + rows]
        applied = weights
        beta = np.linalg.solve(xtx, xty)
        moved = fitted
        fitted = np.concatenate([block @ beta for block in blocks])
        residual = y - fitted
        sigma = float(np.median(np.abs(residual)) * MAD_TO_SIGMA) or 1e-6
        weights = np.minimum(1.0, HUBER * sigma / np.maximum(np.abs(residual), 1e-12))
        if float(np.max(np.abs(fitted - moved))) <= HUBER_TOLERANCE:
            break
    del blocks
    # effective parameters of the penalised fit: trace of its hat matrix; fitted residuals are
    # smaller than a new trade's by (1 - leverage), so sigma is scaled back up by that
    known_cut = sub.cut >= 0
    mix = {"cut": (sub.cut[:, None] >= np.arange(1, len(CUTS))[None, :]).mean(axis=0) if known_cut.all() else None,
           "lab": (sub.lab[:, None] == np.array([LABS.index(lab) for lab in LAB_TERMS])[None, :]).mean(axis=0)}
    # (X'WX + penalty)^-1 = F F' with F = inverse of its Cholesky factor, transposed (upper
    # triangular): the penalised normal matrix is positive definite, its inverse need not be
    # numerically so
    covariance_factor = np.linalg.inv(np.linalg.cholesky(xtx)).T
    covariance = covariance_factor @ covariance_factor.T
    leverage = min(float(np.sum(covariance * (xtx - penalty))) / len(y), 0.9)
    sigma /= math.sqrt(1 - leverage)
    # residuals of every trade, in chunks
    big = 10 * chunk
    base = np.concatenate([
        linear_predictor(Stones(*(getattr(stones, f)[s:s + big] for f in Stones.__dataclass_fields__)), n_periods, keep, beta)
        for s in range(0, n, big)])
    residual = log_ppc - base
    cell_key = stones.cell_key()
    period = np.clip(stones.period, 0, n_periods - 1)
    known_cut = stones.cut >= 0
    counted: dict[str, tuple[np.ndarray, np.ndarray] | None] = {"cell": None, "period": None, "cut": None}
    if counts is not None:
        every_key, every_cut = counts.stones.cell_key(), counts.stones.cut >= 0
        counted = {"cell": (every_key, counts.n),
                   "period": (every_key * 4096 + np.clip(counts.stones.period, 0, n_periods - 1), counts.n),
                   "cut": (every_key[every_cut] * 8 + counts.stones.cut[every_cut], counts.n[every_cut])}
    cell, residual = _effects(cell_key, residual, counted["cell"])
    cell_period, residual = _effects(cell_key * 4096 + period, residual, counted["period"])
    cell_cut, _ = _effects(cell_key[known_cut] * 8 + stones.cut[known_cut], residual[known_cut], counted["cut"])
    every = counts if counts is not None else TradeCounts(stones, np.ones(n, dtype=np.int64), stones.carat)
    carat_range = {}
    for family in range(len(SHAPE_FAMILIES)):
        of_family = every.stones.family == family
        if of_family.any():
            carat_range[family] = (float(every.stones.carat[of_family].min()), float(every.high_carat[of_family].max()))
    lattice = every.stones.colour[every.stones.colour != FANCY_COLOUR]
    colour_range = (int(lattice.min()), int(lattice.max())) if len(lattice) else (0, 0)
    clarity = every.stones.clarity
    return HedonicModel(
        periods=tuple(periods), keep=keep, beta=beta, sigma=sigma, carat_range=carat_range,
        colour_range=colour_range, clarity_range=(int(clarity.min()), int(clarity.max())),
        leverage=leverage, mix=mix, covariance_factor=covariance_factor, cell=cell, cell_period=cell_period, cell_cut=cell_cut,
        n_trades=int(every.n.sum()),
    )


METHOD_CELL, METHOD_BLEND, METHOD_MODEL = "cell", "blend", "model"


@dataclass(frozen=True)
class QuoteArrays:
    """Quotes for a batch: price per carat and band in USD per carat (floats, rounded to cents at
    the edge), trades behind each quote, its method and whether it extrapolates."""

    price_per_carat: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n: np.ndarray
    method: np.ndarray
    extrapolated: np.ndarray


def trade_noise(model: HedonicModel) -> float:
    """Variance of one trade around its cell's centre once every known effect is priced in: the
    within-cell variance of the deepest level that has cells of two trades (cut, then period, then
    the pooled cell), else the model's own residual variance."""
    for level in (model.cell_cut, model.cell_period, model.cell):
        if level.within > 0:
            return level.within
    return model.sigma ** 2


def quote(model: HedonicModel, stones: Stones, min_trades: int, band_width: float) -> QuoteArrays:
    """Quote every stone: model + cell effects weighted by evidence. The band is point x
    exp(+-band_width x s x widening), s the standard deviation of a trade at that quote: the
    trades' own noise (the cell's spread where it is trusted, the pooled within-cell noise
    otherwise) plus the uncertainty of the point itself (what each level of cell effects leaves
    unknown after the cell's trades, and the model's own estimate). A cell of many trades knows its
    effect; an untraded one carries the whole between-cell variance, so its band is wider. The
    widening grows with how far the stone lies outside the data."""
    n_periods = len(model.periods)
    base, model_variance = model.base_and_variance(stones)
    cell_key = stones.cell_key()
    n1, e1, s1 = model.cell.lookup(cell_key)
    period = np.clip(stones.period, 0, n_periods - 1)
    n2, e2, _ = model.cell_period.lookup(cell_key * 4096 + period)
    n3, e3, _ = model.cell_cut.lookup(np.where(stones.cut >= 0, cell_key * 8 + stones.cut, -1))
    log_point = base + e1 + e2 + e3
    noise = trade_noise(model)
    # a cell's own spread speaks once it has the trades that make its quote its own figure
    trust = np.where(n1 >= min_trades, model.cell.weight(n1), 0.0)
    own = np.where(np.isnan(s1), 0.0, s1) ** 2
    unknown = (model.cell.posterior_variance(n1) + model.cell_period.posterior_variance(n2)
               + model.cell_cut.posterior_variance(n3) + model_variance)
    spread = np.sqrt(trust * own + (1 - trust) * noise + unknown)
    # distance outside the data: ln-carat beyond the family's range, grade steps beyond the seen ones
    low_carat = np.array([model.carat_range.get(int(f), (math.nan, math.nan))[0] for f in range(len(SHAPE_FAMILIES))])
    high_carat = np.array([model.carat_range.get(int(f), (math.nan, math.nan))[1] for f in range(len(SHAPE_FAMILIES))])
    fam_low, fam_high = low_carat[stones.family], high_carat[stones.family]
    unseen_family = np.isnan(fam_low)
    lc = np.log(stones.carat)
    beyond = np.where(unseen_family, 0.0,
                      np.maximum(0, lc - np.log(np.where(unseen_family, 1, fam_high)))
                      + np.maximum(0, np.log(np.where(unseen_family, 1, fam_low)) - lc))
    lattice_colour = np.where(stones.colour == FANCY_COLOUR, model.colour_range[0], stones.colour)
    grade_steps = (np.maximum(0, lattice_colour - model.colour_range[1]) + np.maximum(0, model.colour_range[0] - lattice_colour)
                   + np.maximum(0, stones.clarity - model.clarity_range[1]) + np.maximum(0, model.clarity_range[0] - stones.clarity))
    early = stones.period < 0
    extrapolated = (beyond > 1e-9) | (grade_steps > 0) | unseen_family | early
    widen = 1 + 3 * beyond + 0.5 * grade_steps + np.where(unseen_family, 1.0, 0.0)
    half = band_width * spread * widen
    method = np.where(n2 >= min_trades, METHOD_CELL, np.where(n1 > 0, METHOD_BLEND, METHOD_MODEL))
    n = np.where(method == METHOD_CELL, n2, np.where(method == METHOD_BLEND, n1, 0))
    method = np.where(extrapolated, np.char.add(method.astype(str), "-extrapolated"), method)
    point = np.exp(log_point)
    return QuoteArrays(point, point * np.exp(-half), point * np.exp(half), n.astype(np.int64), method, extrapolated)
