"""`roughtrace serve`: the HTTP service on uvicorn, in one process or several."""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

import typer

app = typer.Typer()

SETTINGS_VARIABLE = "ROUGHTRACE_SERVE_SETTINGS"
"""How the serving processes `serve --workers N` starts get the command's resolved settings (its
own environment, so visible only to the same user)."""


HEALTHCHECK_SECONDS = 120
"""How long a serving process may take to answer its supervisor's ping before it is killed and
replaced: long, since a process importing on a loaded machine may wait long for the CPU, and a
process killed drops its connections."""


def _log_to_stderr() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name in ("roughtrace.service.access", "roughtrace.service"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def workers_for(settings: Any, engine: str) -> int:
    """How many processes serve: the setting service_workers, one per core when 0; a DuckDB store
    is served by one process (one process may open it to write)."""
    from ..errors import UsageError

    asked = int(settings["service_workers"])
    if engine != "postgresql":
        if asked > 1:
            raise UsageError(f"a DuckDB store is served by one process, not {asked}: serve a PostgreSQL store to "
                             "run several (service_workers)", code="bad_option")
        return 1
    return asked or (os.cpu_count() or 1)


def served_app() -> Any:
    """The application of one of several serving processes (uvicorn's factory): the settings the
    command resolved, the spool already cleared by the command."""
    from .app import create_app

    _log_to_stderr()
    from ..settings import Settings

    settings = Settings(json.loads(os.environ[SETTINGS_VARIABLE]))
    return create_app(settings, clear_spool=False)


def _clear_spool(settings: Any) -> None:
    """What a stopped server left in the spool besides the queued jobs' files, removed once before
    the serving processes start (none of them may remove another's upload under way)."""
    from ..app import Context
    from ..app.jobs import pending_jobs
    from ..store import open_store
    from .app import _spool_folder
    from .worker import WORKER, clear_spool

    store = open_store(settings["db"])
    try:
        store.migrate()
        pending = set(pending_jobs(Context(store, settings, WORKER)))
    finally:
        store.close()
    clear_spool(_spool_folder(settings), pending)


@app.command("serve")
def serve(ctx: typer.Context,
          host: str = typer.Option("127.0.0.1", "--host", help="The address to listen on (behind a TLS proxy for others)."),
          port: int = typer.Option(8000, "--port", min=0, max=65535, help="The port to listen on."),
          store: str = typer.Option(None, "--store", help="The store to serve (default: --db, ROUGHTRACE_DB)."),
          workers: int = typer.Option(None, "--workers", min=0,
                                      help="Serving processes (the setting service_workers; 0: one per core). "
                                           "One of them at a time runs the imports.")) -> None:
    """Run the HTTP API (under /v1, OpenAPI at /openapi.json) over the store, with one import worker.
    Stop it with Ctrl-C or SIGTERM: the import under way finishes, queued ones wait for the next start."""
    import uvicorn

    from ..settings import Settings
    from .app import create_app

    values = ctx.obj.settings.as_dict()
    if store is not None:
        values["db"] = store
    if workers is not None:
        values["service_workers"] = workers
    settings = Settings(values) if store is not None or workers is not None else ctx.obj.settings
    processes = workers_for(settings, "duckdb" if str(settings["db"]).startswith("duckdb:") else "postgresql")
    _log_to_stderr()
    if processes == 1:
        uvicorn.run(create_app(settings), host=host, port=port, access_log=False, log_level="warning",
                    timeout_graceful_shutdown=None)
        return
    _clear_spool(settings)
    os.environ[SETTINGS_VARIABLE] = json.dumps(settings.as_dict(), default=str)
    from ..web.sessions import session_key

    session_key()  # one dashboard session key for every serving process
    uvicorn.run("roughtrace.service.cli:served_app", factory=True, workers=processes, host=host, port=port,
                access_log=False, log_level="warning", timeout_graceful_shutdown=None,
                timeout_worker_healthcheck=HEALTHCHECK_SECONDS)
