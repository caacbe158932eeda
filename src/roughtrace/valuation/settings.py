"""The valuation area's settings: cost models, the price book and the KP verdict tolerances.

Every figure a valuator may want to argue with is here, with the reason for its default; nothing
of the method is a constant buried in code (DOMAIN.md gives the sources).
"""

from __future__ import annotations

from decimal import Decimal

from ..settings import Setting, one_of, register

AREA = "valuation"

COST_MODEL = Setting(
    "cost_model", "flat",
    "How costs and margin are taken off the polished value: `flat` (one percentage, cost_margin) or "
    "`table` (a cutting cost per polished carat by polished size, cost_table, then the margin table_margin).",
    AREA, one_of("flat", "table"),
)
COST_MARGIN = Setting(
    "cost_margin", Decimal("0.15"),
    "The flat model's costs and margin together, as a fraction of the polished value (0.15 = 15%, "
    "the figure the reverse-engineering method proposes).",
    AREA,
)
COST_TABLE = Setting(
    "cost_table", "0.001=45;0.08=30;0.23=22;0.50=18;1.00=17;2.00=17",
    "The table model's cutting cost in USD per polished carat by polished stone size: `LOW=USD;...`, "
    "each LOW the smallest polished weight in carats its cost applies to. Defaults sit at the Chinese "
    "level ($17/ct, DOMAIN.md) for sizes and rise for smalls, because part of the cost is fixed per stone.",
    AREA,
)
TABLE_MARGIN = Setting(
    "table_margin", Decimal("0.10"),
    "The table model's margin (manufacturer's profit and finance), a fraction of the polished value left "
    "after cutting costs.",
    AREA,
)
PRICEBOOK_PERIOD = Setting(
    "pricebook_period", "month",
    "The period a price book entry covers: month, quarter or year (a box counts in the period of its sale). "
    "Sights are monthly, so a month follows rough prices sight by sight; the fitted entries fill sparse ones.",
    AREA, one_of("month", "quarter", "year"),
)
PRICEBOOK_PRICE_DATE = Setting(
    "pricebook_price_date", "sale",
    "When the price book prices a box's polished stones: `sale` (the month the box was sold, so the book "
    "says what rough was worth when it changed hands, the date a KP certificate carries) or `polished` "
    "(the outcome's own month). `pricebook build --as-of DATE` prices every stone at one date instead.",
    AREA, one_of("sale", "polished"),
)
PRICEBOOK_MAX_YIELD = Setting(
    "pricebook_max_yield", Decimal("0.60"),
    "Boxes whose reported polished yield is above this are physically suspect and stay out of the price "
    "book (DOMAIN.md: a yield above ~60% is suspect for any model).",
    AREA,
)
PRICEBOOK_MIN_POLISHED_SHARE = Setting(
    "pricebook_min_polished_share", Decimal("0.50"),
    "A box enters the price book only when at least this share of its rough carats is accounted for as "
    "polished (rough not declared as sold, rejected, lost or in process).",
    AREA,
)
MIN_BOXES = Setting(
    "valuation_min_boxes", 5,
    "Minimum evidence: an observed price book entry (a median over boxes) values a certificate line only "
    "when it rests on at least this many boxes; otherwise the next, broader entry is used. Fitted entries "
    "always may: their standard error says how much of them is the assortment's own evidence.",
    AREA,
)
KP_TOLERANCE = Setting(
    "kp_tolerance", Decimal("0.075"),
    "A certificate line is undervalued when its declared price per carat is below the low end of the "
    "estimate's band by more than this fraction, overvalued when above the high end by more than this.",
    AREA,
)
KP_BAND_FLOOR = Setting(
    "kp_band_floor", Decimal("0.05"),
    "The narrowest band half-width, as a fraction of the estimate: what stays uncertain however much data "
    "there is (valuators differ by a grade; the price index has its own error).",
    AREA,
)
KP_BAND_Z = Setting(
    "kp_band_z", Decimal("1.645"),
    "Width of a certificate line's band in standard errors of its estimate: 1.645 gives a 90% band "
    "(P5-P95), 1.2816 a P10-P90 band.",
    AREA,
)
KP_OUTCOME_WEIGHT = Setting(
    "kp_outcome_weight", Decimal("0.5"),
    "Weight of a shipped box's own reported outcome against its assortment's book price when a certificate "
    "line is valued from its boxes (0: the book only; 1: the outcome only). Outcomes are claims: one far "
    "from its assortment's prices (more than 3 box spreads) is not used.",
    AREA,
)
KP_MIX_BAND = Setting(
    "kp_mix_band", Decimal("0.50"),
    "Band half-width added per unit of a line's carats that no part could value (a line valued from "
    "parcel contents or its boxes when some assortments have no price book entry): 0.50 widens the band "
    "by 5 points for each 10% of carats left unvalued.",
    AREA,
)

ALL: tuple[Setting, ...] = (
    COST_MODEL, COST_MARGIN, COST_TABLE, TABLE_MARGIN,
    PRICEBOOK_PERIOD, PRICEBOOK_PRICE_DATE, PRICEBOOK_MAX_YIELD, PRICEBOOK_MIN_POLISHED_SHARE, MIN_BOXES,
    KP_TOLERANCE, KP_BAND_FLOOR, KP_BAND_Z, KP_OUTCOME_WEIGHT, KP_MIX_BAND,
)

register(*ALL)
