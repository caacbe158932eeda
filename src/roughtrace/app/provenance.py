"""`provenance STONE_ID`: one polished stone's chain back to the rough."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import Context

if TYPE_CHECKING:
    from ..provenance.trace import Provenance


def trace_stone(context: Context, stone_id: str, lab: str | None = None) -> Provenance:
    """The stone, its rough stone and box, the sight and seller, the origin and the KP certificate,
    each link verified, unverified or conflicting with the findings that touch it; `NotFound` when
    no stone of that number (from `lab`, when given) is in the store."""
    from ..provenance.trace import trace

    return trace(context.store, stone_id, lab, context.settings)
