"""`roughtrace demo`: the whole pipeline on a simulated market, on whatever store is open.

Generates a market (roughtrace.sim), imports every file through the import use case, then runs the
use cases a producer's analyst starts with (the price index, the price book, which logs its build,
the riskiest sightholders, the ledger's head) and keeps the part of each that the summary shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..settings import redacted
from . import Context

Say = Callable[[str], None] | None
Progress = Callable[[str, int, int | None], None] | None
"""progress(step, done, total): each import's steps (prefixed with its kind), then the analysis
steps, which count nothing (see roughtrace.progress)."""
ANALYSIS_STEPS = {"prices": "building the price index", "valuation": "building the price book",
                  "verification": "running the checks", "ledger": "reading the ledger's head"}


def run_demo(context: Context, *, seed: int, size: str, out_dir: Path, progress: Progress = None,
             say: Say = None) -> dict[str, Any]:
    """Generate, import and summarise; returns the summary as data (and says it as it goes)."""
    from ..sim import generate_market
    from .imports import import_file

    speak = say or (lambda _text: None)
    started = time.perf_counter()
    speak(f"Generating a {size} market (seed {seed}) into {out_dir} ...")
    if progress:
        progress("generating the market", 0, None)
    market = generate_market(out_dir, seed=seed, size=size)
    if progress:
        progress("generating the market", 0, 0)
    generated = time.perf_counter() - started
    speak(f"  {sum(f.rows for f in market.files):,} rows in {len(market.files)} files, {generated:.1f} s")

    loaded: list[dict[str, Any]] = []
    for market_file in market.files:
        step = (lambda stage, done, total, kind=market_file.kind: progress(f"{kind}: {stage}", done, total)) if progress else None
        began = time.perf_counter()
        result = import_file(context, market_file.kind, market_file.path, progress=step)
        seconds = time.perf_counter() - began
        loaded.append({"kind": market_file.kind, "file": market_file.path.name, "rows_read": result.rows_read,
                       "rows_accepted": result.rows_accepted, "rows_rejected": result.rows_rejected,
                       "batch_id": result.batch_id, "duplicate_of": result.duplicate_of, "seconds": round(seconds, 2)})
        note = f"already imported as batch {result.duplicate_of}" if result.duplicate_of is not None else f"batch {result.batch_id}"
        speak(f"  imported {market_file.kind:<20} {result.rows_accepted:>12,} accepted {result.rows_rejected:>8,} rejected"
              f"  {seconds:6.1f} s  ({note})")

    summary: dict[str, Any] = {"db": redacted(context.store.url), "seed": seed, "size": size, "market": str(out_dir), "loaded": loaded}
    for title, section in _sections():
        if progress:
            progress(ANALYSIS_STEPS[title], 0, None)
        part = section(context)
        if progress:
            progress(ANALYSIS_STEPS[title], 0, 0)
        if part is None:
            continue
        summary[title] = part["data"]
        speak("")
        for line in part["lines"]:
            speak(line)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    speak("")
    speak(f"Done in {summary['seconds']} s. The store is {summary['db']}: try `roughtrace status`.")
    return summary


def _sections() -> list[tuple[str, Callable[[Context], dict[str, Any] | None]]]:
    """Each capability's part of the summary, in the order an analyst reads them."""
    return [("prices", _prices_section), ("valuation", _valuation_section), ("verification", _verification_section),
            ("ledger", _ledger_section)]


def _prices_section(context: Context) -> dict[str, Any] | None:
    from .pricing import build_price_index

    built = build_price_index(context)
    head = built.headline
    if not head:
        return None
    lines = ["Polished transaction price index (transactions only; asking prices kept apart):"]
    lines += _headline_lines(head)
    report = built.report
    return {"data": {"build": report.as_dict() if hasattr(report, "as_dict") else str(report), "headline": head}, "lines": lines}


def _valuation_section(context: Context) -> dict[str, Any] | None:
    """The rough price book built from the tracked boxes (the polished index built first if the
    store has none) and every KP certificate line checked; None when no outcome is stored."""
    from ..valuation.pricer import PricerUnavailable
    from ..valuation.summary import summary, summary_lines
    from .pricing import build_price_index
    from .valuation import build_price_book

    if not context.store.query("SELECT COUNT(*) AS n FROM polished_outcomes")["n"][0].as_py():
        return None
    try:
        built = build_price_book(context)
    except PricerUnavailable:
        build_price_index(context)
        built = build_price_book(context)
    data = summary(context.store, context.settings)
    data["price_book_build"] = built.build.as_dict()
    return {"data": data, "lines": summary_lines(data)}


def _headline_lines(head: dict[str, Any]) -> list[str]:
    from .. import render

    change = head.get("change_pct")
    moved = "" if change is None else f" ({render.points(change, signed=True)} on the period before)"
    return [
        f"  headline index {render.number(head.get('headline'), 2)} in the period starting {head.get('latest_period')}{moved}; "
        "`roughtrace prices history` shows every period",
        f"  {head.get('n_trades', 0):,} trades in {head.get('cells', 0):,} cells over {head.get('periods', 0)} periods; "
        f"{head.get('n_asking', 0):,} asking prices stored but never used",
        "  `roughtrace prices quote --shape round --carat 0.5 --color H --clarity SI1` prices a stone.",
    ]


def _verification_section(context: Context) -> dict[str, Any] | None:
    from ..checks.verify import riskiest
    from .verify import party_names

    risky = riskiest(context.store, 5, context.settings)
    names = party_names(context)
    lines = ["Riskiest sightholders (roughtrace verify sightholders explains each):"]
    if not risky:
        lines.append("  none above low risk")
    for r in risky:
        lines.append(f"  {names.get(r['sightholder_id']) or '':<22} {r['sightholder_id']:<8} {r['category'] or '':<13} "
                     f"{r['risk']:<6} score {r['score']:>6}  {', '.join(c.replace('_', ' ') for c in r['checks'])}")
        if r["why"]:
            lines.append(f"      {r['why'][0]}")
    return {"data": risky, "lines": lines}


def _ledger_section(context: Context) -> dict[str, Any] | None:
    from .ledger import latest_head

    head = latest_head(context)
    if head is None:
        return None
    data = {"size": head.size, "root": head.root.hex(), "timestamp": head.timestamp, "key_id": head.key_id}
    return {"data": data, "lines": [f"Tamper-evident log: {head.size:,} entries, root {data['root'][:16]}..., signed {head.timestamp} "
                                    "(`roughtrace ledger verify` recomputes everything)."]}
