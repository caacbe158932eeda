"""The one thread that runs the service's imports, a job at a time, in the order they came."""

from __future__ import annotations

import logging
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


class ImportWorker:
    """Runs queued import jobs on the store's writer. At start it takes up the jobs a previous run
    left queued or running; at stop it finishes the job under way and leaves the rest queued."""

    def __init__(self, stores: ServiceStores, settings: Any, spool: Path) -> None:
        self.stores, self.settings, self.spool = stores, settings, spool
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="roughtrace-imports", daemon=True)
        self._stopping = threading.Event()

    def _desk(self) -> Context:
        from ..deployment.stored import under_deployment

        desk = self.stores.desk
        return Context(desk, under_deployment(self.settings, desk), WORKER)  # type: ignore[arg-type]

    def start(self) -> None:
        pending = pending_jobs(self._desk())
        for job_id in pending:
            self._queue.put(job_id)
        self._clear_spool(set(pending))
        self._thread.start()

    def _clear_spool(self, pending: set[str]) -> None:
        """Remove what a stopped server left in the spool besides the queued jobs' files: bodies
        cut off part-way, certificate files being tried."""
        for folder in self.spool.iterdir() if self.spool.is_dir() else ():
            if folder.is_dir() and folder.name not in pending:
                shutil.rmtree(folder, ignore_errors=True)

    def submit(self, job_id: str) -> None:
        self._queue.put(job_id)

    def _run(self) -> None:
        while not self._stopping.is_set():
            job_id = self._queue.get()
            if job_id is None or self._stopping.is_set():
                break
            try:
                with self.stores.writing() as writer:
                    run_job(self._desk(), job_id, writer)
            except Exception:  # noqa: BLE001 - the worker outlives any one job; the job row says what failed
                log.exception("import job %s could not be run", job_id)

    def stop(self) -> None:
        """Finish the job under way, leave the others queued (in the store, for the next start)."""
        self._stopping.set()
        self._queue.put(None)
        self._thread.join()
