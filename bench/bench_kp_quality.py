"""KP verdict quality per simulator knob, with the breakdown by basis (what valued most of a line).

    .venv/bin/python bench/bench_kp_quality.py [--seeds 11,12] [--knobs defaults,certificate_make_up]
                                               [--set kp_band_z=2.0 ...] [--rebuild]

The markets are bench_quality's (bench/out/quality-*, the `small` preset over two years); each is
imported, priced and its price book built once (kept in the market's store.duckdb; `--rebuild` redoes
it), then `kp check` runs over every certificate with this checkout's rules and the `--set` settings.
Rows: KP recall (7102.31 lines declared >= 30% away from their true value flagged in the right
direction) and honest 7102.31 lines flagged, summed over the seeds; then the same per basis; and
the 7102.10 / 7102.21 lines valued and honest ones flagged.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "src"), str(HERE.parent / "tests"), str(HERE)]

import bench_quality as quality  # noqa: E402
from bench_valuation import truth_lines  # noqa: E402
from roughtrace.settings import Settings  # noqa: E402
from roughtrace.store import open_store  # noqa: E402
from roughtrace.valuation.kp import check_certificates  # noqa: E402
from roughtrace.valuation.pricebook import build_price_book  # noqa: E402
from roughtrace.wiring import wire  # noqa: E402

wire()  # the composition root, as every entry point runs it


def priced_store(label: str, overrides: dict, seed: int, settings: Settings, rebuild: bool):
    folder = quality.market_folder(label, overrides, seed)
    ready = folder / "kp_quality.ready"
    if rebuild or not ready.exists():
        started = time.perf_counter()
        store = quality.fresh_store(folder)
        pricer, name = quality.polished_pricer(store, settings)
        build_price_book(store, settings, pricer)
        store.close()
        ready.write_text(name + "\n")
        print(f"  {label} seed {seed}: imported and priced in {time.perf_counter() - started:.0f} s ({name})", flush=True)
    return folder, open_store(f"duckdb:///{folder / 'store.duckdb'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="11,12")
    parser.add_argument("--knobs", default=",".join(quality.SETTINGS))
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a roughtrace setting")
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    settings = Settings(dict(item.split("=", 1) for item in args.set))
    for knob in args.knobs.split(","):
        for label, overrides in quality.SETTINGS[knob]:
            total: collections.Counter = collections.Counter()
            by_basis: collections.Counter = collections.Counter()
            for seed in (int(s) for s in args.seeds.split(",")):
                folder, store = priced_store(label, overrides, seed, settings, args.rebuild)
                truth = truth_lines(folder)
                for row in check_certificates(store, settings).to_pylist():
                    t = truth[(row["certificate_id"], row["hs_code"])]
                    flagged = row["verdict"] in ("undervalued", "overvalued")
                    if row["hs_code"] != "7102.31":
                        total["other"] += 1
                        total["other_valued"] += row["verdict"] != "cannot_value"
                        total["other_honest_flagged"] += flagged and t["misdeclaration"] == "none"
                        continue
                    ratio = Decimal(t["ratio"])
                    if ratio <= 1 - quality.FAR or ratio >= 1 + quality.FAR:
                        right = row["verdict"] == ("undervalued" if ratio < 1 else "overvalued")
                        total["far"] += 1
                        total["right"] += right
                        by_basis[(row["basis"], "far")] += 1
                        by_basis[(row["basis"], "right")] += right
                    elif t["misdeclaration"] == "none":
                        total["honest"] += 1
                        total["flagged"] += flagged
                        by_basis[(row["basis"], "honest")] += 1
                        by_basis[(row["basis"], "flagged")] += flagged
                store.close()
            print(f"{label:<30} KP recall {total['right']}/{total['far']} = {quality.share(total['right'], total['far']):.3f}"
                  f"   honest flagged {total['flagged']}/{total['honest']} = {quality.share(total['flagged'], total['honest']):.2%}"
                  f"   7102.10/21 valued {total['other_valued']}/{total['other']}, honest flagged "
                  f"{total['other_honest_flagged']}", flush=True)
            for basis in sorted({b for b, _ in by_basis}):
                print(f"    {basis:<18} recall {by_basis[(basis, 'right')]}/{by_basis[(basis, 'far')]}"
                      f"   honest flagged {by_basis[(basis, 'flagged')]}/{by_basis[(basis, 'honest')]}")


if __name__ == "__main__":
    main()
