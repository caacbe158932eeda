"""Valuation benchmark: quality of the KP checks on the simulator's ground truth, and speed.

    .venv/bin/python bench/bench_valuation.py [--size large|medium|small] [--seed N]
                                              [--certificates 100000] [--pricer index|cells]
                                              [--knob certificate_make_up=boxes ...]

The default (`make bench-valuation`) is the large market, which the 10M-row target needs: the first
run generates and imports it and builds the polished index (about 15 minutes on 2 cores); later runs
reuse them and take under a minute. `--size medium` is the quick one.

One run: generate the market (bench/out/, reused when present), import it through the real
importers, build the polished price index and the rough price book (timed), check every certificate
line (timed) and compare the verdicts with truth/certificate_lines.csv; then replicate the
certificates to `--certificates` and time `kp check --all` over them.

Targets (issue 5): of lines declared 30% or more away from their true value, at least 95% flagged in
the right direction; of honest lines at most 2% flagged; kp check over 100,000 certificates < 5 s;
the price book over 10M outcome rows < 30 s (the `large` market).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from roughtrace.settings import Settings  # noqa: E402
from roughtrace.store import open_store  # noqa: E402
from roughtrace.valuation import settings as _valuation_settings  # noqa: E402,F401
from roughtrace.valuation.kp import check_certificates  # noqa: E402
from roughtrace.valuation.pricebook import build_price_book, headline  # noqa: E402
from roughtrace.valuation.schema import MIGRATION  # noqa: E402
from roughtrace.wiring import wire  # noqa: E402

wire()  # the import's after-store hooks, as every entry point registers them

OUT = ROOT / "bench" / "out"
VALUATION_TABLES = tuple(re.search(r"CREATE TABLE (\w+)", ddl).group(1) for ddl in MIGRATION.statements)
"""Valuation's own tables: the bench recreates them so each run measures this checkout's schema."""


def market(size: str, seed: int, knobs: dict[str, str] | None = None) -> Path:
    """The market's folder under bench/out, generated when absent; `knobs` are simulator parameters
    (docs/simulator.md) and name the folder."""
    from roughtrace.sim import generate_market

    knobs = knobs or {}
    suffix = "".join(f"-{k}-{v}" for k, v in sorted(knobs.items()))
    folder = OUT / f"valuation-{size}-{seed}{suffix}"
    if not (folder / "manifest.json").exists():
        started = time.perf_counter()
        generate_market(folder, seed=seed, size=size, **knobs)
        print(f"generated the {size} market in {time.perf_counter() - started:.1f} s")
    return folder


def imported_store(folder: Path):
    from roughtrace.ingest import import_file

    path = folder / "store.duckdb"
    done = folder / "store.imported"
    if not done.exists():
        for leftover in (path, Path(f"{path}.wal")):
            leftover.unlink(missing_ok=True)
        store = open_store(f"duckdb:///{path}")
        store.migrate()
        manifest = json.loads((folder / "manifest.json").read_text())
        started = time.perf_counter()
        for entry in manifest["files"]:
            result = import_file(store, entry["kind"], folder / entry["file"], ledger=False)
            if result.rows_rejected:
                print(f"  {entry['kind']}: {result.rows_rejected} rows rejected")
        print(f"imported in {time.perf_counter() - started:.1f} s")
        store.close()
        done.write_text("ok\n")
    store = open_store(f"duckdb:///{path}", memory_limit="4GB")
    for table in VALUATION_TABLES:
        store.execute(f"DROP TABLE IF EXISTS {table}")
    store.execute("DELETE FROM schema_migrations WHERE version = ?", (MIGRATION.version,))
    store.migrate()
    return store


class CellMedianPricer:
    """Stand-in polished pricer, used only when the pricing package offers no quote function: the
    median transaction price per carat of the stone's cell (shape family, size bracket, colour,
    clarity) over all periods, else of its family and bracket."""

    def __init__(self, store) -> None:
        from roughtrace.pricing.index import BRACKET_SQL, FAMILY_SQL

        bracket = BRACKET_SQL.format(col="carat") if "{col}" in BRACKET_SQL else BRACKET_SQL
        self.cells = store.query(
            f"SELECT {FAMILY_SQL} AS family, {bracket} AS bracket, color, clarity, "
            "MEDIAN(CAST(price_usd AS DOUBLE) / CAST(carat AS DOUBLE)) AS ppc FROM transactions "
            "WHERE price_type = 'transaction' GROUP BY 1, 2, 3, 4").to_pandas()
        self.brackets = self.cells.groupby(["family", "bracket"])["ppc"].median().rename("fallback").reset_index()

    def price_per_carat(self, shape, carat, color, clarity, date, cut=None):
        import pandas as pd

        from roughtrace.domain.sizes import BRACKET_LOWER_BOUNDS, BRACKETS

        lows = np.array([float(b) for b in BRACKET_LOWER_BOUNDS])
        bracket = np.array(BRACKETS)[np.clip(np.searchsorted(lows, carat, side="right") - 1, 0, len(BRACKETS) - 1)]
        stones = pd.DataFrame({
            "family": np.where(np.array(shape.to_pylist()) == "round", "round", "fancy"), "bracket": bracket,
            "color": color.to_pylist(), "clarity": clarity.to_pylist()})
        priced = stones.merge(self.cells, how="left", on=["family", "bracket", "color", "clarity"]).merge(
            self.brackets, how="left", on=["family", "bracket"])
        return priced["ppc"].fillna(priced["fallback"]).fillna(self.cells["ppc"].median()).to_numpy()


def pricer_for(store, choice: str):
    if choice == "index":
        try:
            from roughtrace.pricing.index import build
            from roughtrace.valuation.pricer import PricerUnavailable, index_pricer

            try:
                pricer = index_pricer(store, Settings())
                print("polished price index: built by an earlier run")
            except PricerUnavailable:
                started = time.perf_counter()
                build(store, Settings())
                pricer = index_pricer(store, Settings())
                print(f"polished price index built in {time.perf_counter() - started:.1f} s")
            return pricer, "pricing index"
        except Exception as exc:  # the pricing package may not offer quotes yet
            print(f"pricing index unavailable ({exc}); using the cell-median stand-in")
    return CellMedianPricer(store), "cell-median stand-in"


def truth_lines(folder: Path) -> dict[tuple[str, str], dict[str, str]]:
    with open(folder / "truth" / "certificate_lines.csv", newline="") as f:
        return {(r["certificate_id"], r["hs_code"]): r for r in csv.DictReader(f)}


def quality(lines: pa.Table, truth: dict) -> dict:
    table: Counter = Counter()
    by_basis: Counter = Counter()
    for row in lines.select(["certificate_id", "hs_code", "verdict", "basis"]).to_pylist():
        t = truth[(row["certificate_id"], row["hs_code"])]
        ratio = Decimal(t["ratio"])
        actual = "under >=30%" if ratio <= Decimal("0.70") else "over >=30%" if ratio >= Decimal("1.30") else (
            "honest" if t["misdeclaration"] == "none" else "misdeclared <30%")
        table[(actual, row["verdict"])] += 1
        by_basis[(actual, row["basis"], row["verdict"])] += 1
    under = sum(v for (a, _), v in table.items() if a == "under >=30%")
    over = sum(v for (a, _), v in table.items() if a == "over >=30%")
    honest = sum(v for (a, _), v in table.items() if a == "honest")
    right = table[("under >=30%", "undervalued")] + table[("over >=30%", "overvalued")]
    flagged_honest = table[("honest", "undervalued")] + table[("honest", "overvalued")]
    return {
        "table": table, "by_basis": by_basis, "far": under + over, "right": right, "honest": honest,
        "flagged_honest": flagged_honest,
        "recall": right / (under + over) if under + over else float("nan"),
        "false_alarm": flagged_honest / honest if honest else float("nan"),
    }


def print_confusion(q: dict) -> None:
    verdicts = ("undervalued", "reasonable", "overvalued", "cannot_value")
    print("\n" + f"{'truth / verdict':<20}" + "".join(f"{v:>14}" for v in verdicts) + f"{'total':>8}")
    for actual in ("under >=30%", "misdeclared <30%", "honest", "over >=30%"):
        counts = [q["table"][(actual, v)] for v in verdicts]
        print(f"{actual:<20}" + "".join(f"{c:>14}" for c in counts) + f"{sum(counts):>8}")
    print("\nby basis (truth, basis, verdict): count")
    for key in sorted(q["by_basis"]):
        print(f"  {key[0]:<18}{key[1]:<19}{key[2]:<14}{q['by_basis'][key]:>7}")


def replicate_certificates(store, folder: Path, target: int) -> Path:
    """A copy of the store whose certificates (and parcel contents) are repeated, with new numbers,
    until there are `target` certificates."""
    path = folder / f"store-{target}-certificates.duckdb"
    if path.exists():
        path.unlink()
    shutil.copyfile(folder / "store.duckdb", path)
    copy = open_store(f"duckdb:///{path}", memory_limit="4GB")
    have = copy.query("SELECT COUNT(DISTINCT certificate_id) AS n FROM kp_certificates")["n"][0].as_py()
    copies = max(0, -(-target // have) - 1)
    with copy.transaction():
        for k in range(1, copies + 1):
            copy.execute(f"INSERT INTO kp_certificates SELECT * REPLACE (certificate_id || '-R{k}' AS certificate_id) "
                         "FROM kp_certificates WHERE certificate_id NOT LIKE '%-R%'")
            copy.execute(f"INSERT INTO parcel_contents SELECT * REPLACE (certificate_id || '-R{k}' AS certificate_id) "
                         "FROM parcel_contents WHERE certificate_id NOT LIKE '%-R%'")
    n = copy.query("SELECT COUNT(DISTINCT certificate_id) AS n, COUNT(*) AS lines FROM kp_certificates").to_pylist()[0]
    print(f"replicated to {n['n']} certificates, {n['lines']} lines")
    copy.close()
    return path


def _knob_value(text: str) -> int | float | str:
    """A knob's value from the command line: a number when it reads as one."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="large", choices=("small", "medium", "large"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--certificates", type=int, default=100_000)
    parser.add_argument("--pricer", default="index", choices=("index", "cells"))
    parser.add_argument("--knob", action="append", default=[], metavar="NAME=VALUE",
                        help="a simulator knob, e.g. certificate_make_up=boxes (repeatable)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)

    folder = market(args.size, args.seed, {name: _knob_value(value) for name, value in (k.split("=", 1) for k in args.knob)})
    store = imported_store(folder)
    settings = Settings()
    rows = store.query("SELECT COUNT(*) AS n FROM polished_outcomes")["n"][0].as_py()
    pricer, pricer_name = pricer_for(store, args.pricer)

    started = time.perf_counter()
    build = build_price_book(store, settings, pricer)
    book_seconds = time.perf_counter() - started
    print(f"\nprice book: {rows:,} outcome rows, {build.boxes_valued:,} boxes valued ({build.boxes_in_book:,} in the "
          f"book), {build.entries:,} entries, {build.polished_keys_priced:,} polished price keys, "
          f"{book_seconds:.2f} s ({rows / book_seconds / 1e6:.2f} M rows/s); polished prices: {pricer_name}")
    print(f"headline: {json.dumps(headline(store))}")

    started = time.perf_counter()
    lines = check_certificates(store, settings)
    check_seconds = time.perf_counter() - started
    certificates = len(set(lines["certificate_id"].to_pylist()))
    print(f"kp check --all: {certificates:,} certificates, {lines.num_rows:,} lines in {check_seconds:.2f} s")

    q = quality(lines, truth_lines(folder))
    print_confusion(q)
    print(f"\nlines declared >=30% from true value flagged in the right direction: {q['right']}/{q['far']} = "
          f"{q['recall']:.1%} (target >= 95%)")
    print(f"honest lines flagged: {q['flagged_honest']}/{q['honest']} = {q['false_alarm']:.2%} (target <= 2%)")

    store.close()
    big = open_store(f"duckdb:///{replicate_certificates(store, folder, args.certificates)}", memory_limit="4GB")
    started = time.perf_counter()
    many = check_certificates(big, settings)
    seconds = time.perf_counter() - started
    n_certs = big.query("SELECT COUNT(DISTINCT certificate_id) AS n FROM kp_certificates")["n"][0].as_py()
    print(f"kp check --all over {n_certs:,} certificates ({many.num_rows:,} lines): {seconds:.2f} s "
          f"(target < 5 s: {seconds / 5:.2f} of budget)")
    if rows >= 9_000_000:
        print(f"price book over {rows:,} outcome rows: {book_seconds:.2f} s (target < 30 s: {book_seconds / 30:.2f} of budget)")
    else:
        print(f"price book over {rows:,} rows: {book_seconds:.2f} s; the 10M-row target needs --size large")
    big.close()


if __name__ == "__main__":
    main()
