"""The settings of market intelligence returned to contributing manufacturers (area "intelligence"),
in the one settings registry: who counts as a contributor, the period reports cover, and every
disclosure rule (`domain.disclosure`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..domain import periods
from ..settings import Setting, at_least, one_of

AREA = "intelligence"


def _share(value: Decimal) -> Decimal:
    if not Decimal(0) < value <= Decimal(1):
        raise ValueError("a share above 0 and at most 1")
    return value


def _percent(value: Decimal) -> Decimal:
    if not Decimal(0) < value <= Decimal(100):
        raise ValueError("a percentage above 0 and at most 100")
    return value


SETTINGS: tuple[Setting, ...] = (
    Setting("intelligence_period", "quarter", "Length of one report period: month, quarter or year (the period a "
            "box's sale date falls in).", AREA, one_of(*periods.LABELLED)),
    Setting("intelligence_contribution_share", Decimal("0.5"), "Share of the boxes a sightholder bought in a period "
            "that must have a reported outcome (polished stones or a declared disposition) for it to count as a "
            "contributor that period: only contributors' figures form the market, and only contributors see them.",
            AREA, _share),
    Setting("intelligence_min_contributors", 5, "Disclosure: fewest contributors a market cell needs before any figure "
            "of it is published (totals and quartiles alike).", AREA, at_least(1)),
    Setting("intelligence_dominance_n", 2, "Disclosure, (n, k) dominance rule: how many of a cell's largest "
            "contributors are weighed against intelligence_dominance_k.", AREA, at_least(1)),
    Setting("intelligence_dominance_k", Decimal("85"), "Disclosure, (n, k) dominance rule: most percent of a cell's "
            "total its intelligence_dominance_n largest contributors may hold before its totals are suppressed.",
            AREA, _percent),
    Setting("intelligence_p_percent", Decimal("10"), "Disclosure, p% rule: a contributor, knowing its own value and "
            "what is published, must not be able to bound another's value to within this percent; it decides primary "
            "suppression (the rest of a cell after its two largest contributors must be at least this percent of the "
            "largest) and the audit of suppressed cells.", AREA, _percent),
)



def rules(settings: Any) -> Any:
    """The disclosure rules a call's settings give."""
    from ..domain.disclosure import Rules

    return Rules(settings["intelligence_min_contributors"], settings["intelligence_dominance_n"],
                 Decimal(settings["intelligence_dominance_k"]), Decimal(settings["intelligence_p_percent"]))
