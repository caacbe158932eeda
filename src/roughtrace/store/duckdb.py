"""The embedded default: a DuckDB file, no server."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from ..errors import StoreError
from ..settings import ENGINE_MEMORY_LIMIT
from . import migrations
from .transactions import NestedTransactions

_PLACEHOLDER = re.compile(r"\?")

ENGINE_CONFIG = {"autoinstall_known_extensions": False}
"""roughtrace never downloads an extension at run time; json, parquet and icu are built in."""


def engine_connection(path: str = ":memory:", memory_limit: str = ENGINE_MEMORY_LIMIT, threads: int = 2,
                      temp_directory: str | None = None, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection configured for roughtrace's work: bounded memory that spills to disk.
    The limits and the spill folder go in as configuration values, never spliced into SQL, so a
    path or setting holding a quote is only ever a value. Spill files a killed process left in
    `temp_directory` are removed first: a writing connection holds the file's lock, so no other
    process can be using them."""
    config: dict[str, Any] = {**ENGINE_CONFIG, "memory_limit": str(memory_limit), "threads": int(threads),
                              "preserve_insertion_order": True,
                              # DuckDB 2 compresses text with DICT_FSST, which beats the older stand-alone
                              # FSST; analysing every text column for both only slows the write
                              # (docs/performance.md)
                              "disabled_compression_methods": "fsst"}
    if temp_directory and not read_only:
        config["temp_directory"] = temp_directory
    con = duckdb.connect(path, read_only=read_only, config=config)
    if temp_directory and not read_only:
        remove_spill_files(Path(temp_directory))
    con.execute("SET enable_progress_bar = false")
    return con


def remove_spill_files(folder: Path) -> int:
    """Remove the engine's spill files (`*.tmp`) from `folder`; returns how many were removed.
    Called only by the process holding the store's lock."""
    removed = 0
    for spill in folder.glob("*.tmp") if folder.is_dir() else ():
        try:
            spill.unlink()
            removed += 1
        except OSError:
            pass
    return removed


_HOLDERS: dict[tuple[str, str], threading.RLock] = {}
_HOLDERS_GUARD = threading.Lock()
"""One lock per (file, name) for the process: DuckDB opens a file once per process and hands every
connection to it the same database."""


WRITING = "writing transaction"
"""The lock name a writing transaction on a file holds."""


@contextmanager
def _held(path: str, name: str) -> Iterator[None]:
    """Hold the process's lock `name` of the database file `path`."""
    with _HOLDERS_GUARD:
        lock = _HOLDERS.setdefault((path, name), threading.RLock())
    with lock:
        yield


class DuckDBStore(NestedTransactions):
    """A store in one DuckDB file. One writer at a time; readers in other processes open it
    read-only."""

    engine = "duckdb"
    import_engine_is_store = True
    writes_behind = False

    def __init__(self, path: str, memory_limit: str = ENGINE_MEMORY_LIMIT, threads: int = 2,
                 read_only: bool = False, busy_wait: float = 0.0) -> None:
        """Open the store; with `read_only`, without its write lock (a reader beside other
        readers), waiting up to `busy_wait` seconds while a writer (an import) holds the file."""
        self.path = path
        self.url = f"duckdb:///{path}"
        self.read_only = read_only
        parent = Path(path).parent
        if path != ":memory:" and not parent.exists():
            raise StoreError(f"the folder {parent} for the store {path} does not exist", code="store_folder_missing")
        if read_only and (path == ":memory:" or not Path(path).exists()):
            raise StoreError(f"there is no store at {path}: `roughtrace init` creates one", code="store_missing")
        deadline = time.monotonic() + max(busy_wait, 0.0)
        while True:
            try:
                self.con = engine_connection(path, memory_limit, threads, read_only=read_only,
                                             temp_directory=f"{path}.tmp" if path != ":memory:" else None)
                break
            except duckdb.IOException as exc:
                if "Could not set lock" not in str(exc) and "Conflicting lock" not in str(exc):
                    raise StoreError(f"cannot open the store {path}: {exc}", code="store_unavailable") from None
                if time.monotonic() >= deadline:
                    raise StoreError(f"another process (an import, most likely) is writing to the store {path}; "
                                     "try again when it finishes (setting store_busy_wait: how long a reader waits)",
                                     code="store_busy") from None
                time.sleep(0.2)
        self._prepared: dict[str, str] = {}
        self._own_locks: dict[str, threading.RLock] = {}

    # -- the port -------------------------------------------------------------------------
    def migrate(self) -> int:
        return migrations.apply_migrations(self)

    def schema_version(self) -> int:
        return migrations.applied_version(self)

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Wait until no other connection of this process holds `name` for this file, then hold it
        until the block ends. Other processes are kept out by the file's own lock; connections of
        one process share the database and would otherwise interleave."""
        if self.path == ":memory:":  # a database of this connection's own
            with self._own_locks.setdefault(name, threading.RLock()):
                yield
            return
        with _held(os.path.realpath(self.path), name):
            yield

    @contextmanager
    def _outermost_transaction(self) -> Iterator[None]:
        """One writing transaction at a time among this process's connections to the file: they
        share one database, whose transactions would otherwise meet only at commit, where the
        later one fails (two appends to the ledger, an import and a logged decision)."""
        with nullcontext() if self.path == ":memory:" else _held(os.path.realpath(self.path), WRITING):
            self.con.execute("BEGIN TRANSACTION")
            try:
                yield
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            self.con.execute("COMMIT")

    def lock_for_append(self, table: str) -> None:
        """Nothing more to hold: the open transaction holds the file's writing lock (see
        `_outermost_transaction`), and other processes are kept out by the file's own lock."""

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        self.con.execute(sql, list(params))

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> pa.Table:
        return self.con.sql(sql, params=list(params) or None).to_arrow_table()

    def pages(self, sql: str, params: tuple[Any, ...] = (), rows: int = 1_000_000) -> Iterator[pa.Table]:
        reader = self.con.sql(sql, params=list(params) or None).to_arrow_reader(rows)
        given = False
        for batch in reader:
            given = True
            yield pa.Table.from_batches([batch])
        if not given:
            yield reader.schema.empty_table()

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        if params and all(isinstance(p, str) and "\x00" not in p for p in params):
            result = self.con.execute(self._prepared_call(sql, params))
        else:
            result = self.con.execute(sql, list(params))
        names = [d[0] for d in result.description]
        return [dict(zip(names, row, strict=True)) for row in result.fetchall()]

    def query_many(self, statements: Sequence[tuple[str, tuple[Any, ...], bool]]) -> list[Any]:
        """Several queries in turn, each answered as `query` (as_arrow) or as `rows` answer it."""
        return [self.query(sql, params) if as_arrow else self.rows(sql, params) for sql, params, as_arrow in statements]

    def _prepared_call(self, sql: str, params: tuple[str, ...]) -> str:
        """`EXECUTE` of `sql`, prepared once on this connection, with its text parameters as
        literals: a point lookup then skips parsing and parameter binding (about half a
        millisecond of the two a lookup takes)."""
        name = self._prepared.get(sql)
        if name is None:
            name = f"rt_rows_{len(self._prepared)}"
            number = iter(range(1, sql.count("?") + 1))
            self.con.execute(f"PREPARE {name} AS " + _PLACEHOLDER.sub(lambda _: f"${next(number)}", sql))
            self._prepared[sql] = name
        return f"EXECUTE {name}(" + ", ".join("'" + p.replace("'", "''") + "'" for p in params) + ")"

    def append(self, table: str, rows: pa.Table | pa.RecordBatchReader) -> int:
        if isinstance(rows, pa.Table):
            # DuckDB keeps what a transaction scanned alive until it ends: a Table would stay in
            # memory (outside the engine's limit) until the import commits; a spent stream of its
            # batches holds nothing (a 10M-row import's row-tree tiles are hundreds of MB)
            rows = pa.RecordBatchReader.from_batches(rows.schema, rows.to_batches())
        self.con.register("__rt_append", rows)
        try:
            return int(self.con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM __rt_append").fetchall()[0][0])
        finally:
            self.con.unregister("__rt_append")

    def close(self) -> None:
        self.con.close()

    # -- the import engine ------------------------------------------------------------------
    def import_engine(self) -> duckdb.DuckDBPyConnection:
        """Import validation runs in the store's own connection: no copy of reference data."""
        return self.con

    def release_import_engine(self, engine: duckdb.DuckDBPyConnection) -> None:
        """Nothing to release: the engine is the store's connection."""

    def reference(self, engine: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str],
                  key_columns: tuple[str, ...], keys_relation: str) -> str:
        """The store's table itself is visible to the engine."""
        return table

    def write_from(self, engine: duckdb.DuckDBPyConnection, table: str, select_sql: str, rows: int | None = None) -> None:
        """Store the engine's rows (`rows` is for adapters that write differently in bulk)."""
        engine.execute(f"INSERT INTO {table} BY NAME {select_sql}")
