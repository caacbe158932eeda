"""A sold box as its seller and its buyer see it: the sale, what was reported on it, and its findings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import Context
from .access import box_visible, hidden, require

SALE_SQL = """SELECT box_id, sight, sale_date, seller_id, buyer_id, origin, assortment, model, size_min_ct, size_max_ct,
       colour, quality, stones, carats, price_usd, kp_certificate_id FROM rough_sales WHERE box_id = ?"""

DISPOSITIONS_SQL = """SELECT disposition, sum(carats) AS carats, count(*) AS records FROM rough_dispositions
WHERE box_id = ? AND sightholder_id = ? GROUP BY disposition ORDER BY disposition"""


@dataclass(frozen=True)
class BoxView:
    """A box's sale, its buyer's reported outcome (stones, carats, dates) and dispositions (carats by
    kind), and every finding about it with its stable id."""

    sale: dict[str, Any]
    outcome: dict[str, Any]
    dispositions: list[dict[str, Any]]
    findings: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {"box": self.sale, "outcome": self.outcome, "dispositions": self.dispositions, "findings": self.findings}


def finding_view(finding: Any) -> dict[str, Any]:
    """A finding as the service shows it: its stable id first, then its fields and evidence."""
    return {"finding_id": finding.finding_id, **finding.as_dict()}


def box_view(context: Context, box_id: str) -> BoxView:
    """One box for its seller (a producer), its buyer (a sightholder) or an admin; any other
    caller is answered as for a box never sold (box_not_found)."""
    from .market_views import outcome_of, whole_market_findings

    require(context.actor, "boxes")
    sales = context.store.rows(SALE_SQL, (box_id,))
    if not sales or not box_visible(context.actor, sales[0]["seller_id"], sales[0]["buyer_id"]):
        raise hidden("box", box_id, "box_not_found")
    sale = sales[0]
    buyer = (sale["buyer_id"],)
    outcome = outcome_of(context, box_id, sale["buyer_id"])  # the outcomes of every box, kept with the store
    dispositions = context.store.rows(DISPOSITIONS_SQL, (box_id, *buyer))
    # a box is judged against the whole market, as for its seller
    findings = [finding_view(f) for f in whole_market_findings(context) if f.box_id == box_id]
    return BoxView(sale, outcome, dispositions, findings)
