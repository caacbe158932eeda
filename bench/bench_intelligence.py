"""Benchmark of market intelligence: every sightholder's reports on a simulated market, audit included.

For each market size asked: generate the market (cached under bench/out/, shared with bench_checks),
load it into a DuckDB store, build the price index once (untimed: reports read it), then time the
steps of a report run: the facts query in the engine, the cells in numpy, the market's protection
(primary rules, complementary cells, the linear-programming audit that must pass), and one report
for every (sightholder, period) with a purchase. Prints what was published and hidden.

Then the same market after late data: a release made before a tenth of the contributors of each
period but the last had reported (their figures there missing), and the market protected and
audited again against that release (`domain.disclosure.with_record`: every revised cell judged).

    .venv/bin/python bench/bench_intelligence.py [--size small,medium] [--seed 11]

Beside each wall time, the process's CPU time (every thread's): on a loaded machine the wall times
grow with the load, the CPU times much less.

Target (issue 20): reports for every sightholder of `large` (10 M outcome rows) in under 60 s, audit included.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from bench_checks import loaded_store, market_dir  # noqa: E402
from roughtrace.intelligence import cells as cell_sums  # noqa: E402
from roughtrace.intelligence.reports import Market, report_for  # noqa: E402
from roughtrace.intelligence.settings import rules  # noqa: E402
from roughtrace.settings import Settings  # noqa: E402


def run(size: str, seed: int) -> None:
    print(f"{size} market (seed {seed})")
    directory = market_dir(size, seed)
    store = loaded_store(size, seed, directory)
    settings = Settings()
    if store.query("SELECT count(*) AS n FROM price_index_cells").column("n")[0].as_py() == 0:
        from roughtrace.pricing import index

        started = time.perf_counter()
        index.build(store, settings)
        print(f"  built the price index in {time.perf_counter() - started:.1f} s (untimed below)")
    timings: dict[str, float] = {}
    cpu: dict[str, float] = {}
    clock = time.process_time()
    started = time.perf_counter()
    facts = cell_sums.box_facts(store, settings["intelligence_period"], settings["price_period"])
    timings["facts query (engine)"] = time.perf_counter() - started
    cpu["facts query (engine)"], clock = time.process_time() - clock, time.process_time()
    started = time.perf_counter()
    cells = cell_sums.market_cells(facts, settings["intelligence_contribution_share"])
    timings["cells (numpy)"] = time.perf_counter() - started
    cpu["cells (numpy)"], clock = time.process_time() - clock, time.process_time()
    started = time.perf_counter()
    market = Market.build(cells, rules(settings))
    timings["protection and audit"] = time.perf_counter() - started
    cpu["protection and audit"], clock = time.process_time() - clock, time.process_time()
    started = time.perf_counter()
    pairs = np.argwhere(cells.boxes > 0)
    reports = [report_for(market, cells.sightholders[h], cells.periods[p], settings["intelligence_contribution_share"])
               for h, p in pairs]
    timings["reports"] = time.perf_counter() - started
    cpu["reports"] = time.process_time() - clock
    total = sum(timings.values())
    late = cells.contributed.copy()
    late[::10, :-1] = False  # every tenth sightholder's figures of the earlier periods arrive late
    started = time.perf_counter()
    earlier = Market.build(dataclasses.replace(cells, contributed=late), rules(settings))
    released = {kind: [protected.release()] for kind, protected in earlier.kinds.items()}
    first_release = time.perf_counter() - started
    started, clock = time.perf_counter(), time.process_time()
    revised = Market.build(cells, rules(settings), released)
    with_record, with_record_cpu = time.perf_counter() - started, time.process_time() - clock
    outcome_rows = store.query("SELECT count(*) AS n FROM polished_outcomes").column("n")[0].as_py()
    print(f"  {facts.num_rows:,} boxes, {outcome_rows:,} outcome rows, {len(cells.sightholders)} sightholders, "
          f"{len(cells.periods)} periods; {int(cells.contributed.sum()):,} of {len(pairs):,} (sightholder, period) "
          "pairs contributed")
    for kind, protected in market.kinds.items():
        hidden = protected.suppression.suppressed
        primary = sum(1 for j in np.flatnonzero(hidden) if protected.suppression.reasons.get(int(j), ())[:1]
                      not in (("complementary",), ("shared total",)))
        print(f"  {kind}: {len(protected.table.cells):,} cells ({len(protected.segments)} rows with margins), "
              f"{int(hidden.sum()):,} hidden ({primary:,} by a primary rule)")
    print(f"  {len(reports):,} reports, {sum(r.market_figures() for r in reports):,} market figures in them")
    for step, seconds in timings.items():
        print(f"  {step:<24} {seconds:8.2f} s  ({cpu[step]:.2f} s CPU, every thread)")
    print(f"  {'total':<24} {total:8.2f} s  ({sum(cpu.values()):.2f} s CPU)" + ("  (target < 60 s)" if size == "large" else ""))
    for kind, protected in revised.kinds.items():
        own = len(protected.own.cells) if protected.own is not None else len(protected.table.cells)
        hidden = protected.suppression.suppressed[:own]
        reasons = [protected.suppression.reasons.get(int(j), ())[:1] for j in np.flatnonzero(hidden)]
        print(f"  after late data, {kind}: {len(protected.table.cells) - own:,} cells as released beside {own:,}, "
              f"{int(hidden.sum()):,} hidden ({reasons.count(('revision',)):,} as revisions)")
    print(f"  {'first release (late)':<24} {first_release:8.2f} s  (untimed above)")
    print(f"  {'protection and audit over the release':<24} {with_record:8.2f} s ({with_record_cpu:.2f} s CPU); with the steps above "
          f"{total + with_record:.2f} s" + ("  (target < 60 s)" if size == "large" else ""))
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="small,medium", help="Comma-separated sizes: small, medium, large.")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    for size in args.size.split(","):
        run(size.strip(), args.seed)


if __name__ == "__main__":
    main()
