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
    from ..valuation.kp import CertificateCheck, CheckRules, verdict_counts

    store, settings = context.store, context.settings
    with CertificateCheck(store, CheckRules.from_settings(settings), certificate_ids) as check:
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
        **summarised([plain(r) for r in checked.to_pylist()], "lines")})
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
