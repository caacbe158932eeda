"""Storage behind one narrow port (`store.port.Store`), with an adapter per engine.

`open_store(url)` picks the adapter: `duckdb:///path/to/file.duckdb` (the embedded default) or
`postgresql://user@host:port/database` (shared, multi-user).
"""

from __future__ import annotations

from ..errors import StoreError, UsageError
from ..settings import ENGINE_MEMORY_LIMIT
from .port import Store


def open_store(url: str, memory_limit: str = ENGINE_MEMORY_LIMIT, threads: int = 2, read_only: bool = False,
               busy_wait: float = 0.0) -> Store:
    """Open (creating if needed) the store at `url`; call `migrate()` before first use. With
    `read_only` the store is only read: never created or migrated (`migrations.require_current`
    checks its schema), a DuckDB file opened without its write lock, waiting up to `busy_wait`
    seconds while an import writes to it."""
    if url.startswith("duckdb://"):
        from .duckdb import DuckDBStore

        path = url[len("duckdb://"):]
        if path.startswith("/") and not path.startswith("//"):
            path = path[1:] or ":memory:"  # duckdb:///rel/path -> rel/path; duckdb:////abs -> /abs
        elif path.startswith("//"):
            path = path[1:]
        return DuckDBStore(path or ":memory:", memory_limit, threads, read_only, busy_wait)
    if url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore

        return PostgresStore(url, memory_limit, threads, read_only)
    raise UsageError(
        f"the store address {url!r} is not one roughtrace knows: use duckdb:///PATH or postgresql://USER@HOST/DB",
        code="bad_store_url",
    )


__all__ = ["Store", "StoreError", "open_store"]
