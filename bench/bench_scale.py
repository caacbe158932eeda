"""Benchmark of the analytics at scale: the ported computations on the default engine (DuckDB and
numpy in this process) and on a local Spark, side by side, time and peak memory, and how each
grows with the rows.

Run: make bench-scale   (or .venv/bin/python bench/bench_scale.py [--sizes 10M,50M] [--engines duckdb,spark]
                         [--passes index,model,valuation,facts] [--master local[2]] [--spark-memory 4g])

Four passes, each over N rows of its own input:
- index: a full build of the price index cells over N synthetic price records (bench_prices'
  generator: 24 months, about 10% asking rows, 0.1% gross errors), every period recomputed, the
  quote model's fit left out;
- model: the quote model's fit over the same price records (`index.fit_and_store_model`: the
  trades' counts, the regression's sample and each index cell's share for the effects on the
  engine; the regression and the effects in numpy), stored;
- valuation: box valuation over N synthetic outcome rows (`value_boxes`: its price keys, their
  quotes from a stand-in pricer, and each box's sums at the quotes), not stored;
- facts: every check fact over the same N outcome rows (`checks.facts.gather`: the boxes, claims,
  grade mix, digits, weight grid, repeats, and the boxes judged one by one for rounded weights).
Each input is a DuckDB store made once in bench/out and kept. Each (size, pass, engine) runs in a
fresh process: its time, and the peak resident memory of the process and every process under it
(Spark's JVM) sampled every 0.1 s. Spark's time is given with and without its session's start; its
tables reach it as Parquet staged from the store (the local path; a cluster reads a snapshot,
`roughtrace export parquet`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pyarrow as pa

from roughtrace.settings import ENGINE_MEMORY_LIMIT
from roughtrace.wiring import wire

wire()  # the composition root, as every entry point runs it

OUT = Path(__file__).resolve().parent / "out"
UNITS = {"K": 1_000, "M": 1_000_000}


def rows_of(text: str) -> int:
    text = text.strip().upper()
    return int(float(text[:-1]) * UNITS[text[-1]]) if text[-1] in UNITS else int(text)


MAKING_MEMORY = "8GB"
"""The DuckDB memory a bench store is made with: the store's identity index on the stones, held in
memory while rows are appended, outgrows the engine's default beyond about 10M outcome rows."""


def made_once(path: Path, what: str, fill: Any) -> Path:
    """The DuckDB bench store at `path`, made by `fill(store)` on first use (under a partial name
    until it is whole, so an interrupted make is made again)."""
    from roughtrace.store import open_store

    if path.exists():
        return path
    OUT.mkdir(exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    store = open_store(f"duckdb:///{partial}", memory_limit=MAKING_MEMORY)
    try:
        store.migrate()
        started = time.perf_counter()
        fill(store)
        print(f"  made {partial.name}: {what} in {time.perf_counter() - started:.0f} s", flush=True)
    finally:
        store.close()
    partial.rename(path)
    return path


def store_of(rows: int) -> Path:
    """The bench store of `rows` price records (made on first use)."""
    from bench_prices import synthetic_transactions
    from roughtrace.pricing.schema import ensure_schema

    def fill(store: Any) -> None:
        ensure_schema(store)
        for chunk in synthetic_transactions(rows):
            store.append("transactions", chunk)

    return made_once(OUT / f"scale_{rows}.duckdb", f"{rows:,} price records", fill)


SIGHTHOLDERS = 200
STONES_PER_BOX = 25
COPIED_CLAIMS = 0.001
"""The share of outcome rows that claim another row's lab report (the claims fact's rows)."""


def synthetic_market(rows: int, seed: int = 7, chunk: int = 1_000_000):
    """Yield (kind, Arrow table) for a market of about `rows` outcome rows: a producer and
    SIGHTHOLDERS sightholders, boxes of STONES_PER_BOX polished stones sold over 24 monthly sights,
    half the stones tracked to a rough stone, weights to the thousandth or the hundredth of a carat,
    a few rough dispositions and copied lab reports."""
    rng = np.random.default_rng(seed)
    holders = np.char.add("M", np.arange(SIGHTHOLDERS).astype(str))
    yield "parties", pa.table({
        "party_id": pa.array(np.concatenate([["P1"], holders])),
        "name": pa.array(np.concatenate([["Producer"], np.char.add("Cutter ", holders)])),
        "role": pa.array(["producer"] + ["sightholder"] * SIGHTHOLDERS),
        "category": pa.array([None] + ["manufacturer", "dealer"] * (SIGHTHOLDERS // 2)),
        "country": pa.array(["BW"] * (SIGHTHOLDERS + 1)), "address": pa.nulls(SIGHTHOLDERS + 1, pa.string()),
        "batch_id": pa.array(np.ones(SIGHTHOLDERS + 1, dtype=np.int64)),
        "source_row": pa.array(np.arange(1, SIGHTHOLDERS + 2)), "extras": pa.nulls(SIGHTHOLDERS + 1, pa.string())})
    n_boxes = max(rows // STONES_PER_BOX, 1)
    month = rng.integers(0, 24, n_boxes)
    sale = np.datetime64("2024-01-08") + month * 30
    buyer = holders[rng.integers(0, SIGHTHOLDERS, n_boxes)]
    box_ids = np.char.add("B", np.arange(n_boxes).astype(str))
    carats = np.round(rng.uniform(20, 60, n_boxes), 3)
    yield "rough_sales", pa.table({
        "box_id": pa.array(box_ids), "sight": pa.array(np.char.add("S", month.astype(str))),
        "sale_date": pa.array(sale, pa.date32()), "seller_id": pa.array(np.full(n_boxes, "P1")),
        "buyer_id": pa.array(buyer), "origin": pa.array(np.full(n_boxes, "BW")),
        "assortment": pa.array(np.char.add("A", rng.integers(0, 30, n_boxes).astype(str))),
        "model": pa.array(np.full(n_boxes, "stones")),
        "size_min_ct": pa.array(np.full(n_boxes, 0.5)).cast(pa.decimal128(18, 3), safe=False),
        "size_max_ct": pa.array(np.full(n_boxes, 4.0)).cast(pa.decimal128(18, 3), safe=False),
        "colour": pa.array(np.full(n_boxes, "white")), "quality": pa.array(np.full(n_boxes, "high")),
        "stones": pa.array(np.full(n_boxes, 40, dtype=np.int64)),
        "carats": pa.array(carats).cast(pa.decimal128(18, 3), safe=False),
        "price_usd": pa.array(np.round(carats * 900, 2)).cast(pa.decimal128(18, 2), safe=False),
        "kp_certificate_id": pa.nulls(n_boxes, pa.string()), "batch_id": pa.array(np.full(n_boxes, 2, dtype=np.int64)),
        "source_row": pa.array(np.arange(1, n_boxes + 1)), "extras": pa.nulls(n_boxes, pa.string())})
    disposed = rng.choice(n_boxes, max(n_boxes // 20, 1), replace=False)
    yield "rough_dispositions", pa.table({
        "sightholder_id": pa.array(buyer[disposed]), "box_id": pa.array(box_ids[disposed]),
        "disposition": pa.array(np.array(["sold_rough", "in_process", "rejected", "lost"])[disposed % 4]),
        "carats": pa.array(np.round(carats[disposed] / 10, 3)).cast(pa.decimal128(18, 3), safe=False),
        "date": pa.array(sale[disposed] + 40, pa.date32()), "counterparty_id": pa.array(buyer[disposed]),
        "batch_id": pa.array(np.full(len(disposed), 3, dtype=np.int64)),
        "source_row": pa.array(np.arange(1, len(disposed) + 1)), "extras": pa.nulls(len(disposed), pa.string())})
    colours, clarities = np.array(list("DEFGHIJK")), np.array(["IF", "VVS1", "VVS2", "VS1", "VS2", "SI1", "SI2", "I1"])
    shapes, labs = np.array(["round", "round", "pear", "oval"]), np.array(["GIA", "IGI", "HRD", "none"])
    for offset in range(0, n_boxes * STONES_PER_BOX, chunk):
        m = min(chunk, n_boxes * STONES_PER_BOX - offset)
        stone = offset + np.arange(m)
        box = stone // STONES_PER_BOX
        carat = np.round(np.exp(rng.normal(-0.7, 0.5, m)), 3).clip(0.01, 9)
        carat = np.where(rng.random(m) < 0.3, np.round(carat, 2).clip(0.01), carat)
        rough = (stone // 2) % 2 == 0
        report = np.where(rng.random(m) < COPIED_CLAIMS, np.maximum(stone - 1_000, 0), stone)
        yield "polished_outcomes", pa.table({
            "stone_id": pa.array(np.char.add("R", report.astype(str))),
            "lab": pa.array(np.where(report != stone, "GIA", labs[stone % 4])),
            "sightholder_id": pa.array(buyer[box]), "box_id": pa.array(box_ids[box]),
            "rough_stone_id": pa.array(np.char.add(box_ids[box], np.char.add("-", (stone % 5).astype(str))),
                                       mask=~rough),
            "rough_carats": pa.array(np.round(carat * 2.2 + 0.5, 3), mask=~rough).cast(pa.decimal128(18, 3), safe=False),
            "polished_date": pa.array(sale[box] + rng.integers(1, 300, m), pa.date32()),
            "shape": pa.array(shapes[rng.integers(0, 4, m)]),
            "carat": pa.array(carat).cast(pa.decimal128(18, 3), safe=False),
            "color": pa.array(colours[rng.integers(0, 8, m)]), "clarity": pa.array(clarities[rng.integers(0, 8, m)]),
            "cut": pa.nulls(m, pa.string()), "batch_id": pa.array(np.full(m, 4, dtype=np.int64)),
            "source_row": pa.array(stone + 1), "extras": pa.nulls(m, pa.string())})


def outcomes_store_of(rows: int) -> Path:
    """The bench store of about `rows` outcome rows (made on first use)."""

    def fill(store: Any) -> None:
        for kind, table in synthetic_market(rows):
            store.append(kind, table)

    return made_once(OUT / f"scale_outcomes_{rows}.duckdb", f"{rows:,} outcome rows", fill)


class StandInPricer:
    """A polished price per carat from the weight alone, columnar: the valuation pass's quotes
    without the price index (which the index pass times)."""

    def price_per_carat(self, shape, carat, color, clarity, date, cut=None):
        return 2_000.0 + 3_000.0 * np.asarray(carat, dtype=np.float64)


def _index_pass(store, settings) -> int:
    from roughtrace.pricing import index
    from roughtrace.pricing.schema import ensure_schema

    ensure_schema(store)
    for table in ("price_index_cells", "price_asking_gap", "price_periods"):
        store.execute(f"DELETE FROM {table}")
    return index.build(store, settings, fit_model=False).cells_written


def _model_pass(store, settings) -> int:
    from roughtrace.pricing import index

    return index.fit_and_store_model(store, settings)


def _valuation_pass(store, engine) -> int:
    from roughtrace.valuation.boxes import value_boxes
    from roughtrace.valuation.method import FlatCost

    return value_boxes(store, StandInPricer(), FlatCost(), persist=False, engine=engine).num_rows


def _facts_pass(store, settings, engine) -> int:
    from roughtrace.checks import facts

    tables = facts.gather(store, facts.FACT_NAMES, settings, engine=engine)
    return sum(table.num_rows for table in tables.values())


PASSES = {"index": "cells", "model": "trades", "valuation": "boxes", "facts": "fact rows"}
"""Each pass, with what its count counts."""


def child(engine: str, path: Path, master: str, work: str, store_memory: str) -> None:
    """One pass in this process; prints its figures as one JSON line."""
    from roughtrace.analytics.port import engine_for
    from roughtrace.settings import Settings
    from roughtrace.store import open_store

    settings = Settings(overrides={"analytics_engine": engine, "spark_master": master})
    store = open_store(f"duckdb:///{path}", memory_limit=store_memory)
    try:
        session = 0.0
        if engine == "spark":
            from roughtrace.analytics.spark import spark_session

            began = time.perf_counter()
            spark_session(master)
            session = time.perf_counter() - began
        if work == "model" and not store.query("SELECT count(*) AS n FROM price_periods").column("n")[0].as_py():
            _index_pass(store, Settings())  # the periods the model fits (not timed)
        began = time.perf_counter()
        if work == "index":
            count = _index_pass(store, settings)
        elif work == "model":
            count = _model_pass(store, settings)
        else:
            analytics = engine_for(settings)
            try:
                count = (_valuation_pass(store, analytics) if work == "valuation"
                         else _facts_pass(store, settings, analytics))
            finally:
                analytics.close()
        seconds = time.perf_counter() - began
    finally:
        store.close()
    print(json.dumps({"seconds": seconds, "session": session, "count": count}), flush=True)


def tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            continue
    return total


def measure(engine: str, path: Path, master: str, spark_memory: str, work: str, store_memory: str) -> dict:
    env = {**os.environ, "PYSPARK_SUBMIT_ARGS": f"--driver-memory {spark_memory} pyspark-shell"}
    command = [sys.executable, __file__, "--child", engine, "--store", str(path), "--master", master, "--pass", work,
               "--store-memory", store_memory]
    log = path.with_name(f"{path.stem}.{engine}-{work}.log")  # the child's stderr (Spark's log among it)
    began = time.perf_counter()
    with log.open("w") as errors:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True, env=env)
        watched = psutil.Process(process.pid)
        peak = 0
        while process.poll() is None:
            peak = max(peak, tree_rss(watched))
            time.sleep(0.1)
    out = process.stdout.read() if process.stdout else ""
    if process.returncode != 0:
        last = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-20:])
        raise SystemExit(f"{engine} {work} at {path.name} failed (exit {process.returncode}); the end of {log}:\n{last}")
    figures = json.loads(out.strip().splitlines()[-1])
    return {**figures, "peak_mb": peak / 2**20, "wall": time.perf_counter() - began}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10M,50M", help="rows per run (price records, outcome rows), e.g. 1M,10M,50M")
    parser.add_argument("--engines", default="duckdb,spark")
    parser.add_argument("--passes", default=",".join(PASSES), help=f"of {', '.join(PASSES)}")
    parser.add_argument("--master", default="local[2]", help="spark_master for the spark runs")
    parser.add_argument("--spark-memory", default="4g", help="the local Spark driver's heap")
    parser.add_argument("--store-memory", default=ENGINE_MEMORY_LIMIT,
                        help="the DuckDB store's memory limit (setting import_memory_limit; a store of well over "
                             "10M outcome rows needs it raised)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--pass", dest="work", default="index", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, Path(args.store), args.master, args.work, args.store_memory)
        return
    sizes = [rows_of(s) for s in args.sizes.split(",")]
    engines = args.engines.split(",")
    passes = args.passes.split(",")
    unknown = set(passes) - PASSES.keys()
    if unknown:
        raise SystemExit(f"no pass called {', '.join(sorted(unknown))}; the passes are {', '.join(PASSES)}")
    print(f"bench-scale: passes {args.passes}, sizes {args.sizes}, engines {args.engines} "
          f"(spark: {args.master}, driver heap {args.spark_memory}; DuckDB store memory {args.store_memory}), "
          f"cores {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    results: dict[tuple[str, str, int], dict] = {}
    for rows in sizes:
        for work in passes:
            path = store_of(rows) if work in ("index", "model") else outcomes_store_of(rows)
            for engine in engines:
                found = results[(work, engine, rows)] = measure(engine, path, args.master, args.spark_memory, work, args.store_memory)
                start = f" + session start {found['session']:.1f} s" if engine == "spark" else ""
                print(f"  {rows:>12,} rows  {work:<9} {engine:<7} {found['seconds']:8.1f} s{start}  "
                      f"peak {found['peak_mb']:8,.0f} MB  ({found['count']:,} {PASSES[work]})", flush=True)
    if len(sizes) > 1:
        first, last = sizes[0], sizes[-1]
        for work in passes:
            for engine in engines:
                a, b = results[(work, engine, first)], results[(work, engine, last)]
                print(f"  {work:<9} {engine:<7} {first:,} -> {last:,} rows (x{last / first:.0f}): "
                      f"time x{b['seconds'] / a['seconds']:.1f}, peak memory x{b['peak_mb'] / a['peak_mb']:.1f}")


if __name__ == "__main__":
    main()
