"""Running the checks over a store and weighing their findings into risk per sightholder."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pyarrow as pa

from ..analytics.port import engine_for
from ..store.port import Store
from . import facts as fact_queries
from .findings import Finding, Risk, level, score
from .registry import enabled
from .rules import Facts


def _settings(settings: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if settings is not None:
        return settings
    from ..settings import Settings

    return Settings()


def run_checks(store: Store, settings: Mapping[str, Any] | None = None) -> list[Finding]:
    """Every enabled check over the whole store: the facts on the analytics engine the settings
    choose (the store's own by default), then the rules in this process."""
    settings = _settings(settings)
    checks = enabled(settings)
    engine = engine_for(settings)
    try:
        tables = fact_queries.gather(store, [name for c in checks for name in c.facts], settings, engine=engine)
    finally:
        engine.close()
    facts = Facts(tables, fact_queries.as_of(store, settings))
    findings: list[Finding] = []
    for check in checks:
        findings.extend(check.rule(facts, settings))
    return findings


SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2, "info": 3}


def assess(store: Store, settings: Mapping[str, Any] | None = None, sight: str | None = None,
           findings: list[Finding] | None = None) -> list[Risk]:
    """Risk of every sightholder, ranked riskiest first. With `sight`, only findings about that
    sight's boxes count, plus the sightholder-wide ones (patterns across boxes)."""
    settings = _settings(settings)
    if findings is None:
        findings = run_checks(store, settings)
    if sight is not None:
        findings = [f for f in findings if f.sight is None or f.sight == sight]
    high_cut, medium_cut = Decimal(settings["checks_risk_high"]), Decimal(settings["checks_risk_medium"])
    holders = _sightholders(store, sight)
    by_holder: dict[str, list[Finding]] = {h: [] for h in holders}
    for finding in findings:
        by_holder.setdefault(finding.sightholder_id, []).append(finding)
    risks = []
    for holder, found in by_holder.items():
        found.sort(key=lambda f: (SEVERITY_ORDER[f.severity], f.check, f.box_id or ""))
        points = score(found, high_cut)
        risks.append(Risk(holder, holders.get(holder), level(points, high_cut, medium_cut), points, tuple(found), sight))
    risks.sort(key=lambda r: (-r.score, r.sightholder_id))
    return risks


def _sightholders(store: Store, sight: str | None) -> dict[str, str | None]:
    """Every sightholder (by its role or because it bought a box), with its category."""
    sql = """
SELECT p.party_id, p.category FROM parties p
WHERE p.role = 'sightholder' OR p.party_id IN (SELECT buyer_id FROM rough_sales)
"""
    params: tuple[Any, ...] = ()
    if sight is not None:
        sql = "SELECT p.party_id, p.category FROM parties p WHERE p.party_id IN (SELECT buyer_id FROM rough_sales WHERE sight = ?)"
        params = (sight,)
    table = store.query(sql, params)
    return dict(zip(table.column("party_id").to_pylist(), table.column("category").to_pylist(), strict=True))


def box_findings(store: Store, box_id: str, settings: Mapping[str, Any] | None = None) -> list[Finding]:
    """Every finding that names one box."""
    return [f for f in run_checks(store, settings) if f.box_id == box_id]


def riskiest(store: Store, n: int = 5, settings: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The n riskiest sightholders (medium or high), each with its level, score and the reasons, for
    the demo summary."""
    out = []
    for risk in assess(store, settings)[:n]:
        if risk.level == "low":
            break
        checks = sorted({f.check for f in risk.findings if f.severity in ("high", "medium")})
        out.append({
            "sightholder_id": risk.sightholder_id, "category": risk.category, "risk": risk.level,
            "score": str(risk.score), "checks": checks,
            "why": [f.message for f in risk.findings[:3]],
        })
    return out


BOX_LOCAL_CHECKS: tuple[str, ...] = ("mass_balance", "size_and_timing", "coverage")
"""Checks whose findings about a box need that box's rows only (no population to compare with)."""


def local_box_findings(store: Store, box_id: str, settings: Mapping[str, Any] | None = None,
                       checks: tuple[str, ...] = BOX_LOCAL_CHECKS) -> list[Finding]:
    """The findings of the box-local checks for one box, from point lookups (fast at any size);
    the coverage check's sightholder-wide share is left out."""
    settings = _settings(settings)
    chosen = [c for c in enabled(settings) if c.name in checks]
    tables = fact_queries.gather(store, [name for c in chosen for name in c.facts], settings, box_id=box_id)
    as_of = fact_queries.as_of(store, settings) if "coverage" in checks else None
    facts = Facts(tables, as_of)
    return [f for c in chosen for f in c.rule(facts, settings) if f.box_id == box_id]


FACT_ROW_CHECKS: tuple[str, ...] = ("mass_balance", "size_and_timing")
"""Box-local checks that need nothing but the boxes' rows of the `boxes` facts (coverage also needs
the judging date)."""


def fact_row_findings(boxes: pa.Table, settings: Mapping[str, Any],
                      checks: tuple[str, ...] = FACT_ROW_CHECKS) -> list[Finding]:
    """The findings of the enabled checks in `checks` (some of FACT_ROW_CHECKS) from rows of the
    `boxes` facts as given (pure: no store)."""
    unknown = set(checks) - set(FACT_ROW_CHECKS)
    if unknown:
        raise ValueError(f"{', '.join(sorted(unknown))} need more than the boxes' fact rows")
    facts = Facts({"boxes": boxes}, None)
    return [f for c in enabled(settings) if c.name in checks for f in c.rule(facts, settings)]


def rule_settings(settings: Mapping[str, Any], checks: tuple[str, ...] = FACT_ROW_CHECKS) -> dict[str, str]:
    """What the findings of `checks` depend on besides the facts: which of them are enabled and the
    value of every setting they read (the fact queries' parameters among them), as text."""
    chosen = [c for c in enabled(settings) if c.name in checks]
    values = {name: str(settings[name]) for c in chosen for name in c.settings}
    return {"enabled": ",".join(c.name for c in chosen), **dict(sorted(values.items()))}
