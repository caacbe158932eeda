"""Which KP line (HS code) a box's rough ships under, read from its assortment's model and quality.

The KPCS classes rough as unsorted (7102.10), industrial (7102.21) or gem quality (7102.31); a
producer's assortment does not carry the code, so valuation reads it from the rough itself:

- industrial: the `rejections` model, or `rejection` quality (goods sorted out of the gem run);
- unsorted: `mixed` model and `mixed` quality together (run-of-mine that was never sorted);
- gem quality: everything else.

A valuator whose exporter classes differently sends parcel_contents, which name the line directly.
"""

from __future__ import annotations

from ..domain.kp import HS_GEM, HS_INDUSTRIAL, HS_UNSORTED


def hs_class(model: str, quality: str) -> str:
    """The HS code rough of this model and quality ships under."""
    if model == "rejections" or quality == "rejection":
        return HS_INDUSTRIAL
    if model == "mixed" and quality == "mixed":
        return HS_UNSORTED
    return HS_GEM


def hs_class_sql(model: str = "model", quality: str = "quality") -> str:
    """`hs_class` as a portable SQL expression over two columns."""
    return (
        f"CASE WHEN {model} = 'rejections' OR {quality} = 'rejection' THEN '{HS_INDUSTRIAL}' "
        f"WHEN {model} = 'mixed' AND {quality} = 'mixed' THEN '{HS_UNSORTED}' ELSE '{HS_GEM}' END"
    )
