"""`verify sightholders`, `verify box` and `verify report`: sightholder risk, the findings behind it,
and the decision logged in the ledger each time sightholders are assessed."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..errors import NotFound
from . import Context

RISK_LEVELS = ("high", "medium", "low")
SORTS: dict[str, Callable[[Any], Any]] = {
    "risk": lambda r: (-r.score, r.sightholder_id), "name": lambda r: r.sightholder_id,
    "findings": lambda r: (-len(r.findings), -r.score, r.sightholder_id)}
"""The orders a list of sightholders is shown in: riskiest first, by id, most findings first."""


def party_names(context: Context) -> dict[str, str]:
    """Every party's name by its id, to show people names rather than ids."""
    table = context.store.query("SELECT party_id, name FROM parties")
    return dict(zip(table.column("party_id").to_pylist(), table.column("name").to_pylist(), strict=True))


def risk_counts(risks: list[Any]) -> dict[str, int]:
    """How many sightholders stand at each level of risk (every level listed, zeros included)."""
    counts = dict.fromkeys(RISK_LEVELS, 0)
    for risk in risks:
        counts[risk.level] += 1
    return counts


@dataclass(frozen=True)
class SightholderAssessment:
    """Every sightholder's risk in a scope, the ones chosen to show, and the decision's receipt."""

    sight: str | None
    risks: list[Any]
    """Every sightholder's `checks.verify.Risk`, as assessed and logged."""
    chosen: list[Any]
    """The risks at the levels asked for, in the order asked for."""
    shown: list[Any]
    """`chosen`, cut to the number asked for."""
    names: dict[str, str]
    receipt: dict[str, Any]

    @property
    def counts(self) -> dict[str, int]:
        return risk_counts(self.risks)


def assess_sightholders(context: Context, sight: str | None = None, levels: Iterable[str] = (),
                        sort: str = "risk", top: int = 0) -> SightholderAssessment:
    """Assess every sightholder (or those who bought in `sight`) and log the assessment in the
    ledger: each sightholder's risk, score and number of findings, and the full result's digest.
    `levels`, `sort` and `top` choose what to show; the log always holds every sightholder."""
    from ..checks.verify import assess
    from ..ledger.decisions import log_decision, summarised

    store, settings = context.store, context.settings
    risks = assess(store, settings, sight=sight)
    full = [r.as_dict() for r in risks]
    receipt = log_decision(store, settings, "verify_sightholders", {
        "sight": sight,
        "risks": [{"sightholder_id": r.sightholder_id, "risk": r.level, "score": str(r.score), "findings": len(r.findings)}
                  for r in risks],
        **summarised(full, "sightholders_json"),
    })
    names = party_names(context)
    wanted = set(levels)
    chosen = sorted((r for r in risks if not wanted or r.level in wanted), key=SORTS[sort])
    return SightholderAssessment(sight, risks, chosen, chosen[:top] if top else chosen, names, receipt)


@dataclass(frozen=True)
class BoxFindings:
    """One sold box (its sight, buyer and weight) and every finding about it."""

    box_id: str
    sight: str
    sightholder_id: str
    sightholder_name: str | None
    rough_carats: Decimal
    findings: list[Any]
    """The box's `checks.findings.Finding`s."""


def box_findings(context: Context, box_id: str) -> BoxFindings:
    """Every finding about one box; `NotFound` (box_not_found) when no box of that id was sold."""
    from ..checks.verify import box_findings as findings_of

    sale = context.store.query("SELECT box_id, sight, buyer_id, carats FROM rough_sales WHERE box_id = ?", (box_id,))
    if sale.num_rows == 0:
        raise NotFound(f"no box {box_id} was sold", code="box_not_found")
    row = sale.to_pylist()[0]
    findings = findings_of(context.store, box_id, context.settings)
    return BoxFindings(box_id, row["sight"], row["buyer_id"], party_names(context).get(row["buyer_id"]),
                       row["carats"], findings)


def write_verification_report(context: Context, sightholder_id: str, path: Path, sight: str | None = None) -> str:
    """Write a sightholder's verification report to `path` (HTML or PDF by its extension); returns
    the format written."""
    from ..checks.report import verification_report
    from ..printable import write

    return write(verification_report(context.store, context.settings, sightholder_id, sight), path)
