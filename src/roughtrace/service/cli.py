"""`roughtrace serve`: the HTTP service on uvicorn."""

from __future__ import annotations

import logging
import sys

import typer

app = typer.Typer()


@app.command("serve")
def serve(ctx: typer.Context,
          host: str = typer.Option("127.0.0.1", "--host", help="The address to listen on (behind a TLS proxy for others)."),
          port: int = typer.Option(8000, "--port", min=0, max=65535, help="The port to listen on."),
          store: str = typer.Option(None, "--store", help="The store to serve (default: --db, ROUGHTRACE_DB).")) -> None:
    """Run the HTTP API (under /v1, OpenAPI at /openapi.json) over the store, with one import worker.
    Stop it with Ctrl-C or SIGTERM: the import under way finishes, queued ones wait for the next start."""
    import uvicorn

    from ..settings import Settings
    from .app import create_app

    settings = ctx.obj.settings if store is None else Settings({**ctx.obj.settings.as_dict(), "db": store})
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name in ("roughtrace.service.access", "roughtrace.service"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    uvicorn.run(create_app(settings), host=host, port=port, access_log=False, log_level="warning",
                timeout_graceful_shutdown=None)
