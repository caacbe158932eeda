"""Import benchmark (issue 2): roughtrace against the floor and the peer, in one run.

    make bench-import                      # 2M rows; RSS at 10M rows; PostgreSQL if one is reachable
    .venv/bin/python bench/bench_import.py --rows 200000 --rss-rows 0 --no-pg   # a quick look

Times, on the same generated polished_outcomes CSV:
- roughtrace: `import_file` into a DuckDB file (parties and boxes loaded beforehand, not timed);
- the floor: DuckDB's own CREATE TABLE AS SELECT * FROM read_csv(...) into a file, plus CHECKPOINT
  (the two are timed alternately, --repeat times, and their medians compared);
- the peer: pandas.read_csv plus per-row pydantic validation (what a Python team would write);
- peak RSS of a roughtrace import of a --rss-rows file, in a child process;
- into PostgreSQL: roughtrace import (a first load, into a fresh schema) against a plain COPY of the
  same file into an unindexed table, timed alternately --repeat times, medians compared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from roughtrace.settings import ENGINE_MEMORY_LIMIT
from roughtrace.wiring import wire  # noqa: E402

wire()  # the import's after-store hooks, as every entry point registers them

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "import"
SIGHTHOLDERS = 60
STONES_PER_BOX = 50


def generate(rows: int, folder: Path) -> dict[str, Path]:
    """parties, rough_sales and polished_outcomes files that reference each other correctly."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {k: folder / f"{k}.csv" for k in ("parties", "rough_sales", "polished_outcomes")}
    if all(p.exists() for p in files.values()) and (folder / f".rows-{rows}").exists():
        return files
    boxes = (rows + STONES_PER_BOX - 1) // STONES_PER_BOX
    con = duckdb.connect()
    con.execute(f"""COPY (
        SELECT 'DB' AS party_id, 'De Beers-like producer' AS name, 'producer' AS role, NULL AS category, 'BW' AS country
        UNION ALL
        SELECT 'SH' || lpad(i::VARCHAR, 3, '0'), 'Sightholder ' || i, 'sightholder', 'manufacturer', 'IN' FROM range({SIGHTHOLDERS}) t(i)
    ) TO '{files["parties"]}' (HEADER)""")
    con.execute(f"""COPY (
        SELECT 'BOX' || lpad(i::VARCHAR, 8, '0') AS box_id, '2025-01' AS sight, DATE '2025-01-20' AS sale_date,
               'DB' AS seller_id, 'SH' || lpad((i % {SIGHTHOLDERS})::VARCHAR, 3, '0') AS buyer_id, 'BW' AS origin,
               'A-' || (i % 400) AS assortment, 'stones' AS model, 0.500::DECIMAL(8,3) AS size_min_ct, 4.000::DECIMAL(8,3) AS size_max_ct,
               'white' AS colour, 'high' AS quality, {STONES_PER_BOX} AS stones, ({STONES_PER_BOX} * 1.5)::DECIMAL(10,3) AS carats,
               (10000 + i % 5000)::DECIMAL(12,2) AS price_usd, 'BW' || lpad((i // 100)::VARCHAR, 6, '0') AS kp_certificate_id
        FROM range({boxes}) t(i)
    ) TO '{files["rough_sales"]}' (HEADER)""")
    con.execute(f"""COPY (
        SELECT lpad(i::VARCHAR, 10, '0') AS stone_id, ['GIA','IGI','HRD','AGS'][1 + i % 4] AS lab,
               'SH' || lpad(((i // {STONES_PER_BOX}) % {SIGHTHOLDERS})::VARCHAR, 3, '0') AS sightholder_id,
               'BOX' || lpad((i // {STONES_PER_BOX})::VARCHAR, 8, '0') AS box_id, 'R' || i AS rough_stone_id,
               (0.9 + (i % 997) / 400.0)::DECIMAL(8,3) AS rough_carats,
               DATE '2025-02-01' + (i % 300)::INTEGER AS polished_date,
               ['round','pear','oval','princess','cushion'][1 + i % 5] AS shape,
               (0.3 + (i % 499) / 1000.0)::DECIMAL(8,3) AS carat,
               ['D','E','F','G','H','I','J','K'][1 + i % 8] AS color,
               ['IF','VVS1','VVS2','VS1','VS2','SI1','SI2','I1'][1 + (i // 8) % 8] AS clarity,
               ['EX','VG','G', NULL][1 + i % 4] AS cut
        FROM range({rows}) t(i)
    ) TO '{files["polished_outcomes"]}' (HEADER)""")
    con.close()
    (folder / f".rows-{rows}").touch()
    return files


def time_roughtrace(files: dict[str, Path], db: Path, memory_limit: str = ENGINE_MEMORY_LIMIT) -> tuple[float, int, dict[str, float]]:
    """Seconds to import the outcomes (with CHECKPOINT), rows accepted, and the import's steps
    (`ImportResult.timings`: `box_records` is the refresh of the provenance records)."""
    from roughtrace.ingest import import_file
    from roughtrace.store import open_store

    for suffix in ("", ".wal"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    store = open_store(f"duckdb:///{db}" if not str(db).startswith("/") else f"duckdb:////{str(db)[1:]}", memory_limit)
    store.migrate()
    import_file(store, "parties", files["parties"], ledger=False)
    import_file(store, "rough_sales", files["rough_sales"], ledger=False)
    started = time.perf_counter()
    result = import_file(store, "polished_outcomes", files["polished_outcomes"])
    store.execute("CHECKPOINT")
    seconds = time.perf_counter() - started
    store.close()
    assert result.rows_rejected == 0, result.errors[:3]
    return seconds, result.rows_accepted, result.timings


def time_floor(csv: Path, db: Path) -> float:
    db.unlink(missing_ok=True)
    started = time.perf_counter()
    con = duckdb.connect(str(db))
    con.execute(f"CREATE TABLE polished_outcomes AS SELECT * FROM read_csv('{csv}')")
    con.execute("CHECKPOINT")
    con.close()
    return time.perf_counter() - started


def time_peer(csv: Path) -> float:
    """pandas read_csv, then one pydantic model validated per row: the usual Python import."""
    import datetime
    from decimal import Decimal
    from typing import Literal

    import pandas as pd
    from pydantic import BaseModel, Field, condecimal

    class Outcome(BaseModel):
        stone_id: str
        lab: Literal["GIA", "IGI", "HRD", "AGS", "none"]
        sightholder_id: str
        box_id: str
        rough_stone_id: str | None = None
        rough_carats: condecimal(gt=Decimal(0), decimal_places=3) | None = None
        polished_date: datetime.date
        shape: str
        carat: condecimal(gt=Decimal(0), decimal_places=3)
        color: str = Field(pattern=r"^([D-Z]|fancy)$")
        clarity: Literal["FL", "IF", "VVS1", "VVS2", "VS1", "VS2", "SI1", "SI2", "I1", "I2", "I3"]
        cut: Literal["EX", "VG", "G", "F", "P"] | None = None

    started = time.perf_counter()
    frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
    accepted = 0
    for record in frame.to_dict("records"):
        record = {k: (v if v != "" else None) for k, v in record.items()}
        Outcome.model_validate(record)
        accepted += 1
    return time.perf_counter() - started


def rss_child(rows: int, memory_limit: str = ENGINE_MEMORY_LIMIT) -> tuple[float, float]:
    """Peak RSS (MiB) and seconds of a roughtrace import of `rows` rows, in a fresh process that
    reports its own peak: VmHWM, the high-water mark of its own memory. Not getrusage's ru_maxrss:
    Linux carries the parent's peak into a child started by fork or vfork then exec, so after the
    peer's pandas run it read 3 GB for an import that peaked at 1.35 GiB."""
    files = generate(rows, OUT / f"rows-{rows}")
    db = OUT / f"rss-{rows}.duckdb"
    paths = {k: str(v) for k, v in files.items()}
    code = (
        f"import sys; sys.path.insert(0, {str(HERE)!r}); from bench_import import time_roughtrace; from pathlib import Path; "
        f"files = {{k: Path(v) for k, v in {paths!r}.items()}}; s, n, _ = time_roughtrace(files, Path({str(db)!r}), {memory_limit!r}); "
        "print(s, next(int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmHWM:')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, peak_kib = done.stdout.strip().splitlines()[-1].split()
    return int(peak_kib) / 1024, float(seconds)


def time_postgres(files: dict[str, Path], url: str) -> tuple[float, float, dict[str, float]]:
    """roughtrace import into PostgreSQL against a plain COPY of the same file."""
    import uuid

    import psycopg

    from roughtrace.ingest import import_file
    from roughtrace.store import open_store

    schema = "bench_" + uuid.uuid4().hex[:8]
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    scoped = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    try:
        with psycopg.connect(scoped, autocommit=True) as con:
            con.execute("""CREATE TABLE plain_copy (stone_id text, lab text, sightholder_id text, box_id text, rough_stone_id text,
                rough_carats numeric(18,3), polished_date date, shape text, carat numeric(18,3), color text, clarity text, cut text)""")
            started = time.perf_counter()
            with con.cursor() as cur, cur.copy("COPY plain_copy FROM STDIN (FORMAT csv, HEADER true)") as copy, \
                    files["polished_outcomes"].open("rb") as handle:
                while block := handle.read(1 << 20):
                    copy.write(block)
            plain = time.perf_counter() - started
        store = open_store(scoped)
        store.migrate()
        import_file(store, "parties", files["parties"], ledger=False)
        import_file(store, "rough_sales", files["rough_sales"], ledger=False)
        started = time.perf_counter()
        result = import_file(store, "polished_outcomes", files["polished_outcomes"])
        ours = time.perf_counter() - started
        store.close()
        assert result.rows_rejected == 0
        return ours, plain, result.timings
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def pg_url() -> str | None:
    url = os.environ.get("ROUGHTRACE_TEST_PG")
    if url:
        return url
    try:
        return subprocess.run([str(HERE.parent / "scripts" / "pg.sh"), "start"], capture_output=True, text=True, check=True).stdout.strip()
    except (subprocess.CalledProcessError, OSError):
        return None


def cpu_ticks() -> tuple[int, int] | None:
    """(busy, stolen) CPU ticks of the whole machine so far, from /proc/stat (None elsewhere):
    on a virtual machine the hypervisor's share ("steal") is time no process here got."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return user + nice + system + irq + softirq, steal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--rss-rows", type=int, default=10_000_000, help="0 to skip the peak-memory run")
    parser.add_argument("--repeat", type=int, default=3,
                        help="floor and roughtrace (and PostgreSQL's COPY and roughtrace) are timed alternately this many "
                             "times; medians are compared")
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--no-duckdb", action="store_true", help="skip the DuckDB floor and import (PostgreSQL only)")
    parser.add_argument("--memory-limit", default=ENGINE_MEMORY_LIMIT, help="the import engine's memory limit (setting import_memory_limit)")
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    files = generate(args.rows, OUT / f"rows-{args.rows}")
    ticks_before = cpu_ticks()
    size_mb = files["polished_outcomes"].stat().st_size / 1e6
    print(f"polished_outcomes: {args.rows:,} rows, {size_mb:,.0f} MB CSV; {os.cpu_count()} cores")

    ours = None
    if not args.no_duckdb:
        floors, runs = [], []
        for _ in range(max(1, args.repeat)):  # alternately, so both see the same machine
            # each run starts with the last one's file written out, not flushing behind it
            os.sync()
            floors.append(time_floor(files["polished_outcomes"], OUT / "floor.duckdb"))
            os.sync()
            runs.append(time_roughtrace(files, OUT / "roughtrace.duckdb", args.memory_limit))
        floor = statistics.median(floors)
        ours, accepted, steps = sorted(runs, key=lambda run: run[0])[len(runs) // 2]
        print(f"floor  DuckDB CTAS read_csv + CHECKPOINT : {floor:7.2f} s  {args.rows / floor:12,.0f} rows/s"
              f"   (median of {', '.join(f'{s:.2f}' for s in floors)})")
        print(f"roughtrace import (validated, stored)   : {ours:7.2f} s  {accepted / ours:12,.0f} rows/s"
              f"   ratio to floor {ours / floor:.2f}x (target <= 2x)   (median of {', '.join(f'{r[0]:.2f}' for r in runs)})")
        print("  its steps in the median run (s): " + ", ".join(f"{step} {seconds:.2f}" for step, seconds in steps.items()))
    if not args.no_peer and ours is not None:
        peer = time_peer(files["polished_outcomes"])
        print(f"peer   pandas + pydantic per row        : {peer:7.2f} s  {args.rows / peer:12,.0f} rows/s"
              f"   roughtrace is {peer / ours:.1f}x faster (target >= 10x)")
    if args.rss_rows:
        peak, seconds = rss_child(args.rss_rows, args.memory_limit)
        print(f"peak RSS importing {args.rss_rows:,} rows      : {peak:7.0f} MiB in {seconds:.1f} s"
              f"   ({peak / 1536:.2f} of the 1.5 GiB target)")
    if not args.no_pg:
        url = pg_url()
        if url is None:
            print("PostgreSQL: none reachable (set ROUGHTRACE_TEST_PG); skipped")
        else:
            runs = sorted((time_postgres(files, url) for _ in range(max(1, args.repeat))), key=lambda run: run[0])
            plain = statistics.median(run[1] for run in runs)
            ours_pg, _, steps = runs[len(runs) // 2]
            print(f"PostgreSQL plain COPY of the file        : {plain:7.2f} s   (median of {', '.join(f'{r[1]:.2f}' for r in runs)})")
            print(f"PostgreSQL roughtrace import             : {ours_pg:7.2f} s   ratio to COPY {ours_pg / plain:.2f}x (target <= 2x)"
                  f"   (median of {', '.join(f'{r[0]:.2f}' for r in runs)})")
            print("  its steps in the median run (s): " + ", ".join(f"{name} {seconds:.2f}" for name, seconds in steps.items()))
    ticks_after = cpu_ticks()
    if ticks_before and ticks_after:
        busy, stolen = (after - before for before, after in zip(ticks_before, ticks_after, strict=True))
        print(f"CPU the hypervisor took from this machine meanwhile: {stolen / max(1, busy + stolen):.1%} of the busy time "
              "(a virtual machine's timings vary with it)")


if __name__ == "__main__":
    main()
