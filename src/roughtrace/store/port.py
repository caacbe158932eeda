"""The storage port: the one narrow interface every engine adapter implements.

SQL handed to the port is written once for both engines: standard SQL with `?` placeholders.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol

import pyarrow as pa


class Store(Protocol):
    """A roughtrace store: DuckDB (embedded, the default) or PostgreSQL (shared)."""

    url: str
    engine: str
    """'duckdb' or 'postgresql'."""

    def migrate(self) -> int:
        """Bring the schema to the newest version; returns that version."""

    def schema_version(self) -> int:
        """The applied schema version, 0 for an empty database."""

    def transaction(self) -> AbstractContextManager[None]:
        """All writes inside commit together or not at all (nesting joins the outer one)."""

    def exclusive(self, name: str) -> AbstractContextManager[None]:
        """Hold `name` (an input kind, for its import) against every other holder of it in this
        store until the block ends, or the open transaction does: racing imports of one kind then
        check and write one after the other."""

    def in_transaction(self) -> bool:
        """Whether a `transaction()` is open: what is written now is seen by this connection only."""

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        """Run one portable statement."""

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> pa.Table:
        """Run one portable query and return its rows as Arrow (DECIMAL stays decimal128)."""

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Run one portable query and return its rows as Python records, as the driver gives
        them (DECIMAL as Decimal, DATE as date): for point lookups, where a conversion to Arrow
        would cost more than the lookup. An adapter may prepare a statement it sees again."""

    def append(self, table: str, rows: pa.Table | pa.RecordBatchReader) -> int:
        """Bulk-append Arrow rows whose column names match `table`'s, by the engine's fast path
        (Arrow scan into DuckDB, COPY into PostgreSQL). Returns the number of rows written."""

    def close(self) -> None: ...



class ImportEngineStore(Store, Protocol):
    """A store an import writes to: the import engine (a DuckDB connection that checks the file's
    records) and the bulk paths between it and the store. Both adapters implement it."""

    def import_engine(self) -> Any:
        """The DuckDB connection an import checks its records in: the store's own on DuckDB, a
        private one in memory on PostgreSQL."""

    def release_import_engine(self, engine: Any) -> None:
        """Let go of an engine `import_engine` gave."""

    def reference(self, engine: Any, table: str, columns: dict[str, str], key_columns: tuple[str, ...],
                  keys_relation: str) -> str:
        """The name of an engine relation holding the rows of the store's `table` (its `columns`,
        typed as given) whose `key_columns` match a key in the engine's `keys_relation`, at least."""

    def write_from(self, engine: Any, table: str, select_sql: str, rows: int | None = None) -> None:
        """Write the rows the engine's `select_sql` gives to the store's `table` by the bulk path."""
