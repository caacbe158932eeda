"""`roughtrace demo`: the whole pipeline on a simulated market, on whatever store is open.

Generates a market (roughtrace.sim), imports every file through the real importers, then asks
each capability for the part of the summary a producer's analyst reads first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .settings import Settings, redacted
from .store import Store

Say = Callable[[str], None] | None
Progress = Callable[[str, int, int | None], None] | None
"""progress(step, done, total): each import's steps (prefixed with its kind), then the analysis
steps, which count nothing (see roughtrace.progress)."""
ANALYSIS_STEPS = {"prices": "building the price index", "valuation": "building the price book",
                  "verification": "running the checks", "ledger": "reading the ledger's head"}


def run_demo(store: Store, settings: Settings, *, seed: int, size: str, out_dir: Path, progress: Progress = None,
             say: Say = None) -> dict[str, Any]:
    """Generate, import and summarise; returns the summary as data (and says it as it goes)."""
    from .ingest import import_file
    from .sim import generate_market

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
        result = import_file(store, market_file.kind, market_file.path, settings=settings, progress=step)
        seconds = time.perf_counter() - began
        loaded.append({"kind": market_file.kind, "file": market_file.path.name, "rows_read": result.rows_read,
                       "rows_accepted": result.rows_accepted, "rows_rejected": result.rows_rejected,
                       "batch_id": result.batch_id, "duplicate_of": result.duplicate_of, "seconds": round(seconds, 2)})
        note = f"already imported as batch {result.duplicate_of}" if result.duplicate_of is not None else f"batch {result.batch_id}"
        speak(f"  imported {market_file.kind:<20} {result.rows_accepted:>12,} accepted {result.rows_rejected:>8,} rejected"
              f"  {seconds:6.1f} s  ({note})")

    summary: dict[str, Any] = {"db": redacted(store.url), "seed": seed, "size": size, "market": str(out_dir), "loaded": loaded}
    for title, section in _sections():
        if progress:
            progress(ANALYSIS_STEPS[title], 0, None)
        part = section(store, settings)
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


def _sections() -> list[tuple[str, Callable[[Store, Settings], dict[str, Any] | None]]]:
    """Each capability's part of the summary, in the order an analyst reads them."""
    from .valuation.summary import demo_section as valuation_section

    return [("prices", _prices_section), ("valuation", valuation_section), ("verification", _verification_section),
            ("ledger", _ledger_section)]


def _prices_section(store: Store, settings: Settings) -> dict[str, Any] | None:
    from .pricing.index import build, headline

    report = build(store, settings)
    head = headline(store)
    if not head:
        return None
    lines = ["Polished transaction price index (transactions only; asking prices kept apart):"]
    lines += _headline_lines(head)
    return {"data": {"build": report.as_dict() if hasattr(report, "as_dict") else str(report), "headline": head}, "lines": lines}


def _headline_lines(head: dict[str, Any]) -> list[str]:
    from . import render

    change = head.get("change_pct")
    moved = "" if change is None else f" ({render.points(change, signed=True)} on the period before)"
    return [
        f"  headline index {render.number(head.get('headline'), 2)} in the period starting {head.get('latest_period')}{moved}; "
        "`roughtrace prices history` shows every period",
        f"  {head.get('n_trades', 0):,} trades in {head.get('cells', 0):,} cells over {head.get('periods', 0)} periods; "
        f"{head.get('n_asking', 0):,} asking prices stored but never used",
        "  `roughtrace prices quote --shape round --carat 0.5 --color H --clarity SI1` prices a stone.",
    ]


def _verification_section(store: Store, settings: Settings) -> dict[str, Any] | None:
    from .app import Context
    from .app.verify import party_names
    from .checks.verify import riskiest

    risky = riskiest(store, 5, settings)
    names = party_names(Context(store, settings))
    lines = ["Riskiest sightholders (roughtrace verify sightholders explains each):"]
    if not risky:
        lines.append("  none above low risk")
    for r in risky:
        lines.append(f"  {names.get(r['sightholder_id']) or '':<22} {r['sightholder_id']:<8} {r['category'] or '':<13} "
                     f"{r['risk']:<6} score {r['score']:>6}  {', '.join(c.replace('_', ' ') for c in r['checks'])}")
        if r["why"]:
            lines.append(f"      {r['why'][0]}")
    return {"data": risky, "lines": lines}


def _ledger_section(store: Store, settings: Settings) -> dict[str, Any] | None:
    from .ledger.log import latest_head

    head = latest_head(store)
    if head is None:
        return None
    data = {"size": head.size, "root": head.root.hex(), "timestamp": head.timestamp, "key_id": head.key_id}
    return {"data": data, "lines": [f"Tamper-evident log: {head.size:,} entries, root {data['root'][:16]}..., signed {head.timestamp} "
                                    "(`roughtrace ledger verify` recomputes everything)."]}
