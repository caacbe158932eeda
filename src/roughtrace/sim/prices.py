"""The simulated polished price grid, its month-by-month drift, and the rough price book that
follows from it by price reverse engineering.

Price per carat (USD/ct, transaction level) = anchor(carat) x colour x clarity x cut x family x index(month).
The anchors jump at the magic weights and rise gently inside a bracket; every factor is monotone in
grade, so a better stone is never cheaper (DOMAIN.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..domain.grades import CLARITIES, COLOURS, CUTS, SHAPES
from .assortments import CLARITY_SD, COLOUR_SD, FANCY, Catalogue, sample_grade, shape_cdf

CARAT_ANCHORS: tuple[tuple[int, float], ...] = (
    (1, 300.0), (10, 400.0), (40, 520.0), (80, 640.0), (150, 760.0), (180, 860.0), (230, 960.0),
    (300, 1150.0), (400, 1300.0), (500, 1450.0), (600, 1600.0), (700, 2200.0), (900, 2900.0),
    (1000, 4350.0), (1500, 6300.0), (2000, 9000.0), (3000, 12500.0), (4000, 15000.0), (5000, 17500.0),
    (6000, 19000.0), (10000, 26000.0), (11000, 27000.0),
)
"""(lower bound in mct, USD/ct of a round H SI1 EX at transaction level). Brackets follow the price
lists; 1.00 ct is 3x the 0.50 ct price per carat (a 1 ct stone costs ~6x a 0.50 ct, DOMAIN.md) and
0.60-0.69 trades ~10% above 0.50-0.59. A 0.50 H SI1 asks ~25% more: ~$1,800/ct (DOMAIN.md: ~$1,700)."""
IN_BRACKET_RISE = 0.05
"""Price per carat rises this much from the bottom to the top of a bracket."""

COLOUR_FACTOR = np.array(
    [1.60, 1.45, 1.35, 1.18, 1.00, 0.85, 0.72, 0.60, 0.50, 0.42]  # D..M
    + [0.38 - 0.013 * i for i in range(13)]  # N..Z
    + [0.90],  # fancy: priced apart; a flat factor here
)
CLARITY_FACTOR = np.array([2.20, 2.00, 1.75, 1.60, 1.40, 1.25, 1.00, 0.82, 0.60, 0.42, 0.30])  # FL..I3
CUT_FACTOR = np.array([1.00, 0.95, 0.88, 0.80, 0.70, 0.92])  # EX, VG, G, F, P, no grade
NO_CUT = len(CUTS)
FANCY_SHAPE_FACTOR = 0.80
"""Fancy shapes (the pear grid) trade below rounds of the same weight and grades."""

_BOUNDS = np.array([b for b, _ in CARAT_ANCHORS], dtype=np.int64)
_LEVELS = np.array([p for _, p in CARAT_ANCHORS])
_NEXT = np.append(_BOUNDS[1:], 2 * _BOUNDS[-1])

assert len(COLOUR_FACTOR) == len(COLOURS) and len(CLARITY_FACTOR) == len(CLARITIES)
assert np.all(np.diff(COLOUR_FACTOR[:-1]) < 0) and np.all(np.diff(CLARITY_FACTOR) < 0)
ROUND = SHAPES.index("round")


@dataclass(frozen=True)
class PriceGrid:
    """The grid with its monthly index: `index[month]` multiplies every price, month 0 being
    January of the first simulated year."""

    index: np.ndarray

    def price_per_carat(self, carat_mct: np.ndarray, shape: np.ndarray, colour: np.ndarray, clarity: np.ndarray,
                        cut: np.ndarray, month: np.ndarray) -> np.ndarray:
        """USD per carat at transaction level of each stone (weights in mct; grades as scale indices;
        cut NO_CUT for no grade; month as an index into `index`)."""
        bracket = np.searchsorted(_BOUNDS, carat_mct, side="right") - 1
        bracket = np.maximum(bracket, 0)
        low, high = _BOUNDS[bracket], _NEXT[bracket]
        rise = 1 + IN_BRACKET_RISE * np.minimum((carat_mct - low) / (high - low), 1.0)
        family = np.where(shape == ROUND, 1.0, FANCY_SHAPE_FACTOR)
        return (_LEVELS[bracket] * rise * COLOUR_FACTOR[colour] * CLARITY_FACTOR[clarity] * CUT_FACTOR[cut]
                * family * self.index[month])

    def value(self, carat_mct: np.ndarray, shape: np.ndarray, colour: np.ndarray, clarity: np.ndarray,
              cut: np.ndarray, month: np.ndarray) -> np.ndarray:
        """USD value of each stone (price per carat x carats)."""
        return self.price_per_carat(carat_mct, shape, colour, clarity, cut, month) * (carat_mct / 1000.0)


def drift_index(rng: np.random.Generator, months: int, mean: float, sd: float) -> np.ndarray:
    """A monthly price index starting at 1: a log random walk (mean and spread per month)."""
    steps = rng.normal(mean, sd, size=months)
    steps[0] = 0.0
    return np.exp(np.cumsum(steps))


def month_of(day: np.ndarray, month_starts: np.ndarray) -> np.ndarray:
    """The month index (into PriceGrid.index) of each day number (days since 1970-01-01)."""
    return np.searchsorted(month_starts, day, side="right") - 1


def polished_value_per_rough_carat(rng: np.random.Generator, catalogue: Catalogue, grid: PriceGrid,
                                   samples: int = 400) -> np.ndarray:
    """Expected polished value (USD, transaction level, index 1) per rough carat of each assortment,
    at skill 1: `samples` rough stones per assortment drawn as the boxes draw them."""
    n = len(catalogue) * samples
    a = np.repeat(np.arange(len(catalogue)), samples)
    low, high = catalogue.size_min_mct[a], catalogue.size_max_mct[a]
    rough = np.minimum(low + np.floor((high - low + 1) * rng.random(n) ** 1.6).astype(np.int64), high)
    polished = np.maximum(np.floor(rough * np.clip(catalogue.yield_mean[a], 0.12, 0.6)).astype(np.int64), 1)
    colour = sample_grade(rng, catalogue.colour_mean[a], COLOUR_SD, FANCY)
    colour[rng.random(n) < catalogue.fancy_share[a]] = FANCY
    clarity = sample_grade(rng, catalogue.clarity_mean[a], CLARITY_SD, len(CLARITIES))
    shape = (rng.random(n)[:, None] > shape_cdf()[catalogue.model[a]]).sum(axis=1)
    cut = np.where(shape == ROUND, 1, NO_CUT)  # a VG cut on average
    value = grid.value(polished, shape, colour, clarity, cut, np.zeros(n, dtype=np.int64)) / grid.index[0]
    return np.add.reduceat(value, np.arange(0, n, samples)) / (np.add.reduceat(rough, np.arange(0, n, samples)) / 1000)


def rough_price_book(value_per_rough_carat: np.ndarray, grid: PriceGrid, costs_factor: float) -> np.ndarray:
    """The producer's rough price book, USD per rough carat by [assortment, month]: polished value
    per rough carat x the month's index x (1 - costs and margin): price reverse engineering."""
    return value_per_rough_carat[:, None] * grid.index[None, :] * costs_factor
