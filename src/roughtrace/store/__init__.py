"""Storage behind one narrow port (`store.port.Store`), with an adapter per engine.

`open_store(url)` picks the adapter: `duckdb:///path/to/file.duckdb` (the embedded default) or
`postgresql://user@host:port/database` (shared, multi-user).
"""

from __future__ import annotations

from ..errors import Problem, StoreError, UsageError
from ..settings import ENGINE_MEMORY_LIMIT, redacted, store_address
from .port import Store


def open_store(url: str, memory_limit: str = ENGINE_MEMORY_LIMIT, threads: int = 2, read_only: bool = False,
               busy_wait: float = 0.0) -> Store:
    """Open (creating if needed) the store at `url`; call `migrate()` before first use. An address
    without a path is refused: an in-memory store would answer "stored" and lose the data. With
    `read_only` the store is only read: never created or migrated (`migrations.require_current`
    checks its schema), a DuckDB file opened without its write lock, waiting up to `busy_wait`
    seconds while an import writes to it."""
    try:
        store_address(url)
    except ValueError as rule:
        raise UsageError(Problem("bad_store_url", f"the store address {redacted(url)!r} is not one roughtrace can use: "
                                                  f"give {rule}")) from None
    if url.startswith("duckdb:"):
        from .duckdb import DuckDBStore

        path = url[len("duckdb:///"):]  # duckdb:///rel/path -> rel/path; duckdb:////abs -> /abs
        return DuckDBStore(path, memory_limit, threads, read_only, busy_wait)
    from .postgres import PostgresStore

    return PostgresStore(url, memory_limit, threads, read_only)


__all__ = ["Store", "StoreError", "open_store"]
