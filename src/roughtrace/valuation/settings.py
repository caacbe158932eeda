"""The valuation area's settings: cost models, the price book and the KP verdict tolerances.

Every figure a valuator may want to argue with is here, with the reason for its default; nothing
of the method is a constant buried in code (DOMAIN.md gives the sources).
"""

from __future__ import annotations

from decimal import Decimal

from ..settings import Setting, at_least, one_of

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
PRICEBOOK_UPLIFT_GATE = Setting(
    "pricebook_uplift_gate", Decimal("4"),
    "A box stays out of the price book when its reverse-engineered value is implausible against the price "
    "paid: ln(rough value per carat / price paid per carat) farther than this many robust spreads (1.4826 x "
    "median absolute deviation over the book's boxes) from its assortment's median. A sightholder who paid "
    "far more, or far less, than its outcome could return tells more about its outcome than about the market.",
    AREA,
)
PRICEBOOK_EXCLUDE_RISK = Setting(
    "pricebook_exclude_risk", "none",
    "Boxes bought by sightholders whose verification risk (roughtrace verify) is at this level or above stay "
    "out of the price book: `none` (default: every sightholder's boxes count), `high` or `medium`. Costs one "
    "run of the checks per build.",
    AREA,
)
PRICEBOOK_PERIOD_MIN_BOXES = Setting(
    "pricebook_period_min_boxes", 5,
    "A period's own boxes move its market level only when there are at least this many of them; a period "
    "with fewer takes its level from its neighbours. Every period's level is also shrunk toward its "
    "neighbours by empirical Bayes, so one box never sets a period's level.",
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
KP_BAND_FLOOR_OTHER = Setting(
    "kp_band_floor_other", Decimal("0.5"),
    "The narrowest band half-width of an unsorted (7102.10) or industrial (7102.21) line, as a fraction of its "
    "estimate: such goods are rarely polished whole, so the book knows them from few boxes and their estimate "
    "strays far (docs/performance/valuation.md); such lines are always low confidence and "
    "flagged only when far outside.",
    AREA,
)
KP_BAND_Z = Setting(
    "kp_band_z", Decimal("1.645"),
    "Width of a certificate line's band in standard errors of its estimate: 1.645 gives a 90% band "
    "(P5-P95), 1.2816 a P10-P90 band.",
    AREA,
)
def fitted_or_fraction(value: object) -> str:
    """A rule: `fitted`, or a fraction from 0 to 1 (returned as written, trimmed)."""
    text = str(value).strip().lower()
    if text == "fitted":
        return text
    try:
        number = Decimal(text)
    except ArithmeticError:
        number = Decimal(-1)
    if not number.is_finite() or not 0 <= number <= 1:
        raise ValueError("`fitted` or a fraction from 0 to 1")
    return text


KP_OUTCOME_WEIGHT = Setting(
    "kp_outcome_weight", "fitted",
    "Weight of a shipped box's own reported outcome against its assortment's book price when a certificate "
    "line is valued from its boxes (0: the book only; 1: the outcome only). `fitted` learns it from the "
    "tracked boxes: the least-squares slope of ln(price paid / book price) on ln(outcome value / book "
    "price), within 0 and 1, i.e. how much of a box's stray from its assortment its own outcome shows in "
    "its price. Outcomes are claims: one far from its assortment's prices (more than 3 box spreads) is not "
    "used.",
    AREA, fitted_or_fraction,
)
KP_MIX_PRIOR_LINES = Setting(
    "kp_mix_prior_lines", 3,
    "How many certificate lines the origin's parcel mix counts as when an exporter's own usual mix is "
    "learnt (empirical shrinkage: exporter weight = n / (n + this), n the exporter's described lines of "
    "the HS code). Values the carats of a line that neither its boxes nor its parcel contents describe.",
    AREA,
)
KP_DESCRIBED_SHARE = Setting(
    "kp_described_share", Decimal("0.5"),
    "A certificate line teaches its exporter's and its origin's parcel mix only when its boxes and parcel "
    "contents describe at least this share of its carats: a line described by a few boxes says little about "
    "what a whole shipment holds.",
    AREA,
)
KP_PRICE_CALIBRATION = Setting(
    "kp_price_calibration", "paid",
    "What a certificate line's parts are priced at: `paid` brings each assortment's reverse-engineered "
    "book price to what its boxes were sold for (the median stray of the prices paid from the book, "
    "shrunk toward the whole market's by empirical Bayes: a declared value is a price, and the book "
    "knows an assortment tracked in two boxes from its description more than from its own goods); "
    "`none` uses the book's prices as they are.",
    AREA, one_of("paid", "none"),
)
KP_CALIBRATION_LINES = Setting(
    "kp_calibration_lines", 20,
    "How a certificate line's estimate and band are calibrated on the store's own declarations: per basis "
    "(linked boxes, parcel contents, HS class mix) and HS code, the median of ln(declared / estimate) shifts "
    "the estimate and the robust spread of that ratio, in units of each line's predicted error, widens the "
    "band. A basis needs this many lines to be calibrated, and its figures are shrunk toward none as if this "
    "many lines had shown no stray: a handful of lines never moves a verdict, hundreds set it.",
    AREA, at_least(1),
)
KP_STATISTICS_USD_PER_CARAT = Setting(
    "kp_statistics_usd_per_carat",
    "AO=101;BW=117;CA=81;CD=8;LS=333;NA=417;RU=89;ZA=135;ZW=62;*=97",
    "Average rough value per carat of each producing country's output, from KP statistics (DOMAIN.md: 2024 "
    "where published, else 2023; `*` the world, 2024): `CC=USD;...`. Gives unsorted (7102.10) and "
    "industrial (7102.21) lines a plausibility range when no tracked goods describe them.",
    AREA,
)
KP_STATISTICS_RANGE = Setting(
    "kp_statistics_range", "7102.10=0.25-4;7102.21=0.01-1;7102.31=0.25-10",
    "The plausibility range of a line valued from KP statistics, as multiples of its origin's average value "
    "per carat, per HS code: `HS=LOW-HIGH;...`. Wide on purpose: a country's average mixes every quality it "
    "produces, so only values far outside are flagged (confidence low). Industrial goods sit far below the "
    "average (DR Congo's mostly industrial output averaged about $8/ct).",
    AREA,
)
KP_MIX_BAND = Setting(
    "kp_mix_band", Decimal("0.50"),
    "Band half-width added per unit of a line's carats that no part could value (a line valued from "
    "parcel contents or its boxes when some assortments have no price book entry): 0.50 widens the band "
    "by 5 points for each 10% of carats left unvalued.",
    AREA,
)

SETTINGS: tuple[Setting, ...] = (
    COST_MODEL, COST_MARGIN, COST_TABLE, TABLE_MARGIN,
    PRICEBOOK_PERIOD, PRICEBOOK_PRICE_DATE, PRICEBOOK_MAX_YIELD, PRICEBOOK_MIN_POLISHED_SHARE,
    PRICEBOOK_UPLIFT_GATE, PRICEBOOK_EXCLUDE_RISK, PRICEBOOK_PERIOD_MIN_BOXES, MIN_BOXES,
    KP_TOLERANCE, KP_BAND_FLOOR, KP_BAND_FLOOR_OTHER, KP_BAND_Z, KP_OUTCOME_WEIGHT, KP_MIX_PRIOR_LINES, KP_DESCRIBED_SHARE,
    KP_PRICE_CALIBRATION, KP_CALIBRATION_LINES,
    KP_STATISTICS_USD_PER_CARAT, KP_STATISTICS_RANGE, KP_MIX_BAND,
)
