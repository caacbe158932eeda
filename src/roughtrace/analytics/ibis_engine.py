"""Running a computation's portable form on an Ibis backend: the store's tables it reads are taken
through the store as Arrow (only the columns it names) and handed to the backend, the expression
runs there, and its result comes back as Arrow."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ibis
import pyarrow as pa

from ..store.port import Store
from .port import Computation


def store_columns(store: Store, table: str, columns: tuple[str, ...]) -> pa.Table:
    """The named columns of one of the store's tables, as Arrow."""
    return store.query(f"SELECT {', '.join(columns)} FROM {table}")


class IbisEngine:
    """A computation's portable form on one Ibis backend (an in-process DuckDB unless given)."""

    name = "ibis"

    def __init__(self, backend: Any = None) -> None:
        self.backend = backend if backend is not None else ibis.duckdb.connect()

    def tables(self, computation: Computation, store: Store, given: Mapping[str, pa.Table]) -> dict[str, Any]:
        """Every input of the computation as a table of the backend."""
        tables = {name: ibis.memtable(table) for name, table in given.items()}
        for name, columns in computation.inputs.items():
            if name not in tables:
                tables[name] = ibis.memtable(store_columns(store, name, columns))
        return tables

    def run(self, computation: Computation, store: Store, given: Mapping[str, pa.Table] | None = None,
            **params: Any) -> pa.Table:
        expression = computation.expression(self.tables(computation, store, dict(given or {})), **params)
        return self.backend.to_pyarrow(expression)

    def prepare(self, computations: Any, store: Store) -> None:
        return None  # each run reads its inputs afresh

    def close(self) -> None:
        self.backend.disconnect()
