"""The one thread that runs the service's imports, a job at a time, in the order they came.

Several serving processes share one store; only one of them imports at a time (one writer per
store): on PostgreSQL the process holding the store's import lock (a session advisory lock of
its writer, let go with its connection if the process dies, then taken by another); a DuckDB
store is served by one process, which holds it. The importing process takes the jobs sent to it
at once, and those sent to the others from the store, where every job is queued."""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import threading
from pathlib import Path
from typing import Any

from ..app import Actor, Context
from ..app.jobs import pending_jobs, run_job
from .stores import ServiceStores

WORKER = Actor("import worker", "operator")
"""The worker acts for the uploads it runs: each job holds who sent it."""

log = logging.getLogger("roughtrace.service")


def clear_spool(spool: Path, pending: set[str]) -> None:
    """Remove what a stopped server left in the spool besides the queued jobs' files: bodies cut
    off part-way, certificate files being tried."""
    for folder in spool.iterdir() if spool.is_dir() else ():
        if folder.is_dir() and folder.name not in pending:
            shutil.rmtree(folder, ignore_errors=True)


POLL_SECONDS = 0.5
"""How often the importing process looks in the store for jobs other processes queued, and a
process that does not import tries to take the import lock."""

IMPORT_LOCK = "import worker"


class ImportWorker:
    """Runs queued import jobs on the store's writer, when this process holds the store's import
    lock. At start it takes up the jobs a previous run left queued or running; at stop it finishes
    the job under way and leaves the rest queued."""

    def __init__(self, stores: ServiceStores, settings: Any, spool: Path, clear_spool: bool = True) -> None:
        self.stores, self.settings, self.spool = stores, settings, spool
        self.clear_spool = clear_spool
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._waiting: set[str] = set()
        self._thread = threading.Thread(target=self._run, name="roughtrace-imports", daemon=True)
        self._stopping = threading.Event()
        self.imports = False
        """Whether this process holds the store's import lock (it then runs every job)."""

    def _desk(self) -> Context:
        from ..deployment.stored import under_deployment

        desk = self.stores.desk
        return Context(desk, under_deployment(self.settings, desk), WORKER)  # type: ignore[arg-type]

    def start(self) -> None:
        if self.clear_spool:
            pending = pending_jobs(self._desk())
            clear_spool(self.spool, set(pending))
        self._take_lock()
        self._thread.start()

    def _take_lock(self) -> bool:
        """Take the store's import lock if no other process holds it (a DuckDB store's one process
        always does)."""
        if not self.imports:
            if self.stores.engine != "postgresql":
                self.imports = True
            else:
                from ..store.postgres import EXCLUSIVE_LOCKS

                with self.stores.writing() as writer:
                    self.imports = bool(writer.rows(
                        "SELECT pg_try_advisory_lock(?, hashtext(current_schema() || '.' || ?)) AS taken",
                        (EXCLUSIVE_LOCKS, IMPORT_LOCK))[0]["taken"])
            if self.imports:
                log.info(json.dumps({"import_worker": "this process runs the imports", "process": os.getpid()}))
                self._take_pending()
        return self.imports

    def _take_pending(self) -> None:
        """Queue the store's pending jobs not queued here yet."""
        for job_id in pending_jobs(self._desk()):
            if job_id not in self._waiting:
                self._waiting.add(job_id)
                self._queue.put(job_id)

    def submit(self, job_id: str) -> None:
        """Run a job queued in the store by this process: here when this process imports, else by
        the one that does (it finds the job in the store)."""
        if self.imports and job_id not in self._waiting:
            self._waiting.add(job_id)
            self._queue.put(job_id)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                if not self._take_lock():
                    self._stopping.wait(POLL_SECONDS)
                    continue
                try:
                    job_id = self._queue.get(timeout=POLL_SECONDS)
                except queue.Empty:
                    self._take_pending()
                    continue
            except Exception:  # noqa: BLE001 - the store unreachable for a moment: try again
                log.exception("the import worker could not read the store")
                self._stopping.wait(POLL_SECONDS)
                continue
            if job_id is None or self._stopping.is_set():
                break
            try:
                with self.stores.writing() as writer:
                    run_job(self._desk(), job_id, writer)
            except Exception:  # noqa: BLE001 - the worker outlives any one job; the job row says what failed
                log.exception("import job %s could not be run", job_id)
            finally:
                self._waiting.discard(job_id)

    def stop(self) -> None:
        """Finish the job under way, leave the others queued (in the store, for the next start)."""
        self._stopping.set()
        self._queue.put(None)
        self._thread.join()
