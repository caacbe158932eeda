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
    }, context.actor.name)
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


# -- the service's views: what one caller may see of the risk and findings, and its answers -------------
def _buyers_of(context: Context, seller: str | None) -> set[str]:
    if seller is None:
        return set()
    table = context.store.query("SELECT DISTINCT buyer_id FROM rough_sales WHERE seller_id = ?", (seller,))
    return set(table.column("buyer_id").to_pylist())


def sellers_to(context: Context, sightholder_id: str) -> set[str]:
    """The parties a sightholder bought boxes from."""
    table = context.store.query("SELECT DISTINCT seller_id FROM rough_sales WHERE buyer_id = ?", (sightholder_id,))
    return set(table.column("seller_id").to_pylist())


def _boxes_sold_by(context: Context, seller: str | None) -> set[str]:
    if seller is None:
        return set()
    return set(context.store.query("SELECT box_id FROM rough_sales WHERE seller_id = ?", (seller,)).column("box_id").to_pylist())


def _visible(context: Context, findings: list[Any]) -> list[Any]:
    """The findings the caller may see: all for an admin; a sightholder's own; for a producer, those
    about its boxes and the sightholder-wide ones of sightholders it sold to."""
    from .access import sees_all

    actor = context.actor
    if sees_all(actor):
        return findings
    if actor.role == "sightholder":
        return [f for f in findings if f.sightholder_id == actor.party]
    buyers, boxes = _buyers_of(context, actor.party), _boxes_sold_by(context, actor.party)
    return [f for f in findings if f.sightholder_id in buyers and (f.box_id is None or f.box_id in boxes)]


@dataclass(frozen=True)
class RiskView:
    """The risk of the sightholders a caller may see, with their findings (each with its stable id)
    and the answers given to them. A view: nothing is logged (`assess_sightholders` logs an assessment)."""

    sight: str | None
    sightholders: list[dict[str, Any]]


def _answers(context: Context, sightholders: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The answers given to the findings of `sightholders`, by finding id, oldest first."""
    if not sightholders:
        return {}
    marks = ", ".join("?" for _ in sightholders)
    rows = context.store.rows(f"SELECT answer_id, finding_id, account_id, note, answered_at, entry_index FROM finding_answers "
                              f"WHERE sightholder_id IN ({marks}) ORDER BY answered_at, answer_id", tuple(sightholders))
    found: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        found.setdefault(row["finding_id"], []).append(row)
    return found


def _risk_rows(context: Context, risks: list[Any]) -> list[dict[str, Any]]:
    from .boxes import finding_view

    names = party_names(context)
    answers = _answers(context, [r.sightholder_id for r in risks if r.findings])
    return [{"sightholder_id": r.sightholder_id, "name": names.get(r.sightholder_id), "category": r.category,
             "risk": r.level, "score": r.score,
             "findings": [{**finding_view(f), "answers": answers.get(f.finding_id, [])} for f in r.findings]}
            for r in risks]


def sightholder_risks(context: Context, sight: str | None = None) -> RiskView:
    """The risk of every sightholder the caller may see (riskiest first): an admin all, a producer
    those it sold to (findings about its boxes and sightholder-wide ones), a sightholder itself."""
    from .access import require
    from .market_views import kept

    require(context.actor, "risk")
    actor = context.actor
    return kept(context, f"risks of {actor.role} {actor.party} in {sight}", lambda: _risks_seen(context, sight))


def _risks_seen(context: Context, sight: str | None) -> RiskView:
    from ..accounts.security import market_wide
    from ..checks.verify import assess
    from .access import sees_all
    from .market_views import whole_market_findings

    # the checks judge each sightholder against the whole market, so they read it whole; only the
    # findings and risks the caller may see are kept
    every = whole_market_findings(context)
    with market_wide(context.store):
        findings = _visible(context, every)
        risks = assess(context.store, context.settings, sight=sight, findings=findings)
    actor = context.actor
    if not sees_all(actor):
        keep = {actor.party} if actor.role == "sightholder" else _buyers_of(context, actor.party)
        risks = [r for r in risks if r.sightholder_id in keep]
    return RiskView(sight, _risk_rows(context, risks))


def sightholder_findings(context: Context, sightholder_id: str) -> dict[str, Any]:
    """One sightholder's risk with its findings, evidence and answers; answered as for an unknown
    sightholder (sightholder_not_found) when the caller may not see it."""
    from .access import hidden, require, sightholder_visible

    require(context.actor, "risk")
    if not sightholder_visible(context.actor, sightholder_id, sellers_to(context, sightholder_id)):
        raise hidden("sightholder", sightholder_id, "sightholder_not_found")
    view = sightholder_risks(context)
    found = [r for r in view.sightholders if r["sightholder_id"] == sightholder_id]
    if not found:
        raise hidden("sightholder", sightholder_id, "sightholder_not_found")
    return found[0]


@dataclass(frozen=True)
class Answer:
    """A sightholder's note on one of its findings, stored and logged in the ledger."""

    answer_id: str
    finding_id: str
    sightholder_id: str
    note: str
    answered_at: Any
    receipt: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"answer_id": self.answer_id, "finding_id": self.finding_id, "sightholder_id": self.sightholder_id,
                "note": self.note, "answered_at": self.answered_at, "receipt": self.receipt}


NOTE_LIMIT = 4000
"""The longest note an answer carries, in characters."""


def answer_finding(context: Context, finding_id: str, note: str) -> Answer:
    """Store a sightholder's note on one of its own findings and log it in the ledger (the finding,
    what it is about and the note's digest). A finding that is not the caller's is answered as one
    that does not exist (finding_not_found)."""
    import datetime as dt
    import uuid

    from ..checks.verify import run_checks
    from ..errors import UsageError
    from ..ledger.decisions import digest, log_decision
    from .access import hidden, require

    require(context.actor, "answers")
    note = note.strip()
    if not note or len(note) > NOTE_LIMIT:
        raise UsageError(f"an answer's note is 1 to {NOTE_LIMIT} characters", code="bad_note")
    found = [f for f in run_checks(context.store, context.settings)
             if f.finding_id == finding_id and f.sightholder_id == context.actor.party]
    if not found:
        raise hidden("finding", finding_id, "finding_not_found")
    finding = found[0]
    answer_id = "ans_" + uuid.uuid4().hex[:16]
    when = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with context.store.transaction():
        receipt = log_decision(context.store, context.settings, "finding_answer", {
            "answer_id": answer_id, "finding_id": finding_id, "check": finding.check,
            "sightholder_id": finding.sightholder_id, "box_id": finding.box_id, "account_id": context.actor.account_id,
            "note_sha256": digest([note])}, context.actor.name)
        context.store.execute(
            "INSERT INTO finding_answers (answer_id, finding_id, sightholder_id, account_id, note, answered_at, entry_index) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (answer_id, finding_id, finding.sightholder_id, context.actor.account_id or context.actor.name, note, when,
             receipt.get("entry_index")))
    return Answer(answer_id, finding_id, finding.sightholder_id, note, when, receipt)
