"""Race campaign (issue 16): imports of the same records started at once into one PostgreSQL store.

    .venv/bin/python bench/bench_races.py                    # 5 tries of 4 racing imports, 50k rows each
    .venv/bin/python bench/bench_races.py --tries 2 --rows 10000 --budget 60

Each try takes a fresh schema holding parties and boxes, then starts four imports together, each in
a process and on a connection of its own: an outcome file and the same file with CRLF line ends, and
two versions of one set of transactions (same tx_id, other prices). A try survives when every
identity is stored once, each file's rows read = accepted + rejected, the new rows stored add up to
the rows the imports said were new, the quarantine holds exactly the rejected rows, one version of
the transactions was kept whole, and `ledger verify` passes. The PostgreSQL is ROUGHTRACE_TEST_PG's,
or one started by scripts/pg.sh. Prints tries, survived and lost; a try not finished within the
time budget is not started.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from roughtrace.wiring import wire  # noqa: E402

wire()  # the import's after-store hooks, as every entry point registers them

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "races"
PARTIES = "party_id,name,role,category,country\nDB,Producer,producer,,BW\nSH1,Cutter One,sightholder,manufacturer,IN\n"
BOXES = ("box_id,sight,sale_date,seller_id,buyer_id,origin,assortment,model,size_min_ct,size_max_ct,colour,quality,stones,carats,price_usd,"
         "kp_certificate_id\nB1,2026-01,2026-01-20,DB,SH1,BW,A-100,stones,0.75,2.00,white,high,10,12.500,25000.00,BW0001\n")


def pg_url() -> str:
    """ROUGHTRACE_TEST_PG, or the throwaway server scripts/pg.sh starts."""
    url = os.environ.get("ROUGHTRACE_TEST_PG")
    if url:
        return url
    return subprocess.run([str(HERE.parent / "scripts" / "pg.sh"), "start"], capture_output=True, text=True, check=True).stdout.strip()


def generate(rows: int) -> dict[str, Path]:
    """The four racing files of `rows` records each, made once per size (columns, then joined)."""
    OUT.mkdir(parents=True, exist_ok=True)
    files = {name: OUT / f"{name}-{rows}.csv" for name in ("outcomes", "outcomes-crlf", "cheap", "dear")}
    if all(path.exists() for path in files.values()):
        return files
    import duckdb

    con = duckdb.connect()
    con.execute(f"""COPY (SELECT lpad(i::VARCHAR, 10, '0') AS stone_id, 'GIA' AS lab, 'SH1' AS sightholder_id, 'B1' AS box_id,
                                 'R' || i AS rough_stone_id, 1.500 AS rough_carats, DATE '2026-02-01' AS polished_date, 'round' AS shape,
                                 0.702 AS carat, 'G' AS color, 'VS1' AS clarity FROM range({rows}) t(i))
                    TO '{files["outcomes"]}' (HEADER)""")
    for name, base in (("cheap", 9000), ("dear", 9500)):
        con.execute(f"""COPY (SELECT 'T' || lpad(i::VARCHAR, 9, '0') AS tx_id, DATE '2026-03-05' AS date, 'round' AS shape, 'G' AS color,
                                     'VS1' AS clarity, 'EX' AS cut, 'GIA' AS lab, 1.010 AS carat, ({base} + i % 500)::DECIMAL(12,2) AS price_usd,
                                     'transaction' AS price_type, 'tender' AS source FROM range({rows}) t(i))
                        TO '{files[name]}' (HEADER)""")
    con.close()
    files["outcomes-crlf"].write_bytes(files["outcomes"].read_bytes().replace(b"\n", b"\r\n"))
    return files


def one_import(url: str, kind: str, path: str, start: Any, answers: Any) -> None:
    """A racer: open its own connection, wait for the others, import, send back the counts."""
    from roughtrace.ingest import import_file
    from roughtrace.store import open_store

    store = open_store(url)
    try:
        start.wait()
        r = import_file(store, kind, path)
        answers.put((path, {"read": r.rows_read, "accepted": r.rows_accepted, "rejected": r.rows_rejected,
                            "unchanged": r.rows_unchanged, "stored": r.stored}))
    except Exception as exc:  # noqa: BLE001 - a racer that fails is a lost try, reported
        answers.put((path, {"error": f"{type(exc).__name__}: {exc}"}))
    finally:
        store.close()


def one_try(base_url: str, files: dict[str, Path], rows: int) -> tuple[bool, str]:
    """One race into a fresh schema; (survived, what was wrong)."""
    from roughtrace.ingest import import_file
    from roughtrace.ledger import audit
    from roughtrace.store import open_store

    schema = "rt_race_" + uuid.uuid4().hex[:10]
    admin = open_store(base_url)
    admin.execute(f"CREATE SCHEMA {schema}")
    url = f"{base_url}{'&' if '?' in base_url else '?'}options=-csearch_path%3D{schema}"
    store = open_store(url)
    try:
        store.migrate()
        for kind, text in (("parties", PARTIES), ("rough_sales", BOXES)):
            path = OUT / f"{kind}.csv"
            path.write_text(text)
            import_file(store, kind, path)
        context = multiprocessing.get_context("spawn")
        start, answers = context.Barrier(4), context.Queue()
        jobs = [("polished_outcomes", files["outcomes"]), ("polished_outcomes", files["outcomes-crlf"]),
                ("transactions", files["cheap"]), ("transactions", files["dear"])]
        racers = [context.Process(target=one_import, args=(url, kind, str(path), start, answers)) for kind, path in jobs]
        for racer in racers:
            racer.start()
        results = dict(answers.get(timeout=600) for _ in racers)
        for racer in racers:
            racer.join()
        wrong = [f"{Path(p).name}: {r['error']}" for p, r in results.items() if "error" in r]
        if wrong:
            return False, "; ".join(wrong)
        for table, identity, files_of in (("polished_outcomes", "lab, stone_id, sightholder_id, box_id", ("outcomes", "outcomes-crlf")),
                                          ("transactions", "tx_id", ("cheap", "dear"))):
            said = [results[str(files[name])] for name in files_of]
            stored = store.rows(f"SELECT count(*) AS n, count(DISTINCT ({identity})) AS ids FROM {table}")[0]
            quarantined = store.rows("SELECT count(*) AS n FROM quarantine WHERE kind = ?", (table,))[0]["n"]
            if stored["n"] != rows or stored["ids"] != rows:
                wrong.append(f"{table}: {stored['n']} rows for {stored['ids']} identities, {rows} sent")
            if any(r["read"] != r["accepted"] + r["rejected"] for r in said):
                wrong.append(f"{table}: rows read differ from accepted plus rejected")
            if sum(r["accepted"] - r["unchanged"] for r in said) != stored["n"]:
                wrong.append(f"{table}: the imports said {sum(r['accepted'] - r['unchanged'] for r in said)} new rows, {stored['n']} stored")
            if quarantined != sum(r["rejected"] for r in said):
                wrong.append(f"{table}: {quarantined} quarantined, {sum(r['rejected'] for r in said)} rejected")
        versions = store.rows("SELECT count(DISTINCT price_usd >= 9500) AS n FROM transactions")[0]["n"]
        if versions != 1:
            wrong.append("transactions: both versions of one tx_id stored")
        audited = audit.verify(store)
        if not audited.ok:
            wrong.append("ledger verify failed")
        return not wrong, "; ".join(wrong)
    finally:
        store.close()
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tries", type=int, default=5)
    parser.add_argument("--rows", type=int, default=50_000, help="records in each racing file")
    parser.add_argument("--budget", type=float, default=300.0, help="seconds; no try starts after them")
    args = parser.parse_args()
    url = pg_url()
    files = generate(args.rows)
    began = time.perf_counter()
    tries = survived = 0
    while tries < args.tries and time.perf_counter() - began < args.budget:
        tries += 1
        ok, why = one_try(url, files, args.rows)
        survived += ok
        print(f"try {tries}: {'survived' if ok else 'lost: ' + why}", flush=True)
    print(f"races (PostgreSQL, 4 imports of {args.rows:,} rows at once): tries {tries}, survived {survived}, lost {tries - survived}"
          f" ({time.perf_counter() - began:.0f} s)")
    return 0 if survived == tries else 1


if __name__ == "__main__":
    sys.exit(main())
