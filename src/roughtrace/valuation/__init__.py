"""Rough valuation by price reverse engineering, the rough price book, and KP certificate checks.

    rough price per carat = (total polished price / rough carats) x (1 - costs and margin)

`method` holds the exact formula and the cost models; `boxes` values every tracked box from its
reported outcome; `pricebook` builds the book of rough prices per assortment, origin and period;
`kp` checks certificate lines against it; `report` writes a certificate's valuation report.
"""

from __future__ import annotations

from ..lazy import lazy_names

_SOURCES = {
    "value_boxes": "boxes", "CertificateCheck": "kp", "check_certificates": "kp", "FlatCost": "method",
    "RoughValuation": "method", "SizeTableCost": "method", "cost_model_from_settings": "method",
    "reverse_engineer": "method", "build_price_book": "pricebook", "headline": "pricebook",
    "read_price_book": "pricebook", "PolishedPricer": "pricer", "index_pricer": "pricer", "summary": "summary",
}
"""Where each public name lives (roughtrace.lazy imports it on first use)."""

__all__ = [
    "CertificateCheck", "FlatCost", "PolishedPricer", "RoughValuation", "SizeTableCost", "build_price_book",
    "check_certificates", "cost_model_from_settings", "headline", "index_pricer", "read_price_book",
    "reverse_engineer", "summary", "value_boxes",
]


__getattr__ = lazy_names(__name__, globals(), _SOURCES)
