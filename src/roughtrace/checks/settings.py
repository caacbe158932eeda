"""The settings of sightholder verification (area "checks"), in the one settings registry."""

from __future__ import annotations

from decimal import Decimal

from ..domain.rough import SUSPECT_YIELD
from ..settings import Setting

AREA = "checks"

SETTINGS: tuple[Setting, ...] = (
    Setting("checks_disabled", "", "Checks switched off: a comma-separated list of check names "
            "(`roughtrace verify checks` lists them).", AREA),
    Setting("checks_max_yield", SUSPECT_YIELD, "Highest plausible polished yield of a box or a rough stone "
            "(polished carats / rough carats); above it the polished cannot all have come from that rough.", AREA),
    Setting("checks_yield_outlier_z", Decimal("5"), "Robust z-score (median and MAD of the boxes of the same "
            "assortment, or of the same rough model when the assortment has too few) beyond which a box's yield is "
            "an outlier.", AREA),
    Setting("checks_yield_min_boxes", 20, "Fewest polished boxes an assortment (else the rough model) "
            "needs before its yields form a population to compare against.", AREA),
    Setting("checks_min_processing_days", 3, "Days after the sale within which a polished stone is implausibly "
            "soon (planning, cutting and grading take longer).", AREA),
    Setting("checks_fast_stones", 3, "Stones of one box polished within checks_min_processing_days that make "
            "the box a finding.", AREA),
    Setting("checks_processing_window_days", 120, "Days after its sale by which a box's rough should have an "
            "outcome or a declared disposition (the coverage window).", AREA),
    Setting("checks_as_of", "", "The date (YYYY-MM-DD) coverage is judged at; empty means the latest date in "
            "the store.", AREA),
    Setting("checks_uncovered_share", Decimal("0.15"), "Share of a sightholder's boxes past the processing "
            "window with no outcome and no disposition above which the sightholder is high risk.", AREA),
    Setting("checks_rough_resale_share", Decimal("0.5"), "Share of a manufacturer's rough carats leaving as "
            "rough (declared sold_rough, or unaccounted for) above which its category is inconsistent.", AREA),
    Setting("checks_repeat_min_stones", 3, "Fewest stones a box's outcome must have before an identical outcome "
            "in another box counts as a repeat.", AREA),
    Setting("checks_grade_mix_min_boxes", 5, "Fewest polished boxes a sightholder needs before its grade "
            "mixes are judged against sampling noise.", AREA),
    Setting("checks_grade_mix_tail", Decimal("0.01"), "A box's grade mix is too exactly average when a random "
            "box of its assortment would sit this close to the assortment's mix (chi-square lower tail, after "
            "allowing for the noise in the assortment's own mix) with at most this probability.", AREA),
    Setting("checks_digit_min_stones", 50, "Fewest polished weights a sightholder needs before its last "
            "digits are tested for preference.", AREA),
    Setting("checks_digit_z", Decimal("8"), "Z-score of a sightholder's last-digit chi-square (by reporting unit, "
            "against the mix of the market's spreads of its precision classes: per lab and size bracket, the median "
            "share of each last reported digit across sightholders) above which its weights show digit preference.",
            AREA),
    Setting("checks_digit_class_min_stones", 20, "Fewest polished weights a sightholder needs in a precision "
            "class (a lab and a size bracket) to count toward that class's precision and the market's spread there, "
            "and in a reporting unit (hundredth or thousandth) for its last digits in that unit to be judged.", AREA),
    Setting("checks_digit_market_sightholders", 3, "Fewest sightholders with checks_digit_class_min_stones "
            "weights in a precision class before the median of their digit shares is the market's spread there "
            "(fewer, and one sightholder's habits would be the expectation).", AREA),
    Setting("checks_digit_two_decimal_share", Decimal("0.5"), "Share of a precision class's weights whose "
            "thousandth digit is 0 (the median over sightholders) above which the class is taken as reported to "
            "the hundredth (lab reports from 0.30 ct), so its hundredth digit is tested; measured three-decimal "
            "weights have about 0.1.", AREA),
    Setting("checks_digit_excess", Decimal("0.15"), "Share of a sightholder's weights that would have to move "
            "to another last digit to match the market's spread (total variation distance) above which the "
            "preference matters, however many stones there are.", AREA),
    Setting("checks_grid_excess", Decimal("0.15"), "How far a sightholder's share of weights on a coarser grid "
            "than their class is measured to (thousandth digit 0 where the market weighs to the thousandth, a "
            "multiple of 0.05 ct where it reports to the hundredth) must exceed the market's share in the same "
            "classes before it is a finding, however many weights there are.", AREA),
    Setting("checks_grade_mix_excess", Decimal("0.15"), "How far a sightholder's share of too-average boxes must "
            "exceed the market's usual share before it is a finding, however many boxes there are.", AREA),
    Setting("checks_claims_hub_parties", 2, "Fewest sightholders that clash only with one sightholder (each "
            "claims lab reports it also claims, and no others) before the conflict graph makes that one the likely "
            "copier (a copier copies from many owners).", AREA),
    Setting("checks_claims_graph_tail", Decimal("0.01"), "Chance below which a sightholder's clashes with that "
            "many others cannot be accidents spread evenly over the market's sightholders (binomial tail over the "
            "conflicting pairs), so the conflict graph may decide.", AREA),
    Setting("checks_claims_date_tail", Decimal("0.01"), "Sign-test chance below which one box's claims being "
            "dated after the other box's on the stones they share decides which is the copy.", AREA),
    Setting("checks_rough_size_tolerance", Decimal("0.25"), "How far outside its box's size range (a share of the "
            "bound) a tracked rough stone named by an outcome may weigh before it cannot be from that box: sights "
            "sort rough by sieve size, not by weight, so a few stones stray over the nominal bounds.", AREA),
    Setting("checks_max_polished_per_rough", Decimal("2"), "Most polished stones a box's outcome may claim per "
            "rough stone sold in it (a rough stone sawn in two gives two) before the outcome cannot be that box's "
            "when weighing which of two conflicting or repeated claims is the copy.", AREA),
    Setting("checks_pattern_tail", Decimal("1e-6"), "Binomial chance below which a sightholder's count of "
            "too-average boxes (against the market's usual share) or of silent boxes in one sight (against the "
            "market's share of silent boxes) cannot be chance.", AREA),
    Setting("checks_risk_high", 10, "Risk score at or above which a sightholder is high risk (one high finding "
            "scores 10; medium 2; low 0.5; medium and low together never reach high).", AREA),
    Setting("checks_risk_medium", 2, "Risk score at or above which a sightholder is medium risk.", AREA),
)
