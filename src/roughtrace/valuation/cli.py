"""`roughtrace value`, `roughtrace pricebook` and `roughtrace kp`: thin layers over the valuation library.

Each sub-app takes its store and settings from the Typer context (`ctx.obj.store()`,
`ctx.obj.settings`). `--json` prints one object; a failure is raised as a `RoughtraceError` and
answered by `roughtrace.cli.run`, the one translation of errors.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import typer

from .. import render
from ..app import context_of
from ..app.kp import check_certificates, write_certificate_report
from ..app.valuation import box_valuation, build_price_book, price_book, price_book_entries
from ..app.valuation import value_rough as rough_value
from ..errors import UsageError, writing
from ..json_values import plain
from .kp import VERDICTS
from .method import CostModelError
from .pricebook import BOOK_COLUMNS, LEVEL_NAMES

value_app = typer.Typer(help="Value rough by price reverse engineering.", no_args_is_help=True)
pricebook_app = typer.Typer(help="The rough price book built from tracked boxes.", no_args_is_help=True)
kp_app = typer.Typer(help="Check KP certificate values against the rough price book.", no_args_is_help=True)

def _date(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{text!r} is not a date written YYYY-MM-DD", code="bad_date") from None


def _margin(text: str) -> Decimal:
    try:
        return Decimal(text.strip())
    except ArithmeticError:
        raise CostModelError(f"--cost-margin takes a fraction such as 0.15, not {text!r}") from None


# -- value ------------------------------------------------------------------------------------

@value_app.command("rough")
def value_rough(
    ctx: typer.Context,
    polished_total: str = typer.Option(..., "--polished-total", help="Total polished price, USD."),
    rough_carats: str = typer.Option(..., "--rough-carats", help="Rough weight the polished came from, carats."),
    cost_margin: str = typer.Option(None, "--cost-margin", help="Costs and margin as a fraction (default: the setting)."),
    cost_model: str = typer.Option(None, "--cost-model", help="flat or table (default: the cost_model setting)."),
    polished_carats: str = typer.Option(None, "--polished-carats",
                                        help="Polished weight, carats (the table model's cutting costs need it)."),
    stones: int = typer.Option(1, "--stones", min=1, help="Polished stones the weight is spread over (table model)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Rough price per carat = (polished total / rough carats) x (1 - costs and margin)."""
    def work() -> None:
        margin = None if cost_margin is None else _margin(cost_margin)
        result = rough_value(ctx.obj.settings, polished_total, rough_carats, margin, cost_model, polished_carats, stones)
        if as_json:
            render.emit_json(result.as_dict())
        else:
            render.console().print(render.record({
                "rough_price_per_carat": result.rough_price_per_carat, "rough_value_usd": result.rough_value_usd,
                "rough_carats": result.rough_carats, "polished_total_usd": result.polished_total_usd,
                "cutting_costs_usd": result.cutting_costs_usd, "cost_model": render.cost_model(result.cost_model)}))
    work()


@value_app.command("box")
def value_box(
    ctx: typer.Context,
    box_id: str = typer.Argument(..., help="The box id, as sold."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """A box's reverse-engineered rough value and realised uplift (from the last `pricebook build`)."""
    def work() -> None:
        valued = box_valuation(context_of(ctx.obj), box_id)
        row = plain(valued.fields)
        if as_json:
            render.emit_json(row)
            return
        shown = {k: v for k, v in valued.fields.items() if k != "cost_model"}
        shown["cost_model"] = render.cost_model(row["cost_model"])
        render.console().print(render.record(shown, title=f"box {box_id}"))
    work()


# -- pricebook --------------------------------------------------------------------------------

@pricebook_app.command("build")
def pricebook_build(
    ctx: typer.Context,
    as_of: str = typer.Option(None, "--as-of", help="Price every polished stone as of this date (default: its polished date)."),
    cost_model: str = typer.Option(None, "--cost-model", help="flat or table (default: the cost_model setting)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Value every tracked box and rebuild the rough price book."""
    def work() -> None:
        built = build_price_book(context_of(ctx.obj), _date(as_of), cost_model)
        result, receipt = built.build, built.receipt
        if as_json:
            render.emit_json({**result.as_dict(), "receipt": receipt})
        else:
            render.console().print(
                f"Valued {result.boxes_valued:,} boxes ({result.boxes_in_book:,} in the book): {result.entries:,} price "
                f"book entries from {result.polished_keys_priced:,} polished price keys in {result.seconds:.1f} s.\n"
                f"Cost model {render.cost_model(result.cost_model)}. (Logged as ledger entry {receipt['entry_index']}.)")
    work()


@pricebook_app.command("show")
def pricebook_show(
    ctx: typer.Context,
    assortment: str = typer.Option(None, "--assortment", help="Only this assortment."),
    origin: str = typer.Option(None, "--origin", help="Only this origin (country code or mixed)."),
    period: str = typer.Option(None, "--period", help="Only this period, YYYY-MM."),
    level: str = typer.Option("assortment/origin/period", "--level",
                              help="Grouping: " + ", ".join(LEVEL_NAMES) + "."),
    limit: int = typer.Option(50, "--limit", min=0, help="Most rows printed (0: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Price book entries: boxes, median rough $/ct with its P10-P90 band, paid $/ct, uplift, yield."""
    def work() -> None:
        rows = price_book_entries(context_of(ctx.obj), assortment, origin, period, level)
        shown = rows if limit == 0 else rows[:limit]
        if as_json:
            render.emit_json({"entries": [plain(r) for r in shown], "total": len(rows)})
            return
        say = render.console()
        say.print(render.table(
            ["assortment", "origin", "period", ("boxes", render.RIGHT), ("rough $/ct", render.RIGHT),
             ("P10–P90 $/ct", render.RIGHT), ("paid $/ct", render.RIGHT), ("uplift", render.RIGHT), ("yield", render.RIGHT)],
            ((r["assortment"] or render.DASH, render.country(r["origin"]), r["period"] or render.DASH, render.number(r["boxes"]),
              render.money(r["price_per_carat"]), f"{render.money(r['p10_per_carat'])}–{render.money(r['p90_per_carat'])}",
              render.money(r["paid_per_carat"]), render.percent(r["uplift_median"], signed=True),
              render.percent(r["yield_median"], 1)) for r in shown), title=f"Rough price book ({level})"))
        if len(rows) > len(shown):
            say.print(f"{len(shown):,} of {len(rows):,} entries shown (--limit 0 shows all)")
    work()


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet will not run as a formula (formats.md): text starting with =, +, - or @
    is escaped; numbers are written as they are."""
    text = "" if value is None else str(value)
    return "'" + text if isinstance(value, str) and text[:1] in ("=", "+", "-", "@") else text


@pricebook_app.command("export")
def pricebook_export(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="File to write; '-' for standard output."),
    fmt: str = typer.Option("csv", "--format", help="csv or json."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (the summary of what was written)."),
) -> None:
    """Write the whole price book, every level, to CSV or JSON."""
    def work() -> None:
        if fmt not in ("csv", "json"):
            raise UsageError(f"--format is csv or json, not {fmt!r}", code="bad_option")
        rows = price_book(context_of(ctx.obj))
        with writing(out):
            stream = sys.stdout if str(out) == "-" else open(out, "w", newline="", encoding="utf-8")  # noqa: SIM115
        try:
            if fmt == "json":
                json.dump([plain(r) for r in rows], stream, indent=1)
                stream.write("\n")
            else:
                writer = csv.writer(stream)
                writer.writerow(BOOK_COLUMNS)
                for r in rows:
                    writer.writerow([_cell(r[c]) for c in BOOK_COLUMNS])
        finally:
            if stream is not sys.stdout:
                stream.close()
        if str(out) != "-":
            if as_json:
                render.emit_json({"file": str(out), "entries": len(rows), "format": fmt})
            else:
                render.console().print(f"Wrote {len(rows):,} price book entries to {out}")
    work()


# -- kp ---------------------------------------------------------------------------------------

CONTRACT_FIELDS = ("certificate_id", "hs_code", "carats", "declared_usd", "declared_per_carat", "estimated_per_carat",
                   "low_per_carat", "high_per_carat", "verdict", "basis")


VerdictName = Enum("VerdictName", {v: v for v in VERDICTS}, type=str)  # type: ignore[misc]
"""The verdicts as a choice a list option takes."""


def _band(line: dict[str, Any]) -> str:
    if line["low_per_carat"] is None:
        return render.DASH
    return f"{render.money(line['low_per_carat'])}–{render.money(line['high_per_carat'])}"


def _basis(line: dict[str, Any]) -> str:
    basis = render.words(line.get("basis"))
    if line.get("confidence"):
        return f"{basis} ({render.words(line['confidence'])})"
    return f"{basis}: {line['reason']}" if line.get("reason") else basis


@kp_app.command("check")
def kp_check(
    ctx: typer.Context,
    certificate_ids: list[str] = typer.Argument(None, help="Certificate numbers to check."),
    all_: bool = typer.Option(False, "--all", help="Check every certificate in the store."),
    verdict: list[VerdictName] = typer.Option([], "--verdict", help="Only lines with this verdict (repeat for more)."),
    sort: Literal["certificate", "gap", "verdict"] = typer.Option(
        "certificate", "--sort", help="By certificate, largest dollar gap first, or by verdict."),
    top: int = typer.Option(0, "--top", min=0, help="Only the first N lines after sorting (0: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Each certificate line's declared $/ct against an estimate with a band, a verdict and the
    dollar gap (declared minus estimated value). The counts cover every line checked; --verdict,
    --sort and --top choose the lines shown."""
    def work() -> None:
        if bool(certificate_ids) == all_:
            raise UsageError("name certificates to check, or give --all (not both)", code="usage")
        checked = check_certificates(context_of(ctx.obj), None if all_ else list(certificate_ids),
                                     [v.value for v in verdict], sort, top)
        rows, chosen, shown, counts, totals, missing, receipt = (checked.lines, checked.chosen, checked.shown,
                                                                 checked.verdicts, checked.totals, checked.not_found,
                                                                 checked.receipt)
        if as_json:
            render.emit_json({"lines": [plain(r) for r in shown], "verdicts": counts, "totals": totals,
                              "shown": len(shown), "matching": len(chosen), "not_found": missing, "receipt": receipt})
            return
        say = render.console()
        say.print(f"[bold]{len(rows):,} certificate lines[/], declared {render.money(totals['declared_usd'])}: "
                  + ", ".join(f"{n:,} {render.words(v)}" for v, n in counts.items())
                  + f"; overvalued lines declared {render.money(totals['overvalued_gap_usd'])} above their estimates, "
                  f"undervalued {render.money(-totals['undervalued_gap_usd'])} below (logged as ledger entry "
                  f"{receipt['entry_index']})")
        say.print(render.table(
            ["certificate", "origin", "HS code", ("carats", render.RIGHT), ("declared $/ct", render.RIGHT),
             ("estimate $/ct", render.RIGHT), ("band $/ct", render.RIGHT), ("gap", render.RIGHT), "verdict", "basis"],
            ((r["certificate_id"], render.country(r.get("origin")), r["hs_code"], render.carats(r["carats"]),
              render.money(r["declared_per_carat"]), render.money(r["estimated_per_carat"]), _band(r),
              render.signed_money(r["gap_usd"]), render.words(r["verdict"]), _basis(r)) for r in shown)))
        if len(shown) < len(rows):
            say.print(f"{len(shown):,} of {len(rows):,} lines shown (--verdict, --top).")
        for m in missing:
            render.console(stderr=True).print(f"not found: {m}")
    work()


@kp_app.command("report")
def kp_report(
    ctx: typer.Context,
    certificate_id: str = typer.Argument(..., help="The certificate number."),
    out: Path = typer.Option(..., "--out", help="The file to write: .html (one self-contained page) or .pdf."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Write a certificate's valuation report as HTML or PDF (by the file's extension); both render
    offline and print on A4."""
    def work() -> None:
        fmt = write_certificate_report(context_of(ctx.obj), certificate_id, out)
        if as_json:
            render.emit_json({"file": str(out), "format": fmt, "certificate_id": certificate_id})
        else:
            render.console().print(f"Wrote the {fmt.upper()} report of certificate {certificate_id} to {out}")
    work()
