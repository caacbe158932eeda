"""The Spark adapter: a computation's portable form run by Spark through Ibis.

The session is a local Spark (`spark_master` local[*] or local[N]), a cluster's master, or a Spark
Connect server (`sc://HOST:PORT`). The store's tables a computation reads reach Spark one of three
ways: from Parquet snapshots the cluster can read (`spark_snapshot`, written by
`roughtrace export parquet DIR`); for a local Spark, as Parquet files in a temporary directory of
this machine, written from the store's Arrow; for a cluster or a Spark Connect server, as Arrow sent
through the session. The result comes back as Arrow and the area writes it through the store, so the ledger,
the service and every other reader see the same tables whichever engine computed them.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..domain.kinds import KINDS
from ..errors import StoreError
from ..store.port import Store
from .port import Computation
from .snapshot import write_pages

SESSION_CONFIG: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
"""Every session's settings: dates and days read in UTC, as the store keeps them."""
DRIVER_CONFIG: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.log.level": "ERROR",
}
"""A session this process drives (not a Spark Connect server's): no web UI, no console progress
or log lines between roughtrace's own output."""
LOCAL_SHUFFLE_PARTITIONS = 8
"""A local Spark's partitions after a shuffle: a few per core rather than a cluster's 200, whose
tasks would each cost more to schedule than their rows on one machine."""


def _store_pages(store: Store, table: str, columns: Iterable[str]) -> Iterator[pa.Table]:
    """The named columns of one of the store's tables, as pages of Arrow."""
    return store.pages(f"SELECT {', '.join(columns)} FROM {table}")


def spark_session(master: str) -> Any:
    """A Spark session at `master` (a Spark Connect URL starts with sc://). A local session lives as
    long as the process: Spark keeps one per JVM, and starting one is the larger part of a small job."""
    from pyspark.sql import SparkSession

    connect = master.startswith("sc://")
    builder = SparkSession.builder.remote(master) if connect else SparkSession.builder.master(master)
    for name, value in (SESSION_CONFIG if connect else {**SESSION_CONFIG, **DRIVER_CONFIG}).items():
        builder = builder.config(name, value)
    if master.startswith("local"):
        builder = builder.config("spark.sql.shuffle.partitions", str(LOCAL_SHUFFLE_PARTITIONS))
    try:
        return builder.getOrCreate()
    except Exception as failed:  # (py4j and grpc raise their own types; a user's remedy is the same)
        first = str(failed).strip().splitlines()[0] if str(failed).strip() else type(failed).__name__
        raise StoreError(f"cannot start a Spark session at {master}: {first} (is Java installed, and the master "
                         "reachable?)") from None


class SparkEngine:
    """Runs each computation's portable form on Spark."""

    name = "spark"

    def __init__(self, master: str = "local[*]", snapshot: str | None = None, session: Any = None) -> None:
        import ibis

        self.master = master
        self.snapshot = Path(snapshot) if snapshot else None
        self.session = session if session is not None else spark_session(master)
        self.backend = ibis.pyspark.connect(self.session)
        self._staging: tempfile.TemporaryDirectory[str] | None = None
        self._views: list[str] = []
        self._staged: dict[str, tuple[frozenset[str], Any]] = {}

    @property
    def local(self) -> bool:
        """Whether Spark runs on this machine, so that it reads files this process writes."""
        return self.master.startswith("local")

    def _frame(self, name: str, table: pa.Table | Iterable[pa.Table]) -> Any:
        """A Spark DataFrame of an Arrow table, or of the pages of one: for a local Spark through a
        Parquet file of this machine, written a page at a time (so a store's table of any size is
        held one page at a time); for a cluster or a Spark Connect server through the session, as
        Arrow."""
        pages = [table] if isinstance(table, pa.Table) else table
        if not self.local:
            return self.session.createDataFrame(pa.concat_tables(list(pages)))
        if self._staging is None:
            self._staging = tempfile.TemporaryDirectory(prefix="roughtrace-spark-")
        path = Path(self._staging.name) / f"{name}-{uuid.uuid4().hex}.parquet"
        write_pages(path, pages)
        return self.session.read.parquet(str(path))

    def _view(self, name: str, frame: Any) -> Any:
        view = f"rt_{name}_{uuid.uuid4().hex[:12]}"
        frame.createOrReplaceTempView(view)
        self._views.append(view)
        return self.backend.table(view)

    def prepare(self, computations: Iterable[Computation], store: Store) -> None:
        """Stage once each input kind's table that the computations read, with every column any of
        them reads, so that a run of several (the check facts, six over the outcome rows) copies
        each table to Spark once rather than once per computation. Only input kinds: they change by
        imports alone, while a table an area derives may be rewritten between two of the runs (box
        valuation writes the quotes its totals then read), so it is copied when a run reads it."""
        wanted: dict[str, set[str]] = {}
        for computation in computations:
            for name, columns in computation.inputs.items():
                if name in KINDS:
                    wanted.setdefault(name, set()).update(columns)
        for name, columns in wanted.items():
            if not self._from_snapshot(name) and not self._covered(name, columns):
                self._staged[name] = (frozenset(columns), self._frame(name, _store_pages(store, name, tuple(sorted(columns)))))

    def _from_snapshot(self, name: str) -> bool:
        return self.snapshot is not None and name in KINDS

    def _covered(self, name: str, columns: Iterable[str]) -> bool:
        staged = self._staged.get(name)
        return staged is not None and staged[0].issuperset(columns)

    def tables(self, computation: Computation, store: Store, given: Mapping[str, pa.Table]) -> dict[str, Any]:
        """Every input of the computation as an Ibis table on Spark: an input kind from the snapshot
        when there is one, a table the areas derive (an index's cells, a valuation's quotes: one row
        per cell or key) through the store, as the snapshot holds only the input kinds; a table
        staged by `prepare` is read from its copy."""
        tables = {name: self._view(name, self._frame(name, table)) for name, table in given.items()}
        for name, columns in computation.inputs.items():
            if name in tables:
                continue
            if self._from_snapshot(name):
                frame = self.session.read.parquet(str(self.snapshot / f"{name}.parquet")).select(*columns)
            elif self._covered(name, columns):
                frame = self._staged[name][1].select(*columns)
            else:
                frame = self._frame(name, _store_pages(store, name, columns))
            tables[name] = self._view(name, frame)
        return tables

    def run(self, computation: Computation, store: Store, given: Mapping[str, pa.Table] | None = None,
            **params: Any) -> pa.Table:
        expression = computation.expression(self.tables(computation, store, dict(given or {})), **params)
        return self._collected(expression)

    def _collected(self, expression: Any) -> pa.Table:
        """An Ibis expression's result as Arrow, collected from Spark as Arrow batches (`toArrow`)
        and typed as the expression's schema. Ibis's own `to_pyarrow` goes through pandas, which
        holds every text value as a Python object and copies the result twice."""
        from ibis.formats.pyarrow import PyArrowData

        table = expression.as_table()
        self.backend._run_pre_execute_hooks(table)  # (registers any in-memory table the expression holds)
        frame = self.backend.raw_sql(self.backend.compile(table))
        return PyArrowData.convert_table(frame.toArrow(), table.schema())

    def close(self) -> None:
        for view in self._views:
            self.session.catalog.dropTempView(view)
        self._views.clear()
        self._staged.clear()
        if self._staging is not None:
            self._staging.cleanup()
            self._staging = None
