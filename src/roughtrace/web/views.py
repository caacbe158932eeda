"""How the dashboard's pages look: the Jinja2 templates shipped in the package (autoescaped), the
filters that format the trade's figures (`render.value`), charts as inline SVG drawn on the server
(`printable`), a printable document's blocks as page parts, and the static files."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from .. import printable, render
from ..errors import Problem

STATIC = {"dashboard.css": "text/css; charset=utf-8", "dashboard.js": "text/javascript; charset=utf-8"}
"""The dashboard's static files and their media types: one style sheet, one small script."""

TITLES = {400: "The request is wrong", 401: "Sign in again", 403: "Not allowed", 404: "Not found",
          413: "The file is too large", 422: "The file cannot be read", 500: "Something went wrong",
          503: "The store cannot be reached"}


def _value(raw: Any, name: str = "") -> str:
    return render.value(name, raw)


LINK_TONES = {"verified": "good", "unverified": "warn", "conflicting": "bad", "done": "good", "failed": "bad"}
"""Tones of the words a provenance chain and an upload's state are told in, beside the reports' own."""


def _tone(word: Any) -> str:
    text = render.words(word)
    return printable.TONES.get(text) or LINK_TONES.get(text, "none")


@functools.cache
def environment() -> Environment:
    """The templates' environment: autoescaped HTML, with the dashboard's filters."""
    env = Environment(loader=PackageLoader("roughtrace.web", "templates"), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(v=_value, tone=_tone, words=render.words, label=render.label,
                       country=render.country)
    return env


def render_page(request: Request, template: str, http_status: int = 200, **values: Any) -> HTMLResponse:
    """A page from its template, with the path it answers (for the navigation)."""
    body = environment().get_template(template).render(current=request.url.path, **values)
    return HTMLResponse(body, status_code=http_status, headers={
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
        "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                                   "form-action 'self'; frame-ancestors 'none'"})



def error_page(request: Request, status: int, problems: list[Problem]) -> HTMLResponse:
    """A refusal or failure as a page: its title, the problems' sentences, never a traceback."""
    from ..settings import redacted

    shown = [{"code": p.code, "message": redacted(p.message)} for p in problems]
    return render_page(request, "error.html", status, title=TITLES.get(status, "The request failed"), status=status,
                       problems=shown, actor=None, nav=(), csrf=None)


def static_file(name: str) -> tuple[bytes, str] | None:
    if name not in STATIC:
        return None
    return (resources.files("roughtrace.web").joinpath("static", name).read_bytes(), STATIC[name])


def blocks(document: printable.Document) -> list[dict[str, Any]]:
    """A printable document's blocks as the page template shows them (charts as inline SVG)."""
    shown: list[dict[str, Any]] = []
    for block in document.blocks:
        if isinstance(block, printable.Heading):
            shown.append({"kind": "heading", "text": block.text})
        elif isinstance(block, printable.Text):
            shown.append({"kind": "text", "text": block.text, "note": block.note})
        elif isinstance(block, printable.Facts):
            shown.append({"kind": "facts", "pairs": block.pairs})
        elif isinstance(block, printable.Grid):
            numeric = [c in block.numeric for c in block.columns]
            badge = block.columns.index(block.badge) if block.badge in block.columns else -1
            shown.append({"kind": "grid", "columns": block.columns, "rows": block.rows, "numeric": numeric,
                          "badge": badge})
        elif isinstance(block, printable.LineChart):
            shown.append({"kind": "svg", "svg": Markup(printable.line_chart_svg(block))})  # noqa: S704 - escaped inside
        elif isinstance(block, printable.BandChart):
            shown.append({"kind": "svg", "svg": Markup(printable.band_chart_svg(block))})  # noqa: S704 - escaped inside
    return shown


def index_chart(history: list[dict[str, Any]]) -> Markup:
    """The headline index over its periods, as an inline SVG line chart."""
    chart = printable.LineChart(
        labels=tuple(render.when(r["period_start"]) for r in history),
        series=(("headline index", tuple(None if r["headline"] is None else float(r["headline"]) for r in history)),),
        y_label="index (first period = 100)", y_format="{:,.1f}")
    return Markup(printable.line_chart_svg(chart))  # noqa: S704 - the chart escapes its own text


def cell_chart(rows: list[dict[str, Any]]) -> Markup:
    """One cell's median and monotone price per carat over its periods, the quartiles shaded."""

    def floats(name: str) -> tuple[float | None, ...]:
        return tuple(None if r[name] is None else float(r[name]) for r in rows)

    chart = printable.LineChart(
        labels=tuple(render.when(r["period_start"]) for r in rows),
        series=(("median", floats("median_ppc")), ("monotone", floats("monotone_ppc"))),
        y_label="USD per carat", band=(floats("q25_ppc"), floats("q75_ppc")))
    return Markup(printable.line_chart_svg(chart))  # noqa: S704 - the chart escapes its own text
