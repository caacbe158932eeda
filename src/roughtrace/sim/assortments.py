"""The producers' assortment catalogue: size range, model, rough colour and quality, and what each
assortment gives when polished (a yield distribution and a polished grade distribution).

Weights are kept as integers in milli-carats (mct, 1 ct = 1000 mct) so that every amount the
simulator writes is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..domain.grades import CLARITIES, COLOURS, SHAPES
from ..domain.rough import MODELS, QUALITIES, ROUGH_COLOURS

SIZE_RANGES_MCT: tuple[tuple[int, int], ...] = (
    (40, 100), (100, 200), (200, 300), (300, 500), (500, 750), (750, 1000),
    (1000, 2000), (2000, 3000), (3000, 5000), (5000, 10800),
)
"""Box size ranges (smallest and largest stone, mct): sand, smalls (0.1 to 1 ct) and sizes (DOMAIN.md);
0.75-2.00 is the '3 to 8 grainer' box."""

SIZE_WEIGHTS = (0.12, 0.18, 0.15, 0.14, 0.11, 0.09, 0.10, 0.05, 0.04, 0.02)
"""Share of boxes by size range: most boxes hold smalls, few hold large sizes."""
MEAN_STONES_BY_SIZE = (400, 300, 240, 180, 140, 110, 80, 45, 28, 14)
"""Mean rough stones per box by size range (real small-goods boxes hold thousands; see docs)."""

MODEL_WEIGHTS = {"stones": 0.3, "shapes": 0.2, "cleavages": 0.15, "macles": 0.1, "flats": 0.08,
                 "rejections": 0.07, "mixed": 0.1}
COLOUR_WEIGHTS = {"white": 0.45, "off_white": 0.2, "light_brown": 0.12, "brown": 0.1, "yellow": 0.06,
                  "grey": 0.04, "mixed": 0.03}
QUALITY_WEIGHTS = {"high": 0.15, "medium": 0.3, "low": 0.35, "rejection": 0.1, "mixed": 0.1}

QUALITY_YIELD_FACTOR = {"high": 1.04, "medium": 1.0, "low": 0.95, "rejection": 0.85, "mixed": 0.97}
"""Better rough keeps more weight: the model's yield times this factor."""

COLOUR_MEAN = {"white": 2.5, "off_white": 5.0, "light_brown": 7.5, "brown": 10.0, "yellow": 8.0,
               "grey": 5.5, "mixed": 5.0}
"""Mean polished colour index (0 = D, 4 = H) by rough colour."""
FANCY_SHARE = {"yellow": 0.25, "brown": 0.08, "mixed": 0.03}
"""Share of polished stones graded `fancy` by rough colour."""
CLARITY_MEAN = {"high": 3.0, "medium": 5.0, "low": 7.0, "rejection": 8.5, "mixed": 5.5}
"""Mean polished clarity index (0 = FL, 6 = SI1) by rough quality."""
COLOUR_SD, CLARITY_SD = 1.3, 1.1

SHAPE_MIX: dict[str, dict[str, float]] = {
    "stones": {"round": 0.7, "oval": 0.1, "cushion": 0.08, "princess": 0.05, "pear": 0.04, "radiant": 0.03},
    "shapes": {"round": 0.35, "princess": 0.15, "cushion": 0.15, "oval": 0.12, "emerald": 0.08, "radiant": 0.08,
               "asscher": 0.07},
    "cleavages": {"pear": 0.3, "marquise": 0.2, "oval": 0.2, "heart": 0.1, "round": 0.15, "other": 0.05},
    "macles": {"heart": 0.25, "pear": 0.2, "other": 0.25, "princess": 0.15, "round": 0.15},
    "flats": {"emerald": 0.3, "asscher": 0.15, "princess": 0.2, "radiant": 0.15, "other": 0.2},
    "rejections": {"round": 0.4, "pear": 0.15, "oval": 0.15, "other": 0.3},
    "mixed": {"round": 0.5, "oval": 0.1, "pear": 0.1, "princess": 0.1, "cushion": 0.1, "marquise": 0.05,
              "emerald": 0.05},
}
"""Polished shape mix by rough model (the rough's form decides the shape a cutter can get)."""

CUT_MIX_ROUND = (0.55, 0.30, 0.12, 0.02, 0.01)
"""Cut grades EX, VG, G, F, P of rounds; fancy shapes carry no cut grade."""

_MODEL_CODE = {"stones": "ST", "shapes": "SH", "cleavages": "CL", "macles": "MA", "flats": "FL",
               "rejections": "RJ", "mixed": "MX"}
_COLOUR_CODE = {"white": "WH", "off_white": "OW", "light_brown": "LB", "brown": "BR", "yellow": "YL",
                "grey": "GR", "mixed": "MX"}
_QUALITY_CODE = {"high": "H", "medium": "M", "low": "L", "rejection": "R", "mixed": "X"}

N_COLOURS = len(COLOURS)  # D..Z then fancy
FANCY = COLOURS.index("fancy")


@dataclass(frozen=True)
class Catalogue:
    """Columns of the assortment catalogue, one entry per assortment code (sorted by code)."""

    code: np.ndarray  # str
    size_min_mct: np.ndarray
    size_max_mct: np.ndarray
    size_index: np.ndarray
    model: np.ndarray  # index into MODELS
    colour: np.ndarray  # index into ROUGH_COLOURS
    quality: np.ndarray  # index into QUALITIES
    weight: np.ndarray  # share of the producer's supply
    mean_stones: np.ndarray
    yield_mean: np.ndarray  # at skill 1, polished / rough carats
    colour_mean: np.ndarray
    fancy_share: np.ndarray
    clarity_mean: np.ndarray

    def __len__(self) -> int:
        return len(self.code)

    def colour_distribution(self) -> np.ndarray:
        """[assortment, colour] probability of each polished colour (D..Z, fancy)."""
        probabilities = _discretised_normal(self.colour_mean, COLOUR_SD, N_COLOURS - 1)
        probabilities *= (1 - self.fancy_share)[:, None]
        return np.concatenate([probabilities, self.fancy_share[:, None]], axis=1)

    def clarity_distribution(self) -> np.ndarray:
        """[assortment, clarity] probability of each polished clarity (FL..I3)."""
        return _discretised_normal(self.clarity_mean, CLARITY_SD, len(CLARITIES))


def _discretised_normal(mean: np.ndarray, sd: float, n: int) -> np.ndarray:
    """P(clip(round(mean + sd * Z), 0, n - 1) = k): the grade distribution sampled by `sample_grade`."""
    edges = np.arange(n + 1) - 0.5
    edges[0], edges[-1] = -np.inf, np.inf
    cdf = _normal_cdf((edges[None, :] - mean[:, None]) / sd)
    return np.diff(cdf, axis=1)


_normal_cdf = np.vectorize(lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2))), otypes=[float])


def sample_grade(rng: np.random.Generator, mean: np.ndarray, sd: float, n: int) -> np.ndarray:
    """A grade index per stone from a normal around `mean`, rounded and clipped to the scale."""
    return np.clip(np.rint(mean + sd * rng.standard_normal(len(mean))), 0, n - 1).astype(np.int8)


def shape_cdf() -> np.ndarray:
    """[model, shape] cumulative shape mix, for inverse-CDF sampling."""
    table = np.zeros((len(MODELS), len(SHAPES)))
    for m, model in enumerate(MODELS):
        for shape, share in SHAPE_MIX[model].items():
            table[m, SHAPES.index(shape)] = share
    table /= table.sum(axis=1, keepdims=True)
    return np.cumsum(table, axis=1)


def build_catalogue(rng: np.random.Generator, count: int, model_yields: dict[str, float]) -> Catalogue:
    """Draw `count` distinct assortments from every combination of size range, model, colour and
    quality, more often the common ones; a `rejections` model always has rejection or low quality."""
    sizes, models, colours, qualities = np.meshgrid(
        np.arange(len(SIZE_RANGES_MCT)), np.arange(len(MODELS)), np.arange(len(ROUGH_COLOURS)),
        np.arange(len(QUALITIES)), indexing="ij")
    sizes, models, colours, qualities = (a.ravel() for a in (sizes, models, colours, qualities))
    weight = (np.asarray(SIZE_WEIGHTS)[sizes] * np.array([MODEL_WEIGHTS[m] for m in MODELS])[models]
              * np.array([COLOUR_WEIGHTS[c] for c in ROUGH_COLOURS])[colours]
              * np.array([QUALITY_WEIGHTS[q] for q in QUALITIES])[qualities])
    rejection_models = models == MODELS.index("rejections")
    weight[rejection_models & ~np.isin(qualities, [QUALITIES.index("rejection"), QUALITIES.index("low")])] = 0
    count = min(count, int((weight > 0).sum()))
    chosen = rng.choice(len(weight), size=count, replace=False, p=weight / weight.sum())
    sizes, models, colours, qualities, weight = (a[chosen] for a in (sizes, models, colours, qualities, weight))
    ranges = np.asarray(SIZE_RANGES_MCT)
    codes = np.array([
        f"{_MODEL_CODE[MODELS[m]]}{ranges[s, 0]:05d}-{ranges[s, 1]:05d}{_COLOUR_CODE[ROUGH_COLOURS[c]]}"
        f"{_QUALITY_CODE[QUALITIES[q]]}"
        for s, m, c, q in zip(sizes, models, colours, qualities, strict=True)
    ])
    order = np.argsort(codes, kind="stable")
    sizes, models, colours, qualities, weight, codes = (
        a[order] for a in (sizes, models, colours, qualities, weight, codes))
    yields = np.array([model_yields[MODELS[m]] for m in models]) * np.array(
        [QUALITY_YIELD_FACTOR[QUALITIES[q]] for q in qualities])
    return Catalogue(
        code=codes,
        size_min_mct=ranges[sizes, 0].astype(np.int64),
        size_max_mct=ranges[sizes, 1].astype(np.int64),
        size_index=sizes,
        model=models.astype(np.int8),
        colour=colours.astype(np.int8),
        quality=qualities.astype(np.int8),
        weight=weight / weight.sum(),
        mean_stones=np.asarray(MEAN_STONES_BY_SIZE, dtype=float)[sizes],
        yield_mean=yields,
        colour_mean=np.array([COLOUR_MEAN[ROUGH_COLOURS[c]] for c in colours]),
        fancy_share=np.array([FANCY_SHARE.get(ROUGH_COLOURS[c], 0.0) for c in colours]),
        clarity_mean=np.array([CLARITY_MEAN[QUALITIES[q]] for q in qualities]),
    )
