"""Sights and the box plan: who buys which assortment from which producer at each sight, how many
stones each box holds, what really becomes of it, and which KP certificate ships it.

The plan is box-level (a few hundred thousand boxes at most) and fits in memory; the stones are
drawn chunk by chunk later (`boxes.py`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..domain.kp import HS_GEM, HS_INDUSTRIAL, HS_UNSORTED
from ..domain.rough import MODELS, QUALITIES
from .assortments import Catalogue
from .params import FATES, FLIPPER_BEHAVIOURS, MarketParams
from .parties import MIXED_ORIGIN_SHARE, PRODUCERS, Cast

EPOCH = dt.date(1970, 1, 1)
HS_CODES: tuple[str, ...] = (HS_UNSORTED, HS_INDUSTRIAL, HS_GEM)
SIZE_KERNEL_SD = 1.5
"""How narrowly a sightholder keeps to its preferred size ranges (in size-range steps)."""
POLISHED, SOLD_ROUGH, FLIPPED, IN_PROCESS = (FATES.index(f) for f in FATES)
INVENT_STYLES: tuple[str, ...] = ("yield", "size", "soon")
"""How a flipper_invent box's invented outcome breaks physics: a yield above 60%, a polished stone
larger than the box's largest rough stone, or stones polished within 2 days of the sale."""


def day_number(date: dt.date) -> int:
    return (date - EPOCH).days


@dataclass(frozen=True)
class BoxPlan:
    """Box-level columns, in box order (sight, then sale day, then buyer)."""

    box_id: np.ndarray  # str
    sight: np.ndarray  # index into the sight list
    sale_day: np.ndarray  # days since 1970-01-01
    seller: np.ndarray  # index into PRODUCERS
    origin: np.ndarray  # str: alpha-2 or mixed
    buyer: np.ndarray  # sightholder index
    assortment: np.ndarray  # catalogue index
    stones: np.ndarray
    fate: np.ndarray  # index into FATES
    reports: np.ndarray  # bool: the buyer reports polished outcomes for it (even invented ones)
    start_day: np.ndarray  # first polished stone
    finish_day: np.ndarray  # last polished stone (after as_of: in process)
    invent_style: np.ndarray  # index into INVENT_STYLES (flipper_invent boxes)
    counterparty: np.ndarray  # trader index a rough resale goes to
    certificate: np.ndarray  # certificate number, -1 when the box does not leave the producer's country
    hs: np.ndarray  # index into HS_CODES
    done_share: np.ndarray  # share of a polished box's stones polished by the as-of date (1: all)

    def __len__(self) -> int:
        return len(self.box_id)


def hs_code_index(catalogue: Catalogue) -> np.ndarray:
    """The HS code each assortment ships under: rejections industrial, mixed-model mixed-quality
    goods unsorted, the rest gem quality."""
    industrial = (catalogue.model == MODELS.index("rejections")) | (catalogue.quality == QUALITIES.index("rejection"))
    unsorted = (catalogue.model == MODELS.index("mixed")) & (catalogue.quality == QUALITIES.index("mixed"))
    return np.where(industrial, 1, np.where(unsorted, 0, 2)).astype(np.int8)


def plan_boxes(rng: np.random.Generator, params: MarketParams, cast: Cast, catalogue: Catalogue,
               boxes_per_sight: int) -> BoxPlan:
    """Draw every box of every sight."""
    sight_days = np.array([day_number(d) for d in params.sight_dates()])
    labels = [f"{y:04d}-{m:02d}" for y, m in params.sight_months()]
    n = boxes_per_sight * len(sight_days)
    sight = np.repeat(np.arange(len(sight_days)), boxes_per_sight)
    buyer = rng.choice(params.sightholders, size=n, p=cast.supply_share)
    sale_day = sight_days[sight] + rng.integers(0, 5, n)
    order = np.lexsort((buyer, sale_day))
    sight, buyer, sale_day = sight[order], buyer[order], sale_day[order]

    assortment = np.empty(n, dtype=np.int64)
    for s in range(params.sightholders):
        mine = np.flatnonzero(buyer == s)
        if len(mine):
            kernel = np.exp(-0.5 * ((catalogue.size_index - cast.size_preference[s]) / SIZE_KERNEL_SD) ** 2)
            p = catalogue.weight * kernel
            assortment[mine] = rng.choice(len(catalogue), size=len(mine), p=p / p.sum())
    shares = np.array([p[3] for p in PRODUCERS[:params.producers]])
    seller = rng.choice(params.producers, size=n, p=shares / shares.sum())
    origin = np.array([p[2] for p in PRODUCERS])[seller].astype(object)
    origin[(seller == 0) & (rng.random(n) < MIXED_ORIGIN_SHARE)] = "mixed"
    mean = catalogue.mean_stones[assortment] * params.stones_scale
    stones = np.maximum(1, np.rint(rng.lognormal(np.log(np.maximum(mean, 1.0)), 0.5))).astype(np.int64)

    behaviour = cast.behaviour[buyer]
    draw = rng.random(n)
    fate = np.full(n, POLISHED, dtype=np.int8)
    fate[(behaviour == "dealer_declared") & (draw < params.dealer_resale_share)] = SOLD_ROUGH
    flipper = np.isin(behaviour, FLIPPER_BEHAVIOURS)
    single_sight = _flipping_sight(rng, params, cast, buyer, sight)
    if params.flipper_periods == "single":
        in_sight = single_sight[buyer] == sight
        first_box = np.zeros(n, dtype=bool)
        first_box[np.unique(np.where(flipper & in_sight, buyer, -1), return_index=True)[1]] = True
        fate[flipper & in_sight & ((draw < params.flip_share) | first_box)] = FLIPPED
    else:
        fate[flipper & (draw < params.flip_share)] = FLIPPED
    start_day = sale_day + rng.integers(10, 45, n)
    finish_day = start_day + rng.integers(10, 60, n)
    invent_style = rng.integers(0, len(INVENT_STYLES), n).astype(np.int8)
    soon = (fate == FLIPPED) & (behaviour == "flipper_invent") & (invent_style == INVENT_STYLES.index("soon"))
    start_day[soon] = sale_day[soon]
    finish_day[soon] = sale_day[soon] + 2
    as_of = day_number(params.as_of())
    unfinished = finish_day > as_of
    fate[(fate == POLISHED) & unfinished] = IN_PROCESS
    part_draw, done_draw = rng.random(n), rng.uniform(0.2, 0.9, n)
    partial = (fate == POLISHED) & (part_draw < params.in_process_share)
    done_share = np.where(partial, done_draw, 1.0)
    reports = (fate == POLISHED) | ((fate == FLIPPED) & (behaviour != "flipper_silent") & ~unfinished)
    counterparty = rng.integers(0, len(cast.trader_id), n)

    producer_country = np.array([p[2] for p in PRODUCERS])[seller]
    ships = producer_country != cast.sightholder_country[buyer]
    key = (sight.astype(np.int64) * len(PRODUCERS) + seller) * params.sightholders + buyer
    certificate = np.full(n, -1, dtype=np.int64)
    _, certificate[ships] = np.unique(key[ships], return_inverse=True)
    box_id = np.array([f"B{labels[s]}-{i:06d}" for i, s in enumerate(sight)])
    return BoxPlan(
        box_id=box_id, sight=sight, sale_day=sale_day, seller=seller, origin=origin.astype(str), buyer=buyer,
        assortment=assortment, stones=stones, fate=fate, reports=reports, start_day=start_day,
        finish_day=finish_day, invent_style=invent_style, counterparty=counterparty, certificate=certificate,
        hs=hs_code_index(catalogue)[assortment], done_share=done_share,
    )


def _flipping_sight(rng: np.random.Generator, params: MarketParams, cast: Cast, buyer: np.ndarray,
                    sight: np.ndarray) -> np.ndarray:
    """For `flipper_periods` single: the one sight each sightholder would flip at, one of the sights
    it bought at (-1 when it bought nothing). Drawn whatever the setting, so that the setting changes
    nothing else."""
    pick = rng.random(params.sightholders)
    chosen = np.full(params.sightholders, -1, dtype=np.int64)
    order = np.lexsort((sight, buyer))
    holders, first, count = np.unique(buyer[order], return_index=True, return_counts=True)
    chosen[holders] = sight[order][first + np.minimum((pick[holders] * count).astype(np.int64), count - 1)]
    return chosen


def expected_rows(plan: BoxPlan, cast: Cast, params: MarketParams) -> float:
    """The number of polished_outcomes rows a plan will give, in expectation."""
    behaviour = cast.behaviour[plan.buyer]
    rows = plan.stones * plan.reports * params.polish_share * plan.done_share
    launder = (behaviour == "launderer") & plan.reports
    rows = rows * np.where(launder, 1 + sum(params.launder_extra) / 2, 1.0)
    invent = (behaviour == "flipper_invent") & (plan.fate == FLIPPED)
    rows = np.where(invent & plan.reports, plan.stones, rows)
    return float(rows.sum())


def calibrated_plan(rng_factory: Callable[[], np.random.Generator], params: MarketParams, cast: Cast, catalogue: Catalogue) -> BoxPlan:
    """The plan whose boxes per sight give about `params.polished_rows` outcome rows (one pilot
    plan, then a rescaled one); `params.boxes_per_sight` as is when no target is set."""
    boxes = params.boxes_per_sight
    if params.polished_rows is not None:
        pilot = plan_boxes(rng_factory(), params, cast, catalogue, boxes)
        boxes = max(1, round(boxes * params.polished_rows / max(expected_rows(pilot, cast, params), 1.0)))
    return plan_boxes(rng_factory(), params, cast, catalogue, boxes)
