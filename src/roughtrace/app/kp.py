"""`kp check` and `kp report`: KP certificate values against the rough price book, the verdicts
logged in the ledger each time certificates are checked."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..errors import NotFound, Problem
from . import Context

LINE_SORTS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "certificate": lambda r: (r["certificate_id"], r["hs_code"]),
    "gap": lambda r: (r["gap_usd"] is None, -abs(r["gap_usd"] or 0), r["certificate_id"], r["hs_code"]),
    "verdict": lambda r: (_verdicts().index(r["verdict"]), r["certificate_id"], r["hs_code"]),
}
"""The orders checked lines are shown in: by certificate, largest dollar gap first, by verdict."""


def _verdicts() -> tuple[str, ...]:
    from ..valuation.kp import VERDICTS

    return tuple(VERDICTS)


def with_gap(line: dict[str, Any]) -> dict[str, Any]:
    """A checked line with its dollar gap: declared value minus the estimated value (negative when
    the line is declared below what the rough is worth); None when it cannot be valued."""
    estimated = line.get("estimated_usd")
    gap = None if estimated is None else line["declared_usd"] - estimated
    return {**line, "gap_usd": gap}


@dataclass(frozen=True)
class CertificateVerdicts:
    """The lines of the certificates checked, each with its verdict and dollar gap, the counts and
    totals over every line, the lines chosen to show, and the decision's receipt."""

    lines: list[dict[str, Any]]
    chosen: list[dict[str, Any]]
    shown: list[dict[str, Any]]
    verdicts: dict[str, int]
    """Lines per verdict, over every line checked."""
    totals: dict[str, Any]
    """Lines, declared USD, and the gaps of the overvalued and the undervalued lines, in USD."""
    not_found: list[str]
    """Certificates asked for that the store does not hold."""
    receipt: dict[str, Any]


def check_certificates(context: Context, certificate_ids: list[str] | None, verdicts: Iterable[str] = (),
                       sort: str = "certificate", top: int = 0) -> CertificateVerdicts:
    """Check the named certificates (every one when `certificate_ids` is None): each line's declared
    $/ct against an estimate with a band and a verdict, logged in the ledger (the scope, the counts
    and the lines' digest). `NotFound` (certificate_not_found) when none of those named is stored.
    `verdicts`, `sort` and `top` choose the lines shown; counts and totals cover them all."""
    from ..json_values import plain
    from ..ledger.decisions import log_decision, summarised
    from ..valuation.kp import CertificateCheck, verdict_counts

    store, settings = context.store, context.settings
    with CertificateCheck.by_settings(store, settings, certificate_ids) as check:
        checked = check.lines()
        found = check.certificates_found
    missing = sorted(set(certificate_ids) - (found or set())) if certificate_ids is not None else []
    if missing and not checked.num_rows:
        raise NotFound([Problem("certificate_not_found", f"there is no KP certificate {m!r} in the store")
                        for m in missing])
    rows = [with_gap(r) for r in checked.to_pylist()]
    counts = verdict_counts(checked)
    receipt = log_decision(store, settings, "kp_check", {
        "scope": "all" if certificate_ids is None else sorted(certificate_ids), "verdicts": counts,
        **summarised([plain(r) for r in checked.to_pylist()], "lines")}, context.actor.name)
    wanted = set(verdicts)
    chosen = sorted((r for r in rows if not wanted or r["verdict"] in wanted), key=LINE_SORTS[sort])
    totals = {"lines": len(rows), "declared_usd": sum((r["declared_usd"] for r in rows), Decimal(0)),
              **{f"{v}_gap_usd": sum((r["gap_usd"] for r in rows if r["verdict"] == v), Decimal(0))
                 for v in ("overvalued", "undervalued")}}
    return CertificateVerdicts(rows, chosen, chosen[:top] if top else chosen, counts, totals, missing, receipt)


def write_certificate_report(context: Context, certificate_id: str, path: Path) -> str:
    """Write a certificate's valuation report to `path` (HTML or PDF by its extension); returns the
    format written."""
    from ..printable import write
    from ..valuation.report import certificate_report_document

    return write(certificate_report_document(context.store, context.settings, certificate_id), path)


# -- the service's views: one certificate for a caller allowed to see it, and a file before it is lodged --
@dataclass(frozen=True)
class CertificateView:
    """A stored certificate's lines, each with its verdict, band and dollar gap. A view: nothing is
    logged (`check_certificates` logs a set of verdicts as a decision)."""

    certificate_id: str
    lines: list[dict[str, Any]]
    verdicts: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {"certificate_id": self.certificate_id, "verdicts": self.verdicts, "lines": self.lines}


def certificate_verdict(context: Context, certificate_id: str) -> CertificateView:
    """One certificate's verdicts for a caller who may see it (`access.certificate_visible`); any
    other is answered as for a certificate not in the store (certificate_not_found)."""
    import pyarrow.compute as pc

    from ..valuation.kp import verdict_counts
    from .access import certificate_visible, hidden, require
    from .market_views import whole_market_certificate_lines

    require(context.actor, "certificates")
    heads = context.store.rows("SELECT exporting_country, importing_country FROM kp_certificates WHERE certificate_id = ?",
                               (certificate_id,))
    boxes = context.store.rows("SELECT seller_id, buyer_id FROM rough_sales WHERE kp_certificate_id = ?", (certificate_id,))
    if not heads or not certificate_visible(context.actor, [h["exporting_country"] for h in heads],
                                            [h["importing_country"] for h in heads], [b["seller_id"] for b in boxes],
                                            [b["buyer_id"] for b in boxes]):
        raise hidden("KP certificate", certificate_id, "certificate_not_found")
    # the mixes and prices are learnt from every line and sale, so the verdict is the same for every
    # caller; only the certificate the caller was just found to see is answered
    every = whole_market_certificate_lines(context)
    checked = every.filter(pc.equal(every.column("certificate_id"), certificate_id))
    lines = sorted((with_gap(r) for r in checked.to_pylist()), key=LINE_SORTS["certificate"])
    return CertificateView(certificate_id, lines, verdict_counts(checked))


@dataclass(frozen=True)
class CertificateFileCheck:
    """A certificate file checked before it is lodged: how its rows would import (rows read,
    accepted, the problems of the rejected ones) and each accepted line's verdict against the price
    book. Nothing of it is stored."""

    rows_read: int
    rows_accepted: int
    rows_rejected: int
    problems: list[Problem]
    lines: list[dict[str, Any]]
    verdicts: dict[str, int]
    already_lodged_as: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"rows_read": self.rows_read, "rows_accepted": self.rows_accepted, "rows_rejected": self.rows_rejected,
                "already_lodged_as": self.already_lodged_as, "verdicts": self.verdicts, "lines": self.lines,
                "errors": [p.as_dict() for p in self.problems]}


def may_check_files(context: Context) -> None:
    """`NotAllowed` unless the caller may have certificate files checked (asked before the file is read)."""
    from .access import require

    require(context.actor, "certificate_files")


class _Undone(Exception):
    """Raised inside the trial's transaction so that it rolls back."""


def check_certificate_file(context: Context, path: Path, file_format: str | None = None) -> CertificateFileCheck:
    """Check a KP certificate file before it is lodged: its rows go through the importer's every
    rule and the check of their values, inside one transaction that is then rolled back (nothing
    stored, nothing logged). The store must be a writable one; the trial holds the certificates'
    import lock while it runs."""
    from ..ingest import import_file
    from ..valuation.kp import CertificateCheck, verdict_counts
    from .access import require

    require(context.actor, "certificate_files")
    store = context.store
    outcome: dict[str, Any] = {}
    try:
        with store.transaction():
            result = import_file(store, "kp_certificates", path, file_format=file_format, settings=context.settings,
                                 ledger=False)
            outcome["result"] = result
            if result.batch_id is not None and result.rows_accepted:
                ids = store.query("SELECT DISTINCT certificate_id FROM kp_certificates WHERE batch_id = ?",
                                  (result.batch_id,)).column("certificate_id").to_pylist()
                with CertificateCheck.by_settings(store, context.settings, ids) as check:
                    outcome["lines"] = check.lines()
            raise _Undone
    except _Undone:
        pass
    result = outcome["result"]
    checked = outcome.get("lines")
    lines = sorted((with_gap(r) for r in checked.to_pylist()), key=LINE_SORTS["certificate"]) if checked is not None else []
    return CertificateFileCheck(result.rows_read, result.rows_accepted, result.rows_rejected, list(result.errors), lines,
                                verdict_counts(checked) if checked is not None else {}, result.duplicate_of)
