"""The views the dashboard shows beyond the API's own: a producer's overview of its sights, the boxes
of one sightholder, the certificates a caller may see with their verdicts, a certificate's printable
report, the price index's cells, a caller's uploads and the ledger's state.

Each applies the same rules as the API's views (`app.access`): an object the caller may not see is
answered as one that does not exist. Views log nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import Context
from .access import certificate_visible, hidden, require, sees_all, sightholder_visible

SALES_SQL = "SELECT r.box_id, r.sight, r.sale_date, r.buyer_id, r.carats, r.price_usd FROM rough_sales r {where}"

BUYERS_BY_SIGHT_SQL = "SELECT DISTINCT sight, buyer_id FROM rough_sales {where}"

BOXES_SQL = """SELECT r.box_id, r.sight, r.sale_date, r.seller_id, r.buyer_id, r.assortment, r.origin, r.carats, r.price_usd
FROM rough_sales r WHERE r.buyer_id = ? {seller} ORDER BY r.sale_date DESC, r.box_id"""

CERTIFICATE_HEADS_SQL = """SELECT certificate_id, min(exporting_country) AS exporting_country,
       min(importing_country) AS importing_country, min(origin) AS origin, min(issue_date) AS issue_date,
       count(*) AS lines, sum(carats) AS carats, sum(value_usd) AS declared_usd
FROM kp_certificates {where} GROUP BY certificate_id ORDER BY min(issue_date) DESC, certificate_id"""

CELLS_SQL = """SELECT shape_family, size_bracket, color, clarity, n_trades, median_ppc, q25_ppc, q75_ppc, monotone_ppc
FROM price_index_cells WHERE period_start = ? AND shape_family = ? {size} ORDER BY size_bracket, color, clarity"""

SIZES_SQL = """SELECT size_bracket, sum(n_trades) AS trades FROM price_index_cells
WHERE period_start = ? AND shape_family = ? GROUP BY size_bracket ORDER BY size_bracket"""

EVERY_SIZE = "all"
"""The size a caller asks for to see every size bracket of a shape family at once."""

PERIODS_SQL = "SELECT DISTINCT period_start FROM price_index_cells ORDER BY period_start"

FAMILIES_SQL = "SELECT DISTINCT shape_family FROM price_index_cells WHERE period_start = ? ORDER BY shape_family"


def _seller_filter(context: Context, alias: str = "r") -> tuple[str, tuple[Any, ...]]:
    """The WHERE clause cutting sales to the caller's own (none for an admin)."""
    if sees_all(context.actor):
        return "", ()
    return f"WHERE {alias}.seller_id = ?", (context.actor.party,)


@dataclass(frozen=True)
class Overview:
    """A producer's sights (boxes sold, carats, value, how many boxes have an outcome reported) and
    the risk of the sightholders it sold to, by sight and by category."""

    sights: list[dict[str, Any]]
    risk_by_sight: list[dict[str, Any]]
    risk_by_category: list[dict[str, Any]]
    totals: dict[str, Any]


def _level_counts(table: pa.Table, by: str) -> list[dict[str, Any]]:
    """Sightholders at each risk level per value of `by` (a table of `by`, sightholder_id, risk)."""
    from ..checks.findings import LEVELS

    if table.num_rows == 0:
        return []
    counted = table.group_by([by, "risk"]).aggregate([("sightholder_id", "count_distinct")])
    out: dict[Any, dict[str, Any]] = {}
    for row in counted.to_pylist():
        line = out.setdefault(row[by], {by: row[by], **dict.fromkeys(LEVELS, 0), "sightholders": 0})
        line[row["risk"]] += row["sightholder_id_count_distinct"]
        line["sightholders"] += row["sightholder_id_count_distinct"]
    return [out[k] for k in sorted(out, key=lambda k: (k is None, str(k)))]


def producer_overview(context: Context) -> Overview:
    """The caller's sales by sight with their outcome coverage (boxes with any polished outcome
    reported, over boxes sold), and the risk levels of its buyers by sight and by category."""
    from .market_views import kept

    require(context.actor, "the producer's view")
    return kept(context, f"overview of {context.actor.role} {context.actor.party}", lambda: _overview(context))


def _overview(context: Context) -> Overview:
    from .market_views import whole_market_outcomes
    from .verify import sightholder_risks

    where, params = _seller_filter(context)
    sales = context.store.query(SALES_SQL.format(where=where), params)
    outcomes = whole_market_outcomes(context)
    reported = outcomes.select(["box_id", "sightholder_id"]).append_column(
        "reported", pa.array(np.ones(outcomes.num_rows, dtype=np.int64)))
    sales = sales.join(reported, ["box_id", "buyer_id"], ["box_id", "sightholder_id"], join_type="left outer")
    grouped = sales.group_by("sight").aggregate([
        ("sale_date", "min"), ("box_id", "count"), ("buyer_id", "count_distinct"), ("carats", "sum"),
        ("price_usd", "sum"), ("reported", "sum")])
    sights = sorted(({"sight": r["sight"], "sale_date": r["sale_date_min"], "boxes": r["box_id_count"],
                      "sightholders": r["buyer_id_count_distinct"], "carats": r["carats_sum"],
                      "price_usd": r["price_usd_sum"], "boxes_reported": r["reported_sum"] or 0}
                     for r in grouped.to_pylist()), key=lambda s: s["sight"])
    for sight in sights:
        sight["coverage"] = (Decimal(sight["boxes_reported"]) / sight["boxes"]).quantize(Decimal("0.0001")) \
            if sight["boxes"] else None
    risks = sightholder_risks(context).sightholders
    levels = pa.table({"sightholder_id": [r["sightholder_id"] for r in risks],
                       "category": [r["category"] or "uncategorised" for r in risks],
                       "risk": [r["risk"] for r in risks]})
    buyers = context.store.query(BUYERS_BY_SIGHT_SQL.format(where=where.replace("r.", "")), params)
    by_sight = buyers.rename_columns(["sight", "sightholder_id"]).join(levels, "sightholder_id", join_type="inner")
    boxes = sum(s["boxes"] for s in sights)
    reported = sum(s["boxes_reported"] for s in sights)
    totals = {"sights": len(sights), "boxes": boxes, "boxes_reported": reported,
              "carats": sum((s["carats"] for s in sights), Decimal(0)),
              "price_usd": sum((s["price_usd"] for s in sights), Decimal(0)),
              "coverage": (Decimal(reported) / boxes).quantize(Decimal("0.0001")) if boxes else None,
              "sightholders": len(risks)}
    return Overview(sights, _level_counts(by_sight, "sight"), _level_counts(levels, "category"), totals)


@dataclass(frozen=True)
class BoxList:
    """A sightholder's boxes as a page lists them: the newest of them (of one sight when asked), how
    many there are, and the sights they were bought at (newest first) to narrow the list by."""

    boxes: list[dict[str, Any]]
    total: int
    sights: list[str]


def sightholder_boxes(context: Context, sightholder_id: str, sight: str | None = None,
                      shown: int | None = None, skip: int = 0) -> BoxList:
    """The boxes a sightholder bought that the caller may see (a producer: those it sold), newest
    first, each with the stones and carats reported polished from it; of one `sight` when given, at
    most `shown` of them after the newest `skip`."""
    from .verify import sellers_to

    require(context.actor, "boxes")
    if not sightholder_visible(context.actor, sightholder_id, sellers_to(context, sightholder_id)):
        raise hidden("sightholder", sightholder_id, "sightholder_not_found")
    from .market_views import whole_market_outcomes

    own = sees_all(context.actor) or context.actor.role == "sightholder"
    seller, params = ("", (sightholder_id,)) if own else ("AND r.seller_id = ?", (sightholder_id, context.actor.party))
    boxes = context.store.query(BOXES_SQL.format(seller=seller), params)
    sights = sorted(pc.unique(boxes.column("sight")).to_pylist(), reverse=True)
    if sight is not None:
        boxes = boxes.filter(pc.equal(boxes.column("sight"), sight))
    if boxes.num_rows == 0:
        return BoxList([], 0, sights)
    newest_first = [("sale_date", "descending"), ("box_id", "ascending")]
    listed = boxes.sort_by(newest_first).slice(skip, shown)
    outcomes = whole_market_outcomes(context).select(["box_id", "sightholder_id", "stones", "carats"]).rename_columns(
        ["box_id", "sightholder_id", "polished_stones", "polished_carats"])
    joined = listed.join(outcomes, ["box_id", "buyer_id"], ["box_id", "sightholder_id"], join_type="left outer")
    joined = joined.sort_by(newest_first)
    stones = pc.fill_null(joined.column("polished_stones"), 0)
    rows = joined.set_column(joined.schema.get_field_index("polished_stones"), "polished_stones", stones).to_pylist()
    return BoxList(rows, boxes.num_rows, sights)


def mass_balance(box: dict[str, Any], outcome: dict[str, Any], dispositions: list[dict[str, Any]]) -> dict[str, Any]:
    """A box's carats accounted for: rough bought, declared out as rough (dispositions), left to
    polish, reported polished and the yield of polished on what was left (a fraction; None when
    nothing is left or nothing was reported)."""
    rough = Decimal(box["carats"])
    out = sum((Decimal(d["carats"]) for d in dispositions), Decimal(0))
    polished = Decimal(outcome.get("carats") or 0)
    left = rough - out
    return {"rough_carats": rough, "declared_out_carats": out, "left_to_polish_carats": left,
            "polished_carats": polished,
            "yield": (polished / left).quantize(Decimal("0.0001")) if left > 0 and polished else None,
            "balanced": polished + out <= rough}


def certificate_list(context: Context, verdict: str | None = None) -> list[dict[str, Any]]:
    """The certificates the caller may see (a KP authority: those its country exports or imports;
    a producer or sightholder: those its boxes name), newest first, each with its lines' verdict
    counts and its worst verdict; `verdict` keeps those with at least one line of it."""
    from .market_views import kept

    require(context.actor, "certificates")
    actor = context.actor
    whose = f"certificate list of {actor.role} {actor.party} {actor.country} with {verdict}"
    return kept(context, whose, lambda: _certificate_list(context, verdict))


def _certificate_list(context: Context, verdict: str | None) -> list[dict[str, Any]]:
    from ..valuation.kp import VERDICTS
    from .market_views import whole_market_certificate_lines

    actor = context.actor
    if sees_all(actor):
        where, params = "", ()
    elif actor.role == "kp_authority":
        where, params = "WHERE exporting_country = ? OR importing_country = ?", (actor.country, actor.country)
    else:
        column = "seller_id" if actor.role == "producer" else "buyer_id"
        where = f"WHERE certificate_id IN (SELECT kp_certificate_id FROM rough_sales WHERE {column} = ?)"
        params = (actor.party,)
    heads = context.store.rows(CERTIFICATE_HEADS_SQL.format(where=where), params)
    heads = [h for h in heads if actor.role != "kp_authority"
             or certificate_visible(actor, [h["exporting_country"]], [h["importing_country"]], [], [])]
    if not heads:
        return []
    every = whole_market_certificate_lines(context)
    lines = every.filter(pc.is_in(every.column("certificate_id"), pa.array([h["certificate_id"] for h in heads])))
    lines = lines.select(["certificate_id", "verdict"])
    counted = lines.group_by(["certificate_id", "verdict"]).aggregate([("verdict", "count")]).to_pylist()
    counts: dict[str, dict[str, int]] = {}
    for row in counted:
        counts.setdefault(row["certificate_id"], dict.fromkeys(VERDICTS, 0))[row["verdict"]] = row["verdict_count"]
    order = ("undervalued", "overvalued", "cannot_value", "reasonable")
    out = []
    for head in heads:
        mine = counts.get(head["certificate_id"], dict.fromkeys(VERDICTS, 0))
        worst = next((v for v in order if mine.get(v)), "cannot_value")
        if verdict is None or mine.get(verdict):
            out.append({**head, "verdict": worst, "verdicts": mine})
    return out


def certificate_document(context: Context, certificate_id: str) -> Any:
    """One certificate's printable report (`printable.Document`: its header, each line against its
    band, the basis of each valuation and the method) for a caller who may see the certificate; any
    other is answered as for one not in the store (certificate_not_found)."""
    from ..accounts.security import market_wide
    from ..valuation.report import certificate_report_document
    from .kp import certificate_verdict
    from .market_views import kept

    certificate_verdict(context, certificate_id)  # who may see it, answered as the API answers

    def made() -> Any:
        with market_wide(context.store):
            return certificate_report_document(context.store, context.settings, certificate_id)

    return kept(context, f"certificate_report {certificate_id}", made)


def price_cells(context: Context, period: str | None = None, shape_family: str | None = None,
                size: str | None = None) -> dict[str, Any]:
    """The price index's cells of one period (the latest by default; ISO date of its first day), one
    shape family (round by default, else the first) and one size bracket (the one with most trades
    when none or one the family lacks is asked; `EVERY_SIZE` for all): the periods, families and sizes there are, the ones shown
    and their cells with trades, median, quartiles and monotone view (USD per carat)."""
    import datetime as dt

    from ..errors import NotFound, UsageError
    from .pricing import _store

    require(context.actor, "prices")
    periods = _store(context).query(PERIODS_SQL).column("period_start").to_pylist()
    if not periods:
        raise NotFound("the price index is empty: import transactions and run `roughtrace prices build`",
                       code="empty_index")
    if period is None:
        chosen = periods[-1]
    else:
        try:
            chosen = dt.date.fromisoformat(period)
        except ValueError:
            raise UsageError(f"period: {period[:20]!r} is not a date (YYYY-MM-DD)", code="bad_request") from None
        if chosen not in periods:
            raise NotFound(f"the price index has no period starting {chosen.isoformat()}", code="no_such_period")
    families = context.store.query(FAMILIES_SQL, (chosen,)).column("shape_family").to_pylist()
    family = shape_family or ("round" if "round" in families else families[0])
    if family not in families:
        raise NotFound(f"the price index has no {family!r} cells in the period starting {chosen.isoformat()}",
                       code="no_such_cell")
    sizes = context.store.query(SIZES_SQL, (chosen, family))
    brackets = sizes.column("size_bracket").to_pylist()
    if size != EVERY_SIZE and size not in brackets:  # none asked, or one this family does not have
        size = brackets[int(pc.index(sizes.column("trades"), pc.max(sizes.column("trades"))).as_py())]
    if size == EVERY_SIZE:
        cells = context.store.rows(CELLS_SQL.format(size=""), (chosen, family))
    else:
        cells = context.store.rows(CELLS_SQL.format(size="AND size_bracket = ?"), (chosen, family, size))
    return {"periods": periods, "period": chosen, "families": families, "shape_family": family,
            "sizes": brackets, "size": size, "every_size": EVERY_SIZE, "cells": cells}


def uploads(context: Context, limit: int = 50) -> list[dict[str, Any]]:
    """The caller's newest import jobs (its account's and its party's; every one for an admin)."""
    from .jobs import _job

    require(context.actor, "imports")
    actor = context.actor
    columns = "job_id, kind, file_name, file_format, spool_path, bytes, account_id, role, party_id, state, batch_id, " \
              "result, submitted_at, started_at, finished_at"
    if sees_all(actor):
        rows = context.store.rows(f"SELECT {columns} FROM service_jobs ORDER BY submitted_at DESC LIMIT {int(limit)}")
    else:
        rows = context.store.rows(f"SELECT {columns} FROM service_jobs WHERE account_id = ? OR party_id = ? "
                                  f"ORDER BY submitted_at DESC LIMIT {int(limit)}", (actor.account_id, actor.party or ""))
    return [_job(r).as_dict() for r in rows]


@dataclass(frozen=True)
class LedgerState:
    """The ledger's newest signed head and the store it logs."""

    head: dict[str, Any] | None
    engine: str
    schema_version: int
    batches: int
    newest_batch: int | None


def ledger_state(context: Context) -> LedgerState:
    """The newest signed tree head (size, root, when, key id, signature), the store's engine and
    schema version, and the import batches it holds (how many, the newest id)."""
    from ..accounts.security import market_wide
    from .ledger import latest_head

    require(context.actor, "the producer's view")
    head = latest_head(context)
    shown = None if head is None else {"size": head.size, "root": head.root.hex(), "timestamp": head.timestamp,
                                       "key_id": head.key_id, "signature": head.signature.hex()}
    with market_wide(context.store):  # the log covers every party's batches; it shows counts, not rows
        batches = context.store.rows("SELECT count(*) AS n, max(batch_id) AS newest FROM batches")[0]
    return LedgerState(shown, context.store.engine, context.store.schema_version(), int(batches["n"]),
                       batches["newest"])


def column_values(rows: list[dict[str, Any]], name: str) -> list[Any]:
    """The distinct values of one field of a view's rows, sorted (for a filter's choices)."""
    if not rows:
        return []
    return sorted(pc.unique(pa.array([r.get(name) for r in rows])).drop_null().to_pylist())


def certificate_pdf(context: Context, certificate_id: str) -> bytes:
    """A certificate's report as a PDF (`certificate_document` written by `printable.to_pdf`), for a
    caller who may see the certificate."""
    from ..printable import to_pdf
    from .market_views import kept

    document = certificate_document(context, certificate_id)
    return kept(context, f"certificate_pdf {certificate_id}", lambda: to_pdf(document))


def price_book_level(context: Context, level: str) -> list[dict[str, Any]]:
    """The price book's entries at one grouping level (`valuation.pricebook.LEVEL_NAMES`)."""
    from .valuation import price_book_entries

    require(context.actor, "pricebook")
    return price_book_entries(context, level=level)
