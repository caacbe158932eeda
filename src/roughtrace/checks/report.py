"""A sightholder's verification report: who it is, its risk and score, what it bought, each check's
findings and how to answer them; a printable document (HTML or PDF, see `printable`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .. import render
from ..errors import NotFound
from ..printable import Document, Facts, Grid, Heading, Text
from ..store.port import Store
from .findings import Risk
from .registry import CHECKS
from .verify import SEVERITY_ORDER, assess

SEVERITIES = ("high", "medium", "low", "info")


def sightholder_facts(store: Store, sightholder_id: str) -> dict[str, Any]:
    """The party's record and what it bought: boxes, carats, dollars paid, sights attended."""
    party = store.query("SELECT party_id, name, role, category, country FROM parties WHERE party_id = ?",
                        (sightholder_id,)).to_pylist()
    if not party:
        raise NotFound(f"there is no party {sightholder_id!r} in the store", code="sightholder_not_found")
    bought = store.query("SELECT count(*) AS boxes, sum(carats) AS carats, sum(price_usd) AS paid_usd, "
                         "count(DISTINCT sight) AS sights, min(sight) AS first_sight, max(sight) AS last_sight "
                         "FROM rough_sales WHERE buyer_id = ?", (sightholder_id,)).to_pylist()[0]
    return {**party[0], **bought}


def verification_document(facts: Mapping[str, Any], risk: Risk | None, sight: str | None = None,
                          generated_at: dt.datetime | None = None) -> Document:
    """The report of one sightholder (pure: its facts and its assessed risk in, the blocks out)."""
    stamp = (generated_at or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M UTC")
    findings = list(risk.findings) if risk else []
    by_severity = {s: sum(1 for f in findings if f.severity == s) for s in SEVERITIES}
    paid, carats = facts.get("paid_usd"), facts.get("carats")
    per_carat = None if not carats or paid is None else (Decimal(paid) / Decimal(carats))
    sights = (f"{facts['sights']:,} ({facts['first_sight']} to {facts['last_sight']})" if facts.get("sights")
              else render.DASH)
    pairs = (
        ("Sightholder", f"{facts.get('name') or render.DASH} ({facts['party_id']})"),
        ("Category", render.words(facts.get("category"))), ("Country", render.country(facts.get("country"))),
        ("Risk", f"{risk.level if risk else 'not assessed'}; score {render.number(risk.score, 1) if risk else render.DASH}"
                 + (f" (sight {sight} only)" if sight else "")),
        ("Findings", ", ".join(f"{n:,} {s}" for s, n in by_severity.items() if n) or "none"),
        ("Boxes bought", f"{render.number(facts.get('boxes') or 0)}: {render.carats(carats)} for {render.money(paid)}"
                         f" ({render.money(per_carat)}/ct)"),
        ("Sights", sights),
    )
    tally = {c.name: [f for f in findings if f.check == c.name] for c in CHECKS}
    blocks: list[Any] = [
        Facts(pairs), Heading("Checks"),
        Grid(("check", "what it looks for", "findings", "high", "medium", "low or info"),
             tuple((c.name.replace("_", " "), c.title, render.number(len(tally[c.name])),
                    render.number(sum(1 for f in tally[c.name] if f.severity == "high")),
                    render.number(sum(1 for f in tally[c.name] if f.severity == "medium")),
                    render.number(sum(1 for f in tally[c.name] if f.severity in ("low", "info")))) for c in CHECKS),
             numeric=frozenset({"findings", "high", "medium", "low or info"})),
        Heading("Findings"),
    ]
    if findings:
        ordered = sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.check, f.box_id or ""))
        blocks.append(Grid(("severity", "check", "box", "sight", "finding"),
                           tuple((f.severity, f.check.replace("_", " "), f.box_id or render.DASH, f.sight or render.DASH,
                                  f.message) for f in ordered), badge="severity"))
    else:
        blocks.append(Text("No check found anything to question."))
    answered = [c for c in CHECKS if tally[c.name]]
    if answered:
        blocks.append(Heading("How to answer"))
        blocks += [Text(f"{c.title}: {c.answer}", note=True) for c in answered]
    blocks += [Heading("Method"), Text(
        "Each check compares what the sightholder reported (polished outcomes, dispositions) with what it bought "
        "and with the market's other boxes; a finding's severity weighs into the score, and the score sets the risk "
        "(`roughtrace verify checks` lists every check and its settings). A finding is a question to answer, "
        "not a conclusion.", note=True)]
    title = f"Verification report: {facts.get('name') or facts['party_id']}"
    return Document(title, f"roughtrace, generated {stamp}. Sightholder {facts['party_id']}.", tuple(blocks))


def verification_report(store: Store, settings: Any, sightholder_id: str, sight: str | None = None) -> Document:
    """The report of one sightholder, from the store."""
    facts = sightholder_facts(store, sightholder_id)
    risk = next((r for r in assess(store, settings, sight=sight) if r.sightholder_id == sightholder_id), None)
    return verification_document(facts, risk, sight)
