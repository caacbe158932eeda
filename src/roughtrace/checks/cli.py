"""`roughtrace verify`: sightholder risk and the findings behind it (a thin layer over `verify`)."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import typer

from .. import render
from ..errors import NotFound
from .registry import CHECKS
from .verify import assess, box_findings

app = typer.Typer(help="Verify sightholders: mass balance, flipping risk, duplicate claims.", no_args_is_help=True)


def _run(ctx: typer.Context, work: Callable[[Any, Any], None]) -> None:
    """Do a command's work on the context's store and settings; its errors are answered by `roughtrace.cli.run`."""
    work(ctx.obj.store(), ctx.obj.settings)


RISK_LEVELS = ("high", "medium", "low")
RiskLevel = Enum("RiskLevel", {level: level for level in RISK_LEVELS}, type=str)  # type: ignore[misc]
"""The levels as a choice a list option takes (Typer takes an Enum there, not a Literal)."""
SORTS = {"risk": lambda r: (-r.score, r.sightholder_id), "name": lambda r: r.sightholder_id,
         "findings": lambda r: (-len(r.findings), -r.score, r.sightholder_id)}


def party_names(store: Any) -> dict[str, str]:
    """Every party's name by its id, to show people names rather than ids."""
    table = store.query("SELECT party_id, name FROM parties")
    return dict(zip(table.column("party_id").to_pylist(), table.column("name").to_pylist(), strict=True))


def risk_counts(risks: list[Any]) -> dict[str, int]:
    """How many sightholders stand at each level of risk (every level listed, zeros included)."""
    counts = dict.fromkeys(RISK_LEVELS, 0)
    for risk in risks:
        counts[risk.level] += 1
    return counts


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
    def work(store: Any, settings: Any) -> None:
        from ..ledger.decisions import log_decision, summarised

        risks = assess(store, settings, sight=sight)
        full = [r.as_dict() for r in risks]
        receipt = log_decision(store, settings, "verify_sightholders", {
            "sight": sight,
            "risks": [{"sightholder_id": r.sightholder_id, "risk": r.level, "score": str(r.score), "findings": len(r.findings)}
                      for r in risks],
            **summarised(full, "sightholders_json"),
        })
        names = party_names(store)
        wanted = {level.value for level in risk_level}
        chosen = sorted((r for r in risks if not wanted or r.level in wanted), key=SORTS[sort])
        shown = chosen[:top] if top else chosen
        counts = risk_counts(risks)
        if as_json:
            render.emit_json({"sight": sight, "summary": {"sightholders": len(risks), "risk": counts},
                              "shown": len(shown), "matching": len(chosen),
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
    _run(ctx, work)


@app.command("box")
def box(ctx: typer.Context, box_id: str = typer.Argument(..., help="The box id, as sold."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Every finding about one box."""
    def work(store: Any, settings: Any) -> None:
        sale = store.query("SELECT box_id, sight, buyer_id, carats FROM rough_sales WHERE box_id = ?", (box_id,))
        if sale.num_rows == 0:
            raise NotFound(f"no box {box_id} was sold", code="box_not_found")
        row = sale.to_pylist()[0]
        findings = box_findings(store, box_id, settings)
        if as_json:
            render.emit_json({"box_id": box_id, "sight": row["sight"], "sightholder_id": row["buyer_id"],
                              "rough_carats": str(row["carats"]), "findings": [f.as_dict() for f in findings]})
            return
        name = party_names(store).get(row["buyer_id"])
        say = render.console()
        say.print(f"[bold]box {box_id}[/]: sight {row['sight']}, bought by {name or row['buyer_id']} ({row['buyer_id']}), "
                  f"{render.carats(row['carats'])}")
        if not findings:
            say.print("no findings")
            return
        say.print(render.table(["severity", "check", "finding"],
                               ((f.severity, render.words(f.check), f.message) for f in findings)))
    _run(ctx, work)


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
    def work(store: Any, settings: Any) -> None:
        from ..printable import write
        from .report import verification_report

        fmt = write(verification_report(store, settings, sightholder_id, sight), out)
        if as_json:
            render.emit_json({"file": str(out), "format": fmt, "sightholder_id": sightholder_id})
        else:
            render.console().print(f"Wrote the {fmt.upper()} verification report of {sightholder_id} to {out}")
    _run(ctx, work)
