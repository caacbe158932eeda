"""What a check reports: findings with their evidence, and the risk they add up to."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..json_values import plain

SEVERITIES: tuple[str, ...] = ("high", "medium", "low", "info")
POINTS: dict[str, Decimal] = {"high": Decimal(10), "medium": Decimal(2), "low": Decimal("0.5"), "info": Decimal(0)}
"""Risk points a finding adds. One high finding makes a sightholder high risk on its own; medium and
low findings together are capped just below the high cut-off, so statistics on their own never
make an analyst treat a sightholder as a flipper. `info` findings tell a sightholder something that
touches it without counting against it (its stones claimed by someone else)."""

LEVELS: tuple[str, ...] = ("high", "medium", "low")


@dataclass(frozen=True)
class Finding:
    """One broken expectation, about a sightholder and, when it is about a box, that box."""

    check: str
    severity: str
    sightholder_id: str
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    """Figures behind the finding, JSON-ready: carats as exact decimal text, ratios as decimals,
    `expected` the expectation that was broken."""
    box_id: str | None = None
    sight: str | None = None

    @property
    def finding_id(self) -> str:
        """A stable id for the finding: from what it is about (the check, the sightholder, the box
        and the sight), not from its figures, so that it stays the same while more outcomes are
        reported and a sightholder's answer stays attached to it."""
        about = "\x1f".join((self.check, self.sightholder_id, self.box_id or "", self.sight or ""))
        return "f_" + hashlib.sha256(about.encode("utf-8")).hexdigest()[:20]

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": self.severity,
            "sightholder_id": self.sightholder_id,
            "box_id": self.box_id,
            "sight": self.sight,
            "message": self.message,
            "evidence": {k: plain(v) for k, v in self.evidence.items()},
        }


@dataclass(frozen=True)
class Risk:
    """The verification verdict on one sightholder (optionally within one sight)."""

    sightholder_id: str
    category: str | None
    level: str
    score: Decimal
    findings: tuple[Finding, ...]
    sight: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "sightholder_id": self.sightholder_id,
            "category": self.category,
            "risk": self.level,
            "score": str(self.score),
            "findings": [
                {"check": f.check, "severity": f.severity, "box_id": f.box_id, "message": f.message,
                 "evidence": f.as_dict()["evidence"]}
                for f in self.findings
            ],
        }
        if self.sight is not None:
            out["sight"] = self.sight
        return out


def score(findings: tuple[Finding, ...] | list[Finding], high_cut: Decimal) -> Decimal:
    """Risk score: 10 per high finding, plus medium (2) and low (0.5) findings capped below the
    high cut-off."""
    high = sum((POINTS["high"] for f in findings if f.severity == "high"), Decimal(0))
    soft = sum((POINTS[f.severity] for f in findings if f.severity != "high"), Decimal(0))
    return high + min(soft, high_cut - Decimal("0.5"))


def level(points: Decimal, high_cut: Decimal, medium_cut: Decimal) -> str:
    """low, medium or high for a risk score."""
    if points >= high_cut:
        return "high"
    if points >= medium_cut:
        return "medium"
    return "low"
