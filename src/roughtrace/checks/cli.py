"""`roughtrace verify`: sightholder risk and the findings behind it, rendered from the use cases in `app.verify`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any, Literal

import typer

from .. import render
from ..app import context_of
from ..app.verify import RISK_LEVELS, assess_sightholders, box_findings, write_verification_report
from .registry import CHECKS

app = typer.Typer(help="Verify sightholders: mass balance, flipping risk, duplicate claims.", no_args_is_help=True)

RiskLevel = Enum("RiskLevel", {level: level for level in RISK_LEVELS}, type=str)  # type: ignore[misc]
"""The levels as a choice a list option takes (Typer takes an Enum there, not a Literal)."""


def _checks_named(risk: Any) -> str:
    tally: dict[str, int] = {}
    for finding in risk.findings:
        tally[finding.check] = tally.get(finding.check, 0) + 1
    return ", ".join(f"{render.words(check)} x{n}" for check, n in tally.items()) or render.DASH


@app.command("sightholders")
def sightholders(ctx: typer.Context,
                 sight: str = typer.Option(None, "--sight", help="Only findings about this sight's boxes."),
                 risk_level: list[RiskLevel] = typer.Option([], "--risk", help="Only sightholders at this risk (repeat for more)."),
                 top: int = typer.Option(0, "--top", min=0, help="Only the first N after sorting (0: all)."),
                 sort: Literal["risk", "name", "findings"] = typer.Option("risk", "--sort", help="Riskiest first, by id, or most findings first."),
                 as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Every sightholder's risk (low, medium, high): a count by risk, then the sightholders riskiest
    first with their names, scores and the checks behind them (`verify box` shows one box's findings)."""
    result = assess_sightholders(context_of(ctx.obj), sight, [level.value for level in risk_level], sort, top)
    risks, shown, names, receipt, counts = result.risks, result.shown, result.names, result.receipt, result.counts
    if as_json:
        render.emit_json({"sight": sight, "summary": {"sightholders": len(risks), "risk": counts},
                          "shown": len(shown), "matching": len(result.chosen),
                          "sightholders": [{"name": names.get(r.sightholder_id), **r.as_dict()} for r in shown],
                          "receipt": receipt})
        return
    say = render.console()
    scope = f" in sight {sight}" if sight else ""
    say.print(f"[bold]{len(risks):,} sightholders{scope}[/]: " + ", ".join(
        f"{n:,} {level} risk" for level, n in counts.items()) + f" (logged as ledger entry {receipt['entry_index']})")
    say.print(render.table(
        ["sightholder", "id", "category", "risk", ("score", render.RIGHT), ("findings", render.RIGHT), "checks"],
        ((names.get(r.sightholder_id) or render.DASH, r.sightholder_id, r.category or render.DASH, r.level,
          render.number(r.score, 1), render.number(len(r.findings)), _checks_named(r)) for r in shown)))
    if len(shown) < len(risks):
        say.print(f"{len(shown):,} of {len(risks):,} shown (--risk, --top); `roughtrace verify box BOX_ID` "
                  "and --json give the findings in full.")


@app.command("box")
def box(ctx: typer.Context, box_id: str = typer.Argument(..., help="The box id, as sold."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Every finding about one box."""
    found = box_findings(context_of(ctx.obj), box_id)
    if as_json:
        render.emit_json({"box_id": box_id, "sight": found.sight, "sightholder_id": found.sightholder_id,
                          "rough_carats": str(found.rough_carats), "findings": [f.as_dict() for f in found.findings]})
        return
    say = render.console()
    say.print(f"[bold]box {box_id}[/]: sight {found.sight}, bought by {found.sightholder_name or found.sightholder_id} "
              f"({found.sightholder_id}), {render.carats(found.rough_carats)}")
    if not found.findings:
        say.print("no findings")
        return
    say.print(render.table(["severity", "check", "finding"],
                           ((f.severity, render.words(f.check), f.message) for f in found.findings)))


@app.command("checks")
def checks(as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """List every check, its settings and how a sightholder answers it."""
    if as_json:
        render.emit_json({"checks": [
            {"name": c.name, "title": c.title, "rule": c.description, "settings": list(c.settings),
             "answer": c.answer} for c in CHECKS]})
        return
    render.console().print(render.table(["check", "what it looks for", "settings"],
                                        ((c.name, c.title, ", ".join(c.settings) or render.DASH) for c in CHECKS)))


@app.command("report")
def report(ctx: typer.Context, sightholder_id: str = typer.Argument(..., help="The sightholder's party id."),
           out: Path = typer.Option(..., "--out", help="The file to write: .html (one self-contained page) or .pdf."),
           sight: str = typer.Option(None, "--sight", help="Only findings about this sight's boxes."),
           as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Write a sightholder's verification report as HTML or PDF (by the file's extension): its risk,
    what it bought, every finding by check and how to answer each."""
    fmt = write_verification_report(context_of(ctx.obj), sightholder_id, out, sight)
    if as_json:
        render.emit_json({"file": str(out), "format": fmt, "sightholder_id": sightholder_id})
    else:
        render.console().print(f"Wrote the {fmt.upper()} verification report of {sightholder_id} to {out}")
