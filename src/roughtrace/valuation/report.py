"""A valuation report for one KP certificate: the lines, their verdicts and dollar gaps, a chart of
declared value against the band, and the data behind every estimate; written as one self-contained
HTML page (inline CSS and SVG, no network) or as a PDF, by `printable`."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from .. import render
from ..errors import NotFound
from ..printable import TONES, BandChart, Document, Facts, Grid, Heading, Text, to_html
from ..settings import Settings
from .kp import CertificateCheck


def certificate_document(certificate: dict[str, Any], lines: list[dict[str, Any]], parts: list[dict[str, Any]],
                         method: dict[str, Any], generated_at: dt.datetime | None = None) -> Document:
    """The report of one certificate as a document (pure: the data in, the blocks out): its header,
    its lines with verdicts and dollar gaps, a chart and the evidence behind each line, the method."""
    tolerance = float(method["kp_tolerance"])
    stamp = (generated_at or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M UTC")
    head = tuple((label, render.value(key, certificate.get(key))) for label, key in (
        ("Exporting country", "exporting_country"), ("Importing country", "importing_country"),
        ("Origin", "origin"), ("Exporter", "exporter_name"), ("Importer", "importer_name"),
        ("Issuing authority", "issuing_authority"), ("Issued", "issue_date"), ("Expires", "expiry_date"),
        ("Parcels", "parcels")))
    declared = sum((ln["declared_usd"] for ln in lines), Decimal(0))
    estimated = [ln["estimated_usd"] for ln in lines if ln.get("estimated_usd") is not None]
    summary = (f"{len(lines)} {'line' if len(lines) == 1 else 'lines'} declared at {render.money(declared)} in all"
               + (f"; estimated {render.money(sum(estimated, Decimal(0)))} for the lines that could be valued" if estimated else "")
               + ". " + ", ".join(f"{n} {render.words(v)}" for v, n in _counts(lines).items() if n) + ".")
    blocks: list[Any] = [
        Facts(head), Heading("Lines"), Text(summary),
        Grid(("HS code", "carats", "declared", "declared $/ct", "estimate $/ct", "band $/ct", "gap", "verdict"),
             tuple((ln["hs_code"], render.carats(ln["carats"]), render.money(ln["declared_usd"]),
                    render.money(ln["declared_per_carat"]), render.money(ln["estimated_per_carat"]),
                    f"{render.money(ln['low_per_carat'])} – {render.money(ln['high_per_carat'])}",
                    render.signed_money(_gap(ln)), render.words(ln["verdict"])) for ln in lines),
             numeric=frozenset({"carats", "declared", "declared $/ct", "estimate $/ct", "band $/ct", "gap"}),
             badge="verdict"),
    ]
    for ln in lines:
        blocks.append(Heading(f"Line {ln['hs_code']}: {render.carats(ln['carats'])} declared at "
                              f"{render.money(ln['declared_usd'])} ({render.words(ln['verdict'])})"))
        if ln["estimated_per_carat"] is not None:
            blocks.append(BandChart(float(ln["low_per_carat"]), float(ln["high_per_carat"]), float(ln["estimated_per_carat"]),
                                    float(ln["declared_per_carat"]), tolerance, TONES.get(render.words(ln["verdict"]), "none")))
        blocks.append(Text(
            f"Basis: {render.words(ln['basis'])}; confidence {render.words(ln.get('confidence') or 'none')}; "
            f"price book level {ln.get('book_level') or render.DASH}; {ln.get('evidence_boxes') or 0} tracked boxes behind it; "
            f"carats covered {render.percent(ln['coverage'], 1) if ln.get('coverage') is not None else render.DASH}; "
            f"price book period {ln.get('period') or render.DASH}; dollar gap (declared minus estimate) "
            f"{render.signed_money(_gap(ln))}.", note=True))
        if ln.get("reason"):
            blocks.append(Text(f"Cannot value: {ln['reason']}.", note=True))
        mine = [p for p in parts if p["hs_code"] == ln["hs_code"]]
        if mine:
            blocks.append(Grid(
                ("assortment", "box", "source", "carats", "book entry", "boxes", "book $/ct", "P10 – P90", "value"),
                tuple((p["assortment"], p.get("box_id") or "", render.words(p["source"]), render.carats(p["carats"]),
                       p["book_level"] or "none", render.number(p["book_boxes"]),
                       render.money(p["price_per_carat"]),
                       f"{render.money(p['p10_per_carat'])} – {render.money(p['p90_per_carat'])}",
                       render.money(p["value_usd"])) for p in mine),
                numeric=frozenset({"carats", "boxes", "book $/ct", "P10 – P90", "value"})))
    blocks += [Heading("Method"), Text(
        "Rough price per carat = (total polished price / rough carats) x (1 - costs and margin); cost model "
        f"{render.cost_model(method['cost_model'])}; polished priced at the transaction index. A line is a shipment: "
        "its linked boxes are valued at their assortments' price book entries (a shipped box's own outcome blended "
        f"in with weight {method['kp_outcome_weight']}; `fitted`: how far the tracked boxes' prices follow their "
        "outcomes), its parcel contents value the carats the boxes leave, and the "
        "exporter's usual mix (shrunk to the origin's) values the rest; unsorted and industrial lines without such "
        "evidence take a low-confidence range from KP statistics. The band is a parcel's: each part's error "
        "shrinks with the boxes behind it and parts combine as independent errors (half-width "
        f"max({method['kp_band_floor']}, {method['kp_band_z']} x standard error, widened to Student's t by the "
        f"evidence it rests on)); a line is flagged when declared lies more than {render.percent(method['kp_tolerance'], 0)} "
        f"outside its band. Observed entries need at least {method['valuation_min_boxes']} boxes. "
        + ("Parts are priced at what their assortments' boxes sold for (the book brought to prices paid). "
           if method.get("kp_price_calibration", "paid") == "paid" else "")
        + "A basis with at least "
        f"{method.get('kp_calibration_lines', 20)} lines in the store is calibrated on their declarations: "
        "the median ratio of declared to estimated shifts the estimate, their robust spread widens the band "
        "(never for lines valued at a mix).", note=True),
        Text("Chart: blue band = the estimate's band, dark tick = estimate, grey margin = tolerance, diamond = declared "
             "(USD per carat).", note=True)]
    return Document(f"KP certificate {certificate['certificate_id']}: valuation report",
                    f"roughtrace, generated {stamp}. Declared values checked against rough prices reverse-engineered "
                    "from tracked polished outcomes.", tuple(blocks))


def _gap(line: dict[str, Any]) -> Decimal | None:
    estimated = line.get("estimated_usd")
    return None if estimated is None else line["declared_usd"] - estimated


def _counts(lines: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ln in lines:
        counts[ln["verdict"]] = counts.get(ln["verdict"], 0) + 1
    return counts


def render_report(certificate: dict[str, Any], lines: list[dict[str, Any]], parts: list[dict[str, Any]],
                  method: dict[str, Any], generated_at: dt.datetime | None = None) -> str:
    """The report page for one certificate, as self-contained HTML."""
    return to_html(certificate_document(certificate, lines, parts, method, generated_at))


def certificate_report(store: Any, settings: Settings, certificate_id: str) -> str:
    """The HTML report of one certificate, from the store."""
    return to_html(certificate_report_document(store, settings, certificate_id))


def certificate_report_document(store: Any, settings: Settings, certificate_id: str) -> Document:
    """The report of one certificate, from the store, ready to write as HTML or PDF."""
    header = store.query(
        "SELECT certificate_id, exporting_country, importing_country, origin, exporter_name, importer_name, "
        "issuing_authority, issue_date, expiry_date, parcels FROM kp_certificates WHERE certificate_id = ? LIMIT 1",
        (certificate_id,),
    ).to_pylist()
    if not header:
        raise NotFound(f"there is no KP certificate {certificate_id!r} in the store", code="certificate_not_found")
    with CertificateCheck.by_settings(store, settings, [certificate_id]) as check:
        lines, parts = check.lines().to_pylist(), check.parts().to_pylist()
    book_model = store.query("SELECT cost_model FROM rough_price_book LIMIT 1").to_pylist()
    method = {name: settings[name] for name in ("kp_tolerance", "kp_band_floor", "kp_band_z", "kp_outcome_weight",
                                                "valuation_min_boxes", "kp_price_calibration", "kp_calibration_lines")}
    method["cost_model"] = json.loads(book_model[0]["cost_model"]) if book_model else "no price book built"
    return certificate_document(header[0], lines, parts, method)
