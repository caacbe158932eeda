"""`roughtrace serve` on a DuckDB file: reads beside the import worker, and uploads that outlive a
server killed part-way (the store unchanged, the accepted upload imported once the server is back)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from roughtrace.store import open_store
from service_support import job_done, load_market, make_accounts, start_server


def _count(url: str, table: str) -> int:
    store = open_store(url, read_only=True, busy_wait=30)
    try:
        return int(store.rows(f"SELECT count(*) AS n FROM {table}")[0]["n"])
    finally:
        store.close()


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, dict[str, str], Path]:
    """A DuckDB store holding a small market, the transactions held back to be sent over HTTP."""
    folder = tmp_path_factory.mktemp("duck-served")
    url = f"duckdb:///{folder / 'store.duckdb'}"
    store = open_store(url)
    try:
        store.migrate()
        files = load_market(store, folder / "market", folder / "ledger-key.pem", seed=5, build=False)
        buyer = store.rows("SELECT buyer_id, seller_id FROM rough_sales ORDER BY box_id LIMIT 1")[0]
        parties = {"producer": buyer["seller_id"], "sh_a": buyer["buyer_id"], "sh_b": buyer["buyer_id"],
                   "kp_a": "BW", "kp_b": "BE"}
        tokens = make_accounts(store, parties)
        store.execute("DELETE FROM transactions")  # sent again below, through the service
    finally:
        store.close()
    return url, folder, tokens, files / "transactions.csv"


def test_a_server_on_duckdb_reads_while_it_imports(market):
    url, folder, tokens, _ = market
    certificates = _count(url, "kp_certificates")
    server = start_server(url, folder, ledger_key_file=str(folder / "ledger-key.pem"))
    server.tokens = tokens
    try:
        with server.client("producer") as producer:
            assert producer.get("/readyz").json()["engine"] == "duckdb"
            parties = "party_id,name,role,category,country\nZZ-NEW,New Cutter,sightholder,manufacturer,IN\n"
            sent = producer.post("/v1/imports/parties", params={"file_name": "parties.csv"}, content=parties.encode())
            assert sent.status_code == 202
            assert producer.get("/v1/sightholders/risk").status_code == 200
            draft = (folder / "market" / "kp_certificates.csv").read_text().splitlines()
            header, first = draft[0], draft[1].split(",", 1)
            trial = f"{header}\nBW99999999,{first[1]}\n".encode()
            tried = producer.post("/v1/kp/certificates/check", params={"file_name": "draft.csv"}, content=trial)
            assert tried.status_code == 200 and tried.json()["check"]["rows_accepted"] == 1, tried.text
            job = job_done(producer, sent.json()["job"]["job_id"])
            assert job["rows_accepted"] == 1, (job["state"], job["errors"])
    finally:
        server.stop()
    assert _count(url, "kp_certificates") == certificates, "a certificate file tried is never stored"


def test_an_upload_cut_off_by_a_killed_server_leaves_nothing(market):
    url, folder, tokens, _ = market
    before = _count(url, "service_jobs"), _count(url, "parties")
    server = start_server(url, folder, ledger_key_file=str(folder / "ledger-key.pem"))
    port = int(server.url.rsplit(":", 1)[1])
    try:
        with socket.create_connection(("127.0.0.1", port)) as sending:
            sending.sendall(b"POST /v1/imports/parties?file_name=p.csv HTTP/1.1\r\nHost: x\r\n"
                            + f"Authorization: Bearer {tokens['producer']}\r\nContent-Length: 100000\r\n\r\n".encode()
                            + b"party_id,name,role,category,country\n")
            time.sleep(1)
    finally:
        server.kill()
    assert (_count(url, "service_jobs"), _count(url, "parties")) == before
    start_server(url, folder, ledger_key_file=str(folder / "ledger-key.pem")).stop()
    assert not list((folder / "spool").glob("*/*")), "the cut-off body is cleared at the next start"


def test_an_import_under_way_when_the_server_is_killed_is_run_again_at_start(market):
    url, folder, tokens, transactions = market
    rows = sum(1 for _ in transactions.open()) - 1
    assert _count(url, "transactions") == 0
    server = start_server(url, folder, ledger_key_file=str(folder / "ledger-key.pem"))
    server.tokens = tokens
    try:
        with server.client("producer") as producer:
            sent = producer.post("/v1/imports/transactions", params={"file_name": "transactions.csv"},
                                 content=transactions.read_bytes())
            assert sent.status_code == 202
            job_id = sent.json()["job"]["job_id"]
            deadline = time.monotonic() + 60
            while producer.get(f"/v1/jobs/{job_id}").json()["job"]["state"] == "queued" and time.monotonic() < deadline:
                time.sleep(0.02)
    finally:
        server.kill()
    held = _count(url, "transactions")
    assert held in (0, rows), "an import is stored whole or not at all"
    again = start_server(url, folder, ledger_key_file=str(folder / "ledger-key.pem"))
    again.tokens = tokens
    try:
        with again.client("producer") as producer:
            job = job_done(producer, job_id)
        assert job["state"] == "done", job
    finally:
        again.stop()
    assert _count(url, "transactions") == rows
    assert not list((folder / "spool").glob("*/*")), "a finished job's file is removed"
