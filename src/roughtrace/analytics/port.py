"""The analytics port: a heavy computation takes tables and returns a table, on whichever engine
runs it.

A `Computation` is written once as a portable Ibis expression (`portable`, the dotted name of a
function `(tables, **params) -> ibis.Table`), which any engine Ibis compiles for runs (Spark, and
DuckDB in the tests); beside it stands the store engine's own plan (`native`), which the default
engine runs because it is the fastest way through one machine's store. Both return the same table,
which a test holds them to. Inputs are the store's tables (`inputs`: each with the columns read) or
Arrow tables the caller gives (`given`). Results come back as Arrow; the area writes them through
the store, so what it stores is the same whichever engine computed it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa

from ..store.port import Store

Native = Callable[..., pa.Table]
"""native(store, given, **params) -> Arrow table: the computation in the store's own engine."""


@dataclass(frozen=True)
class Computation:
    """One heavy computation of an area, with its portable form and the store engine's own plan."""

    name: str
    portable: str
    """`module:function` building the Ibis expression from `(tables, **params)`, imported only when
    an Ibis engine runs it (Ibis is an optional dependency)."""
    native: Native
    inputs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """The store's tables the computation reads, each with the columns it reads."""

    def expression(self, tables: Mapping[str, Any], **params: Any) -> Any:
        """The portable form over `tables` (Ibis tables by name)."""
        module, function = self.portable.split(":")
        build: Callable[..., Any] = getattr(importlib.import_module(module), function)
        return build(tables, **params)


class AnalyticsEngine(Protocol):
    """Runs computations; one per command or request, closed when it is done."""

    name: str

    def run(self, computation: Computation, store: Store, given: Mapping[str, pa.Table] | None = None,
            **params: Any) -> pa.Table:
        """The computation's result table over the store's tables and the tables `given`."""
        ...

    def prepare(self, computations: Iterable[Computation], store: Store) -> None:
        """Make ready, once, the store's input tables that the computations about to run read
        (never a derived table, which a caller may rewrite between two runs)."""
        ...

    def close(self) -> None:
        """Release what the engine holds (temporary files; a Spark session stays for the process)."""
        ...


class InStoreEngine:
    """The default engine: each computation's own plan in the store's engine (DuckDB, or the
    PostgreSQL server of a shared store) and numpy, in this process."""

    name = "duckdb"

    def run(self, computation: Computation, store: Store, given: Mapping[str, pa.Table] | None = None,
            **params: Any) -> pa.Table:
        return computation.native(store, dict(given or {}), **params)

    def prepare(self, computations: Iterable[Computation], store: Store) -> None:
        return None  # each plan reads the store's tables where they are

    def close(self) -> None:
        return None


def engine_for(settings: Any) -> AnalyticsEngine:
    """The engine the settings choose (`analytics_engine`; the default engine without settings)."""
    from .settings import ANALYTICS_ENGINE, SPARK_MASTER, SPARK_SNAPSHOT

    if settings is None or settings[ANALYTICS_ENGINE.name] == "duckdb":
        return InStoreEngine()
    from .spark import SparkEngine  # (pyspark and Ibis load only here)

    return SparkEngine(settings[SPARK_MASTER.name], settings[SPARK_SNAPSHOT.name] or None)
