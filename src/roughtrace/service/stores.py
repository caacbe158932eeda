"""The service's connections to its one store: readers for requests, one writer, and a desk.

- readers: a pool of connections, each lent to one request at a time (read-only sessions on
  PostgreSQL; on DuckDB, connections to the one database the process opens, made before the
  writer starts, so that none clears the writer's spill files).
- the writer: the one connection that imports (`ImportWorker`), stores answers to findings and
  tries certificate files, one at a time (`writing`): one writer per store, readers never wait for it.
- the desk: a connection for the short writes around uploads (a job queued, started, finished),
  so that accepting an upload never waits for the import under way.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..store import Store, open_store


class Desk:
    """A store whose every call is taken one at a time: shared by request threads and the worker
    for short statements."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self.engine, self.url = store.engine, store.url

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        with self._lock:
            self._store.execute(sql, params)

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self._lock:
            return self._store.rows(sql, params)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        with self._lock:
            return self._store.query(sql, params)

    def close(self) -> None:
        with self._lock:
            self._store.close()


class ServiceStores:
    """Every connection the service holds to its store, opened at start-up and closed at shutdown."""

    def __init__(self, settings: Any) -> None:
        url = settings["db"]
        memory, threads = settings["import_memory_limit"], int(settings["import_threads"])
        self.writer = open_store(url, memory, threads)
        opened: list[Store] = [self.writer]
        try:
            self.writer.migrate()
            self.engine = self.writer.engine
            self.desk = Desk(open_store(url, memory, threads))
            self._readers: queue.Queue[Store] = queue.Queue()
            for _ in range(int(settings["service_readers"])):
                reader = open_store(url, memory, threads, read_only=self.engine == "postgresql")
                opened.append(reader)
                self._readers.put(reader)
        except BaseException:
            for store in opened:
                store.close()
            raise
        self._count = int(settings["service_readers"])
        self._writing = threading.Lock()
        from ..app.market_views import share_views

        share_views([self.writer, *self._readers.queue])  # whole-market results computed once for all of them

    @contextmanager
    def reading(self) -> Iterator[Store]:
        """A reader for one request, given back when it is done."""
        store = self._readers.get()
        try:
            yield store
        finally:
            self._readers.put(store)

    @contextmanager
    def writing(self) -> Iterator[Store]:
        """The writer, held until the block ends: one writing step at a time."""
        with self._writing:
            yield self.writer

    def close(self) -> None:
        for _ in range(self._count):
            self._readers.get().close()
        self.desk.close()
        with self._writing:
            self.writer.close()
