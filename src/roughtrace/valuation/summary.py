"""What the demo summary says about valuation: the KP verdicts and the price book headline."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .. import render
from ..domain.money import round_usd
from ..settings import Settings
from .kp import BASES, check_certificates, verdict_counts
from .pricebook import headline


def summary(store: Any, settings: Settings | None = None) -> dict[str, Any]:
    """KP verdict counts over every certificate line in the store (with the undervalued and
    overvalued dollars at stake), lines by basis, and the price book headline (None if not built)."""
    settings = settings or Settings()
    lines = check_certificates(store, settings)
    bases = dict.fromkeys(BASES, 0)
    for basis in lines["basis"].to_pylist():
        bases[basis] += 1
    gap = {"undervalued": Decimal(0), "overvalued": Decimal(0)}
    for row in lines.select(["verdict", "declared_usd", "estimated_usd"]).to_pylist():
        if row["verdict"] in gap:
            gap[row["verdict"]] += abs(Decimal(row["estimated_usd"]) - Decimal(row["declared_usd"]))
    certificates = len(set(lines["certificate_id"].to_pylist()))
    return {
        "kp": {
            "certificates": certificates,
            "lines": lines.num_rows,
            "verdicts": verdict_counts(lines),
            "bases": bases,
            "usd_gap_to_estimate": {k: str(round_usd(v)) for k, v in gap.items()},
        },
        "price_book": headline(store),
    }


def summary_lines(data: dict[str, Any]) -> list[str]:
    """What the demo says about a `summary` (with its price book build): the book's headline and
    the KP verdicts."""
    book, kp = data["price_book"], data["kp"]
    lines = [
        f"Rough price book (price reverse engineering; cost model {render.cost_model(book['cost_model'])}):",
        f"  {book['boxes']:,} tracked boxes of {book['assortments']:,} assortments; median rough "
        f"{render.money(book['median_price_per_carat'])}/ct (P10 {render.money(book['p10_per_carat'])} - P90 "
        f"{render.money(book['p90_per_carat'])}); median yield {render.percent(book['median_yield'], 1)}, "
        f"median uplift over price paid {render.percent(book['median_uplift'], signed=True)}",
    ] if book else ["Rough price book: no tracked box could be valued."]
    verdicts = kp["verdicts"]
    lines += [
        f"KP certificates: {kp['certificates']:,} certificates, {kp['lines']:,} lines checked:",
        f"  {verdicts['reasonable']:,} reasonable, {verdicts['undervalued']:,} undervalued "
        f"({render.money(kp['usd_gap_to_estimate']['undervalued'])} below estimate), {verdicts['overvalued']:,} overvalued "
        f"({render.money(kp['usd_gap_to_estimate']['overvalued'])} above), {verdicts['cannot_value']:,} cannot be valued",
        "  `roughtrace kp check --all --sort gap` lists them; `roughtrace kp report ID --out FILE.html|.pdf` explains one.",
    ]
    return lines
