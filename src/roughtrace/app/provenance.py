"""`provenance STONE_ID`: one polished stone's chain back to the rough."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import Context

if TYPE_CHECKING:
    from ..provenance.trace import Provenance


def trace_stone(context: Context, stone_id: str, lab: str | None = None) -> Provenance:
    """The stone, its rough stone and box, the sight and seller, the origin and the KP certificate,
    each link verified, unverified or conflicting with the findings that touch it; `NotFound` when
    no stone of that number (from `lab`, when given) is in the store."""
    from ..provenance.trace import trace

    return trace(context.store, stone_id, lab, context.settings)


def stone_provenance(context: Context, lab: str, report: str) -> dict[str, Any]:
    """A stone's provenance named by its lab and report number, as the caller may see it: whole for
    an admin and for the producer that sold its box; for a retailer the public form
    (`access.public_provenance`); for a sightholder that claims the stone the public form with its
    own claims. Anyone else is answered as for a stone not in the store (stone_not_found)."""
    from ..errors import NotFound
    from .access import public_provenance, require, sees_all

    actor = context.actor
    require(actor, "provenance")
    traced = trace_stone(context, report, lab)
    whole = traced.as_dict()
    if sees_all(actor):
        return whole
    if actor.role == "retailer":
        return public_provenance(whole)
    if actor.role == "sightholder":
        own = [c for c in whole["claims"] if c["sightholder_id"] == actor.party]
        if own:
            return {**public_provenance(whole), "claims": own}
    elif actor.role == "producer":
        sellers = context.store.rows("SELECT seller_id FROM rough_sales WHERE box_id = ?", (traced.stone["box_id"],))
        if any(s["seller_id"] == actor.party for s in sellers):
            return whole
    # the words `trace` answers a stone not in the store with, so that the two cannot be told apart
    raise NotFound(f"no polished stone {report} from {lab} is in the store", code="stone_not_found")
