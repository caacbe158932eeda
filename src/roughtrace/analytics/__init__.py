"""The analytics port: the heavy computations (price index cells, price book, check facts) written
once and run by an engine the settings choose: the store's own (DuckDB, the default) or Spark.

`port.py` holds the `Computation` and the engines' interface; `ibis_engine.py` runs a computation's
portable form on any Ibis backend; `spark.py` is the Spark adapter; `snapshot.py` writes the store's
tables as Parquet for a cluster to read. This package imports no area and, on the default engine,
neither Ibis nor pyspark (the `spark` extra); reading its settings loads nothing else of it.
"""

from __future__ import annotations

from ..lazy import lazy_names

_SOURCES = {"AnalyticsEngine": "port", "Computation": "port", "InStoreEngine": "port", "engine_for": "port"}
"""Where each public name lives (roughtrace.lazy imports it on first use)."""

__all__ = ["AnalyticsEngine", "Computation", "InStoreEngine", "engine_for"]

__getattr__ = lazy_names(__name__, globals(), _SOURCES)
