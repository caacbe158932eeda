"""Boxes stone by stone: the rough stones of a chunk of boxes, what they can truly give when
polished, and what each buyer reports (its behaviour) as polished outcomes and rough dispositions.

Everything is drawn as numpy columns over the whole chunk; no loop runs over stones or rows. The
behaviours are a registry of small functions, one per way of reporting a box."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..domain.grades import CLARITIES, LABS
from ..domain.rough import DISPOSITIONS, MODELS
from .assortments import CLARITY_SD, COLOUR_SD, CUT_MIX_ROUND, FANCY, Catalogue, sample_grade, shape_cdf
from .params import MarketParams
from .parties import Cast
from .prices import NO_CUT, ROUND, PriceGrid, month_of
from .sights import FLIPPED, IN_PROCESS, INVENT_STYLES, POLISHED, SOLD_ROUGH, BoxPlan

MAGIC_MCT = np.array([300, 400, 500, 700, 900, 1000, 1500, 2000, 3000, 4000, 5000, 10000], dtype=np.int64)
MAGIC_REACH = 0.03
"""A cutter whose stone falls within 3% under a magic weight keeps it above, when the rough allows."""
MAGIC_SHARE = 0.5
LAB_SHARES_LARGE = (0.50, 0.30, 0.12, 0.08, 0.0)  # GIA, IGI, HRD, AGS, none: 0.30 ct and up
LAB_SHARES_MEDIUM = (0.15, 0.45, 0.0, 0.0, 0.40)  # 0.18 to 0.30 ct
LAB_NUMBER_BASE = (1_000_000_000, 5_000_000_000, 2_000_000_000, 104_000_000_000, 0)
"""First report number of each lab; a chunk uses a block of CHUNK_NUMBERS numbers so chunks can be
drawn independently yet never collide. `none` numbers are the manufacturer's own, after its prefix."""
LAB_NUMBER_DIGITS = (10, 10, 10, 12, 10)
LAB_PRECISION_FROM_MCT = 300
"""Labs report polished weights of 0.30 ct and more to two decimals (`weight_precision` reported)."""
CHUNK_NUMBERS = 10_000_000
NONE_LAB = LABS.index("none")
REJECTED, IN_PROCESS_D, SOLD_ROUGH_D = (DISPOSITIONS.index(d) for d in ("rejected", "in_process", "sold_rough"))
SUBTLE_TEMPLATE = 64
"""A subtle flipper reuses one pattern of 64 relative weights for every box it invents."""
_GOLDEN = (np.sqrt(5) - 1) / 2


@dataclass
class Stones:
    """Rough stones of a chunk: one entry per stone, in box order."""

    box: np.ndarray  # local box index
    number: np.ndarray  # stone number within its box
    rough_mct: np.ndarray
    potential_mct: np.ndarray  # polished weight at skill 1 (the truth)
    actual_mct: np.ndarray  # polished weight in the buyer's hands (its skill)
    shape: np.ndarray
    colour: np.ndarray
    clarity: np.ndarray
    cut: np.ndarray


@dataclass
class Rows:
    """Polished outcome rows under construction (columns of equal length)."""

    box: list[np.ndarray] = field(default_factory=list)
    stone_number: list[np.ndarray] = field(default_factory=list)  # -1: rough stone not tracked
    rough_mct: list[np.ndarray] = field(default_factory=list)  # -1: not tracked
    day: list[np.ndarray] = field(default_factory=list)
    shape: list[np.ndarray] = field(default_factory=list)
    carat_mct: list[np.ndarray] = field(default_factory=list)
    colour: list[np.ndarray] = field(default_factory=list)
    clarity: list[np.ndarray] = field(default_factory=list)
    cut: list[np.ndarray] = field(default_factory=list)

    def add(self, **columns: np.ndarray) -> None:
        for name, values in columns.items():
            getattr(self, name).append(np.asarray(values))

    def concatenated(self) -> dict[str, np.ndarray]:
        names = ("box", "stone_number", "rough_mct", "day", "shape", "carat_mct", "colour", "clarity", "cut")
        return {n: (np.concatenate(getattr(self, n)) if getattr(self, n) else np.empty(0, np.int64)) for n in names}


@dataclass
class Chunk:
    """Everything the behaviours need about one chunk of boxes."""

    rng: np.random.Generator
    params: MarketParams
    cast: Cast
    catalogue: Catalogue
    plan: BoxPlan
    boxes: slice
    stones: Stones
    box_carats_mct: np.ndarray
    offsets: np.ndarray  # first stone of each local box
    as_of_day: int

    def local(self, name: str) -> np.ndarray:
        return getattr(self.plan, name)[self.boxes]

    def stones_of(self, mask: np.ndarray) -> np.ndarray:
        """Indices of the stones of the local boxes where mask is True."""
        return np.flatnonzero(mask[self.stones.box])


def _bump_to_magic(rng: np.random.Generator, polished: np.ndarray, ceiling: np.ndarray) -> np.ndarray:
    """Keep stones just under a magic weight above it (cutters trade a little make for the weight),
    never above `ceiling`."""
    nxt = np.searchsorted(MAGIC_MCT, polished, side="right")
    magic = MAGIC_MCT[np.minimum(nxt, len(MAGIC_MCT) - 1)]
    target = magic + rng.integers(0, np.maximum(magic // 100, 1))
    near = (nxt < len(MAGIC_MCT)) & (magic - polished <= MAGIC_REACH * magic) & (rng.random(len(polished)) < MAGIC_SHARE)
    return np.where(near & (target <= ceiling), target, polished)


def draw_stones(rng: np.random.Generator, params: MarketParams, cast: Cast, catalogue: Catalogue, plan: BoxPlan,
                boxes: slice) -> tuple[Stones, np.ndarray, np.ndarray]:
    """The rough stones of boxes and their polished potential; returns (stones, box carats in mct, offsets)."""
    counts = plan.stones[boxes]
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    box = np.repeat(np.arange(len(counts)), counts)
    number = np.arange(len(box)) - offsets[box] + 1
    assortment = plan.assortment[boxes][box]
    low, high = catalogue.size_min_mct[assortment], catalogue.size_max_mct[assortment]
    rough = np.minimum(low + np.floor((high - low + 1) * rng.random(len(box)) ** 1.6).astype(np.int64), high)
    box_yield = catalogue.yield_mean[plan.assortment[boxes]] * np.exp(rng.normal(0, 0.04, len(counts)))
    stone_yield = box_yield[box] * np.exp(rng.normal(0, params.stone_yield_sd, len(box)))
    cap = params.max_honest_yield
    potential = np.maximum(np.floor(rough * np.clip(stone_yield, 0.12, cap)).astype(np.int64), 1)
    skill = cast.skill[plan.buyer[boxes]][box]
    ceiling = np.floor(rough * cap).astype(np.int64)
    actual = np.maximum(np.floor(rough * np.clip(stone_yield * skill, 0.12, cap)).astype(np.int64), 1)
    actual = _bump_to_magic(rng, actual, ceiling)
    colour = sample_grade(rng, catalogue.colour_mean[assortment], COLOUR_SD, FANCY)
    colour[rng.random(len(box)) < catalogue.fancy_share[assortment]] = FANCY
    clarity = sample_grade(rng, catalogue.clarity_mean[assortment], CLARITY_SD, len(CLARITIES))
    shape = (rng.random(len(box))[:, None] > shape_cdf()[catalogue.model[assortment]]).sum(axis=1).astype(np.int8)
    cut = _draw_cut(rng, shape)
    stones = Stones(box, number, rough, potential, actual, shape, colour, clarity, cut)
    return stones, np.add.reduceat(rough, offsets) if len(box) else np.zeros(0, np.int64), offsets


def _draw_cut(rng: np.random.Generator, shape: np.ndarray) -> np.ndarray:
    cut = np.searchsorted(np.cumsum(CUT_MIX_ROUND), rng.random(len(shape)) * 0.999999).astype(np.int8)
    return np.where(shape == ROUND, cut, NO_CUT).astype(np.int8)


def _window_days(chunk: Chunk, box: np.ndarray) -> np.ndarray:
    start, finish = chunk.local("start_day")[box], chunk.local("finish_day")[box]
    return start + np.floor(chunk.rng.random(len(box)) * (finish - start + 1)).astype(np.int64)


def _tracked(chunk: Chunk, box: np.ndarray) -> np.ndarray:
    return chunk.cast.tracks_rough[chunk.local("buyer")[box]]


# ---- behaviours: (chunk, boxes it applies to) -> rows added; dispositions returned -------------

Dispositions = list[tuple[np.ndarray, int, np.ndarray, np.ndarray, np.ndarray]]
"""(local box, disposition code, carats mct, day, counterparty trader or -1) groups."""


def report_polished(chunk: Chunk, mask: np.ndarray, rows: Rows, dispositions: Dispositions) -> np.ndarray:
    """An honest report: every polished stone as cut, the rest of the rough declared rejected.
    Returns the indices of the stones reported."""
    s = chunk.stones
    candidates = chunk.stones_of(mask)
    polished = chunk.rng.random(len(candidates)) < chunk.params.polish_share
    done = chunk.local("done_share")[s.box[candidates]]
    waiting = s.number[candidates] > np.ceil(done * chunk.local("stones")[s.box[candidates]])
    if waiting.any():  # a box partly polished by the as-of date: the rest's rough is in process
        rest = candidates[waiting]
        boxes, first = np.unique(s.box[rest], return_index=True)
        dispositions.append((boxes, IN_PROCESS_D, np.add.reduceat(s.rough_mct[rest], first),
                             np.full(len(boxes), chunk.as_of_day), np.full(len(boxes), -1)))
    chosen, dropped = candidates[polished & ~waiting], candidates[~polished & ~waiting]
    tracked = _tracked(chunk, s.box[chosen])
    rows.add(box=s.box[chosen], stone_number=np.where(tracked, s.number[chosen], -1),
             rough_mct=np.where(tracked, s.rough_mct[chosen], -1), day=_window_days(chunk, s.box[chosen]),
             shape=s.shape[chosen], carat_mct=s.actual_mct[chosen], colour=s.colour[chosen],
             clarity=s.clarity[chosen], cut=s.cut[chosen])
    if len(dropped):
        boxes, first = np.unique(s.box[dropped], return_index=True)
        carats = np.add.reduceat(s.rough_mct[dropped], first)
        dispositions.append((boxes, REJECTED, carats, chunk.local("finish_day")[boxes], np.full(len(boxes), -1)))
    return chosen


def report_in_process(chunk: Chunk, mask: np.ndarray, dispositions: Dispositions) -> None:
    """A box not finished when the market is observed: its whole rough declared in process."""
    boxes = np.flatnonzero(mask)
    dispositions.append((boxes, IN_PROCESS_D, chunk.box_carats_mct[boxes], np.full(len(boxes), chunk.as_of_day),
                         np.full(len(boxes), -1)))


def report_rough_resale(chunk: Chunk, mask: np.ndarray, dispositions: Dispositions) -> None:
    """A dealer's declared resale: the whole box sold rough to a trader."""
    boxes = np.flatnonzero(mask)
    day = np.minimum(chunk.local("sale_day")[boxes] + chunk.rng.integers(3, 31, len(boxes)), chunk.as_of_day)
    dispositions.append((boxes, SOLD_ROUGH_D, chunk.box_carats_mct[boxes], day, chunk.local("counterparty")[boxes]))


def report_launder(chunk: Chunk, mask: np.ndarray, rows: Rows, dispositions: Dispositions) -> None:
    """A launderer: the honest report plus other goods passed off as cut from the box."""
    chosen = report_polished(chunk, mask, rows, dispositions)
    if not len(chosen):
        return
    s, rng = chunk.stones, chunk.rng
    boxes, first, count = np.unique(s.box[chosen], return_index=True, return_counts=True)
    low, high = chunk.params.launder_extra
    extra = np.rint(count * rng.uniform(low, high, len(boxes))).astype(np.int64)
    box = np.repeat(boxes, extra)
    source = chosen[np.repeat(first, extra) + np.floor(rng.random(len(box)) * np.repeat(count, extra)).astype(np.int64)]
    carat = np.maximum(np.rint(s.actual_mct[source] * rng.uniform(0.8, 1.2, len(box))).astype(np.int64), 1)
    rows.add(box=box, stone_number=np.full(len(box), -1), rough_mct=np.full(len(box), -1),
             day=_window_days(chunk, box), shape=s.shape[source], carat_mct=carat,
             colour=s.colour[rng.permutation(source)], clarity=s.clarity[source], cut=s.cut[source])


def report_invented(chunk: Chunk, mask: np.ndarray, rows: Rows) -> None:
    """flipper_invent: an outcome for rough it no longer has, breaking physics in one of three ways."""
    s, rng = chunk.stones, chunk.rng
    style = chunk.local("invent_style")
    for code, name in enumerate(INVENT_STYLES):
        idx = chunk.stones_of(mask & (style == code))
        if not len(idx):
            continue
        box = s.box[idx]
        carat = s.actual_mct[idx].copy()
        tracked = _tracked(chunk, box)
        if name == "yield":
            carat = np.maximum(np.floor(s.rough_mct[idx] * rng.uniform(0.65, 0.85, len(idx))).astype(np.int64), 1)
        elif name == "size":
            size_max = chunk.catalogue.size_max_mct[chunk.local("assortment")[box]]
            oversize = rng.random(len(idx)) < 0.1
            oversize[np.unique(box, return_index=True)[1]] = True  # at least one per box
            carat = np.where(oversize, np.rint(size_max * rng.uniform(1.05, 1.6, len(idx))).astype(np.int64), carat)
            tracked = np.zeros(len(idx), dtype=bool)
        day = _window_days(chunk, box)
        rows.add(box=box, stone_number=np.where(tracked, s.number[idx], -1),
                 rough_mct=np.where(tracked, s.rough_mct[idx], -1), day=day, shape=s.shape[idx], carat_mct=carat,
                 colour=s.colour[idx], clarity=s.clarity[idx], cut=s.cut[idx])


def report_subtle(chunk: Chunk, mask: np.ndarray, rows: Rows) -> None:
    """flipper_subtle: an invented outcome that looks average: the model's typical yield, the
    assortment's average grade mix (quota, not chance), weights rounded to 0.01 ct and often 0.05 ct,
    and one pattern of relative weights reused for every box."""
    boxes = np.flatnonzero(mask)
    if not len(boxes):
        return
    params, catalogue = chunk.params, chunk.catalogue
    assortment = chunk.local("assortment")[boxes]
    count = np.maximum(np.rint(chunk.local("stones")[boxes] * params.polish_share).astype(np.int64), 1)
    box = np.repeat(boxes, count)
    position = np.arange(len(box)) - np.repeat(np.cumsum(count) - count, count)
    buyer = chunk.local("buyer")[box]
    template = np.exp(np.sin(buyer * 7.0 + (position % SUBTLE_TEMPLATE) * 2.3) * 0.5)
    first = np.cumsum(count) - count
    share = template / np.repeat(np.add.reduceat(template, first), count)
    typical = np.array([params.model_yields[MODELS[m]] for m in catalogue.model[assortment]])
    target = np.repeat(chunk.box_carats_mct[boxes] * typical, count) * share
    step = np.where((position % 2 == 0) & (target >= 250), 50, 10)
    carat = np.maximum(np.rint(target / step) * step, 10).astype(np.int64)
    quantile = ((position + 0.5) * _GOLDEN) % 1.0
    a = np.repeat(assortment, count)
    colour = (quantile[:, None] > np.cumsum(catalogue.colour_distribution()[a], axis=1)[:, :-1]).sum(1)
    quantile2 = ((position + 0.5) * _GOLDEN * 2) % 1.0
    clarity = (quantile2[:, None] > np.cumsum(catalogue.clarity_distribution()[a], axis=1)[:, :-1]).sum(1)
    shape = (((position + 0.5) * _GOLDEN * 3) % 1.0)[:, None] > shape_cdf()[catalogue.model[a]]
    shape = np.minimum(shape.sum(1), shape_cdf().shape[1] - 1)
    cut = np.where(shape == ROUND, 0, NO_CUT)
    rows.add(box=box, stone_number=np.full(len(box), -1), rough_mct=np.full(len(box), -1),
             day=_window_days(chunk, box), shape=shape, carat_mct=carat, colour=colour, clarity=clarity, cut=cut)


Behaviour = Callable[[Chunk, np.ndarray, Rows, Dispositions], None]


def _honest(chunk: Chunk, mask: np.ndarray, rows: Rows, dispositions: Dispositions) -> None:
    report_polished(chunk, mask, rows, dispositions)


def _flipped(report: Callable[[Chunk, np.ndarray, Rows], None]) -> Behaviour:
    def behave(chunk: Chunk, mask: np.ndarray, rows: Rows, dispositions: Dispositions) -> None:
        report(chunk, mask, rows)
    return behave


def _silent(chunk: Chunk, mask: np.ndarray, rows: Rows, dispositions: Dispositions) -> None:
    """flipper_silent: nothing at all for a flipped box."""


FLIPPED_REPORTS: dict[str, Behaviour] = {
    "flipper_silent": _silent,
    "flipper_copy": _silent,  # copied after report numbers are given (copy_sources)
    "flipper_invent": _flipped(report_invented),
    "flipper_subtle": _flipped(report_subtle),
}
"""How each flipper reports a box it resold without declaring it."""
POLISHED_REPORTS: dict[str, Behaviour] = {"launderer": report_launder}
"""How a behaviour reports a box it really polished (honest unless listed)."""


def copy_sources(chunk: Chunk, polished_rows: dict[str, np.ndarray], honest_boxes: np.ndarray,
                 copiers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices into the chunk's rows that flipper_copy boxes copy: each copier takes every row of one
    honest box of the same chunk (same report numbers: conflicting claims)."""
    if not len(copiers) or not len(honest_boxes):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    row_box = polished_rows["box"]
    order = np.argsort(row_box, kind="stable")
    starts = np.searchsorted(row_box[order], np.arange(len(chunk.box_carats_mct)))
    ends = np.searchsorted(row_box[order], np.arange(len(chunk.box_carats_mct)), side="right")
    source = honest_boxes[chunk.rng.integers(0, len(honest_boxes), len(copiers))]
    count = ends[source] - starts[source]
    position = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    return order[np.repeat(starts[source], count) + position], np.repeat(copiers, count)


@dataclass
class ChunkResult:
    rows: dict[str, np.ndarray]  # outcome rows incl. lab and report number
    dispositions: dict[str, np.ndarray]
    box_carats_mct: np.ndarray
    true_value_cents: np.ndarray
    true_yield: np.ndarray
    price_cents: np.ndarray


def generate_chunk(rng: np.random.Generator, index: int, params: MarketParams, cast: Cast, catalogue: Catalogue,
                   plan: BoxPlan, grid: PriceGrid, month_starts: np.ndarray, as_of_day: int,
                   boxes: slice) -> ChunkResult:
    """Draw the stones of a chunk of boxes, value them, and play every buyer's behaviour. The producer
    prices a box at its true value (its sorting knows the goods) with a little negotiation noise."""
    stones, box_carats, offsets = draw_stones(rng, params, cast, catalogue, plan, boxes)
    chunk = Chunk(rng, params, cast, catalogue, plan, boxes, stones, box_carats, offsets, as_of_day)
    month = month_of(plan.sale_day[boxes], month_starts)
    value = grid.value(stones.potential_mct, stones.shape, stones.colour, stones.clarity, stones.cut,
                       month[stones.box])
    true_value = np.add.reduceat(value, offsets) * float(params.costs_factor)
    true_yield = np.add.reduceat(stones.potential_mct, offsets) / box_carats
    price = true_value * np.exp(rng.normal(0, params.box_price_sd, len(box_carats)))

    fate = chunk.local("fate")
    behaviour = cast.behaviour[chunk.local("buyer")]
    reports = chunk.local("reports")
    rows, dispositions = Rows(), []
    honest_like = np.ones(len(fate), dtype=bool)
    for name, report in POLISHED_REPORTS.items():
        mine = (fate == POLISHED) & (behaviour == name)
        report(chunk, mine, rows, dispositions)
        honest_like &= ~mine
    _honest(chunk, (fate == POLISHED) & honest_like, rows, dispositions)
    for name, report in FLIPPED_REPORTS.items():
        report(chunk, (fate == FLIPPED) & (behaviour == name) & reports, rows, dispositions)
    claims_in_process = (fate == FLIPPED) & (behaviour != "flipper_silent") & ~reports
    report_in_process(chunk, (fate == IN_PROCESS) | claims_in_process, dispositions)
    report_rough_resale(chunk, fate == SOLD_ROUGH, dispositions)

    out = rows.concatenated()
    out["lab"], out["report_number"] = _report_numbers(rng, index, out["carat_mct"])
    out["numbered_by"] = chunk.local("buyer")[out["box"]]  # a manufacturer's own ids carry its prefix
    copiers = np.flatnonzero((fate == FLIPPED) & (behaviour == "flipper_copy") & reports)
    honest_boxes = np.flatnonzero((fate == POLISHED) & (behaviour == "honest"))
    honest_boxes = honest_boxes[np.isin(honest_boxes, out["box"])]
    if len(copiers) and len(honest_boxes):
        source, box = copy_sources(chunk, out, honest_boxes, copiers)
        copy = {name: values[source] for name, values in out.items()}
        copy["box"] = box
        copy["day"] = np.maximum(copy["day"], chunk.local("start_day")[box])
        out = {name: np.concatenate([out[name], copy[name]]) for name in out}
    _report_precision(params, cast, chunk.local("buyer"), out)
    return ChunkResult(out, _dispositions(dispositions), box_carats, np.rint(true_value * 100).astype(np.int64),
                       true_yield, np.maximum(np.rint(price * 100).astype(np.int64), 1))


def _report_precision(params: MarketParams, cast: Cast, buyer: np.ndarray, rows: dict[str, np.ndarray]) -> None:
    """Weights as reported (`weight_precision` reported): rough_carats of the senders that round to
    0.01 ct, and lab-graded polished stones of 0.30 ct and more, rounded to the nearest 0.01 ct (down
    where the nearest would pass the rough stone as reported). Adds the masks `rough_two` and
    `carat_two` (written to two decimals)."""
    n = len(rows["carat_mct"])
    rows["rough_two"], rows["carat_two"] = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    if params.weight_precision != "reported":
        return
    tracked = rows["rough_mct"] >= 0
    rough_two = tracked & cast.rounds_rough[buyer[rows["box"]]]
    rows["rough_mct"] = np.where(rough_two, (rows["rough_mct"] + 5) // 10 * 10, rows["rough_mct"])
    carat_two = (rows["lab"] != NONE_LAB) & (rows["carat_mct"] >= LAB_PRECISION_FROM_MCT)
    nearest = (rows["carat_mct"] + 5) // 10 * 10
    nearest = np.where(tracked & (nearest > rows["rough_mct"]), rows["carat_mct"] // 10 * 10, nearest)
    rows["carat_mct"] = np.where(carat_two, nearest, rows["carat_mct"])
    rows["rough_two"], rows["carat_two"] = rough_two, carat_two


def _report_numbers(rng: np.random.Generator, index: int, carat_mct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lab of each polished stone (by weight: small goods carry no lab report) and its number,
    unique per lab: a block of numbers per chunk, given in row order."""
    u = rng.random(len(carat_mct))
    large = np.searchsorted(np.cumsum(LAB_SHARES_LARGE), u * 0.999999)
    medium = np.searchsorted(np.cumsum(LAB_SHARES_MEDIUM), u * 0.999999)
    lab = np.where(carat_mct >= 300, large, np.where(carat_mct >= 180, medium, NONE_LAB)).astype(np.int8)
    number = np.empty(len(lab), dtype=np.int64)
    for code, base in enumerate(LAB_NUMBER_BASE):
        mine = lab == code
        count = int(mine.sum())
        if count > CHUNK_NUMBERS:
            raise ValueError("a chunk holds too many stones; lower chunk_boxes")
        if base + (index + 1) * CHUNK_NUMBERS > 10 ** LAB_NUMBER_DIGITS[code]:
            raise ValueError("too many chunks for the report numbers; raise chunk_boxes")
        number[mine] = base + index * CHUNK_NUMBERS + np.arange(count)
    return lab, number


def _dispositions(groups: Dispositions) -> dict[str, np.ndarray]:
    names = ("box", "disposition", "carats_mct", "day", "counterparty")
    if not groups:
        return {n: np.empty(0, np.int64) for n in names}
    box = np.concatenate([g[0] for g in groups])
    columns = {
        "box": box,
        "disposition": np.concatenate([np.full(len(g[0]), g[1]) for g in groups]),
        "carats_mct": np.concatenate([g[2] for g in groups]),
        "day": np.concatenate([g[3] for g in groups]),
        "counterparty": np.concatenate([g[4] for g in groups]),
    }
    order = np.lexsort((columns["disposition"], box))
    return {n: v[order] for n, v in columns.items()}

