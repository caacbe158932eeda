"""Printable reports: one small document model, written as a self-contained HTML page or as a PDF.

A report is a `Document` of blocks (headings, paragraphs, label/value facts, tables, charts), built
from figures already formatted for people (see `render`). `to_html` gives one page with inline CSS
and inline SVG charts that needs no network and prints on A4; `to_pdf` lays the same blocks out
with ReportLab, embedding the Bitstream Vera fonts ReportLab ships, so a PDF reads the same on any
machine. Reports for the KP check, a sightholder's verification and the price index build on it.
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import Problem, UsageError, writing

TONES = {"reasonable": "good", "low": "good", "undervalued": "bad", "high": "bad", "overvalued": "warn",
         "medium": "warn", "cannot value": "none", "info": "none"}
"""Words that get a coloured badge in a table column marked `badge`, by the tone they carry."""
TONE_COLOURS = {"good": ("#e3f4e8", "#1f6b35"), "bad": ("#fde8e6", "#9b2317"), "warn": ("#fff1dc", "#8a4b00"),
                "none": ("#eceff3", "#3c4652")}
INK, MUTED, RULE, ACCENT, BAND = "#1d232a", "#5a6470", "#e3e6ea", "#2b4c7e", "#c9d8ea"


@dataclass(frozen=True)
class Heading:
    text: str


@dataclass(frozen=True)
class Text:
    text: str
    note: bool = False
    """A note prints smaller and lighter (method, legend)."""


@dataclass(frozen=True)
class Facts:
    """Label and value pairs, as a definition list."""

    pairs: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Grid:
    """A table. `numeric` columns align right; the `badge` column's words get their tone's colour."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: frozenset[str] = frozenset()
    badge: str | None = None


@dataclass(frozen=True)
class LineChart:
    """Series over labelled points (periods): lines, with an optional shaded band (low, high)."""

    labels: tuple[str, ...]
    series: tuple[tuple[str, tuple[float | None, ...]], ...]
    y_label: str
    band: tuple[tuple[float | None, ...], tuple[float | None, ...]] | None = None
    y_format: str = "{:,.0f}"


@dataclass(frozen=True)
class BandChart:
    """One figure against its band on one axis: the band, the tolerance margins around it, the
    estimate as a tick and the declared figure as a diamond coloured by `tone`."""

    low: float
    high: float
    estimate: float
    declared: float
    tolerance: float
    tone: str
    unit_prefix: str = "$"


Block = Heading | Text | Facts | Grid | LineChart | BandChart


@dataclass(frozen=True)
class Document:
    title: str
    subtitle: str
    blocks: tuple[Block, ...] = field(default_factory=tuple)


# -- HTML -----------------------------------------------------------------------------------------

CSS = """
body { font: 13px/1.45 "DejaVu Sans", "Bitstream Vera Sans", system-ui, Helvetica, Arial, sans-serif; color: #1d232a;
       margin: 24px auto; max-width: 980px; padding: 0 16px; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 15px; margin: 22px 0 8px; border-bottom: 1px solid #ccd; }
.muted { color: #5a6470; } table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; }
th, td { padding: 4px 6px; border-bottom: 1px solid #e3e6ea; text-align: left; vertical-align: top; }
th { font-weight: 600; background: #f5f7f9; } td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; } td.k { white-space: nowrap; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 9px; font-weight: 600; font-size: 12px; white-space: nowrap; }
.good { background: #e3f4e8; color: #1f6b35; } .bad { background: #fde8e6; color: #9b2317; }
.warn { background: #fff1dc; color: #8a4b00; } .none { background: #eceff3; color: #3c4652; }
dl { display: grid; grid-template-columns: 180px 1fr; gap: 2px 12px; margin: 8px 0; } dt { color: #5a6470; } dd { margin: 0; }
svg { display: block; margin: 4px 0 10px; max-width: 100%; height: auto; } .note { font-size: 12px; color: #3c4652; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; } tr, svg { break-inside: avoid; }
               .badge { border: 1px solid currentColor; } }
@page { size: A4; margin: 14mm; }
"""


def _e(text: Any) -> str:
    return html.escape("" if text is None else str(text))


def _html_block(block: Block) -> str:
    if isinstance(block, Heading):
        return f"<h2>{_e(block.text)}</h2>"
    if isinstance(block, Text):
        return f"<p class='{'note' if block.note else ''}'>{_e(block.text)}</p>"
    if isinstance(block, Facts):
        return "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in block.pairs) + "</dl>"
    if isinstance(block, Grid):
        def cell(column: str, text: str, tag: str = "td") -> str:
            klass = " class='n'" if column in block.numeric else ""
            if tag == "td" and column == block.badge and text in TONES:
                text_html = f"<span class='badge {TONES[text]}'>{_e(text)}</span>"
            else:
                text_html = _e(text)
            if not klass and " " not in text and len(text) <= 24:  # an identifier or a code: kept whole
                klass = " class='k'"
            return f"<{tag}{klass}>{text_html}</{tag}>"
        head = "<tr>" + "".join(cell(c, c, "th") for c in block.columns) + "</tr>"
        body = "".join("<tr>" + "".join(cell(c, v) for c, v in zip(block.columns, row, strict=True)) + "</tr>"
                       for row in block.rows)
        return f"<table>{head}{body}</table>"
    if isinstance(block, LineChart):
        return line_chart_svg(block)
    return band_chart_svg(block)


def to_html(document: Document) -> str:
    """The document as one self-contained HTML page (no scripts, no links out, prints on A4)."""
    blocks = "\n".join(_html_block(b) for b in document.blocks)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{_e(document.title)}</title><style>{CSS}</style></head>
<body>
<h1>{_e(document.title)}</h1>
<p class="muted">{_e(document.subtitle)}</p>
{blocks}
</body></html>
"""


def nice_ticks(low: float, high: float, most: int = 6) -> list[float]:
    """Round tick values covering low..high: steps of 1, 2 or 5 times a power of ten."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0]
    if high <= low:
        high = low + 1.0
    raw = (high - low) / most
    power = 10 ** math.floor(math.log10(raw))
    step = next(power * f for f in (1, 2, 5, 10) if power * f >= raw)
    first = math.floor(low / step) * step
    count = int(math.ceil((high - first) / step)) + 1
    return [first + i * step for i in range(count)]


def _chart_range(chart: LineChart) -> tuple[float, float]:
    values = [v for _, series in chart.series for v in series if v is not None]
    if chart.band:
        values += [v for side in chart.band for v in side if v is not None]
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    pad = (high - low) * 0.08 or abs(high) * 0.05 or 1.0
    return low - pad, high + pad


SERIES_COLOURS = ("#2b4c7e", "#b5562b", "#3f7f4f", "#7a4c9e")


def _geometry(chart: LineChart, width: float, height: float) -> tuple[Any, Any, list[float], float, float]:
    left, right, top, bottom = 64.0, 28.0, 14.0, 34.0
    low, high = _chart_range(chart)
    ticks = nice_ticks(low, high)
    low, high = min(low, ticks[0]), max(high, ticks[-1])
    n = max(len(chart.labels) - 1, 1)

    def x(i: int) -> float:
        return left + (width - left - right) * i / n

    def y(v: float) -> float:
        return top + (height - top - bottom) * (1 - (v - low) / (high - low))

    return x, y, ticks, left, width - right


def _runs(values: Sequence[float | None]) -> list[list[int]]:
    runs: list[list[int]] = [[]]
    for i, v in enumerate(values):
        if v is None:
            runs.append([])
        else:
            runs[-1].append(i)
    return [r for r in runs if r]


def line_chart_svg(chart: LineChart, width: int = 940, height: int = 300) -> str:
    """An inline SVG line chart: y ticks and grid, period labels, the band shaded, a line per series."""
    x, y, ticks, left, right = _geometry(chart, width, height)
    parts = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{_e(chart.y_label)} by period" font-family="DejaVu Sans, Bitstream Vera Sans, sans-serif">']
    for t in ticks:
        parts.append(f'<line x1="{left}" y1="{y(t):.1f}" x2="{right}" y2="{y(t):.1f}" stroke="{RULE}"/>'
                     f'<text x="{left - 6}" y="{y(t) + 3.5:.1f}" font-size="10" text-anchor="end" fill="{MUTED}">'
                     f'{_e(chart.y_format.format(t))}</text>')
    step = max(1, math.ceil(len(chart.labels) / 12))
    for i, text in enumerate(chart.labels):
        if (len(chart.labels) - 1 - i) % step == 0:  # counted back from the latest period
            parts.append(f'<text x="{x(i):.1f}" y="{height - 16}" font-size="10" text-anchor="middle" fill="{MUTED}">'
                         f'{_e(text)}</text>')
    parts.append(f'<text x="12" y="{height / 2:.0f}" font-size="10" fill="{MUTED}" text-anchor="middle" '
                 f'transform="rotate(-90 12 {height / 2:.0f})">{_e(chart.y_label)}</text>')
    if chart.band:
        lows, highs = chart.band
        for run in _runs([lo if hi is not None else None for lo, hi in zip(lows, highs, strict=True)]):
            upper = " ".join(f"{x(i):.1f},{y(highs[i]):.1f}" for i in run)  # type: ignore[arg-type]
            lower = " ".join(f"{x(i):.1f},{y(lows[i]):.1f}" for i in reversed(run))  # type: ignore[arg-type]
            parts.append(f'<polygon points="{upper} {lower}" fill="{BAND}" opacity="0.7"/>')
    for (_, values), colour in zip(chart.series, SERIES_COLOURS, strict=False):
        for run in _runs(values):
            points = " ".join(f"{x(i):.1f},{y(values[i]):.1f}" for i in run)  # type: ignore[arg-type]
            parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
            parts += [f'<circle cx="{x(i):.1f}" cy="{y(values[i]):.1f}" r="2.5" fill="{colour}"/>' for i in run]  # type: ignore[arg-type]
    legend_x = left + 8
    for (name, _), colour in zip(chart.series, SERIES_COLOURS, strict=False):
        parts.append(f'<rect x="{legend_x}" y="4" width="10" height="3" fill="{colour}"/>'
                     f'<text x="{legend_x + 14}" y="9" font-size="10" fill="{INK}">{_e(name)}</text>')
        legend_x += 24 + 6 * len(name)
    parts.append("</svg>")
    return "".join(parts)


def _anchor(at: float, left: float, right: float) -> str:
    """A tick label's anchor that keeps it inside the chart at either end."""
    return "start" if at - left < 16 else "end" if right - at < 16 else "middle"


def band_chart_svg(chart: BandChart, width: int = 940, height: int = 64) -> str:
    """An inline SVG: the band with its tolerance margins, the estimate and the declared figure."""
    flag_low, flag_high = chart.low * (1 - chart.tolerance), chart.high * (1 + chart.tolerance)
    top = max(chart.declared, flag_high) * 1.08 or 1.0
    left, right = 10, width - 10

    def x(v: float) -> float:
        return left + (right - left) * max(v, 0.0) / top

    colour = TONE_COLOURS.get(chart.tone, TONE_COLOURS["none"])[1]
    ticks = "".join(
        f'<line x1="{x(t):.1f}" y1="40" x2="{x(t):.1f}" y2="44" stroke="#8893a0"/>'
        f'<text x="{x(t):.1f}" y="56" font-size="10" text-anchor="{_anchor(x(t), left, right)}" fill="{MUTED}">'
        f'{chart.unit_prefix}{t:,.0f}</text>'
        for t in nice_ticks(0.0, top) if t <= top)
    return (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="declared {chart.declared:.2f} against band {chart.low:.2f} to {chart.high:.2f}">'
        f'<line x1="{left}" y1="40" x2="{right}" y2="40" stroke="#8893a0"/>'
        f'<rect x="{x(flag_low):.1f}" y="16" width="{x(flag_high) - x(flag_low):.1f}" height="18" fill="#eef1f4"/>'
        f'<rect x="{x(chart.low):.1f}" y="16" width="{max(x(chart.high) - x(chart.low), 1):.1f}" height="18" fill="{BAND}"/>'
        f'<line x1="{x(chart.estimate):.1f}" y1="12" x2="{x(chart.estimate):.1f}" y2="38" stroke="{ACCENT}" stroke-width="2"/>'
        f'<path d="M {x(chart.declared):.1f} 9 l 6 9 l -6 9 l -6 -9 z" fill="{colour}"/>'
        f'<text x="{x(chart.declared):.1f}" y="7" font-size="10" text-anchor="middle" fill="{colour}">declared</text>'
        f"{ticks}</svg>"
    )


# -- PDF ------------------------------------------------------------------------------------------

FONT, FONT_BOLD = "RoughtraceVera", "RoughtraceVera-Bold"


def _fonts() -> None:
    """Register the Vera fonts ReportLab ships (embedded in every PDF: no system font is needed)."""
    import reportlab
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    folder = Path(reportlab.__file__).parent / "fonts"
    pdfmetrics.registerFont(TTFont(FONT, str(folder / "Vera.ttf")))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(folder / "VeraBd.ttf")))


def _pdf_line_chart(chart: LineChart, width: float) -> Any:
    from reportlab.graphics.shapes import Circle, Drawing, Line, Polygon, PolyLine, Rect, String
    from reportlab.lib.colors import HexColor

    height = width * 300 / 940
    x, y0, ticks, left, right = _geometry(chart, width, height)

    def y(v: float) -> float:  # ReportLab's y axis points up
        return height - y0(v)

    drawing = Drawing(width, height, initialFontName=FONT)
    for t in ticks:
        drawing.add(Line(left, y(t), right, y(t), strokeColor=HexColor(RULE), strokeWidth=0.5))
        drawing.add(String(left - 4, y(t) - 3, chart.y_format.format(t), fontName=FONT, fontSize=7,
                           fillColor=HexColor(MUTED), textAnchor="end"))
    step = max(1, math.ceil(len(chart.labels) / 10))
    for i, text in enumerate(chart.labels):
        if (len(chart.labels) - 1 - i) % step == 0:  # counted back from the latest period
            drawing.add(String(x(i), 8, text, fontName=FONT, fontSize=7, fillColor=HexColor(MUTED), textAnchor="middle"))
    if chart.band:
        lows, highs = chart.band
        for run in _runs([lo if hi is not None else None for lo, hi in zip(lows, highs, strict=True)]):
            points = [c for i in run for c in (x(i), y(highs[i]))]  # type: ignore[arg-type]
            points += [c for i in reversed(run) for c in (x(i), y(lows[i]))]  # type: ignore[arg-type]
            drawing.add(Polygon(points, fillColor=HexColor(BAND), strokeColor=None))
    for (_, values), colour in zip(chart.series, SERIES_COLOURS, strict=False):
        for run in _runs(values):
            drawing.add(PolyLine([c for i in run for c in (x(i), y(values[i]))],  # type: ignore[arg-type]
                                 strokeColor=HexColor(colour), strokeWidth=1.5))
            for i in run:
                drawing.add(Circle(x(i), y(values[i]), 1.8, fillColor=HexColor(colour), strokeColor=None))  # type: ignore[arg-type]
    legend_x = left + 6
    for (name, _), colour in zip(chart.series, SERIES_COLOURS, strict=False):
        drawing.add(Rect(legend_x, height - 9, 8, 2.5, fillColor=HexColor(colour), strokeColor=None))
        drawing.add(String(legend_x + 11, height - 10, name, fontName=FONT, fontSize=7, fillColor=HexColor(INK)))
        legend_x += 20 + 4.5 * len(name)
    return drawing


def _pdf_band_chart(chart: BandChart, width: float) -> Any:
    from reportlab.graphics.shapes import Drawing, Line, Polygon, Rect, String
    from reportlab.lib.colors import HexColor

    height = 48.0
    flag_low, flag_high = chart.low * (1 - chart.tolerance), chart.high * (1 + chart.tolerance)
    top = max(chart.declared, flag_high) * 1.08 or 1.0

    def x(v: float) -> float:
        return 8 + (width - 16) * max(v, 0.0) / top

    colour = HexColor(TONE_COLOURS.get(chart.tone, TONE_COLOURS["none"])[1])
    drawing = Drawing(width, height, initialFontName=FONT)
    drawing.add(Line(8, 16, width - 8, 16, strokeColor=HexColor("#8893a0"), strokeWidth=0.6))
    drawing.add(Rect(x(flag_low), 19, x(flag_high) - x(flag_low), 13, fillColor=HexColor("#eef1f4"), strokeColor=None))
    drawing.add(Rect(x(chart.low), 19, max(x(chart.high) - x(chart.low), 1), 13, fillColor=HexColor(BAND), strokeColor=None))
    drawing.add(Line(x(chart.estimate), 18, x(chart.estimate), 36, strokeColor=HexColor(ACCENT), strokeWidth=1.5))
    d = x(chart.declared)
    drawing.add(Polygon([d, 40, d + 4.5, 33, d, 26, d - 4.5, 33], fillColor=colour, strokeColor=None))
    for t in nice_ticks(0.0, top):
        if t <= top:
            drawing.add(Line(x(t), 13, x(t), 16, strokeColor=HexColor("#8893a0"), strokeWidth=0.5))
            drawing.add(String(x(t), 4, f"{chart.unit_prefix}{t:,.0f}", fontName=FONT, fontSize=6.5,
                               fillColor=HexColor(MUTED), textAnchor=_anchor(x(t), 8, width - 8)))
    return drawing


def to_pdf(document: Document) -> bytes:
    """The document as an A4 PDF with its fonts embedded."""
    from reportlab.lib import colors
    from reportlab.lib.colors import HexColor
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    _fonts()
    body = ParagraphStyle("body", fontName=FONT, fontSize=8.5, leading=11.5, textColor=HexColor(INK))
    note = ParagraphStyle("note", parent=body, fontSize=7.5, leading=10, textColor=HexColor("#3c4652"))
    muted = ParagraphStyle("muted", parent=body, textColor=HexColor(MUTED))
    title = ParagraphStyle("title", parent=body, fontName=FONT_BOLD, fontSize=15, leading=19, spaceAfter=2)
    heading = ParagraphStyle("heading", parent=body, fontName=FONT_BOLD, fontSize=11, leading=14, spaceBefore=10,
                             spaceAfter=4)
    cell = ParagraphStyle("cell", parent=body, fontSize=7.5, leading=9.5)
    cell_right = ParagraphStyle("cell_right", parent=cell, alignment=2)
    head_cell = ParagraphStyle("head_cell", parent=cell, fontName=FONT_BOLD)
    head_right = ParagraphStyle("head_right", parent=head_cell, alignment=2)

    buffer = io.BytesIO()
    page = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=14 * mm, rightMargin=14 * mm, topMargin=14 * mm,
                             bottomMargin=14 * mm, title=document.title, author="roughtrace", creator="roughtrace",
                             initialFontName=FONT, initialFontSize=8.5)
    width = page.width
    story: list[Any] = [Paragraph(_e(document.title), title), Paragraph(_e(document.subtitle), muted), Spacer(1, 6)]
    for block in document.blocks:
        if isinstance(block, Heading):
            story.append(Paragraph(_e(block.text), heading))
        elif isinstance(block, Text):
            story.append(Paragraph(_e(block.text), note if block.note else body))
        elif isinstance(block, Facts):
            rows = [[Paragraph(_e(k), muted), Paragraph(_e(v), body)] for k, v in block.pairs]
            grid = Table(rows, colWidths=[width * 0.28, width * 0.72], hAlign="LEFT")
            grid.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("TOPPADDING", (0, 0), (-1, -1), 1),
                                      ("BOTTOMPADDING", (0, 0), (-1, -1), 1), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
            story.append(grid)
        elif isinstance(block, Grid):
            story.append(_pdf_grid(block, width, cell, cell_right, head_cell, head_right, colors, HexColor, Table,
                                   TableStyle, Paragraph))
        elif isinstance(block, LineChart):
            story.append(_pdf_line_chart(block, width))
        else:
            story.append(KeepTogether([_pdf_band_chart(block, width)]))
        story.append(Spacer(1, 3))
    page.build(story)
    return buffer.getvalue()


def _pdf_grid(block: Grid, width: float, cell: Any, cell_right: Any, head_cell: Any, head_right: Any, colors: Any,
              hex_colour: Any, table: Any, table_style: Any, paragraph: Any) -> Any:
    widths = column_widths(block, width, cell.fontName, head_cell.fontName, cell.fontSize)
    rows = [[paragraph(_e(c), head_right if c in block.numeric else head_cell) for c in block.columns]]
    style = [("LINEBELOW", (0, 0), (-1, -1), 0.4, hex_colour(RULE)), ("BACKGROUND", (0, 0), (-1, 0), hex_colour("#f5f7f9")),
             ("VALIGN", (0, 0), (-1, -1), "TOP"), ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
             ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3)]
    for r, row in enumerate(block.rows, start=1):
        cells = []
        for column, text in zip(block.columns, row, strict=True):
            cells.append(paragraph(_e(text), cell_right if column in block.numeric else cell))
            if column == block.badge and text in TONES:
                back, ink = TONE_COLOURS[TONES[text]]
                at = block.columns.index(column)
                style += [("BACKGROUND", (at, r), (at, r), hex_colour(back)), ("TEXTCOLOR", (at, r), (at, r), hex_colour(ink))]
                cells[-1] = paragraph(f"<font color='{ink}'>{_e(text)}</font>", cell)
        rows.append(cells)
    grid = table(rows, colWidths=widths, repeatRows=1, hAlign="LEFT")
    grid.setStyle(table_style(style))
    return grid


def column_widths(block: Grid, width: float, font: str, bold: str, size: float) -> list[float]:
    """Widths that fill the page and keep figures on one line: a numeric column takes its widest
    cell; when the table is wider than the page, the text columns give up room (widest first, never
    below their longest word) and wrap."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    natural = [max([stringWidth(c, bold, size)] + [stringWidth(r[i], font, size) for r in block.rows]) + 7
               for i, c in enumerate(block.columns)]
    total = sum(natural)
    if total <= width:
        return [w * width / total for w in natural]
    floor = [max([stringWidth(word, bold, size) for word in c.split()]
                 + [stringWidth(word, font, size) for r in block.rows for word in r[i].split()]) + 7
             for i, c in enumerate(block.columns)]
    text = [i for i, c in enumerate(block.columns) if c not in block.numeric]
    widths = list(natural)
    excess = total - width
    while excess > 0.5 and text:
        slack = {i: widths[i] - floor[i] for i in text if widths[i] - floor[i] > 0.5}
        if not slack:
            break
        share = min(excess, sum(slack.values()))
        for i, room in slack.items():
            widths[i] -= share * room / sum(slack.values())
        excess -= share
    scale = min(1.0, width / sum(widths))
    return [w * scale for w in widths]


def write(document: Document, path: Path) -> str:
    """Write the document as HTML or PDF, chosen by the file's extension; returns the format."""
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        with writing(path):
            path.write_text(to_html(document), encoding="utf-8")
        return "html"
    if suffix == ".pdf":
        pdf = to_pdf(document)
        with writing(path):
            path.write_bytes(pdf)
        return "pdf"
    raise UsageError(Problem("unknown_report_format", f"a report is written as .html or .pdf, not {path.name!r}",
                             file=str(path)))
