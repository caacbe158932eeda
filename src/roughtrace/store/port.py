"""The storage port: the one narrow interface every engine adapter implements.

SQL handed to the port is written once for both engines: standard SQL with `?` placeholders.

Two protocols: `BulkImport`, the hooks the import pipeline uses to check a file in an import engine
(an in-process DuckDB connection) against the store and to write what it accepted, and `Store`,
everything else a library module needs, which includes them (both adapters implement the whole
`Store`). What differs between engines and matters to a caller is said by a capability
(`writes_behind`, `import_engine_is_store`) or a method (`lock_for_append`), not by comparing
`engine` names; `engine` names the SQL dialect, for the few queries written per dialect.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # the port is named by the schema's modules, which the composition root loads at start-up
    import duckdb
    import pyarrow as pa


class BulkImport(Protocol):
    """How an import checks a file against a store and writes its verdicts, without a Python loop
    over rows: the file's records are typed and checked in an import engine, the store's rows they
    refer to are made visible there (`reference`), and the accepted rows go into the store by the
    engine's bulk path (`write_from`)."""

    import_engine_is_store: bool
    """Whether the import engine is the store's own connection (DuckDB): the store's tables are
    visible to it as they are, and what it writes is part of the store's open transaction."""
    writes_behind: bool
    """Whether `write_from` inside a transaction may return while the store is still taking the rows
    (PostgreSQL's COPY on a second thread): work that needs only the engine can go on meanwhile; the
    next statement that reads the store waits for them."""

    def import_engine(self) -> duckdb.DuckDBPyConnection:
        """The engine one import checks its file in; hand it back with `release_import_engine`."""

    def release_import_engine(self, engine: duckdb.DuckDBPyConnection) -> None:
        """Let the engine go (and whatever it spilled to disk); nothing to do for the store's own."""

    def reference(self, engine: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str],
                  key_columns: tuple[str, ...], keys_relation: str) -> str:
        """The name of an engine relation holding the store's `table` rows whose `key_columns`
        match a row of the engine's `keys_relation` (at least those), typed as `columns` says."""

    def write_from(self, engine: duckdb.DuckDBPyConnection, table: str, select_sql: str, rows: int | None = None) -> None:
        """Store the rows of the engine query `select_sql` (named as `table`'s columns) in `table`,
        by the engine's bulk path; `rows`, when the caller knows it, is how many there are."""


class Store(BulkImport, Protocol):
    """A roughtrace store: DuckDB (embedded, the default) or PostgreSQL (shared)."""

    url: str
    engine: str
    """The SQL dialect: 'duckdb' or 'postgresql'."""

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

    def lock_for_append(self, table: str) -> None:
        """Keep every other writer of `table` waiting until the open transaction ends, so what one
        appends is read and extended by one writer at a time (nothing to do where the store has one
        writer)."""

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

    def pages(self, sql: str, params: tuple[Any, ...] = (), rows: int = 1_000_000) -> Iterator[pa.Table]:
        """Run one portable query and give its rows as Arrow a page of at most `rows` at a time, as
        the engine streams them, so a result of any size is held one page at a time; at least one
        page (empty when there are no rows), typed as `query` types it. Read every page before the
        next call to the store."""

    def query_many(self, statements: Sequence[tuple[str, tuple[Any, ...], bool]]) -> list[Any]:
        """Several portable queries, each (sql, params, as_arrow) answered as `query` (Arrow) or
        as `rows` (records) answer it; in one round trip where the engine has them."""

    def append(self, table: str, rows: pa.Table | pa.RecordBatchReader) -> int:
        """Bulk-append Arrow rows whose column names match `table`'s, by the engine's fast path
        (Arrow scan into DuckDB, COPY into PostgreSQL). Returns the number of rows written."""

    def close(self) -> None: ...
