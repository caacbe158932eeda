"""Benchmark the market simulator: generate the `large` market (10M polished outcome rows plus the
rest) and report seconds and peak RSS against the targets (60 s, 2 GB); then, unless --no-import,
import every file into a fresh DuckDB store through the real importers and report rows/s per file.

    .venv/bin/python bench/bench_sim.py [--size large] [--seed 1] [--workers 2] [--no-import]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

TARGET_SECONDS = 60.0
TARGET_RSS_BYTES = 2 * 1024**3
OUT = Path(__file__).resolve().parent / "out"

GENERATE = """
import json, sys
from roughtrace.sim import generate_market

from roughtrace.wiring import wire  # noqa: E402

wire()  # the import's after-store hooks, as every entry point registers them
m = generate_market(sys.argv[1], seed=int(sys.argv[2]), size=sys.argv[3], workers=int(sys.argv[4]),
                    **json.loads(sys.argv[5]))
print(json.dumps({f.kind: f.rows for f in m.files}))
"""


def peak_rss_children() -> int:
    """Peak resident set size of the largest finished child process, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def generate(out_dir: Path, seed: int, size: str, workers: int, overrides: dict) -> tuple[dict, float, float, int]:
    """Generate in a child process so its peak RSS and CPU time are measured alone; returns
    (rows by kind, wall seconds, CPU seconds, peak RSS bytes)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", GENERATE, str(out_dir), str(seed), size, str(workers),
                           json.dumps(overrides)], check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads(done.stdout.strip().splitlines()[-1]), seconds, cpu, peak_rss_children()


def import_market(out_dir: Path, rows: dict) -> None:
    import psutil

    from roughtrace.ingest import import_file
    from roughtrace.store import open_store
    from roughtrace.wiring import wire

    wire()  # the composition root, as every entry point runs it
    db = out_dir.with_suffix(".duckdb")
    db.unlink(missing_ok=True)
    store = open_store("duckdb:///" + str(db))
    store.migrate()
    process = psutil.Process()
    total_rows, total_seconds = 0, 0.0
    print(f"\nimport into {db} (embedded DuckDB, import_threads and memory limit at their defaults)")
    print(f"{'file':<24}{'rows':>12}{'rejected':>10}{'seconds':>10}{'rows/s':>12}{'RSS MB':>9}")
    for kind, count in rows.items():
        started = time.perf_counter()
        result = import_file(store, kind, out_dir / f"{kind}.csv")
        seconds = time.perf_counter() - started
        total_rows += result.rows_read
        total_seconds += seconds
        rss = max(process.memory_info().rss, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
        print(f"{kind + '.csv':<24}{result.rows_read:>12,}{result.rows_rejected:>10,}{seconds:>10.1f}"
              f"{result.rows_read / max(seconds, 1e-9):>12,.0f}{rss / 2**20:>9,.0f}")
        if result.rows_rejected or result.rows_read != count:
            print(f"  !! {kind}: {result.rows_rejected} rejected of {result.rows_read} read ({count} written):"
                  f" {result.errors[:2]}")
    print(f"{'all files':<24}{total_rows:>12,}{'':>10}{total_seconds:>10.1f}{total_rows / total_seconds:>12,.0f}")
    print(f"peak RSS of the importing process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:,.2f} GiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="large", choices=["small", "medium", "large"])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="threads drawing chunks")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a simulator parameter (JSON value), e.g. --set n_transactions=10000000")
    parser.add_argument("--no-import", action="store_true", help="only generate; skip the end-to-end import")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()
    overrides = {}
    for item in args.set:
        name, _, value = item.partition("=")
        overrides[name] = json.loads(value)

    out_dir = OUT / f"sim_{args.size}"
    shutil.rmtree(out_dir, ignore_errors=True)
    load_before = os.getloadavg()[0]
    rows, seconds, cpu, rss = generate(out_dir, args.seed, args.size, args.workers, overrides)
    size_mb = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file()) / 2**20
    print(f"roughtrace.sim: size={args.size} seed={args.seed} workers={args.workers} overrides={overrides}")
    for kind, count in rows.items():
        print(f"  {kind:<22}{count:>12,} rows")
    print(f"  {'written':<22}{size_mb:>12,.0f} MB")
    print(f"generate: {seconds:.1f} s  (target {TARGET_SECONDS:.0f} s, ratio {seconds / TARGET_SECONDS:.2f})")
    print(f"CPU time: {cpu:.1f} s user+sys over {os.cpu_count()} cores (load average before the run "
          f"{load_before:.1f}, after {os.getloadavg()[0]:.1f}: other work on the machine slows the wall time)")
    print(f"peak RSS: {rss / 2**30:.2f} GiB  (target {TARGET_RSS_BYTES / 2**30:.0f} GiB, "
          f"ratio {rss / TARGET_RSS_BYTES:.2f})")
    print(f"throughput: {rows['polished_outcomes'] / seconds:,.0f} polished rows/s, {size_mb / seconds:,.0f} MB/s")
    if not args.no_import:
        import_market(out_dir, rows)
    if not args.keep:
        shutil.rmtree(out_dir, ignore_errors=True)
        for path in OUT.glob(f"{out_dir.name}.duckdb*"):  # the store, its WAL, the ledger key beside it
            path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
