"""Benchmark of the price book's aggregation on the default engine: `aggregate_price_book` over the
valued boxes of one store, and the whole `build_price_book` (value every box, aggregate, fit, store).

Run: PYTHONPATH=src .venv/bin/python bench/bench_book.py [--store PATH] [--times 15] [--builds 5]
                                                         [--replicate 70]

The store is the `medium` demo market (seed 5) made once in bench/out, unless `--store` names
another with a built price book; each run works on a copy. `--replicate K` also times the
aggregation over the store's valued boxes K times over, each copy's periods relabelled so that the
groups grow with the boxes. The roughtrace it times is the one on PYTHONPATH, so that two trees can be
timed in turn on the same store.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from roughtrace.wiring import wire

wire()  # the composition root, as every entry point runs it

OUT = Path(__file__).resolve().parent / "out"


def demo_store() -> Path:
    """The medium demo market's store (made on first use)."""
    from roughtrace.app import Context
    from roughtrace.app.demo import run_demo
    from roughtrace.settings import Settings
    from roughtrace.store import open_store

    path = OUT / "book-medium-5.duckdb"
    if not path.exists():
        OUT.mkdir(exist_ok=True)
        made = path.with_suffix(".making")
        made.unlink(missing_ok=True)
        store = open_store(f"duckdb:///{made}")
        try:
            store.migrate()
            run_demo(Context(store, Settings()), seed=5, size="medium", out_dir=OUT / "book-medium-5")
        finally:
            store.close()
        made.rename(path)
    return path


def best(work: Callable[[], object], times: int) -> tuple[float, float]:
    """The best and the median of `times` runs of `work`, in seconds."""
    seconds = []
    for _ in range(times):
        began = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - began)
    return min(seconds), statistics.median(seconds)


def replicated(boxes: pa.Table, copies: int) -> pa.Table:
    """`boxes` `copies` times over, each copy's periods relabelled (a twelfth of a period each)."""
    index = boxes.schema.get_field_index("period")
    return pa.concat_tables([
        boxes.set_column(index, "period", pc.binary_join_element_wise(boxes["period"], pa.scalar(f"{k % 12:02d}"), "-"))
        for k in range(copies)]).combine_chunks()


def main() -> None:
    from roughtrace.settings import Settings
    from roughtrace.store import open_store
    from roughtrace.valuation.pricebook import aggregate_price_book, build_price_book
    from roughtrace.valuation.pricer import index_pricer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, help="a DuckDB store with a built price book (default: the medium demo)")
    parser.add_argument("--times", type=int, default=15, help="aggregations timed")
    parser.add_argument("--builds", type=int, default=5, help="whole builds timed")
    parser.add_argument("--replicate", type=int, default=0, help="also aggregate the valued boxes this many times over")
    args = parser.parse_args()
    source = args.store or demo_store()
    with tempfile.TemporaryDirectory(prefix="bench-book-") as work:
        path = Path(work) / "store.duckdb"
        shutil.copy(source, path)
        store = open_store(f"duckdb:///{path}")
        try:
            settings = Settings()
            boxes = store.query("SELECT * FROM box_valuations")
            entries = aggregate_price_book(boxes, "bench").num_rows
            low, middle = best(lambda: aggregate_price_book(boxes, "bench"), args.times)
            print(f"aggregate_price_book: {boxes.num_rows:,} boxes, {entries:,} entries, best {low:.4f} s, "
                  f"median {middle:.4f} s of {args.times}")
            low, middle = best(lambda: build_price_book(store, settings, index_pricer(store, settings)), args.builds)
            print(f"build_price_book: best {low:.3f} s, median {middle:.3f} s of {args.builds}")
            if args.replicate:
                many = replicated(boxes, args.replicate)
                entries = aggregate_price_book(many, "bench").num_rows
                low, middle = best(lambda: aggregate_price_book(many, "bench"), 3)
                print(f"aggregate_price_book: {many.num_rows:,} boxes, {entries:,} entries, best {low:.3f} s, "
                      f"median {middle:.3f} s of 3")
        finally:
            store.close()


if __name__ == "__main__":
    main()
