"""Market intelligence returned to the manufacturers who contribute their polished outcome (give to get).

`cells` reduces the store to each contributor's figures per segment (assortment, rough model, size
class) and period in the engine; `reports` puts a sightholder's own figures beside the market's
quartiles and totals, with every market figure passed through disclosure control
(`domain.disclosure`); `document` lays a report out for `printable`.
"""

from __future__ import annotations

from ..lazy import lazy_names
from . import settings as _settings  # noqa: F401  (registers the "intelligence" settings)

_SOURCES = {"market_cells": "cells", "MarketCells": "cells", "sightholder_report": "reports",
            "producer_view": "reports", "IntelligenceReport": "reports", "ProducerView": "reports"}
"""Where each public name lives (roughtrace.lazy imports it on first use)."""

__all__ = ["IntelligenceReport", "MarketCells", "ProducerView", "market_cells", "producer_view", "sightholder_report"]

__getattr__ = lazy_names(__name__, globals(), _SOURCES)
