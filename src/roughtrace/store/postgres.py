"""The shared, multi-user store: PostgreSQL, reached with psycopg 3.

Bulk data moves by COPY in both directions, as CSV streamed through Arrow: no Python loop over
rows. Import validation runs in a private in-memory DuckDB engine; the rows it needs from the
store (the boxes a file names, say) are fetched by key into that engine.
"""

from __future__ import annotations

import io
import re
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import StoreError
from . import migrations
from .duckdb import engine_connection

_PLACEHOLDER = re.compile(r"\?")
COPY_CHUNK_ROWS = 100_000


def _pg_sql(sql: str) -> str:
    """Portable `?` placeholders to psycopg's `%s` (and literal % doubled)."""
    return _PLACEHOLDER.sub("%s", sql.replace("%", "%%"))


class PostgresStore:
    engine = "postgresql"

    def __init__(self, url: str, memory_limit: str = "1GB", threads: int = 2) -> None:
        self.url = url
        self._memory_limit = memory_limit
        self._threads = threads
        try:
            self.con = psycopg.connect(url, autocommit=True)
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreError(f"cannot reach the PostgreSQL store: {reason}", code="store_unavailable") from None
        self._depth = 0
        self._tx: Any = None

    def migrate(self) -> int:
        with self.transaction():
            self.execute("SELECT pg_advisory_xact_lock(74021)")  # one migrator at a time
            return migrations.apply_migrations(self)

    def schema_version(self) -> int:
        return migrations.applied_version(self)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._depth = 1
        try:
            with self.con.transaction():
                yield
        finally:
            self._depth = 0

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        with self.con.cursor() as cur:
            cur.execute(_pg_sql(sql) if params else sql, params or None)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> pa.Table:
        with self.con.cursor() as cur:
            cur.execute(_pg_sql(sql) if params else sql, params or None)
            names = [d.name for d in cur.description or []]
            rows = cur.fetchall()
        columns = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
        return pa.table({name: pa.array(list(values)) for name, values in zip(names, columns, strict=True)})

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self.con.cursor() as cur:
            cur.execute(_pg_sql(sql) if params else sql, params or None)
            names = [d.name for d in cur.description or []]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def append(self, table: str, rows: pa.Table | pa.RecordBatchReader) -> int:
        batches = rows.to_batches(COPY_CHUNK_ROWS) if isinstance(rows, pa.Table) else rows
        return self._copy_in(table, rows.schema.names, batches)

    def ibis(self) -> Any:
        import ibis

        return ibis.postgres.from_connection(self.con)

    def close(self) -> None:
        self.con.close()

    # -- bulk paths -----------------------------------------------------------------------------
    def _copy_in(self, table: str, names: list[str], batches: Any) -> int:
        written = 0
        options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
        with self.con.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN (FORMAT csv)") as copy:
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                sink = io.BytesIO()
                pacsv.write_csv(batch, sink, write_options=options)
                copy.write(sink.getvalue())
                written += batch.num_rows
        return written

    def copy_out(self, select_sql: str, schema: pa.Schema | None = None) -> pa.Table:
        """Run a query by COPY TO STDOUT and read its CSV into Arrow (all text unless typed)."""
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
        into the engine, typed as `columns` says; returns the engine relation's name."""
        # One temp table (and one engine relation) per table, key and columns: one import may
        # fetch the same table twice by different keys, and the SQL naming the first is run later.
        tag = f"{zlib.crc32(repr((key_columns, tuple(columns.items()))).encode()):08x}"
        name = f"ref_{table}_{tag}"
        casts = ", ".join(f"CAST({c} AS {sql_type}) AS {c}" for c, sql_type in columns.items())
        if not self.query(f"SELECT EXISTS (SELECT 1 FROM {table}) AS any").column("any")[0].as_py():
            engine.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {casts} FROM (SELECT {', '.join(f'NULL AS {c}' for c in columns)}) WHERE false")
            return name
        keys = engine.sql(
            f"SELECT DISTINCT {', '.join(key_columns)} FROM {keys_relation} "
            f"WHERE {' AND '.join(f'{k} IS NOT NULL' for k in key_columns)}"
        ).to_arrow_table()
        temp = f"rt_keys_{table}_{zlib.crc32(repr(key_columns).encode()):08x}"
        self.execute(f"CREATE TEMP TABLE IF NOT EXISTS {temp} AS SELECT {', '.join(key_columns)} FROM {table} WHERE false")
        self.execute(f"TRUNCATE {temp}")
        self._copy_in(temp, list(key_columns), keys.to_batches(COPY_CHUNK_ROWS))
        wanted = ", ".join(f"t.{c}" for c in columns)
        joined = " AND ".join(f"t.{k} = k.{k}" for k in key_columns)
        fetched = self.copy_out(f"SELECT {wanted} FROM {table} t JOIN {temp} k ON {joined}")
        engine.register("__rt_fetched", fetched)
        engine.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {casts} FROM __rt_fetched")
        engine.unregister("__rt_fetched")
        return name

    def write_from(self, engine: duckdb.DuckDBPyConnection, table: str, select_sql: str) -> None:
        """The engine writes CSV (in parallel) to a private temporary file, streamed into COPY."""
        names = [d[0] for d in engine.sql(f"SELECT * FROM ({select_sql}) LIMIT 0").description]
        with tempfile.TemporaryDirectory(prefix="roughtrace-copy-") as folder:
            path = f"{folder}/rows.csv"
            engine.execute(f"COPY ({select_sql}) TO '{path}' (FORMAT csv, HEADER false, QUOTE '\"', ESCAPE '\"')")
            with self.con.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN (FORMAT csv)") as copy, \
                    open(path, "rb") as handle:
                while block := handle.read(1 << 20):
                    copy.write(block)
