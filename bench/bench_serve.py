"""Load benchmark of `roughtrace serve`, on 127.0.0.1 only, bounded in time.

Loads a simulated market into a PostgreSQL schema of its own (kept between runs, under
ROUGHTRACE_TEST_PG or the server `scripts/pg.sh` starts), starts the service on it (`--workers`
serving processes; 0: one per core), and drives it from load generators in separate processes
(raw asyncio HTTP/1.1 keep-alive sockets for reads, httpx for uploads). The output says how much
CPU the generators and the service used, and the load average before and after: the generators
share the machine with the service they measure.

1. reads at a target rate: provenance lookups of lab-graded stones and price quotes, alternating,
   sent on a fixed schedule (open loop: a late answer counts from when its request was due) over
   keep-alive connections opened before the schedule starts, as a client's pool or a reverse
   proxy holds them; throughput, p50 and p99 latency, errors;
2. a mixed run: 4 sightholders each upload an outcome file at once while 50 clients read without
   pause; errors, rows lost (every row sent is accepted or quarantined, and the quarantine route
   lists each quarantined one), and every job's receipt checked as `ledger verify --receipt` does.

    .venv/bin/python bench/bench_serve.py [--size small|medium|large] [--seed 11] [--rate 1100]
        [--seconds 15] [--readers 50] [--upload-rows 2000] [--generators 1] [--workers 0] [--stones 200]

`--stones` is how many different stones (and quotes) are read: every read after the first of each
is answered from the service's answer cache until an import changes the store; set
ROUGHTRACE_SERVICE_ANSWER_CACHE_ENTRIES=0 to measure every read computed.

Targets (issue 19): reads >= 1,000 requests/s with p99 < 50 ms over a 10 M-row store (`large`);
the mixed run with 0 errors, 0 rows lost and every receipt verifiable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

OUT = HERE / "out"
RATE_TARGET = 1000.0
P99_TARGET_MS = 50.0
WARM_PASSES = 8
"""Times each read is asked before the measured phase: the kernel spreads the connections over the
serving processes, so each read's first ask in each process (computed, then kept) almost surely
falls here (a read missed by one of two processes: 1 in 2**8)."""
GRACE_SECONDS = 5.0
"""How long past the read phase a request still waiting for a connection is sent; later ones are
counted as not sent, so that a service far below the rate ends the phase in bounded time."""
OUTCOMES_HEADER = ("stone_id,lab,sightholder_id,box_id,rough_stone_id,rough_carats,polished_date,shape,carat,"
                   "color,clarity,cut\n")


# -- the load generator (a process of its own) --------------------------------------------------------
#
# Reads go over raw asyncio sockets, HTTP/1.1 with keep-alive, each request's bytes made once before
# the run: a generator that parsed URLs and built requests per call would take the cores it measures.
def _percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class _Connection:
    """One keep-alive HTTP/1.1 connection to the service, sending prepared GET requests."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def get(self, request: bytes) -> tuple[int, bytes]:
        await self.open()
        assert self.reader is not None
        self.writer.write(request)
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            self.close()
            raise
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, chunked, closing = 0, False, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                closing = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                parts.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            body = b"".join(part[:-2] for part in parts)
        else:
            body = await self.reader.readexactly(length)
        if closing:
            self.close()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _request(plan: dict[str, Any], path: str, params: dict[str, Any] | None) -> bytes:
    from urllib.parse import quote, urlencode

    target = quote(path) + (f"?{urlencode(params)}" if params else "")
    host = plan["url"].split("//", 1)[1]
    headers = "".join(f"{name}: {value}\r\n" for name, value in plan["headers"].items())
    return f"GET {target} HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n".encode()


def _address(plan: dict[str, Any]) -> tuple[str, int]:
    host, port = plan["url"].split("//", 1)[1].rsplit(":", 1)
    return host, int(port)


async def _timed(connection: _Connection, request: bytes, due: float, latencies: list[float],
                 errors: list[str]) -> None:
    try:
        status, body = await connection.get(request)
        if status != 200:
            errors.append(f"{status} {request.split(b' ', 2)[1].decode()[:80]}: {body[:160]!r}")
    except Exception as error:  # a refused or dropped connection is an error of the run, counted
        connection.close()
        errors.append(f"{type(error).__name__} {request.split(b' ', 2)[1].decode()[:80]}")
    latencies.append((time.perf_counter() - due) * 1000)


def _reads(plan: dict[str, Any]) -> list[bytes]:
    """Provenance lookups and quotes, alternating, as the bytes of their requests."""
    lookups = [_request(plan, f"/v1/stones/{lab}/{stone}/provenance", None) for lab, stone in plan["stones"]]
    quotes = [_request(plan, "/v1/prices/quote", params) for params in plan["quotes"]]
    mixed = [read for pair in zip(lookups, quotes, strict=False) for read in pair]
    return mixed or lookups or quotes


async def _at_rate(plan: dict[str, Any]) -> dict[str, Any]:
    """Requests due on a fixed schedule (open loop), each sent on the next free connection: a
    request waiting for one counts from when it was due."""
    reads = _reads(plan)
    rate, seconds = plan["rate"], plan["seconds"]
    latencies: list[float] = []
    errors: list[str] = []
    total = int(rate * seconds)
    following = [0]
    unsent = [0]
    host, port = _address(plan)

    async def connection_loop(connection: _Connection, started: float, cutoff: float) -> None:
        while following[0] < total:
            number = following[0]
            following[0] += 1
            due = started + number / rate
            pause = due - time.perf_counter()
            if pause > 0:
                await asyncio.sleep(pause)
            elif time.perf_counter() > cutoff:  # the service is this far behind: the request is not sent
                unsent[0] += 1
                continue
            await _timed(connection, reads[number % len(reads)], due, latencies, errors)
        connection.close()

    connections = [_Connection(host, port) for _ in range(plan["connections"])]
    await asyncio.gather(*(connection.open() for connection in connections))  # a client's pool, open before the clock
    cpu = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(connection_loop(connection, started, started + seconds + GRACE_SECONDS)
                           for connection in connections))
    elapsed = time.perf_counter() - started
    return {"sent": total - unsent[0], "unsent": unsent[0], "elapsed": elapsed, "latencies": latencies,
            "errors": errors, "cpu_seconds": time.process_time() - cpu}


async def _warm(plan: dict[str, Any]) -> dict[str, Any]:
    """Every read asked `passes` times, closed loop, over `connections` connections spread by the
    kernel among the serving processes: the first ask of each read in each process (computed, then
    kept) is made here rather than in the measured phase."""
    reads = _reads(plan)
    latencies: list[float] = []
    errors: list[str] = []
    asks = [read for _ in range(plan["passes"]) for read in reads]
    following = [0]

    async def connection_loop() -> None:
        connection = _Connection(*_address(plan))
        while following[0] < len(asks):
            number = following[0]
            following[0] += 1
            await _timed(connection, asks[number], time.perf_counter(), latencies, errors)
        connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection_loop() for _ in range(plan["connections"])))
    return {"elapsed": time.perf_counter() - started, "latencies": latencies, "errors": errors}


async def _reader(reads: list[bytes], offset: int, stop: asyncio.Event, latencies: list[float],
                  errors: list[str], address: tuple[str, int]) -> None:
    connection = _Connection(*address)
    number = offset
    while not stop.is_set():
        await _timed(connection, reads[number % len(reads)], time.perf_counter(), latencies, errors)
        number += 1
    connection.close()


async def _upload(client: Any, upload: dict[str, Any], errors: list[str]) -> dict[str, Any]:
    body = Path(upload["file"]).read_bytes()
    headers = {"Authorization": f"Bearer {upload['token']}"}
    sent = await client.post("/v1/imports/polished_outcomes", params={"file_name": Path(upload["file"]).name},
                             content=body, headers=headers)
    if sent.status_code != 202:
        errors.append(f"upload {sent.status_code}: {sent.text[:200]}")
        return {"rows_sent": upload["rows"], "job": None}
    job = sent.json()["job"]
    while job["state"] not in ("done", "failed"):
        await asyncio.sleep(0.25)
        job = (await client.get(f"/v1/jobs/{job['job_id']}", headers=headers)).json()["job"]
    listed = None
    if job["state"] == "done" and job.get("batch_id") is not None:
        answer = await client.get(f"/v1/imports/{job['batch_id']}/quarantine", headers=headers)
        listed = len(answer.json()["rows"]) if answer.status_code == 200 else None
    return {"rows_sent": upload["rows"], "job": job, "quarantine_listed": listed}


async def _mixed(plan: dict[str, Any]) -> dict[str, Any]:
    import httpx

    reads = _reads(plan)
    latencies: list[float] = []
    errors: list[str] = []
    stop = asyncio.Event()
    cpu = time.process_time()
    async with httpx.AsyncClient(base_url=plan["url"], timeout=120) as client:
        started = time.perf_counter()
        readers = [asyncio.create_task(_reader(reads, i * 7, stop, latencies, errors, _address(plan)))
                   for i in range(plan["readers"])]
        jobs = await asyncio.gather(*(_upload(client, upload, errors) for upload in plan["uploads"]))
        stop.set()
        await asyncio.gather(*readers)
        elapsed = time.perf_counter() - started
    return {"elapsed": elapsed, "latencies": latencies, "errors": errors, "jobs": jobs,
            "cpu_seconds": time.process_time() - cpu}


def generate(plan_file: str) -> None:
    """Run one phase of load from a plan file and print what it measured as JSON."""
    plan = json.loads(Path(plan_file).read_text())
    phase = {"rate": _at_rate, "warm": _warm, "mixed": _mixed}[plan["phase"]]
    print(json.dumps(asyncio.run(phase(plan))))


def _run_generators(plans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each plan in a load generator process of its own, all at once."""
    processes = []
    for plan in plans:
        handle = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, dir=OUT)
        handle.write(json.dumps(plan))
        handle.close()
        processes.append((handle.name, subprocess.Popen([sys.executable, __file__, "--generate", handle.name],
                                                        stdout=subprocess.PIPE)))
    results = []
    for name, process in processes:
        output, _ = process.communicate(timeout=900)
        Path(name).unlink(missing_ok=True)
        if process.returncode != 0:
            raise SystemExit(f"a load generator failed (exit {process.returncode})")
        results.append(json.loads(output))
    return results


# -- the store, the accounts and the server --------------------------------------------------------------
def _pg_url() -> str:
    url = os.environ.get("ROUGHTRACE_TEST_PG")
    if url:
        return url
    return subprocess.run(["bash", str(HERE.parent / "scripts" / "pg.sh"), "start"], check=True,
                          capture_output=True, text=True).stdout.strip()


def _in_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def _signing_key_id() -> str:
    """The id of the key the benchmark's stores are signed with (ROUGHTRACE_LEDGER_KEY_FILE, which
    the Makefile sets), or "default" when none is set."""
    from roughtrace.ledger.heads import key_id
    from roughtrace.ledger.keys import read_private_key

    path = os.environ.get("ROUGHTRACE_LEDGER_KEY_FILE")
    return key_id(read_private_key(Path(path)).public_key())[:16] if path and Path(path).exists() else "default"


def prepared_store(size: str, seed: int, prefix: str = "bench_serve", market: Path | None = None) -> str:
    """The URL of a PostgreSQL schema (`{prefix}_{size}_{seed}`) holding the `size` market (or the
    market directory `market`), its price index and book; loaded once and kept (the schema's comment
    marks a finished load and the signing key its ledger was signed with: a schema signed by another
    key, another checkout's, is loaded again)."""
    from bench_checks import market_dir
    from roughtrace.app import Context
    from roughtrace.app.pricing import build_price_index
    from roughtrace.app.valuation import build_price_book
    from roughtrace.settings import Settings
    from roughtrace.store import open_store
    from test_checks_support import load_market_directory

    base = _pg_url()
    schema = f"{prefix}_{size}_{seed}"
    mark = f"loaded, signed by {_signing_key_id()}"
    server = open_store(base)
    try:
        marked = server.rows("SELECT obj_description(oid, 'pg_namespace') AS note FROM pg_namespace WHERE nspname = ?",
                             (schema,))
        if marked and marked[0]["note"] == mark:
            return _in_schema(base, schema)
        server.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        server.execute(f"CREATE SCHEMA {schema}")
    finally:
        server.close()
    directory = market or market_dir(size, seed)
    url = _in_schema(base, schema)
    store = open_store(url)
    try:
        store.migrate()
        started = time.perf_counter()
        rows = load_market_directory(store, directory)
        context = Context(store, Settings())
        build_price_index(context)
        build_price_book(context)
        print(f"  loaded {rows['polished_outcomes']:,} outcome rows into PostgreSQL schema {schema}, with the price "
              f"index and book, in {time.perf_counter() - started:.1f} s")
        store.execute(f"COMMENT ON SCHEMA {schema} IS '{mark}'")
    finally:
        store.close()
    return url


def plan_of_reads(store: Any, count: int = 200) -> dict[str, Any]:
    """Lab-graded stones spread over the table, and quotable stones of the same kind."""
    stones = store.rows("SELECT lab, stone_id FROM polished_outcomes WHERE lab <> 'none' ORDER BY md5(stone_id) LIMIT ?",
                        (count,))
    quotes = store.rows("SELECT shape, carat, color, clarity, cut, lab FROM polished_outcomes WHERE lab <> 'none' "
                        "ORDER BY md5(stone_id || 'q') LIMIT ?", (count,))
    return {"stones": [[row["lab"], row["stone_id"]] for row in stones],
            "quotes": [{k: str(v) for k, v in row.items() if v is not None} for row in quotes]}


def accounts_and_uploads(store: Any, rows_each: int, tag: str) -> tuple[str, list[dict[str, Any]]]:
    """An admin's token, and for the 4 sightholders with most boxes an outcome file of their own:
    rows of their own boxes, and one row in ten of another's box (which the import quarantines)."""
    from roughtrace.app import Context
    from roughtrace.app.accounts import add_account
    from roughtrace.settings import Settings

    context = Context(store, Settings())
    admin = add_account(context, f"bench-admin-{tag}", "admin").token
    holders = [row["buyer_id"] for row in store.rows(
        "SELECT buyer_id, count(*) AS boxes FROM rough_sales GROUP BY buyer_id ORDER BY boxes DESC, buyer_id LIMIT 4")]
    boxes = {holder: [row["box_id"] for row in store.rows(
        "SELECT box_id FROM rough_sales WHERE buyer_id = ? ORDER BY box_id LIMIT 50", (holder,))] for holder in holders}
    uploads = []
    for number, holder in enumerate(holders):
        other = boxes[holders[(number + 1) % len(holders)]]
        lines = [OUTCOMES_HEADER]
        for row in range(rows_each):
            box = other[row % len(other)] if row % 10 == 9 else boxes[holder][row % len(boxes[holder])]
            lines.append(f"BS{tag}{number}{row:07d},none,{holder},{box},,,2030-01-01,round,0.500,G,VS1,EX\n")
        path = OUT / f"serve-upload-{tag}-{number}.csv"
        path.write_text("".join(lines))
        token = add_account(context, f"bench-sh{number}-{tag}", "sightholder", holder).token
        uploads.append({"file": str(path), "rows": rows_each, "token": token, "sightholder": holder})
    return admin, uploads


def start_server(url: str, log: Path, workers: int = 0) -> tuple[subprocess.Popen[bytes], str]:
    """`roughtrace serve` on a free port of 127.0.0.1, ready."""
    import httpx

    from service_support import free_port

    port = free_port()
    environment = {**os.environ, "ROUGHTRACE_SERVICE_SPOOL": str(OUT / "serve-spool"),
                   "ROUGHTRACE_SERVICE_READERS": os.environ.get("ROUGHTRACE_SERVICE_READERS", "8")}
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "roughtrace.cli", "--db", url, "serve", "--port", str(port),
                                    "--workers", str(workers)], stdout=out, stderr=subprocess.STDOUT, env=environment)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server stopped: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    raise SystemExit("the server did not get ready")


def quotable(base: str, headers: dict[str, str], quotes: list[dict[str, str]]) -> list[dict[str, str]]:
    """The quotes the price index answers (a cell without trades answers 404, not a failure)."""
    import httpx

    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        return [q for q in quotes if client.get("/v1/prices/quote", params=q).status_code == 200]


def receipts_verified(jobs: list[dict[str, Any]], key_file: Path) -> tuple[int, list[str]]:
    """How many jobs' receipts check against the ledger key's public half, as `ledger verify
    --receipt` checks them; and what did not check."""
    from cryptography.hazmat.primitives import serialization

    from roughtrace.app.ledger import verify_receipt_file
    from roughtrace.errors import RoughtraceError

    private = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    public = private.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    good, bad = 0, []
    for number, job in enumerate(jobs):
        receipt = (job.get("job") or {}).get("receipt")
        if not receipt:
            bad.append(f"job {number}: no receipt")
            continue
        path = OUT / f"serve-receipt-{number}.json"
        path.write_text(json.dumps(receipt))
        try:
            verify_receipt_file(path, public)
            good += 1
        except RoughtraceError as error:
            bad.append(f"job {number}: {error}")
        finally:
            path.unlink(missing_ok=True)
    return good, bad


def service_times(log: Path) -> dict[str, tuple[int, float, float]]:
    """Per route, from the service's access log: answers, and the median and p99 of the time the
    service itself spent (without the wait for a connection or in the generator)."""
    times: dict[str, list[float]] = {}
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith('{"method"'):
            entry = json.loads(line)
            times.setdefault(f"{entry['method']} {entry['path']}", []).append(float(entry["ms"]))
    return {route: (len(ms), _percentile(ms, 0.5), _percentile(ms, 0.99)) for route, ms in sorted(times.items())}


def _cpu_seconds(pid: int) -> float:
    """User and system CPU the process and its children (the serving processes) used so far."""
    import psutil

    try:
        parent = psutil.Process(pid)
        total = 0.0
        for process in (parent, *parent.children(recursive=True)):
            times = process.cpu_times()
            total += times.user + times.system
        return total
    except psutil.Error:
        return float("nan")


# -- the report ---------------------------------------------------------------------------------------
def _ratio(value: float, target: float, higher_is_better: bool = True) -> str:
    if value != value or value == 0:
        return "n/a"
    ratio = value / target if higher_is_better else target / value
    return f"{ratio:.2f}x {'(met)' if ratio >= 1 else '(NOT met)'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generate", help=argparse.SUPPRESS)
    parser.add_argument("--size", default="large", choices=("small", "medium", "large"))
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--rate", type=float, default=RATE_TARGET * 1.1,
                        help="reads per second asked of the service (default: a tenth above the target, "
                             "so that meeting it shows the room left)")
    parser.add_argument("--seconds", type=float, default=15.0, help="how long the read phase lasts")
    parser.add_argument("--readers", type=int, default=50, help="clients reading during the uploads")
    parser.add_argument("--upload-rows", type=int, default=2000, help="rows in each sightholder's file")
    parser.add_argument("--generators", type=int, default=1, help="load generator processes for the read phase")
    parser.add_argument("--workers", type=int, default=0, help="serving processes (0: one per core)")
    parser.add_argument("--stones", type=int, default=200, help="different stones and quotes read")
    args = parser.parse_args()
    if args.generate:
        generate(args.generate)
        return

    from roughtrace.store import open_store
    from roughtrace.wiring import wire

    wire()
    OUT.mkdir(exist_ok=True)
    os.environ.setdefault("ROUGHTRACE_LEDGER_KEY_FILE", str(OUT / "ledger-key.pem"))
    key_file = Path(os.environ["ROUGHTRACE_LEDGER_KEY_FILE"])
    print(f"bench-serve: size {args.size}, seed {args.seed}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}")
    url = prepared_store(args.size, args.seed)
    tag = uuid.uuid4().hex[:8]
    store = open_store(url)
    try:
        outcome_rows = store.rows("SELECT count(*) AS n FROM polished_outcomes")[0]["n"]
        reads = plan_of_reads(store, args.stones)
        admin, uploads = accounts_and_uploads(store, args.upload_rows, tag)
    finally:
        store.close()
    log = OUT / f"serve-{tag}.log"
    process, base = start_server(url, log, args.workers)
    load_before = os.getloadavg()
    try:
        headers = {"Authorization": f"Bearer {admin}"}
        reads["quotes"] = quotable(base, headers, reads["quotes"])
        random.Random(args.seed).shuffle(reads["stones"])
        print(f"  serving {outcome_rows:,} outcome rows at {base}; {len(reads['stones'])} stones, "
              f"{len(reads['quotes'])} quotable stones")
        common = {"url": base, "headers": headers, **reads}
        warm = _run_generators([{**common, "phase": "warm", "passes": WARM_PASSES, "connections": 32}])[0]
        print(f"  warm-up: every read asked {WARM_PASSES} times over 32 connections in {warm['elapsed']:.1f} s "
              f"(the first ask of each in each serving process is computed, p50 "
              f"{_percentile(warm['latencies'], 0.5):.1f} ms, max {max(warm['latencies'], default=0):.0f} ms), "
              f"errors {len(warm['errors'])}")
        share = args.rate / args.generators
        served_before = _cpu_seconds(process.pid)
        rated = _run_generators([{**common, "phase": "rate", "rate": share, "seconds": args.seconds,
                                  "connections": max(8, 64 // args.generators)} for _ in range(args.generators)])
        served_rate = _cpu_seconds(process.pid) - served_before
        load_rated = os.getloadavg()
        mixed = _run_generators([{**common, "phase": "mixed", "readers": args.readers, "uploads": uploads}])[0]
        load_after = os.getloadavg()
    finally:
        process.terminate()
        process.wait(120)

    latencies = [v for r in rated for v in r["latencies"]]
    errors = [e for r in rated for e in r["errors"]]
    elapsed = max(r["elapsed"] for r in rated)
    throughput = len(latencies) / elapsed
    p50, p99 = _percentile(latencies, 0.50), _percentile(latencies, 0.99)
    print(f"\n  reads at {args.rate:,.0f}/s asked for {args.seconds:.0f} s ({args.generators} generator process(es)):")
    unsent = sum(r["unsent"] for r in rated)
    print(f"    answered {len(latencies):,} in {elapsed:.1f} s: {throughput:,.0f} requests/s, "
          f"p50 {p50:.1f} ms, p99 {p99:.1f} ms (from when each was due), errors {len(errors)}, "
          f"not sent by {GRACE_SECONDS:.0f} s after the phase {unsent:,}")
    for error in errors[:5]:
        print(f"      {error}")
    generator_cpu = sum(r["cpu_seconds"] for r in rated)
    print(f"    CPU: generator(s) {generator_cpu:.1f} s ({generator_cpu / elapsed:.0%} of one core), service "
          f"{served_rate:.1f} s ({served_rate / elapsed:.0%} of one core), of {os.cpu_count()} cores; load average "
          f"{load_before[0]:.1f} before, {load_rated[0]:.1f} after (other work on the machine counts too)")

    jobs = mixed["jobs"]
    sent = sum(j["rows_sent"] for j in jobs)
    accepted = sum((j["job"] or {}).get("rows_accepted") or 0 for j in jobs)
    quarantined = sum((j["job"] or {}).get("rows_quarantined") or 0 for j in jobs)
    listed = sum(j.get("quarantine_listed") or 0 for j in jobs)
    failed = [j["job"] for j in jobs if not j["job"] or j["job"]["state"] != "done"]
    lost = sent - accepted - quarantined
    good, bad = receipts_verified(jobs, key_file)
    mixed_latencies = mixed["latencies"]
    print(f"\n  mixed: {len(uploads)} sightholders uploading {args.upload_rows:,} rows each while {args.readers} "
          f"clients read, {mixed['elapsed']:.1f} s:")
    print(f"    reads {len(mixed_latencies):,} ({len(mixed_latencies) / mixed['elapsed']:,.0f}/s), "
          f"p50 {_percentile(mixed_latencies, 0.5):.1f} ms, p99 {_percentile(mixed_latencies, 0.99):.1f} ms, "
          f"errors {len(mixed['errors'])}; generator CPU {mixed['cpu_seconds']:.1f} s; load average after "
          f"{load_after[0]:.1f}")
    print(f"    rows sent {sent:,} = accepted {accepted:,} + quarantined {quarantined:,} (lost {lost}); "
          f"quarantine route lists {listed:,}; jobs not done {len(failed)}; receipts verified {good}/{len(jobs)}")
    for line in [*mixed["errors"][:5], *bad[:5], *(json.dumps(f)[:300] for f in failed[:3])]:
        print(f"      {line}")

    print("\n  time in the service, by route (its access log, the whole run):")
    for route, (count, median, tail) in service_times(log).items():
        print(f"    {route:<45} {count:>7,}  p50 {median:8.1f} ms  p99 {tail:8.1f} ms")

    print("\n  against the targets (issue 19; the targets are for `large`, 10 M outcome rows):")
    print(f"    reads/s        {throughput:>10,.0f}  target >= {RATE_TARGET:,.0f}   {_ratio(throughput, RATE_TARGET)}")
    print(f"    p99 ms         {p99:>10.1f}  target < {P99_TARGET_MS:.0f}       {_ratio(p99, P99_TARGET_MS, False)}")
    all_errors = len(errors) + len(mixed["errors"])
    print(f"    errors         {all_errors:>10}  target 0        {'met' if all_errors == 0 else 'NOT met'}")
    print(f"    rows lost      {lost:>10}  target 0        {'met' if lost == 0 and listed == quarantined else 'NOT met'}")
    print(f"    receipts       {good:>6}/{len(jobs):<3}  target all      {'met' if good == len(jobs) else 'NOT met'}")


if __name__ == "__main__":
    main()
