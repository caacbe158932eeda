"""A valuation report for one KP certificate: one self-contained HTML page (inline CSS and SVG, no
network) with the lines, their verdicts, a chart of declared value against the band, and the data
behind every estimate. It prints on A4 as it shows on screen."""

from __future__ import annotations

import datetime as dt
import html
import json
from decimal import Decimal
from typing import Any

from ..errors import NotFound
from ..settings import Settings
from .kp import CertificateCheck, CheckRules

CSS = """
body { font: 13px/1.45 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1d232a;
       margin: 24px auto; max-width: 960px; padding: 0 16px; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 15px; margin: 22px 0 8px; border-bottom: 1px solid #ccd; }
.muted { color: #5a6470; } table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; }
th, td { padding: 4px 6px; border-bottom: 1px solid #e3e6ea; text-align: left; vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.verdict { display: inline-block; padding: 1px 8px; border-radius: 9px; font-weight: 600; font-size: 12px; }
.reasonable { background: #e3f4e8; color: #1f6b35; } .undervalued { background: #fde8e6; color: #9b2317; }
.overvalued { background: #fff1dc; color: #8a4b00; } .cannot_value { background: #eceff3; color: #3c4652; }
dl { display: grid; grid-template-columns: 160px 1fr; gap: 2px 12px; margin: 8px 0; } dt { color: #5a6470; }
svg { display: block; margin: 4px 0 10px; } .note { font-size: 12px; color: #3c4652; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; } table, svg { break-inside: avoid; }
               .verdict { border: 1px solid currentColor; } }
@page { size: A4; margin: 14mm; }
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _money(value: Any) -> str:
    if value is None:
        return "&ndash;"
    return f"${Decimal(str(value)):,.2f}"


def band_chart(line: dict[str, Any], tolerance: float, width: int = 640, height: int = 64) -> str:
    """Inline SVG: the band (low-high) with the tolerance margins, the estimate and the declared price
    per carat on one axis of USD per carat."""
    declared = float(line["declared_per_carat"])
    if line["estimated_per_carat"] is None:
        return ""
    est, low, high = (float(line[k]) for k in ("estimated_per_carat", "low_per_carat", "high_per_carat"))
    flag_low, flag_high = low * (1 - tolerance), high * (1 + tolerance)
    top = max(declared, flag_high) * 1.08 or 1.0
    left, right = 10, width - 10

    def x(v: float) -> float:
        return left + (right - left) * max(v, 0.0) / top

    colour = {"reasonable": "#1f6b35", "undervalued": "#9b2317", "overvalued": "#8a4b00"}.get(line["verdict"], "#3c4652")
    ticks = "".join(
        f'<line x1="{x(t):.1f}" y1="40" x2="{x(t):.1f}" y2="44" stroke="#8893a0"/>'
        f'<text x="{x(t):.1f}" y="56" font-size="10" text-anchor="middle" fill="#5a6470">${t:,.0f}</text>'
        for t in _ticks(top)
    )
    return (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="declared {declared:.2f} against band {low:.2f} to {high:.2f} USD per carat">'
        f'<line x1="{left}" y1="40" x2="{right}" y2="40" stroke="#8893a0"/>'
        f'<rect x="{x(flag_low):.1f}" y="16" width="{x(flag_high) - x(flag_low):.1f}" height="18" fill="#eef1f4"/>'
        f'<rect x="{x(low):.1f}" y="16" width="{max(x(high) - x(low), 1):.1f}" height="18" fill="#c9d8ea"/>'
        f'<line x1="{x(est):.1f}" y1="12" x2="{x(est):.1f}" y2="38" stroke="#2b4c7e" stroke-width="2"/>'
        f'<path d="M {x(declared):.1f} 9 l 6 9 l -6 9 l -6 -9 z" fill="{colour}"/>'
        f'<text x="{x(declared):.1f}" y="7" font-size="10" text-anchor="middle" fill="{colour}">declared</text>'
        f"{ticks}</svg>"
    )


def _ticks(top: float) -> list[float]:
    if top <= 0:
        return [0.0]
    step = 10 ** len(str(int(top / 5))) / 10 if top >= 5 else 1.0
    for factor in (1, 2, 5, 10):
        if top / (step * factor) <= 6:
            step *= factor
            break
    return [i * step for i in range(int(top // step) + 1)]


def render_report(certificate: dict[str, Any], lines: list[dict[str, Any]], parts: list[dict[str, Any]],
                  method: dict[str, Any], generated_at: dt.datetime | None = None) -> str:
    """The report page for one certificate (pure: the data in, the HTML out)."""
    tolerance = float(method["kp_tolerance"])
    stamp = (generated_at or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M UTC")
    head = "".join(f"<dt>{_e(label)}</dt><dd>{_e(certificate.get(key))}</dd>" for label, key in (
        ("Exporting country", "exporting_country"), ("Importing country", "importing_country"),
        ("Origin", "origin"), ("Exporter", "exporter_name"), ("Importer", "importer_name"),
        ("Issuing authority", "issuing_authority"), ("Issued", "issue_date"), ("Expires", "expiry_date"),
        ("Parcels", "parcels")))
    rows = "".join(
        f"<tr><td>{_e(ln['hs_code'])}</td><td class='n'>{_e(ln['carats'])}</td><td class='n'>{_money(ln['declared_usd'])}</td>"
        f"<td class='n'>{_money(ln['declared_per_carat'])}</td><td class='n'>{_money(ln['estimated_per_carat'])}</td>"
        f"<td class='n'>{_money(ln['low_per_carat'])} &ndash; {_money(ln['high_per_carat'])}</td>"
        f"<td><span class='verdict {_e(ln['verdict'])}'>{_e(ln['verdict'].replace('_', ' '))}</span></td></tr>"
        for ln in lines
    )
    sections = []
    for ln in lines:
        mine = [p for p in parts if p["hs_code"] == ln["hs_code"]]
        detail = (
            f"<p class='note'>Basis: <b>{_e(ln['basis'])}</b>; confidence {_e(ln['confidence'] or 'none')}; "
            f"price book level {_e(ln['book_level'] or '-')}; {_e(ln['evidence_boxes'] or 0)} tracked boxes behind it; "
            f"carats covered {_e(ln['coverage'] if ln['coverage'] is not None else '-')}; "
            f"price book period {_e(ln['period'])}.</p>"
        )
        if ln["reason"]:
            detail += f"<p class='note'>Cannot value: {_e(ln['reason'])}.</p>"
        if mine:
            detail += (
                "<table><tr><th>Assortment</th><th>Box</th><th>Source</th><th class='n'>Carats</th><th>Book entry</th>"
                "<th class='n'>Boxes</th><th class='n'>Book $/ct</th><th class='n'>P10 &ndash; P90</th>"
                "<th class='n'>Value</th></tr>"
                + "".join(
                    f"<tr><td>{_e(p['assortment'])}</td><td>{_e(p.get('box_id') or '')}</td><td>{_e(p['source'])}</td><td class='n'>{_e(p['carats'])}</td>"
                    f"<td>{_e(p['book_level'] or 'none')}</td><td class='n'>{_e(p['book_boxes'] or '-')}</td>"
                    f"<td class='n'>{_money(p['price_per_carat'])}</td>"
                    f"<td class='n'>{_money(p['p10_per_carat'])} &ndash; {_money(p['p90_per_carat'])}</td>"
                    f"<td class='n'>{_money(p['value_usd'])}</td></tr>"
                    for p in mine
                )
                + "</table>"
            )
        sections.append(
            f"<h2>Line {_e(ln['hs_code'])}: {_e(ln['carats'])} ct declared at {_money(ln['declared_usd'])}</h2>"
            f"{band_chart(ln, tolerance)}{detail}"
        )
    method_text = (
        f"Rough price per carat = (total polished price / rough carats) x (1 - costs and margin), cost model "
        f"{_e(json.dumps(method['cost_model'], sort_keys=True))}; polished priced at the transaction index. "
        f"Each part is valued at its assortment's price book entry (a shipped box's own outcome blended in with "
        f"weight {_e(method['kp_outcome_weight'])}); band half-width max({_e(method['kp_band_floor'])}, "
        f"{_e(method['kp_band_z'])} x standard error); a line is flagged when declared lies more than "
        f"{_e(method['kp_tolerance'])} outside its band. Observed entries need at least "
        f"{_e(method['valuation_min_boxes'])} boxes."
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Valuation report {_e(certificate['certificate_id'])}</title><style>{CSS}</style></head>
<body>
<h1>KP certificate {_e(certificate['certificate_id'])}: valuation report</h1>
<p class="muted">roughtrace, generated {_e(stamp)}. Declared values checked against rough prices reverse-engineered
from tracked polished outcomes.</p>
<dl>{head}</dl>
<h2>Lines</h2>
<table><tr><th>HS code</th><th class="n">Carats</th><th class="n">Declared</th><th class="n">Declared $/ct</th>
<th class="n">Estimate $/ct</th><th class="n">Band $/ct</th><th>Verdict</th></tr>{rows}</table>
{''.join(sections)}
<h2>Method</h2><p class="note">{method_text}</p>
<p class="note">Chart: blue band = estimate's band, dark tick = estimate, grey margin = tolerance, diamond = declared.</p>
</body></html>
"""


def certificate_report(store: Any, settings: Settings, certificate_id: str) -> str:
    """The HTML report of one certificate, from the store."""
    header = store.query(
        "SELECT certificate_id, exporting_country, importing_country, origin, exporter_name, importer_name, "
        "issuing_authority, issue_date, expiry_date, parcels FROM kp_certificates WHERE certificate_id = ? LIMIT 1",
        (certificate_id,),
    ).to_pylist()
    if not header:
        raise NotFound(f"there is no KP certificate {certificate_id!r} in the store", code="certificate_not_found")
    with CertificateCheck(store, CheckRules.from_settings(settings), [certificate_id]) as check:
        lines, parts = check.lines().to_pylist(), check.parts().to_pylist()
    book_model = store.query("SELECT cost_model FROM rough_price_book LIMIT 1").to_pylist()
    method = {name: settings[name] for name in ("kp_tolerance", "kp_band_floor", "kp_band_z", "kp_outcome_weight",
                                                "valuation_min_boxes")}
    method["cost_model"] = json.loads(book_model[0]["cost_model"]) if book_model else "no price book built"
    return render_report(header[0], lines, parts, method)
