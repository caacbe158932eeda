"""Polished price records: transactions with noise around the grid, and asking prices above them."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..domain.grades import CLARITIES, COLOURS, CUTS, LABS, SHAPES
from ..domain.rough import PRICE_TYPES
from .assortments import CUT_MIX_ROUND
from .params import MarketParams
from .prices import NO_CUT, ROUND, PriceGrid, month_of
from .writers import carats_column, coded, date_column, fixed_ids, text_matrix, usd_column

SHAPE_MIX = {"round": 0.55, "oval": 0.08, "cushion": 0.07, "princess": 0.07, "pear": 0.06, "emerald": 0.05,
             "radiant": 0.04, "marquise": 0.03, "asscher": 0.02, "heart": 0.02, "other": 0.01}
"""Shapes of the stones traded (rounds dominate)."""
MAGIC_CT = np.array([300, 400, 500, 700, 900, 1000, 1500, 2000, 3000], dtype=np.int64)
MAGIC_MIX = np.array([0.14, 0.1, 0.16, 0.12, 0.1, 0.17, 0.09, 0.08, 0.04])
MAGIC_TRADE_SHARE = 0.5
"""Half the stones traded sit just above a magic weight (the market cuts to them)."""
LAB_MIX = (0.60, 0.25, 0.08, 0.05, 0.02)
SOURCES_TRANSACTION = ("bourse-antwerp", "bourse-mumbai", "bourse-ramat-gan", "trading-platform", "tender")
SOURCES_ASKING = ("asking-list", "online-listing")
CHUNK_ROWS = 1_000_000
COLUMNS = ("tx_id", "date", "shape", "color", "clarity", "cut", "lab", "carat", "price_usd", "price_type", "source")


def transaction_chunk(rng: np.random.Generator, params: MarketParams, grid: PriceGrid, month_starts: np.ndarray,
                      first_day: int, last_day: int, first_row: int, rows: int) -> pa.Table:
    """`rows` price records numbered from `first_row`: dates uniform over the market's span,
    prices = grid x exp(noise), asking rows x (1 + asking_premium)."""
    day = rng.integers(first_day, last_day + 1, rows)
    shape_p = np.array([SHAPE_MIX[s] for s in SHAPES])
    shape = rng.choice(len(SHAPES), size=rows, p=shape_p / shape_p.sum()).astype(np.int8)
    magic = MAGIC_CT[rng.choice(len(MAGIC_CT), size=rows, p=MAGIC_MIX / MAGIC_MIX.sum())]
    near_magic = magic + np.floor(rng.exponential(0.04, rows) * magic).astype(np.int64)
    spread = np.rint(np.exp(rng.normal(np.log(450), 0.8, rows))).astype(np.int64)
    carat = np.clip(np.where(rng.random(rows) < MAGIC_TRADE_SHARE, near_magic, spread), 10, 10_990)
    colour = np.clip(np.rint(rng.normal(5.0, 2.5, rows)), 0, 12).astype(np.int8)
    clarity = np.clip(np.rint(rng.normal(5.0, 1.6, rows)), 1, 10).astype(np.int8)
    cut = np.searchsorted(np.cumsum(CUT_MIX_ROUND), rng.random(rows) * 0.999999).astype(np.int8)
    cut = np.where(shape == ROUND, cut, NO_CUT)
    lab = np.searchsorted(np.cumsum(LAB_MIX), rng.random(rows) * 0.999999).astype(np.int8)
    asking = rng.random(rows) < params.asking_share
    noise = np.where(asking, params.transaction_noise_sd / 2, params.transaction_noise_sd)
    level = np.where(asking, 1 + params.asking_premium, 1.0)
    price = grid.value(carat, shape, colour, clarity, cut, month_of(day, month_starts)) * level * np.exp(
        noise * rng.standard_normal(rows))
    source = np.where(asking, len(SOURCES_TRANSACTION) + rng.integers(0, len(SOURCES_ASKING), rows),
                      rng.integers(0, len(SOURCES_TRANSACTION), rows))
    return pa.table({
        "tx_id": fixed_ids(first_row + np.arange(rows), 10, np.broadcast_to(text_matrix(["TX"]), (rows, 2))),
        "date": date_column(day),
        "shape": coded(shape, SHAPES),
        "color": coded(colour, COLOURS),
        "clarity": coded(clarity, CLARITIES),
        "cut": coded(np.minimum(cut, len(CUTS) - 1), CUTS, valid=cut != NO_CUT),
        "lab": coded(lab, LABS),
        "carat": carats_column(carat),
        "price_usd": usd_column(np.maximum(np.rint(price * 100), 1).astype(np.int64)),
        "price_type": coded(asking.astype(np.int8), PRICE_TYPES),
        "source": coded(source, SOURCES_TRANSACTION + SOURCES_ASKING),
    })
