"""`roughtrace prices ...`: build the index, quote stones, export the grids.

Expects `ctx.obj` with `.store()` (an opened, migrated store) and `.settings`. Errors are printed
as a sentence or, with --json, as the one error shape; exit 0 done, 1 failed, 2 usage error.
"""

from __future__ import annotations

import datetime as dt
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import typer

from .. import render
from ..app import context_of
from ..app.pricing import build_price_index, price_grids, price_history, quote_stone, quote_stones
from ..cli_errors import fail, report
from ..errors import CannotRead, Problem, UsageError, error_body
from .export import csv_safe
from .quotes import Stone, canonical_stone, stone_problems

app = typer.Typer(help="The transaction price index and price quotes.", no_args_is_help=True)


def _json(body: Any) -> None:
    render.emit_json(body)


def _fail(problems: list[Problem], as_json: bool, exit_code: int) -> None:
    fail(problems, as_json, exit_code)


def _guard(as_json: bool, action: Any) -> Any:
    """`action()`, a file it cannot read or write (the stones' CSV, an --out file) answered as
    `cannot_read`; every other failure is answered by `roughtrace.cli.run`."""
    try:
        return action()
    except (OSError, pa.ArrowInvalid) as exc:
        raise CannotRead(str(exc)) from None


@app.command("build")
def build_command(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Bring the index up to date: recompute the periods whose transactions changed, refit the quote model."""
    built = _guard(as_json, lambda: build_price_index(context_of(ctx.obj)))
    report = built.report
    body = {"ok": True, "periods_rebuilt": [p.isoformat() for p in report.periods_rebuilt],
            "periods_kept": report.periods_kept, "cells_written": report.cells_written,
            "model_trades": report.model_trades, "headline": built.headline}
    if as_json:
        _json(body)
    else:
        head = body["headline"]
        render.console().print(
            f"Rebuilt {len(report.periods_rebuilt):,} period(s), kept {report.periods_kept:,}; {report.cells_written:,} cells "
            f"written; quote model fitted on {report.model_trades:,} trades. Headline index "
            f"{render.number(head['headline'], 2)} for {head['latest_period'] or render.DASH} "
            f"({render.points(head['change_pct'], signed=True)} on the period before); `roughtrace prices history` shows each period.")


@app.command("quote")
def quote_command(
    ctx: typer.Context,
    shape: str = typer.Option(None, "--shape", help="round, princess, cushion, oval, emerald, pear, ..."),
    carat: str = typer.Option(None, "--carat", help="Weight in carats, e.g. 1.01."),
    color: str = typer.Option(None, "--color", help="Colour grade D to Z or fancy."),
    clarity: str = typer.Option(None, "--clarity", help="Clarity grade FL to I3."),
    cut: str = typer.Option(None, "--cut", help="Cut grade EX, VG, G, F or P."),
    lab: str = typer.Option(None, "--lab", help="Grading lab GIA, IGI, HRD, AGS or none."),
    date: str = typer.Option(None, "--date", help="As-of date YYYY-MM-DD (default: the latest period)."),
    file: Path = typer.Option(None, "--file", help="A CSV of stones: shape, carat, color, clarity[, cut, lab, date]."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Quote one stone (flags) or every stone of a CSV file (--file): price per carat, band, n, method."""
    if file is not None:
        _quote_file(ctx, file, as_json)
        return
    missing = [f"--{n}" for n, v in (("shape", shape), ("carat", carat), ("color", color), ("clarity", clarity)) if v is None]
    if missing:
        _fail([Problem("missing_option", f"give {', '.join(missing)} (or --file STONES.csv)")], as_json, 2)
    problems = stone_problems(shape, carat, color, clarity, cut, lab)
    as_of = None
    if date is not None:
        try:
            as_of = dt.date.fromisoformat(date)
        except ValueError:
            problems.append(Problem("bad_date", f"--date takes YYYY-MM-DD, not {date!r}", column="date"))
    if problems:
        _fail(problems, as_json, 2)
    try:
        weight = Decimal(carat)
    except InvalidOperation:
        _fail([Problem("bad_carat", f"carat must be a number, not {carat!r}")], as_json, 2)
    stone = canonical_stone(Stone(shape, weight, color, clarity, cut, lab, as_of))
    result = _guard(as_json, lambda: quote_stone(context_of(ctx.obj), stone))
    if as_json:
        _json(result.as_dict())
    else:
        render.console().print(
            f"{shape} {render.carats(weight)} {color} {clarity}: {render.money(result.price_per_carat)}/ct "
            f"(band {render.money(result.low)} to {render.money(result.high)}), {render.money(result.price_per_carat * weight)} "
            f"for the stone; {result.n:,} trades, method {render.words(result.method)}, as of {result.as_of.isoformat()}")


def _quote_file(ctx: typer.Context, file: Path, as_json: bool) -> None:
    """Quote every stone of a CSV file: each row that cannot be quoted gets its own error (row,
    column, rule) and the others are quoted. The output keeps every row in the file's order, quote
    columns empty where a row was refused (CSV: with its error in `error`); exit 1 when any was."""
    def read() -> pa.Table:
        text_columns = {c: pa.string() for c in ("shape", "color", "clarity", "cut", "lab", "carat", "date")}
        return pacsv.read_csv(file, convert_options=pacsv.ConvertOptions(column_types=text_columns, strings_can_be_null=True))

    stones = _guard(as_json, read)
    quoted = _guard(as_json, lambda: quote_stones(context_of(ctx.obj), stones, str(file)))
    result, problems = quoted.stones, quoted.problems
    if as_json:
        body = result.to_pylist()
        _json(error_body(problems, quotes=body) if problems else {"ok": True, "quotes": body})
        raise SystemExit(1 if problems else 0)
    errors: dict[int, list[str]] = {}
    for p in problems:
        errors.setdefault(p.row, []).append(f"{p.column}: {p.message} ({p.code})")
    result = result.append_column("error", pa.array(["; ".join(errors.get(row, [])) for row in range(1, stones.num_rows + 1)]))
    import csv

    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(result.column_names)
    for row in zip(*(c.to_pylist() for c in result.columns), strict=True):
        writer.writerow([csv_safe("" if v is None else str(v)) for v in row])
    if problems:
        report(problems, False)
        raise SystemExit(1)


@app.command("export")
def export_command(
    ctx: typer.Context,
    period: str = typer.Option(None, "--period", help="Period start YYYY-MM-DD (default: the latest)."),
    raw: bool = typer.Option(False, "--raw", help="Raw medians instead of the monotone view."),
    out: Path = typer.Option(None, "--out", help="Write the CSV here instead of standard output."),
) -> None:
    """Write the grids of one period in the trade's layout: a table per shape family and size bracket,
    colour rows by clarity columns, USD per carat."""
    start = None
    if period is not None:
        try:
            start = dt.date.fromisoformat(period)
        except ValueError:
            _fail([Problem("bad_date", f"--period takes YYYY-MM-DD, not {period!r}")], False, 2)
    text = _guard(False, lambda: price_grids(context_of(ctx.obj), start, raw))
    if not text:
        _fail([Problem("empty_index", "the index has no cells for that period: run `roughtrace prices build` first")], False, 1)
    if out is None:
        sys.stdout.write(text)
    else:
        _guard(False, lambda: out.write_text(text, encoding="utf-8"))


@app.command("history")
def history_command(
    ctx: typer.Context,
    shape_family: str = typer.Option(None, "--shape-family", help="With the three below: one cell's series (round or fancy)."),
    size: str = typer.Option(None, "--size", help="The cell's size bracket, e.g. 1.00-1.49."),
    color: str = typer.Option(None, "--color", help="The cell's colour grade, e.g. G."),
    clarity: str = typer.Option(None, "--clarity", help="The cell's clarity grade, e.g. VS1."),
    out: Path = typer.Option(None, "--out", help="Also write a report with a chart: .html or .pdf."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """The price index over time: the headline index period by period with its change, or one cell's
    median and quartiles (give all four of --shape-family, --size, --color, --clarity)."""
    from .history import CELL_COLUMNS, HEADLINE_COLUMNS, cell_name, cell_rows, headline_rows, history_document

    given = {"--shape-family": shape_family, "--size": size, "--color": color, "--clarity": clarity}
    if any(given.values()) and not all(given.values()):
        _fail([Problem("missing_option", "one cell takes all four of --shape-family, --size, --color and --clarity; give "
                       + ", ".join(n for n, v in given.items() if not v))], as_json, 2)
    cell = (shape_family, size, color.upper(), clarity.upper()) if all(given.values()) else None  # type: ignore[union-attr]
    rows = _guard(as_json, lambda: price_history(context_of(ctx.obj), cell))
    written = None
    if out is not None:
        from ..printable import write

        written = _guard(as_json, lambda: write(history_document(rows, cell), out))
    if as_json:
        _json({"cell": None if cell is None else dict(zip(("shape_family", "size_bracket", "color", "clarity"), cell, strict=True)),
               "periods": rows, "report": None if out is None else {"file": str(out), "format": written}})
        return
    say = render.console()
    if cell is None:
        say.print(render.table([c if i == 0 else (c, render.RIGHT) for i, c in enumerate(HEADLINE_COLUMNS)],
                               headline_rows(rows), title="Headline index (first period = 100)"))
    else:
        say.print(render.table([c if i == 0 else (c, render.RIGHT) for i, c in enumerate(CELL_COLUMNS)],
                               cell_rows(rows), title=cell_name(cell)))
    if out is not None:
        say.print(f"Wrote the {written.upper()} report with its chart to {out}")


__all__ = ["app", "UsageError"]
