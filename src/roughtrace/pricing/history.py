"""The price index over time: the headline composite period by period, or one cell's series, as
rows a table, a chart or `--json` can show; and the printable report that charts them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from .. import render
from ..errors import NotFound
from ..printable import Document, Facts, Grid, Heading, LineChart, Text
from ..store.port import Store
from .schema import ensure_schema

HUNDRED = Decimal(100)
CENT = Decimal("0.01")


def headline_history(store: Store) -> list[dict[str, Any]]:
    """Each built period: the headline index (first period = 100), its change on the period before
    in percent (to the hundredth), and the transactions and asking prices it counted."""
    ensure_schema(store)
    rows = store.query("SELECT period_start, headline, n_trades, n_asking FROM price_periods ORDER BY period_start").to_pylist()
    before: Decimal | None = None
    for row in rows:
        level = row["headline"]
        row["change_pct"] = (None if before in (None, 0) or level is None
                             else ((level / before - 1) * HUNDRED).quantize(CENT))
        before = level
    return rows


def cell_history(store: Store, shape_family: str, size_bracket: str, color: str, clarity: str) -> list[dict[str, Any]]:
    """One cell's figures period by period (USD per carat): trades, median, quartiles, monotone view."""
    ensure_schema(store)
    return store.query(
        "SELECT period_start, n_trades, n_outliers, median_ppc, q25_ppc, q75_ppc, monotone_ppc FROM price_index_cells "
        "WHERE shape_family = ? AND size_bracket = ? AND color = ? AND clarity = ? ORDER BY period_start",
        (shape_family, size_bracket, color, clarity)).to_pylist()


def history(store: Store, cell: tuple[str, str, str, str] | None = None) -> list[dict[str, Any]]:
    """The headline history, or the named cell's; NotFound when there is nothing to show."""
    if cell is None:
        rows = headline_history(store)
        if not rows:
            raise NotFound("the price index is empty: import transactions and run `roughtrace prices build`",
                           code="empty_index")
        return rows
    rows = cell_history(store, *cell)
    if not rows:
        raise NotFound(f"the price index has no cell {cell_name(cell)} (check the shape family, size bracket, "
                       "colour and clarity, or run `roughtrace prices build`)", code="no_such_cell")
    return rows


def cell_name(cell: tuple[str, str, str, str]) -> str:
    """A cell as the trade says it: `round 1.00-1.49 ct G VS1`."""
    shape_family, size_bracket, color, clarity = cell
    return f"{shape_family} {size_bracket} ct {color} {clarity}"


def period_label(start: dt.date) -> str:
    return start.strftime("%Y-%m")


def headline_rows(rows: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [(period_label(r["period_start"]), render.number(r["headline"], 2), render.points(r["change_pct"], signed=True),
             render.number(r["n_trades"]), render.number(r["n_asking"])) for r in rows]


HEADLINE_COLUMNS = ("period", "index", "change", "trades", "asking prices")


def cell_rows(rows: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [(period_label(r["period_start"]), render.number(r["n_trades"]), render.money(r["median_ppc"]),
             f"{render.money(r['q25_ppc'])} – {render.money(r['q75_ppc'])}", render.money(r["monotone_ppc"]),
             render.number(r["n_outliers"])) for r in rows]


CELL_COLUMNS = ("period", "trades", "median $/ct", "Q1 – Q3 $/ct", "monotone $/ct", "outliers")


def history_document(rows: list[dict[str, Any]], cell: tuple[str, str, str, str] | None,
                     generated_at: dt.datetime | None = None) -> Document:
    """The printable report of the index over time: a chart, then the table behind it."""
    stamp = (generated_at or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M UTC")
    labels = tuple(period_label(r["period_start"]) for r in rows)
    if cell is None:
        first, last = rows[0], rows[-1]
        change = None if not first["headline"] or last["headline"] is None else (
            (last["headline"] / first["headline"] - 1) * HUNDRED).quantize(CENT)
        chart = LineChart(labels, (("headline index", tuple(_float(r["headline"]) for r in rows)),),
                          "index (first period = 100)", y_format="{:,.0f}")
        blocks = (
            Facts((("Periods", f"{labels[0]} to {labels[-1]} ({len(rows)})"),
                   ("Latest level", render.number(last["headline"], 2)),
                   ("Change over the span", render.points(change, signed=True)),
                   ("Transactions counted", render.number(sum(r["n_trades"] for r in rows))))),
            Heading("The headline index"), chart,
            Text("A chained index of transaction prices (first period = 100): each period's change is the "
                 "trade-weighted mean log change of the median price per carat over the cells traded in both "
                 "periods. Asking prices never enter it.", note=True),
            Heading("Period by period"),
            Grid(HEADLINE_COLUMNS, tuple(headline_rows(rows)), numeric=frozenset(HEADLINE_COLUMNS[1:])),
        )
        title = "The polished price index over time"
    else:
        chart = LineChart(labels, (("median", tuple(_float(r["median_ppc"]) for r in rows)),
                                   ("monotone view", tuple(_float(r["monotone_ppc"]) for r in rows))),
                          "USD per carat", band=(tuple(_float(r["q25_ppc"]) for r in rows),
                                                 tuple(_float(r["q75_ppc"]) for r in rows)), y_format="${:,.0f}")
        blocks = (
            Facts((("Cell", cell_name(cell)), ("Periods", f"{labels[0]} to {labels[-1]} ({len(rows)})"),
                   ("Trades", render.number(sum(r["n_trades"] for r in rows))))),
            Heading(f"{cell_name(cell)}: price per carat"), chart,
            Text("Line: the median transaction price per carat; shaded: the quartiles Q1 to Q3 after the outlier "
                 "rule; second line: the monotone view (better grades never cheaper).", note=True),
            Heading("Period by period"),
            Grid(CELL_COLUMNS, tuple(cell_rows(rows)), numeric=frozenset(CELL_COLUMNS[1:])),
        )
        title = f"Price per carat over time: {cell_name(cell)}"
    return Document(title, f"roughtrace, generated {stamp}, from the transaction price index.", blocks)


def _float(value: Any) -> float | None:
    """A chart coordinate (the chart only places points; the tables show the exact figures)."""
    return None if value is None else float(value)
