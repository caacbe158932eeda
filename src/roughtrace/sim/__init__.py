"""The market simulator: a deterministic (by seed) market of producers, sightholders, boxes of
rough, polished outcomes, price records and KP certificates, written in the interchange formats
with its ground truth beside it. See docs/simulator.md."""

from .market import Market, MarketFile, generate_market
from .params import BEHAVIOURS, FATES, PRESETS, SIZES, MarketParams, market_params

__all__ = ["BEHAVIOURS", "FATES", "PRESETS", "SIZES", "Market", "MarketFile", "MarketParams", "generate_market",
           "market_params"]
