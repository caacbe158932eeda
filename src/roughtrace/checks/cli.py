"""`roughtrace verify`: sightholder risk and the findings behind it (a thin layer over `verify`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import typer

from ..cli_errors import fail
from ..errors import NotFound, Problem, RoughtraceError
from ..settings import SettingError
from .registry import CHECKS
from .verify import assess, box_findings

app = typer.Typer(help="Verify sightholders: mass balance, flipping risk, duplicate claims.", no_args_is_help=True)


def _fail(exc: Exception, as_json: bool) -> None:
    if isinstance(exc, RoughtraceError):
        problems, code = exc.problems, exc.exit_code
    else:
        problems, code = [Problem("bad_setting", str(exc))], 2
    fail(problems, as_json, code)


def _guarded(ctx: typer.Context, as_json: bool, work: Callable[[Any, Any], None]) -> None:
    try:
        store = ctx.obj.store()
        work(store, ctx.obj.settings)
    except (RoughtraceError, SettingError, ValueError) as exc:
        _fail(exc, as_json)


@app.command("sightholders")
def sightholders(ctx: typer.Context,
                 sight: str = typer.Option(None, "--sight", help="Only findings about this sight's boxes."),
                 as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Every sightholder's risk (low, medium, high), riskiest first, with the findings behind it."""
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
        if as_json:
            typer.echo(json.dumps({"ok": True, "sight": sight, "sightholders": full, "receipt": receipt}, default=str))
            return
        typer.echo(f"(logged as ledger entry {receipt['entry_index']})")
        for risk in risks:
            typer.echo(f"{risk.sightholder_id:<12} {risk.category or '-':<13} {risk.level:<7} score {risk.score}")
            for finding in risk.findings[:5]:
                typer.echo(f"    [{finding.severity}] {finding.check}: {finding.message}")
            if len(risk.findings) > 5:
                typer.echo(f"    ... and {len(risk.findings) - 5} more findings (--json lists them all)")
    _guarded(ctx, as_json, work)


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
            typer.echo(json.dumps({"ok": True, "box_id": box_id, "sight": row["sight"],
                                   "sightholder_id": row["buyer_id"], "rough_carats": str(row["carats"]),
                                   "findings": [f.as_dict() for f in findings]}))
            return
        typer.echo(f"box {box_id}: sight {row['sight']}, bought by {row['buyer_id']}, {row['carats']} ct")
        if not findings:
            typer.echo("    no findings")
        for finding in findings:
            typer.echo(f"    [{finding.severity}] {finding.check}: {finding.message}")
    _guarded(ctx, as_json, work)


@app.command("checks")
def checks(as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """List every check, its settings and how a sightholder answers it."""
    if as_json:
        typer.echo(json.dumps({"ok": True, "checks": [
            {"name": c.name, "title": c.title, "rule": c.description, "settings": list(c.settings),
             "answer": c.answer} for c in CHECKS]}))
        return
    for c in CHECKS:
        typer.echo(f"{c.name}: {c.title}\n    settings: {', '.join(c.settings) or '-'}")
