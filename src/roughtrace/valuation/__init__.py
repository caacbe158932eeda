"""Rough valuation by price reverse engineering, the rough price book, and KP certificate checks.

    rough price per carat = (total polished price / rough carats) x (1 - costs and margin)

`method` holds the exact formula and the cost models; `boxes` values every tracked box from its
reported outcome; `pricebook` builds the book of rough prices per assortment, origin and period;
`kp` checks certificate lines against it; `report` writes a certificate's valuation report.
"""

from __future__ import annotations

from .boxes import value_boxes
from .kp import CertificateCheck, check_certificates
from .method import FlatCost, RoughValuation, SizeTableCost, cost_model_from_settings, reverse_engineer
from .pricebook import build_price_book, headline, read_price_book
from .pricer import PolishedPricer, index_pricer
from .summary import summary

__all__ = [
    "CertificateCheck", "FlatCost", "PolishedPricer", "RoughValuation", "SizeTableCost", "build_price_book",
    "check_certificates", "cost_model_from_settings", "headline", "index_pricer", "read_price_book",
    "reverse_engineer", "summary", "value_boxes",
]
