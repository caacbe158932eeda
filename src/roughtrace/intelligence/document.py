"""A sightholder's intelligence report as a printable document (HTML or PDF, see `printable`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .. import render
from ..printable import Document, Facts, Grid, Heading, LineChart, Text
from .reports import FIGURES, IntelligenceReport

SHARES = ("yield", "top_colour_share", "top_clarity_share", "large_share", "polished_share", "sold_rough_share",
          "in_process_share")
"""Figures shown as percentages."""


def shown(name: str, value: Any) -> str:
    """A figure as people read it: shares as percentages, days and dollars as numbers."""
    if value is None:
        return render.DASH
    if name in SHARES:
        return render.percent(value, 1)
    if name == "price_per_carat":
        return render.money(value)
    return render.number(value, 1)


def _percents(trend: tuple[dict[str, Any], ...], key: str) -> tuple[float | None, ...]:
    return tuple(None if t.get(key) is None else float(t[key]) * 100 for t in trend)


def intelligence_document(report: IntelligenceReport, name: str | None = None,
                          generated_at: dt.datetime | None = None) -> Document:
    """The report's blocks (pure: the report in, the document out)."""
    stamp = (generated_at or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M UTC")
    who = f"{name or report.sightholder_id} ({report.sightholder_id})"
    rules = report.rules
    pairs = [("Sightholder", who), ("Period", report.period),
             ("Boxes bought", f"{report.boxes:,}; {report.reported_boxes:,} with a reported outcome"),
             ("Contributor", "yes" if report.contributor else "no")]
    if report.receipt:
        pairs.append(("Ledger entry", str(report.receipt.get("entry_index"))))
    blocks: list[Any] = [Facts(tuple(pairs))]
    if not report.contributor:
        blocks += [Heading("What to send"), Text(
            f"The market's figures go to the sightholders that report the outcome of at least "
            f"{render.percent(rules['contribution_share'], 0)} of the boxes they bought in the period. Report the "
            f"polished outcome (or a declared disposition) of {report.boxes_needed:,} more of your "
            f"{report.boxes:,} boxes of {report.period} to receive this report with the market's figures.")]
        if report.unreported_boxes:
            blocks.append(Grid(("box with no outcome reported",), tuple((b,) for b in report.unreported_boxes)))
    for section in report.segments:
        blocks.append(Heading(f"{render.words(section.kind)}: {section.segment}"
                              + (f" (market: {section.market_row})" if section.market_row != section.segment else "")))
        market = section.market
        if market.published:
            quartiles = market.quartiles or {}
            rows = tuple((render.words(n), FIGURES[n][3], shown(n, section.own.get(n)),
                          *(shown(n, q) for q in quartiles.get(n, (None, None, None)))) for n in FIGURES)
            blocks += [Text(f"Market: {market.contributors:,} contributors, {render.carats(market.rough_carats)} rough, "
                            f"{render.carats(market.polished_carats)} polished, yield {shown('yield', market.yield_)}.",
                            note=True),
                       Grid(("figure", "what it is", "yours", "market Q1", "market median", "market Q3"), rows,
                            numeric=frozenset({"yours", "market Q1", "market median", "market Q3"}))]
        else:
            reasons = ", ".join(render.words(r) for r in market.reason) or "disclosure control"
            blocks += [Text(f"The market's figures for this cell are withheld ({reasons}): publishing them could let "
                            "a contributor learn another's.", note=True),
                       Grid(("figure", "yours"), tuple((render.words(n), shown(n, section.own.get(n))) for n in FIGURES),
                            numeric=frozenset({"yours"}))]
        if len(section.trend) > 1:
            blocks.append(LineChart(tuple(t["period"] for t in section.trend),
                                    (("your yield", _percents(section.trend, "own_yield")),
                                     ("market yield", _percents(section.trend, "market_yield"))),
                                    "yield (%)", y_format="{:,.1f}"))
    blocks += [Heading("Disclosure rules"), Text(
        f"A market figure is published only when its cell has at least {rules['min_contributors']} contributors, its "
        f"{rules['dominance_n']} largest hold at most {rules['dominance_k']}% of it, and no contributor, knowing its own "
        f"figures and everything published over every period, can bound another's to within {rules['p_percent']}%. "
        "Cells hidden to protect another are marked complementary. docs/intelligence.md explains each rule.", note=True)]
    return Document(f"Market intelligence: {name or report.sightholder_id}, {report.period}",
                    f"roughtrace, generated {stamp}. Sightholder {report.sightholder_id}.", tuple(blocks))
