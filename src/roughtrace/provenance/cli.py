"""`roughtrace provenance STONE_ID`: one polished stone's chain back to the rough."""

from __future__ import annotations

import typer

from .. import render
from ..app import context_of
from ..app.provenance import trace_stone

app = typer.Typer(help="Trace a polished stone back to its rough, box, sight, origin and KP certificate.")

MARKS = {"verified": "ok", "unverified": "??", "conflicting": "!!"}


@app.command("provenance")
def provenance(ctx: typer.Context, stone_id: str = typer.Argument(..., help="The lab report number (or own id)."),
               lab: str = typer.Option(None, "--lab", help="GIA, IGI, HRD, AGS or none, when the number is ambiguous."),
               as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """The stone, its rough stone and box, the sight and seller, the origin and the KP certificate,
    each link verified, unverified or conflicting, with the findings that touch it."""
    result = trace_stone(context_of(ctx.obj), stone_id, lab)
    if as_json:
        render.emit_json(result.as_dict())
        return
    stone = result.stone
    say = render.console()
    say.print(f"[bold]{result.lab} {result.stone_id}[/]: {render.carats(stone['carat'])} {stone['shape']} {stone['color']} "
              f"{stone['clarity']}, polished {render.when(stone['polished_date'])} by {stone['sightholder_id']} "
              f"({result.status})")
    rows = []
    for link in result.links:
        subject = render.country(link.subject) if link.name == "origin" else link.subject
        rows.append((MARKS[link.status], link.name, subject, link.status, link.reason))
        rows += [("", "", "", finding.severity, f"{render.words(finding.check)}: {finding.message}") for finding in link.findings]
    say.print(render.table(["", "link", "what", "status", "why"], rows))


command = provenance
"""The command itself, for mounting as `roughtrace provenance` directly: `root.command("provenance")(command)`."""
