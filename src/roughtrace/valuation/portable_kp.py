"""The KP check's passes over the store's growing tables written once, as Ibis expressions any engine
Ibis compiles for runs (Spark; DuckDB in the tests): the certificate lines (`certificate_lines`), their
parcel contents (`parcel_contents`), the boxes linked to a certificate with their own outcome values
(`linked_boxes`), the price book's entries the check may price at (`book_entries`), the tracked boxes'
prices paid against their outcome values (`paid_boxes`) and every box sold (`box_sales`). Each gives
the rows and columns of the store engine's plan beside it in valuation/kp.py.

Carats and declared dollars pass through as the exact decimals the store holds; the prices the check
estimates with are read as doubles (a decimal's nearest double on every engine).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ibis

from .portable import _hs_code


def _double(column: Any) -> Any:
    return column.cast("float64")


def _cutter_levels(tables: Mapping[str, Any]) -> Any:
    c = tables["valuation_cutter_levels"]
    return c.select(c_holder=c.sightholder_id, c_level=c.level)


def certificate_lines(tables: Mapping[str, Any], *, certificate_ids: tuple[str, ...] | None) -> Any:
    """Every certificate line with its exporter (name within exporting country) and whether it is one
    of those checked (`certificate_ids`; all when None)."""
    k = tables["kp_certificates"]
    checked = ibis.literal(True) if certificate_ids is None else k.certificate_id.isin(list(certificate_ids))
    return k.select(certificate_id=k.certificate_id, hs_code=k.hs_code, carats=k.carats, value_usd=k.value_usd,
                    origin=k.origin, issue_date=k.issue_date,
                    exporter=k.exporting_country + " " + k.exporter_name, checked=checked)


def parcel_contents(tables: Mapping[str, Any]) -> Any:
    """Every exporter's breakdown of a line by assortment."""
    c = tables["parcel_contents"]
    return c.select("certificate_id", "hs_code", "assortment", "carats")


def linked_boxes(tables: Mapping[str, Any]) -> Any:
    """Every box linked to a certificate, with its HS class, its own outcome value per carat when it
    is in the book and its buyer's cutter level (0 when the book's fit has none)."""
    r, v = tables["rough_sales"], tables["box_valuations"]
    r = r.filter(r.kp_certificate_id.notnull())
    valued = v.filter(v.in_book).select(v_box=v.box_id, v_own=v.rough_price_per_carat)
    cutters = _cutter_levels(tables)
    j = r.left_join(valued, r.box_id == valued.v_box).left_join(cutters, r.buyer_id == cutters.c_holder)
    return j.select(certificate_id=j.kp_certificate_id, hs_code=_hs_code(j.model, j.quality), assortment=j.assortment,
                    box_id=j.box_id, carats=j.carats, own_per_carat=_double(j.v_own),
                    cutter_level=_double(j.c_level).fill_null(0))


def book_entries(tables: Mapping[str, Any], *, fitted: str, min_boxes: int) -> Any:
    """The price book's entries at the `fitted` level, and every other entry resting on at least
    `min_boxes` boxes."""
    b = tables["rough_price_book"]
    kept = b.filter((b.level == fitted) | (b.boxes >= min_boxes))
    return kept.select("level", "assortment", "hs_code", "origin", "period", "boxes", "price_per_carat",
                       "mean_price_per_carat", "p10_per_carat", "p90_per_carat", "box_spread", "price_se",
                       "median_box_carats")


def paid_boxes(tables: Mapping[str, Any]) -> Any:
    """Every box in the book that was paid for: its assortment, period, price paid and outcome value
    per carat, and its buyer's cutter level (0 when the book's fit has none)."""
    v, r = tables["box_valuations"], tables["rough_sales"]
    v = v.filter(v.in_book & (v.paid_per_carat > 0))
    sales = r.select(s_box=r.box_id, s_buyer=r.buyer_id)
    cutters = _cutter_levels(tables)
    j = v.join(sales, v.box_id == sales.s_box).left_join(cutters, sales.s_buyer == cutters.c_holder)
    return j.select(assortment=j.assortment, period=j.period, paid=_double(j.paid_per_carat),
                    own=_double(j.rough_price_per_carat), cutter_level=_double(j.c_level).fill_null(0))


def box_sales(tables: Mapping[str, Any]) -> Any:
    """Every box sold at a price: its assortment, sale date, price and carats."""
    r = tables["rough_sales"]
    sold = r.filter((r.price_usd > 0) & (r.carats > 0))
    return sold.select(assortment=sold.assortment, sale_date=sold.sale_date, price_usd=_double(sold.price_usd),
                       carats=_double(sold.carats))
