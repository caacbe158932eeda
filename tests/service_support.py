"""A market served for real: a small simulated market imported into a store, accounts for every
role, and `roughtrace serve` started on it in a child process on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from roughtrace.app import Context
from roughtrace.app.accounts import add_account
from roughtrace.ingest import import_file
from roughtrace.settings import Settings
from roughtrace.store import Store

KINDS_IN_ORDER = ("parties", "rough_sales", "polished_outcomes", "rough_dispositions", "transactions",
                  "kp_certificates", "parcel_contents")
TINY_MARKET = {"polished_rows": 3000, "n_transactions": 3000}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def load_market(store: Store, folder: Path, key_file: Path, seed: int = 3, build: bool = True) -> Path:
    """Generate a tiny market into `folder`, import every file (the ledger signed with `key_file`,
    the key the server is then given), and build the price index and book."""
    from roughtrace.app.pricing import build_price_index
    from roughtrace.app.valuation import build_price_book
    from roughtrace.sim import generate_market

    generate_market(folder, seed=seed, size="small", **TINY_MARKET)
    settings = Settings({"ledger_key_file": str(key_file)})
    for kind in KINDS_IN_ORDER:
        assert import_file(store, kind, folder / f"{kind}.csv", settings=settings).ok
    if build:
        context = Context(store, settings)
        build_price_index(context)
        build_price_book(context)
    return folder


@dataclass
class Server:
    """A `roughtrace serve` child process and where it answers."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    tokens: dict[str, str] = field(default_factory=dict)
    store_url: str = ""

    def client(self, who: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()


def start_server(store_url: str, folder: Path, **settings: str) -> Server:
    """Start `roughtrace serve` on a free port and wait until it is ready."""
    port = free_port()
    log = folder / f"serve-{port}.log"
    environment = {**os.environ, "ROUGHTRACE_SERVICE_SPOOL": str(folder / "spool"), "ROUGHTRACE_SERVICE_READERS": "3",
                   **{f"ROUGHTRACE_{k.upper()}": v for k, v in settings.items()}}
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "roughtrace.cli", "--db", store_url, "serve", "--port", str(port)],
                                   stdout=out, stderr=subprocess.STDOUT, env=environment)
    server = Server(f"http://127.0.0.1:{port}", process, log, store_url=store_url)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server stopped: {log.read_text()}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=5).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    server.kill()
    raise AssertionError(f"the server did not get ready: {log.read_text()}")


@contextmanager
def market_schema(pg_url: str, folder: Path) -> Iterator[tuple[Store, str]]:
    """A PostgreSQL schema of its own holding the small market (`load_market`, its ledger signed
    with `folder`/ledger-key.pem): the open store and its URL; the schema is dropped after."""
    from roughtrace.store import open_store

    schema = "rt_" + uuid.uuid4().hex[:12]
    admin = open_store(pg_url)
    admin.execute(f"CREATE SCHEMA {schema}")
    url = f"{pg_url}{'&' if '?' in pg_url else '?'}options=-csearch_path%3D{schema}"
    store = open_store(url)
    try:
        store.migrate()
        load_market(store, folder / "market", key_file=folder / "ledger-key.pem")
        yield store, url
    finally:
        store.close()
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


def make_accounts(store: Store, parties: dict[str, Any]) -> dict[str, str]:
    """Accounts for every role of the matrix; returns each one's token by its name."""
    context = Context(store, Settings())
    past = dt.datetime(2020, 1, 1)
    wanted = [
        ("admin", "admin", None, None, None),
        ("producer", "producer", parties["producer"], None, None),
        ("sh_a", "sightholder", parties["sh_a"], None, None),
        ("sh_b", "sightholder", parties["sh_b"], None, None),
        ("kp_a", "kp_authority", None, parties["kp_a"], None),
        ("kp_b", "kp_authority", None, parties["kp_b"], None),
        ("retailer_a", "retailer", "RT-001", None, None),
        ("retailer_b", "retailer", "RT-002", None, None),
        ("expired", "sightholder", parties["sh_a"], None, past),
        ("revoked", "sightholder", parties["sh_a"], None, None),
    ]
    return {name: add_account(context, name, role, party, expires, country).token
            for name, role, party, country, expires in wanted}


def job_done(client: httpx.Client, job_id: str, wait: float = 120) -> dict[str, Any]:
    """Poll a job until it is done or failed."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()["job"]
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")
