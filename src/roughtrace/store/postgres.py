"""The shared, multi-user store: PostgreSQL, reached with psycopg 3.

Bulk data moves by COPY in both directions, streamed through Arrow: no Python loop over rows.
Into the store it goes in PostgreSQL's binary form (`pg_binary`), which the server takes with less
work than CSV, or as CSV when a column has no binary encoding here; out of it as CSV.
Import validation runs in a private in-memory DuckDB engine; the rows it needs from the store
(the boxes a file names, say) are fetched by key into that engine. Inside a transaction the
accepted rows are written behind: the engine's rows are encoded and spooled to a private file as
fast as the engine makes them, a second thread streams them into COPY, and the import goes on
with work that needs only the engine (hashing the rows for the ledger) while the server takes
them; the next statement that reads the store, and the end of the transaction, wait for it.
"""

from __future__ import annotations

import io
import os
import queue
import re
import tempfile
import threading
import uuid
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ..errors import StoreError
from ..settings import ENGINE_MEMORY_LIMIT
from . import migrations, pg_binary
from .duckdb import engine_connection
from .transactions import NestedTransactions

_PLACEHOLDER = re.compile(r"\?")
COPY_CHUNK_ROWS = 100_000
PULL_KEYS_FACTOR = 1
"""A referenced table with at most this many rows per key of the file is read whole into the
engine, which keeps the rows the file names; a bigger one is sent the file's keys to join."""
BULK_ROWS = 100_000
"""An import writing at least this many rows into a table holding no more rows than it brings
(a first load, say) drops the table's plain indexes and builds them again after its COPY, in
its transaction: building an index over the rows sorted costs the server about half of keeping
it up to date row by row (docs/performance.md).
The table is then locked against readers until the import commits; smaller imports keep the
indexes live and never block a reader."""
EXCLUSIVE_LOCKS = 74022
"""The advisory-lock class of `exclusive` (74021 is the migrator's lock)."""
INDEX_BUILD_MEMORY = "256MB"
"""The server memory an index rebuilt after a bulk write may sort in (for that transaction only)."""


ARROW_OF_TYPE: dict[int, pa.DataType] = {
    16: pa.bool_(), 17: pa.binary(), 20: pa.int64(), 21: pa.int16(), 23: pa.int32(), 25: pa.string(),
    114: pa.string(), 700: pa.float32(), 701: pa.float64(), 1042: pa.string(), 1043: pa.string(),
    1082: pa.date32(), 1083: pa.time64("us"), 1114: pa.timestamp("us"), 1184: pa.timestamp("us", tz="UTC"),
    2950: pa.string(), 3802: pa.string()}
"""The Arrow type of each PostgreSQL type (by its oid) a query's column may have; NUMERIC is a
decimal of its declared precision and scale."""

UNBOUNDED_NUMERIC = pa.decimal128(38, 10)
"""The Arrow type of a NUMERIC column declared without precision (a SUM, say)."""


def _declared(array: pa.Array, column: Any) -> pa.Array:
    """`array` of the column's declared type when its values gave it none (null type)."""
    if not pa.types.is_null(array.type):
        return array
    if column.type_code == 1700:
        wanted = pa.decimal128(column.precision, column.scale or 0) if column.precision else UNBOUNDED_NUMERIC
    else:
        wanted = ARROW_OF_TYPE.get(column.type_code)
    return array if wanted is None else pa.nulls(len(array), wanted)


def _arrow(cur: psycopg.Cursor[Any], rows: list[tuple[Any, ...]] | None = None) -> pa.Table:
    """A cursor's rows (or the rows given, fetched from it) as Arrow columns."""
    described = list(cur.description or [])
    names = [d.name for d in described]
    rows = cur.fetchall() if rows is None else rows
    columns: list[tuple[Any, ...]] = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    arrays = [pa.array(list(values)) for values in columns]
    # a column with no value to infer a type from (an empty result, or nulls only) takes its declared type
    arrays = [_declared(array, column) for array, column in zip(arrays, described, strict=True)]
    return pa.table(dict(zip(names, arrays, strict=True)))


def _widest(table: pa.Table) -> pa.Table:
    """Decimal columns at the widest precision, keeping their scale: the precision Arrow infers from
    one page's values may differ from the next page's, while the pages of one result share one schema."""
    schema = pa.schema([field.with_type(pa.decimal128(38, field.type.scale)) if pa.types.is_decimal(field.type)
                        else field for field in table.schema])
    return table.cast(schema)


def _records(cur: psycopg.Cursor[Any]) -> list[dict[str, Any]]:
    """A cursor's rows as records, as the driver gives them."""
    names = [d.name for d in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _pg_sql(sql: str) -> str:
    """Portable `?` placeholders to psycopg's `%s` (and literal % doubled)."""
    return _PLACEHOLDER.sub("%s", sql.replace("%", "%%"))


class PostgresStore(NestedTransactions):
    engine = "postgresql"
    import_engine_is_store = False
    writes_behind = True

    def __init__(self, url: str, memory_limit: str = ENGINE_MEMORY_LIMIT, threads: int = 2, read_only: bool = False) -> None:
        """Connect; with `read_only`, every transaction of the session is read-only, so a command
        that only reads never writes, whatever role it runs as."""
        self.url = url
        self.read_only = read_only
        self._memory_limit = memory_limit
        self._threads = threads
        try:
            self.con = psycopg.connect(url, autocommit=True)
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreError(f"cannot reach the PostgreSQL store: {reason}", code="store_unavailable") from None
        if read_only:
            self.con.execute("SET default_transaction_read_only = on")
        self._behind: _WriteBehind | None = None
        self._failure: BaseException | None = None
        self._ahead: list[tuple[str, tuple[Any, ...]]] = []
        """Statements sent ahead of the connection's next one, in its round trip (`send_ahead`)."""

    def migrate(self) -> int:
        self._settle()
        with self.transaction():
            self.execute("SELECT pg_advisory_xact_lock(74021)")  # one migrator at a time
            return migrations.apply_migrations(self)

    def schema_version(self) -> int:
        return migrations.applied_version(self)

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Wait until no other connection holds `name` for this store (its schema), then hold it
        until the block ends, or until the transaction ends when one is open: a lock of the
        server's, released with the connection if the process dies."""
        self._settle()
        key = ("SELECT pg_advisory{}lock(%s, hashtext(current_schema() || '.' || %s))", (EXCLUSIVE_LOCKS, name))
        if self.in_transaction():
            with self.con.cursor() as cur:
                cur.execute(key[0].format("_xact_"), key[1])
            yield
            return
        with self.con.cursor() as cur:
            cur.execute(key[0].format("_"), key[1])
        try:
            yield
        finally:
            try:
                with self.con.cursor() as cur:
                    cur.execute(key[0].format("_un"), key[1])
            except psycopg.Error:  # a broken connection has let the lock go with it
                pass

    @contextmanager
    def _outermost_transaction(self) -> Iterator[None]:
        self._settle()
        try:
            with self.con.transaction():
                try:
                    yield
                except BaseException:
                    self._abandon()
                    raise
                self._settle()  # a write still going on finishes (or fails) before the commit
        finally:
            self._failure = None

    def lock_for_append(self, table: str) -> None:
        """A table lock readers pass and every other writer of `table` waits on, until the
        transaction ends."""
        self.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        if self._behind is not None and not self._ahead:  # after the write, in order; its error at the next wait
            self._behind.then(_pg_sql(sql) if params else sql, params or None)
            return
        with self._sent(((sql, params),)) as (cur,):
            pass

    def send_ahead(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        """Send `sql` with the connection's next statement, in the same round trip and before it
        (pipelined): that statement runs only if this one succeeds, and fails with its error."""
        self._ahead.append((sql, params))

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> pa.Table:
        with self._sent(((sql, params),)) as (cur,):
            return _arrow(cur)

    def pages(self, sql: str, params: tuple[Any, ...] = (), rows: int = 1_000_000) -> Iterator[pa.Table]:
        """A server-side cursor's rows, a page at a time (within a transaction, as PostgreSQL keeps
        such a cursor only in one)."""
        self._settle()
        with self.con.transaction(), self.con.cursor(name=f"rt_pages_{uuid.uuid4().hex[:12]}") as cur:
            cur.execute(_pg_sql(sql) if params else sql, params or None)
            page = cur.fetchmany(rows)
            yield _widest(_arrow(cur, page))
            while len(page) == rows:
                page = cur.fetchmany(rows)
                if page:
                    yield _widest(_arrow(cur, page))

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self._sent(((sql, params),)) as (cur,):
            return _records(cur)

    def query_many(self, statements: Sequence[tuple[str, tuple[Any, ...], bool]]) -> list[Any]:
        """Several queries in one round trip (pipelined): each (sql, params, as_arrow) answered as
        `query` (Arrow) or as `rows` (records) answer it."""
        with self._sent([(sql, params) for sql, params, _ in statements]) as cursors:
            return [_arrow(cur) if as_arrow else _records(cur)
                    for cur, (_, _, as_arrow) in zip(cursors, statements, strict=True)]

    @contextmanager
    def _sent(self, statements: Sequence[tuple[str, tuple[Any, ...]]]) -> Iterator[list[psycopg.Cursor[Any]]]:
        """Cursors of `statements` run after the statements sent ahead, in one round trip."""
        ahead, self._ahead = self._ahead, []
        self._settle()
        cursors = [self.con.cursor() for _ in statements]
        try:
            if not ahead and len(statements) == 1:
                sql, params = statements[0]
                cursors[0].execute(_pg_sql(sql) if params else sql, params or None)
            else:
                try:
                    with self.con.pipeline():
                        for sql, params in ahead:
                            self.con.execute(_pg_sql(sql) if params else sql, params or None)
                        for cur, (sql, params) in zip(cursors, statements, strict=True):
                            cur.execute(_pg_sql(sql) if params else sql, params or None)
                except BaseException:
                    # one implicit transaction: a failed statement undid what was sent ahead of it
                    # (session settings too), so that goes again ahead of the next statement
                    self._ahead[:0] = ahead
                    raise
            yield cursors
        finally:
            for cur in cursors:
                cur.close()

    def append(self, table: str, rows: pa.Table | pa.RecordBatchReader) -> int:
        self._settle()
        batches = rows.to_batches(COPY_CHUNK_ROWS) if isinstance(rows, pa.Table) else rows
        return self._copy_in(table, rows.schema, batches)

    def close(self) -> None:
        self._abandon()
        self.con.close()

    # -- writing behind -------------------------------------------------------------------------
    def _settle(self) -> None:
        """Send what waits to be sent ahead (alone, when no statement of this adapter's takes it
        along) and wait for a write going on behind; raise its error (again at every call until
        the transaction ends, which then rolls back)."""
        if self._ahead:
            ahead, self._ahead = self._ahead, []
            try:
                with self.con.pipeline():
                    for sql, params in ahead:
                        self.con.execute(_pg_sql(sql) if params else sql, params or None)
            except BaseException:
                self._ahead[:0] = ahead
                raise
        if self._behind is not None:
            behind, self._behind = self._behind, None
            error = behind.finish()
            if error is not None and self._failure is None:
                self._failure = error
        if self._failure is not None:
            raise self._failure

    def _abandon(self) -> None:
        """Stop a write going on behind (the transaction is failing anyway) and wait for it."""
        if self._behind is not None:
            behind, self._behind = self._behind, None
            behind.finish(abort=True)

    # -- bulk paths -----------------------------------------------------------------------------
    def _column_types(self, table: str) -> dict[str, str]:
        """The type of each column of `table` (as the search path finds it), without modifiers."""
        return {r["attname"]: r["type"] for r in self.rows(
            "SELECT attname, format_type(atttypid, NULL) AS type FROM pg_attribute "
            "WHERE attrelid = CAST(? AS regclass) AND attnum > 0 AND NOT attisdropped", (table,))}

    def _copy_plan(self, table: str, schema: pa.Schema) -> tuple[str, Any, bytes, bytes]:
        """The COPY statement for Arrow rows of `schema` into `table`, the function making a block
        of a batch, and what the stream starts and ends with: PostgreSQL's binary form when every
        column has an encoding for its target type, else CSV."""
        types = self._column_types(table)
        target = [types.get(f.name, "") for f in schema]
        names = ", ".join(schema.names)
        if all(pg_binary.encodable(f.type, t) for f, t in zip(schema, target, strict=True)):
            return (f"COPY {table} ({names}) FROM STDIN (FORMAT binary)", lambda batch: pg_binary.encode(batch, target),
                    pg_binary.SIGNATURE, pg_binary.TRAILER)
        return f"COPY {table} ({names}) FROM STDIN (FORMAT csv)", _csv, b"", b""

    def _copy_in(self, table: str, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> int:
        """COPY Arrow batches into `table`, now. The blocks are made (batches read and encoded)
        on a second thread while this one sends the previous block."""
        statement, block_of, first, last = self._copy_plan(table, schema)
        written = 0

        def blocks() -> Iterator[Any]:
            nonlocal written
            for batch in batches:
                if batch.num_rows:
                    yield block_of(batch)
                    written += batch.num_rows

        with self.con.cursor() as cur, cur.copy(statement) as copy:
            copy.write(first)
            for block in _made_ahead(blocks()):
                copy.write(block)
            copy.write(last)
        return written

    def copy_out(self, select_sql: str, schema: pa.Schema | None = None) -> pa.Table:
        """Run a query by COPY TO STDOUT and read its CSV into Arrow (all text unless typed)."""
        self._settle()
        with tempfile.TemporaryFile() as buffer:
            with self.con.cursor() as cur, cur.copy(f"COPY ({select_sql}) TO STDOUT (FORMAT csv, HEADER true)") as copy:
                for block in copy:
                    buffer.write(block)
            buffer.seek(0)
            header = buffer.readline().decode().rstrip("\r\n").split(",")
            buffer.seek(0)
            types = {name: pa.string() for name in header}
            if schema is not None:
                types.update({f.name: f.type for f in schema})
            return pacsv.read_csv(buffer, convert_options=pacsv.ConvertOptions(
                column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=False))

    # -- the import engine ------------------------------------------------------------------
    def import_engine(self) -> duckdb.DuckDBPyConnection:
        """A private DuckDB engine in memory (spilling to a temporary folder) for validation."""
        self._engine_tmp = tempfile.TemporaryDirectory(prefix="roughtrace-import-")
        return engine_connection(":memory:", self._memory_limit, self._threads, temp_directory=self._engine_tmp.name)

    def release_import_engine(self, engine: duckdb.DuckDBPyConnection) -> None:
        engine.close()
        self._engine_tmp.cleanup()

    def reference(self, engine: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str],
                  key_columns: tuple[str, ...], keys_relation: str) -> str:
        """Fetch the rows of `table` whose key matches a key in the engine's `keys_relation`
        into the engine, typed as `columns` says (the key columns among them); returns the
        engine relation's name."""
        # One temp table (and one engine relation) per table, key and columns: one import may
        # fetch the same table twice by different keys, and the SQL naming the first is run later.
        self._settle()
        tag = f"{zlib.crc32(repr((key_columns, tuple(columns.items()))).encode()):08x}"
        name = f"ref_{table}_{tag}"
        casts = ", ".join(f"CAST({c} AS {sql_type}) AS {c}" for c, sql_type in columns.items())
        empty = f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {casts} FROM (SELECT {', '.join(f'NULL AS {c}' for c in columns)}) WHERE false"
        if not self.query(f"SELECT EXISTS (SELECT 1 FROM {table}) AS any").column("any")[0].as_py():
            engine.execute(empty)
            return name
        keys = engine.sql(
            f"SELECT DISTINCT {', '.join(key_columns)} FROM {keys_relation} "
            f"WHERE {' AND '.join(f'{k} IS NOT NULL' for k in key_columns)}"
        ).to_arrow_table()
        if not keys.num_rows:
            engine.execute(empty)
            return name
        wanted = list(columns)
        if self._at_most(table, PULL_KEYS_FACTOR * keys.num_rows):
            # A table no bigger than the file's keys comes whole; the engine keeps the rows named.
            fetched = self.copy_out(f"SELECT {', '.join(wanted)} FROM {table}")
            named = f"SEMI JOIN __rt_keys k ON {' AND '.join(f'f.{c} = k.{c}' for c in key_columns)}"
        else:
            temp = f"rt_keys_{table}_{zlib.crc32(repr(key_columns).encode()):08x}"
            self.execute(f"CREATE TEMP TABLE IF NOT EXISTS {temp} AS SELECT {', '.join(key_columns)} FROM {table} WHERE false")
            self.execute(f"TRUNCATE {temp}")
            self._copy_in(temp, keys.schema, keys.to_batches(COPY_CHUNK_ROWS))
            self.execute(f"ANALYZE {temp}")  # the planner then knows how many keys there are
            joined = " AND ".join(f"t.{k} = k.{k}" for k in key_columns)
            fetched = self.copy_out(f"SELECT {', '.join(f't.{c}' for c in wanted)} FROM {table} t JOIN {temp} k ON {joined}")
            named = ""
        engine.register("__rt_fetched", fetched)
        engine.register("__rt_keys", keys)
        try:
            engine.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT f.* FROM (SELECT {casts} FROM __rt_fetched) f {named}")
        finally:
            engine.unregister("__rt_fetched")
            engine.unregister("__rt_keys")
        return name

    def _at_most(self, table: str, rows: int) -> bool:
        """Whether `table` holds at most `rows` rows: the planner's estimate when that says it is
        far bigger, else counted (reading at most rows + 1 of them)."""
        estimate = self.rows("SELECT reltuples AS n FROM pg_class WHERE oid = CAST(? AS regclass)", (table,))
        if estimate and estimate[0]["n"] > 2 * rows:
            return False
        counted = self.rows(f"SELECT count(*) AS n FROM (SELECT 1 FROM {table} LIMIT {int(rows) + 1}) AS t")
        return bool(counted[0]["n"] <= rows)

    def write_from(self, engine: duckdb.DuckDBPyConnection, table: str, select_sql: str, rows: int | None = None) -> None:
        """Store the engine's rows (`rows` of them, when the caller knows). Inside a transaction
        they are written behind: this returns once the engine has made them all (spooled to a
        private file) while a second thread is still streaming them into COPY; outside one, it
        returns when they are stored. A bulk write rebuilds the table's indexes (`BULK_ROWS`)."""
        self._settle()
        reader = engine.sql(select_sql).to_arrow_reader(COPY_CHUNK_ROWS)
        if not self.in_transaction():
            self._copy_in(table, reader.schema, reader)
            return
        rebuilt = self._indexes_to_rebuild(table, rows)
        for name, _ in rebuilt:
            self.execute(f"DROP INDEX {name}")
        statement, block_of, first, last = self._copy_plan(table, reader.schema)
        behind = self._behind = _WriteBehind(self.con, statement)
        behind.add(first)
        for batch in reader:
            if batch.num_rows:
                behind.add(block_of(batch))
        behind.add(last)
        behind.copy_done()
        if rebuilt:
            self.execute(f"SET LOCAL maintenance_work_mem = '{INDEX_BUILD_MEMORY}'")
        for _, definition in rebuilt:
            self.execute(definition)  # queued behind the COPY, on its thread

    def _indexes_to_rebuild(self, table: str, rows: int | None) -> list[tuple[str, str]]:
        """(qualified name, definition) of the indexes of `table` that a write of `rows` rows
        rebuilds rather than keeps live (`BULK_ROWS`): none for a small write or a bigger table;
        indexes behind a constraint are always kept. A unique index rebuilt still refuses a
        record stored twice: its build fails, and the import with it."""
        if rows is None or rows < BULK_ROWS or not self._at_most(table, rows):
            return []
        found = self.rows("""SELECT CAST(i.indexrelid AS regclass)::text AS name, pg_get_indexdef(i.indexrelid) AS definition
            FROM pg_index i WHERE i.indrelid = CAST(? AS regclass) AND NOT i.indisprimary
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
            ORDER BY 1""", (table,))
        return [(r["name"], r["definition"]) for r in found]


class _WriteBehind:
    """One COPY sent on a second thread from a spool file the caller fills, then the statements
    queued behind it, in order. The caller hands over each block as it is made; the file, not
    memory, holds what the server has not taken yet."""

    def __init__(self, con: psycopg.Connection, statement: str) -> None:
        self._jobs: queue.SimpleQueue[tuple[str, Any, Any]] = queue.SimpleQueue()
        self._spool = tempfile.TemporaryFile(prefix="roughtrace-copy-")
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._send, args=(con, statement), name="roughtrace-copy", daemon=True)
        self._thread.start()

    def add(self, block: Any) -> None:
        if self.error is not None:  # the server refused the rows already: stop making them
            raise self.error
        data = memoryview(block).cast("B")
        size = data.nbytes
        while data:
            data = data[os.write(self._spool.fileno(), data):]
        self._jobs.put(("block", size, None))

    def copy_done(self) -> None:
        self._jobs.put(("copy_done", None, None))

    def then(self, sql: str, params: Any) -> None:
        self._jobs.put(("statement", sql, params))

    def finish(self, abort: bool = False) -> BaseException | None:
        """Wait for everything handed over to be sent (or, aborting, for the sending to stop);
        returns the error that stopped it, if any."""
        self._jobs.put(("abort" if abort else "end", None, None))
        self._thread.join()
        self._spool.close()
        return self.error

    def _send(self, con: psycopg.Connection, statement: str) -> None:
        job: tuple[str, Any, Any] = ("", None, None)
        try:
            with con.cursor() as cur:
                with cur.copy(statement) as copy:
                    sent = 0
                    while (job := self._jobs.get())[0] == "block":
                        end = sent + job[1]
                        while sent < end:
                            piece = os.pread(self._spool.fileno(), min(end - sent, 1 << 20), sent)
                            copy.write(piece)
                            sent += len(piece)
                    if job[0] != "copy_done":
                        raise _Abandoned("the import stopped before its rows were all made")
                while (job := self._jobs.get())[0] == "statement":
                    cur.execute(job[1], job[2])
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
            self.error = exc
        while job[0] not in ("end", "abort"):
            job = self._jobs.get()


class _Abandoned(Exception):
    """Stops a COPY whose import failed before handing over all its rows (the server discards it)."""


def _made_ahead(blocks: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """The items of `blocks`, computed on a second thread at most `depth` items ahead of the
    consumer (which bounds the memory held). An error there is raised here; a consumer that
    stops early stops the producer."""
    handoff: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for block in blocks:
                if not offer(("block", block)):
                    return
            offer(("end", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            offer(("error", exc))

    producer = threading.Thread(target=produce, name="roughtrace-copy-blocks", daemon=True)
    producer.start()
    try:
        while True:
            kind, item = handoff.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        producer.join()


_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _hex_text(column: pa.Array) -> pa.Array:
    """Bytes as PostgreSQL's '\\x' hex text for BYTEA (NULL stays NULL), a whole column at once."""
    values = column.cast(pa.binary())
    n = len(values)
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32, count=values.offset + n + 1)[values.offset:]
    data = np.frombuffer(values.buffers()[2] or b"", dtype=np.uint8)[int(offsets[0]) : int(offsets[-1])]
    digits = np.empty((len(data), 2), dtype=np.uint8)
    digits[:, 0] = _HEX_DIGITS[data >> 4]
    digits[:, 1] = _HEX_DIGITS[data & 15]
    hexed = pa.StringArray.from_buffers(n, pa.py_buffer((2 * (offsets - offsets[0])).astype(np.int32)), pa.py_buffer(digits))
    prefixed = pc.binary_join_element_wise(pa.scalar("\\x"), hexed, "")
    return pc.if_else(values.is_valid(), prefixed, pa.scalar(None, pa.string()))


def _csv(batch: pa.RecordBatch) -> bytes:
    """A batch as CSV rows for COPY; binary columns as PostgreSQL's '\\x' hex text."""
    for i, field in enumerate(batch.schema):
        if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
            batch = batch.set_column(i, field.name, _hex_text(batch.column(i)))
    sink = io.BytesIO()
    pacsv.write_csv(batch, sink, write_options=pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    return sink.getvalue()
