"""`roughtrace provenance STONE_ID`: one polished stone's chain back to the rough."""

from __future__ import annotations

import json

import typer

from ..errors import Problem, RoughtraceError, error_body
from ..settings import SettingError
from .trace import trace

app = typer.Typer(help="Trace a polished stone back to its rough, box, sight, origin and KP certificate.")

MARKS = {"verified": "ok", "unverified": "??", "conflicting": "!!"}


@app.command("provenance")
def provenance(ctx: typer.Context, stone_id: str = typer.Argument(..., help="The lab report number (or own id)."),
               lab: str = typer.Option(None, "--lab", help="GIA, IGI, HRD, AGS or none, when the number is ambiguous."),
               as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """The stone, its rough stone and box, the sight and seller, the origin and the KP certificate,
    each link verified, unverified or conflicting, with the findings that touch it."""
    try:
        result = trace(ctx.obj.store(), stone_id, lab, ctx.obj.settings)
    except (RoughtraceError, SettingError, ValueError) as exc:
        problems = exc.problems if isinstance(exc, RoughtraceError) else [Problem("bad_setting", str(exc))]
        code = exc.exit_code if isinstance(exc, RoughtraceError) else 2
        if as_json:
            typer.echo(json.dumps(error_body(problems)))
        else:
            for p in problems:
                typer.echo(f"error: {p.message}", err=True)
        raise SystemExit(code) from None  # not typer.Exit: swallowed under standalone_mode=False
    if as_json:
        typer.echo(json.dumps({"ok": True, **result.as_dict()}))
        return
    stone = result.stone
    typer.echo(f"{result.lab} {result.stone_id}: {stone['carat']} ct {stone['shape']} {stone['color']} "
               f"{stone['clarity']}, polished {stone['polished_date']} by {stone['sightholder_id']} "
               f"({result.status})")
    for link in result.links:
        typer.echo(f"  [{MARKS[link.status]}] {link.name}: {link.subject} - {link.status}: {link.reason}")
        for finding in link.findings:
            typer.echo(f"       [{finding.severity}] {finding.check}: {finding.message}")


command = provenance
"""The command itself, for mounting as `roughtrace provenance` directly: `root.command("provenance")(command)`."""
