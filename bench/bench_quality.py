"""Quality matrix: how well the verdicts hold when the simulator breaks its own habits.

One small-but-meaningful market per setting (size `small`, years 2: 20 sights, 66 sightholders,
about 30k outcome rows), each knob of docs/simulator.md varied from the defaults in turn. Each market
is generated (cached under bench/out/quality-*), imported through the real importer into a fresh
DuckDB store, then assessed by the rules of this checkout: every check and the risk weighing
(bench_checks' path), the polished price index, the price book and `kp check` over every certificate
(bench_valuation's path). The verdicts are scored against the market's truth/ files.

    .venv/bin/python bench/bench_quality.py [--seeds 11,12] [--knobs defaults,row_order,producers]

The default runs two seeds (11, 12) over every row: 28 markets, about 30 s each on 2 cores.

Columns (a trailing `*` marks a cell below its goal):
- silent, copy, invent, subtle: flippers of that style rated `high` / flippers of that style that
  flipped at least one box whose processing window had closed by the judging date (goal >= 0.90);
  a flipper whose flipped boxes are all still inside the window owes nothing yet and is not scored
  (counted under `not due`);
- prec: flippers rated high / sightholders rated high that are not launderers (goal >= 0.90);
- laund: launderers rated high / launderers that reported a polished box (goal: all);
- dealers: declaring dealers rated high or medium (goal 0);
- honest: honest manufacturers and retailers rated high (goal 0), retailers among them in brackets;
- kp rec: 7102.31 lines declared >= 30% away from their true value flagged in the right direction
  (goal >= 0.95);
- kp fa: honest 7102.31 lines flagged under- or overvalued (goal <= 2%);
- 10/21: 7102.10 and 7102.21 lines given a verdict other than cannot_value / such lines;
- not due: flippers left out of the style columns because every box they flipped was sold within
  `checks_processing_window_days` of the judging date (nothing is due from them yet).
With several seeds each cell sums the counts of every seed.
"""

from __future__ import annotations

import argparse
import collections
import csv
import datetime as dt
import shutil
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from bench_valuation import CellMedianPricer, truth_lines  # noqa: E402
from roughtrace.checks import assess, run_checks  # noqa: E402
from roughtrace.checks.facts import as_of  # noqa: E402
from roughtrace.settings import Settings  # noqa: E402
from roughtrace.sim import generate_market  # noqa: E402
from roughtrace.sim.params import FLIPPER_BEHAVIOURS  # noqa: E402
from roughtrace.store import open_store  # noqa: E402
from roughtrace.valuation import settings as _valuation_settings  # noqa: E402,F401
from roughtrace.valuation.kp import check_certificates  # noqa: E402
from roughtrace.valuation.pricebook import build_price_book  # noqa: E402
from roughtrace.wiring import wire  # noqa: E402
from test_checks_support import load_market_directory  # noqa: E402

wire()  # the import's after-store hooks, as every entry point registers them

OUT = HERE / "out"
BASE: dict[str, Any] = {"years": 2}
"""The base market: the `small` preset over two years (20 sights), every knob at its default."""
SETTINGS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "defaults": [("defaults", {})],
    "row_order": [(f"row_order={v}", {"row_order": v}) for v in ("generated", "by_sightholder", "copier_first")],
    "weight_precision": [("weight_precision=three", {"weight_precision": "three"})],
    "certificate_make_up": [("certificate_make_up=boxes", {"certificate_make_up": "boxes"})],
    "exporter_mix_persistence": [(f"exporter_mix_persistence={v}", {"exporter_mix_persistence": v})
                                 for v in (0.0, 1.0)],
    "producers": [("producers=2", {"producers": 2})],
    "in_process_share": [(f"in_process_share={v}", {"in_process_share": v}) for v in (0.0, 0.3)],
    "flipper_periods": [("flipper_periods=single", {"flipper_periods": "single"})],
    "retailer_share": [("retailer_share=0.25", {"retailer_share": 0.25})],
    "years": [("years=1", {"years": 1})],
}
"""Rows of the matrix by knob: `defaults` is row_order shuffled, weight_precision reported,
certificate_make_up shipment, exporter_mix_persistence 0.85, producers 5, in_process_share 0.1, flipper_periods all,
retailer_share 0.12, years 2; every other row changes one knob from there."""
STYLES = FLIPPER_BEHAVIOURS
GOAL_RECALL = GOAL_PRECISION = 0.90
GOAL_KP_RECALL = 0.95
GOAL_KP_FALSE_ALARM = 0.02
FAR = Decimal("0.30")
"""KP recall counts lines declared at least this far (as a share) from their true value."""


@dataclass
class Score:
    """Counts behind one row of the matrix (summed over seeds)."""

    styles: dict[str, list[int]] = field(default_factory=lambda: {s: [0, 0] for s in STYLES})
    flippers_high: int = 0
    high_not_launderers: int = 0
    launderers: list[int] = field(default_factory=lambda: [0, 0])
    dealers_flagged: int = 0
    honest_high: int = 0
    retailers_high: int = 0
    kp_far: list[int] = field(default_factory=lambda: [0, 0])
    kp_honest: list[int] = field(default_factory=lambda: [0, 0])
    other_codes: list[int] = field(default_factory=lambda: [0, 0])
    not_due: int = 0
    pricer: str = ""


def market_folder(label: str, overrides: dict[str, Any], seed: int) -> Path:
    slug = label.replace("=", "-").replace(".", "_")
    folder = OUT / f"quality-{slug}-{seed}"
    if not (folder / "manifest.json").exists():
        shutil.rmtree(folder, ignore_errors=True)
        generate_market(folder, seed=seed, size="small", **{**BASE, **overrides})
    return folder


def fresh_store(folder: Path):
    """A new DuckDB store holding the market, loaded through the real importer (never cached, so
    the schema and the import are this checkout's)."""
    path = folder / "store.duckdb"
    for stale in (path, Path(f"{path}.wal")):
        stale.unlink(missing_ok=True)
    store = open_store(f"duckdb:///{path}", memory_limit="2GB")
    store.migrate()
    load_market_directory(store, folder)
    return store


def polished_pricer(store, settings: Settings) -> tuple[Any, str]:
    """The pricing package's index, built afresh from the market's transactions; bench_valuation's
    cell-median stand-in when the index cannot be built."""
    try:
        from roughtrace.pricing.index import build
        from roughtrace.valuation.pricer import index_pricer

        build(store, settings)
        return index_pricer(store, settings), "index"
    except Exception as exc:  # the pricing package may fail on a market: say so and go on
        print(f"    pricing index unavailable ({type(exc).__name__}: {exc}); cell-median stand-in")
        return CellMedianPricer(store), "cells"


def score_checks(store, settings: Settings, folder: Path, score: Score) -> None:
    findings = run_checks(store, settings)
    level = {r.sightholder_id: r.level for r in assess(store, settings, findings=findings)}
    with open(folder / "truth" / "sightholders.csv", newline="") as f:
        holders = list(csv.DictReader(f))
    with open(folder / "truth" / "boxes.csv", newline="") as f:
        boxes = list(csv.DictReader(f))
    with open(folder / "rough_sales.csv", newline="") as f:
        sold = {r["box_id"]: dt.date.fromisoformat(r["sale_date"]) for r in csv.DictReader(f)}
    # a box sold within the processing window of the judging date owes no outcome yet
    cutoff = as_of(store, settings) - dt.timedelta(days=int(settings["checks_processing_window_days"]))
    flipped = {b["buyer_id"] for b in boxes if b["fate"] == "flipped_undeclared"}
    due = {b["buyer_id"] for b in boxes if b["fate"] == "flipped_undeclared" and sold[b["box_id"]] < cutoff}
    polished = {row.split(",")[2] for row in (folder / "polished_outcomes.csv").read_text().splitlines()[1:]}
    high = {h for h, lv in level.items() if lv == "high"}
    behaviour = {h["sightholder_id"]: h["behaviour"] for h in holders}
    launderers = {h for h, b in behaviour.items() if b == "launderer"}
    for h in holders:
        sid, b = h["sightholder_id"], h["behaviour"]
        if b in STYLES and sid in due:
            score.styles[b][0] += sid in high
            score.styles[b][1] += 1
        elif b in STYLES and sid in flipped:
            score.not_due += 1
        if b == "launderer" and sid in polished:
            score.launderers[0] += sid in high
            score.launderers[1] += 1
        if b == "dealer_declared" and level.get(sid) in ("high", "medium"):
            score.dealers_flagged += 1
        if b == "honest" and sid in high:
            score.honest_high += 1
            score.retailers_high += h["category"] == "retailer"
    score.flippers_high += sum(behaviour.get(h) in STYLES for h in high)
    score.high_not_launderers += len(high - launderers)


def score_kp(store, settings: Settings, folder: Path, score: Score) -> None:
    pricer, score.pricer = polished_pricer(store, settings)
    build_price_book(store, settings, pricer)
    lines = check_certificates(store, settings)
    truth = truth_lines(folder)
    for row in lines.select(["certificate_id", "hs_code", "verdict"]).to_pylist():
        t = truth[(row["certificate_id"], row["hs_code"])]
        verdict = row["verdict"]
        if row["hs_code"] != "7102.31":
            score.other_codes[0] += verdict != "cannot_value"
            score.other_codes[1] += 1
            continue
        ratio = Decimal(t["ratio"])
        if ratio <= 1 - FAR or ratio >= 1 + FAR:
            score.kp_far[0] += verdict == ("undervalued" if ratio < 1 else "overvalued")
            score.kp_far[1] += 1
        elif t["misdeclaration"] == "none":
            score.kp_honest[0] += verdict in ("undervalued", "overvalued")
            score.kp_honest[1] += 1


def share(part: int, whole: int) -> float:
    return part / whole if whole else float("nan")


def cell(text: str, ok: bool, width: int) -> str:
    return f"{text + ('' if ok else '*'):>{width}}"


def matrix(rows: list[tuple[str, Score]]) -> str:
    head = ("setting", "silent", "copy", "invent", "subtle", "prec", "laund", "dealers", "honest", "kp rec",
            "kp fa", "10/21", "not due")
    widths = (26, 7, 7, 7, 7, 7, 7, 9, 10, 8, 8, 9, 8)
    lines = ["".join(f"{h:>{w}}" if i else f"{h:<{w}}" for i, (h, w) in enumerate(zip(head, widths, strict=True)))]
    for label, s in rows:
        cells = [f"{label:<{widths[0]}}"]
        for i, style in enumerate(STYLES, start=1):
            found, total = s.styles[style]
            r = share(found, total)
            cells.append(cell(f"{r:.2f}" if total else "-", not total or r >= GOAL_RECALL, widths[i]))
        p = share(s.flippers_high, s.high_not_launderers)
        cells.append(cell(f"{p:.2f}" if s.high_not_launderers else "-",
                          s.high_not_launderers == 0 or p >= GOAL_PRECISION, widths[5]))
        cells.append(cell(f"{s.launderers[0]}/{s.launderers[1]}", s.launderers[0] == s.launderers[1], widths[6]))
        cells.append(cell(str(s.dealers_flagged), s.dealers_flagged == 0, widths[7]))
        cells.append(cell(f"{s.honest_high}" + (f"(r{s.retailers_high})" if s.retailers_high else ""),
                          s.honest_high == 0, widths[8]))
        kr = share(*s.kp_far)
        cells.append(cell(f"{kr:.2f}" if s.kp_far[1] else "-", not s.kp_far[1] or kr >= GOAL_KP_RECALL, widths[9]))
        fa = share(*s.kp_honest)
        cells.append(cell(f"{fa:.1%}" if s.kp_honest[1] else "-", not s.kp_honest[1] or fa <= GOAL_KP_FALSE_ALARM,
                          widths[10]))
        cells.append(f"{s.other_codes[0]}/{s.other_codes[1]}".rjust(widths[11]))
        cells.append(str(s.not_due).rjust(widths[12]))
        lines.append("".join(cells))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="11,12", help="comma-separated simulator seeds (cells sum over them)")
    parser.add_argument("--knobs", default=",".join(SETTINGS),
                        help=f"comma-separated rows to run, among: {', '.join(SETTINGS)}")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    knobs = [k.strip() for k in args.knobs.split(",") if k.strip()]
    unknown = [k for k in knobs if k not in SETTINGS]
    if unknown:
        parser.error(f"unknown knobs {unknown}; choose among {', '.join(SETTINGS)}")
    OUT.mkdir(exist_ok=True)
    settings = Settings(environ={})
    started = time.perf_counter()
    rows: list[tuple[str, Score]] = []
    pricers: collections.Counter = collections.Counter()
    for knob in knobs:
        for label, overrides in SETTINGS[knob]:
            score = Score()
            for seed in seeds:
                t0 = time.perf_counter()
                folder = market_folder(label, overrides, seed)
                store = fresh_store(folder)
                try:
                    score_checks(store, settings, folder, score)
                    score_kp(store, settings, folder, score)
                finally:
                    store.close()
                pricers[score.pricer] += 1
                print(f"  {label}, seed {seed}: {time.perf_counter() - t0:.1f} s", flush=True)
            rows.append((label, score))
    print(f"\nquality matrix: size small, years 2 unless the row says otherwise, seeds {', '.join(map(str, seeds))} "
          f"(cells sum the seeds; `*` = below the goal)")
    print(matrix(rows))
    print("goals: flipper recall per style and precision >= 0.90, every launderer found, no declaring dealer or "
          "honest sightholder flagged, KP recall >= 0.95 with <= 2% of honest 7102.31 lines flagged")
    print(f"polished prices: {dict(pricers)} (index = the pricing package's index, cells = the stand-in)")
    print(f"total time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
