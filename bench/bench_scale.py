"""Benchmark of the analytics at scale: the ported computations on the default engine (DuckDB and
numpy in this process) and on a local Spark, side by side, time and peak memory, and how each
grows with the rows.

Run: make bench-scale   (or .venv/bin/python bench/bench_scale.py [--sizes 10M,50M] [--engines duckdb,spark]
                         [--master local[2]] [--spark-memory 4g])

Each size is a DuckDB store of N synthetic price records (bench_prices' generator: 24 months,
about 10% asking rows, 0.1% gross errors), made once in bench/out and kept. Each (size, engine) runs
in a fresh process: a full build of the price index cells (every period recomputed, the quote
model's fit left out, as it samples a fixed number of trades whatever the size); its time, and the
peak resident memory of the process and every process under it (Spark's JVM) sampled every 0.1 s.
Spark's time is given with and without its session's start; its tables reach it as Parquet staged
from the store (the local path; a cluster reads a snapshot, `roughtrace export parquet`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

from roughtrace.wiring import wire

wire()  # the composition root, as every entry point runs it

OUT = Path(__file__).resolve().parent / "out"
UNITS = {"K": 1_000, "M": 1_000_000}


def rows_of(text: str) -> int:
    text = text.strip().upper()
    return int(float(text[:-1]) * UNITS[text[-1]]) if text[-1] in UNITS else int(text)


def store_of(rows: int) -> Path:
    """The bench store of `rows` price records (made on first use)."""
    from bench_prices import synthetic_transactions
    from roughtrace.pricing.schema import ensure_schema
    from roughtrace.store import open_store

    path = OUT / f"scale_{rows}.duckdb"
    if path.exists():
        return path
    OUT.mkdir(exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    store = open_store(f"duckdb:///{partial}")
    try:
        store.migrate()
        ensure_schema(store)
        started = time.perf_counter()
        for chunk in synthetic_transactions(rows):
            store.append("transactions", chunk)
        print(f"  made {partial.name}: {rows:,} price records in {time.perf_counter() - started:.0f} s", flush=True)
    finally:
        store.close()
    partial.rename(path)
    return path


def child(engine: str, path: Path, master: str) -> None:
    """One build in this process; prints its figures as one JSON line."""
    from roughtrace.pricing import index
    from roughtrace.pricing.schema import ensure_schema
    from roughtrace.settings import Settings
    from roughtrace.store import open_store

    settings = Settings(overrides={"analytics_engine": engine, "spark_master": master})
    store = open_store(f"duckdb:///{path}")
    try:
        ensure_schema(store)
        for table in ("price_index_cells", "price_asking_gap", "price_periods"):
            store.execute(f"DELETE FROM {table}")
        session = 0.0
        if engine == "spark":
            from roughtrace.analytics.spark import spark_session

            began = time.perf_counter()
            spark_session(master)
            session = time.perf_counter() - began
        began = time.perf_counter()
        report = index.build(store, settings, fit_model=False)
        seconds = time.perf_counter() - began
    finally:
        store.close()
    print(json.dumps({"seconds": seconds, "session": session, "cells": report.cells_written}), flush=True)


def tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            continue
    return total


def measure(engine: str, path: Path, master: str, spark_memory: str) -> dict:
    env = {**os.environ, "PYSPARK_SUBMIT_ARGS": f"--driver-memory {spark_memory} pyspark-shell"}
    command = [sys.executable, __file__, "--child", engine, "--store", str(path), "--master", master]
    began = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    watched = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        peak = max(peak, tree_rss(watched))
        time.sleep(0.1)
    out = process.stdout.read() if process.stdout else ""
    if process.returncode != 0:
        raise SystemExit(f"{engine} at {path.name} failed (exit {process.returncode})")
    figures = json.loads(out.strip().splitlines()[-1])
    return {**figures, "peak_mb": peak / 2**20, "wall": time.perf_counter() - began}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10M,50M", help="price records per run, e.g. 1M,10M,50M")
    parser.add_argument("--engines", default="duckdb,spark")
    parser.add_argument("--master", default="local[2]", help="spark_master for the spark runs")
    parser.add_argument("--spark-memory", default="4g", help="the local Spark driver's heap")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, Path(args.store), args.master)
        return
    sizes = [rows_of(s) for s in args.sizes.split(",")]
    engines = args.engines.split(",")
    print(f"bench-scale: the price index cells, full build, sizes {args.sizes}, engines {args.engines} "
          f"(spark: {args.master}, driver heap {args.spark_memory}), cores {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    results: dict[tuple[str, int], dict] = {}
    for rows in sizes:
        path = store_of(rows)
        for engine in engines:
            found = results[(engine, rows)] = measure(engine, path, args.master, args.spark_memory)
            start = f" + session start {found['session']:.1f} s" if engine == "spark" else ""
            print(f"  {rows:>12,} rows  {engine:<7} build {found['seconds']:8.1f} s{start}  peak {found['peak_mb']:8,.0f} MB"
                  f"  ({found['cells']:,} cells)", flush=True)
    if len(sizes) > 1:
        first, last = sizes[0], sizes[-1]
        for engine in engines:
            a, b = results[(engine, first)], results[(engine, last)]
            print(f"  {engine:<7} {first:,} -> {last:,} rows (x{last / first:.0f}): time x{b['seconds'] / a['seconds']:.1f}, "
                  f"peak memory x{b['peak_mb'] / a['peak_mb']:.1f}")


if __name__ == "__main__":
    main()
