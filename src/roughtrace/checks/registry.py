"""Every verification check, listed in one place: its rule, the facts it reads, its settings and
what a sightholder can do to answer it. A check is switched off by naming it in `checks_disabled`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..settings import SettingError
from . import rules
from .findings import Finding


@dataclass(frozen=True)
class Check:
    name: str
    title: str
    rule: Callable[[rules.Facts, Mapping[str, Any]], list[Finding]]
    facts: tuple[str, ...]
    settings: tuple[str, ...]
    answer: str
    """What a sightholder can do to answer a finding of this check."""

    @property
    def description(self) -> str:
        return (self.rule.__doc__ or "").strip()


CHECKS: tuple[Check, ...] = (
    Check("mass_balance", "Mass balance of a box and of a rough stone", rules.mass_balance, ("boxes",),
          ("checks_max_yield",),
          "Correct the box id of stones attributed to the wrong box, or the carats of a disposition; polished "
          "that came from other rough must not be reported against this producer's box."),
    Check("yield_outlier", "Yield against the same assortment's boxes", rules.yield_outlier, ("boxes",),
          ("checks_yield_outlier_z", "checks_yield_min_boxes"),
          "Show the planning records (rough scans, plans) behind an unusual yield, or declare the rough that "
          "left the box (sold, rejected, lost, still in process)."),
    Check("size_and_timing", "Polished stones the box could not have given, or gave too soon", rules.size_and_timing,
          ("boxes",), ("checks_min_processing_days", "checks_fast_stones"),
          "Correct the box id or the polished date of the stones named; a stone larger than the box's largest "
          "rough stone cannot come from that box."),
    Check("coverage", "Rough with no outcome and no declared disposition", rules.coverage, ("boxes",),
          ("checks_processing_window_days", "checks_as_of", "checks_uncovered_share", "checks_pattern_tail"),
          "Report the polished outcome of the box, or declare what happened to its rough (in process, sold "
          "rough with the buyer, rejected, lost)."),
    Check("duplicate_claims", "The same lab report claimed twice", rules.duplicate_claims, ("claims",),
          ("checks_claims_hub_parties", "checks_claims_graph_tail", "checks_claims_date_tail", "checks_max_yield",
           "checks_rough_size_tolerance", "checks_max_polished_per_rough"),
          "Show the lab report and the stone's inscription; the claim that cannot show the stone is withdrawn."),
    Check("category_consistency", "A manufacturer whose rough mostly leaves as rough", rules.category_consistency,
          ("boxes",), ("checks_rough_resale_share", "checks_processing_window_days"),
          "Report the outcomes of the boxes polished, or ask to be classed as a dealer."),
    Check("repeated_outcomes", "Outcomes that repeat across boxes", rules.repeated_outcomes, ("repeats",),
          ("checks_repeat_min_stones", "checks_claims_hub_parties", "checks_max_yield",
           "checks_rough_size_tolerance", "checks_max_polished_per_rough"),
          "Send the lab reports of both boxes' stones; two boxes never give the same weights."),
    Check("average_grade_mix", "Grade mixes that are exactly average", rules.average_grade_mix, ("grade_mix",),
          ("checks_grade_mix_tail", "checks_grade_mix_min_boxes", "checks_grade_mix_excess", "checks_pattern_tail"),
          "Send the lab reports behind the boxes named; graded stones carry the scatter real boxes show."),
    Check("digit_preference", "Digit preference in polished weights", rules.digit_preference, ("digits",),
          ("checks_digit_z", "checks_digit_min_stones", "checks_digit_excess", "checks_digit_class_min_stones",
           "checks_digit_two_decimal_share", "checks_digit_market_sightholders"),
          "Send weights as the lab or the scale measured them (to the thousandth of a carat), not rounded or "
          "estimated."),
    Check("rounded_weights", "Weights rounded coarser than their class is measured", rules.rounded_weights,
          ("weight_grid", "grid_boxes"), ("checks_digit_class_min_stones", "checks_digit_market_sightholders",
                             "checks_digit_two_decimal_share", "checks_grid_excess", "checks_pattern_tail"),
          "Send weights as the lab or the scale measured them (the lab's two decimals from 0.30 ct, the "
          "thousandth of a carat otherwise), not rounded or estimated; name the boxes whose weights were written "
          "down and send their lab reports."),
)

BY_NAME: dict[str, Check] = {c.name: c for c in CHECKS}


def enabled(settings: Mapping[str, Any]) -> tuple[Check, ...]:
    """The checks not named in `checks_disabled`."""
    off = {name.strip() for name in str(settings["checks_disabled"] or "").split(",") if name.strip()}
    unknown = off - BY_NAME.keys()
    if unknown:
        raise SettingError(f"checks_disabled names no check called {', '.join(sorted(unknown))}; "
                         f"the checks are {', '.join(BY_NAME)}")
    return tuple(c for c in CHECKS if c.name not in off)
