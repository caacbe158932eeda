"""`roughtrace intelligence`: market intelligence for contributing sightholders and the producer's view,
rendered from the use cases in `app.intelligence`."""

from __future__ import annotations

from pathlib import Path

import typer

from .. import render
from ..app import context_of
from ..app.intelligence import producer_view, sightholder_report, write_report

app = typer.Typer(help="Market intelligence for the sightholders who report their outcome, under disclosure control.",
                  no_args_is_help=True)


@app.command("report")
def report(ctx: typer.Context,
           sightholder_id: str = typer.Option(..., "--sightholder", help="The sightholder's party id."),
           period: str = typer.Option(None, "--period", help="The period (e.g. 2024-Q3; intelligence_period sets its "
                                                              "length); its latest period with a purchase by default."),
           out: Path = typer.Option(None, "--out", help="Also write the report: .html, .pdf or .json."),
           as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """A sightholder's report: its yield, grade and size mix, processing time and where its rough went
    against the market's quartiles, per assortment, model and size class it bought, with the trend; or,
    when it did not report enough of its boxes, what it would need to send. Logged in the ledger."""
    context = context_of(ctx.obj)
    result = sightholder_report(context, sightholder_id, period)
    written = write_report(context, result, out) if out is not None else None
    if as_json:
        render.emit_json({**result.as_dict(), **({"file": str(out), "format": written} if written else {})})
        return
    say = render.console()
    say.print(f"[bold]{sightholder_id}, {result.period}[/]: {result.boxes:,} boxes bought, {result.reported_boxes:,} "
              f"with an outcome (logged as ledger entry {result.receipt['entry_index']})")
    if not result.contributor:
        say.print(f"Not a contributor this period: report the outcome of {result.boxes_needed:,} more boxes "
                  f"({', '.join(result.unreported_boxes[:10])}{' ...' if len(result.unreported_boxes) > 10 else ''}) "
                  "to receive the market's figures.")
    for section in result.segments:
        market = section.market
        yours, quartiles = section.own.get("yield"), (market.quartiles or {}).get("yield")
        compared = f" (market: {section.market_row})" if section.market_row != section.segment else ""
        say.print(f"{render.words(section.kind)} {section.segment}{compared}: your yield "
                  f"{render.percent(yours, 1) if yours is not None else render.DASH}; market "
                  + (f"Q1-Q3 {render.percent(quartiles[0], 1)}-{render.percent(quartiles[2], 1)}" if quartiles
                     else "withheld" if not market.published else "too few values"))
    if written:
        say.print(f"Wrote the {written.upper()} report to {out}")


@app.command("producer")
def producer(ctx: typer.Context,
             period: str = typer.Option(None, "--period", help="Only this period."),
             producer_id: str = typer.Option(None, "--producer", help="Only this producer's sales."),
             as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """The producer's full view of its own sales, unsuppressed: per segment and period, buyers, boxes,
    carats and the figures over every reported outcome. Logged in the ledger."""
    view = producer_view(context_of(ctx.obj), period, producer_id)
    if as_json:
        render.emit_json(view.as_dict())
        return
    render.console().print(render.table(
        ["kind", "segment", "period", ("buyers", render.RIGHT), ("boxes", render.RIGHT), ("rough", render.RIGHT),
         ("yield", render.RIGHT)],
        ((render.words(r["kind"]), r["segment"], r["period"], render.number(r["buyers"]), render.number(r["boxes"]),
          render.carats(r["rough_carats"]), render.percent(r["yield"], 1) if r["yield"] is not None else render.DASH)
         for r in view.rows)))
