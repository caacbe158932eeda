"""The simulator's parameters: one frozen record, three size presets, every figure documented.

Figures come from ../shared/DOMAIN.md where it gives one (yields by model, sights a year, the
number of sightholders, the 15% costs and margin, the ~25% asking premium); the rest are modelling
choices, named here so a user can change them (docs/simulator.md explains each).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..domain.rough import TYPICAL_YIELD
from ..errors import UsageError

BEHAVIOURS: tuple[str, ...] = (
    "honest", "dealer_declared", "flipper_silent", "flipper_copy", "flipper_invent", "flipper_subtle", "launderer",
)
"""Every sightholder behaviour the simulator plays (the ground truth of truth/sightholders.csv)."""

FLIPPER_BEHAVIOURS: tuple[str, ...] = ("flipper_silent", "flipper_copy", "flipper_invent", "flipper_subtle")

FATES: tuple[str, ...] = ("polished", "sold_rough_declared", "flipped_undeclared", "in_process")
"""What really became of a box (truth/boxes.csv)."""

SIZES: tuple[str, ...] = ("small", "medium", "large")
ROW_ORDERS: tuple[str, ...] = ("generated", "shuffled", "by_sightholder", "copier_first")
"""How the rows of each written file are ordered (`row_order`)."""
WEIGHT_PRECISIONS: tuple[str, ...] = ("reported", "three")
"""How precisely weights are written (`weight_precision`)."""
CERTIFICATE_MAKE_UPS: tuple[str, ...] = ("shipment", "boxes")
"""What a KP certificate line carries (`certificate_make_up`)."""
FLIPPER_PERIODS: tuple[str, ...] = ("all", "single")
"""When flippers flip (`flipper_periods`)."""


def _default_behaviour_counts() -> dict[str, int]:
    return {"flipper_silent": 3, "flipper_copy": 2, "flipper_invent": 2, "flipper_subtle": 2, "launderer": 2}


def _default_yields() -> dict[str, float]:
    yields = {model: float(value) for model, value in TYPICAL_YIELD.items()}
    yields.update({"rejections": 0.20, "mixed": 0.38})
    return yields


class ParameterError(UsageError):
    """A simulator parameter or size preset that cannot be used; the message names the rule."""

    code = "bad_parameter"


@dataclass(frozen=True)
class MarketParams:
    """Everything that shapes a simulated market. Change any field with `generate_market(..., name=value)`."""

    years: int = 1
    """Years of sights simulated, starting in January of `start_year`."""
    start_year: int = 2024
    sights_per_year: int = 10
    """Sights a year (DOMAIN.md: about 10); months August and December have none when 10."""
    polished_rows: int | None = 30_000
    """Target number of polished_outcomes rows once every box is finished; sets boxes_per_sight
    (reached within a few percent, less the stones of boxes partly in process, see
    `in_process_share`, so that the box plan does not depend on that share). None keeps
    boxes_per_sight as given."""
    boxes_per_sight: int = 100
    """Boxes sold at each sight over all sightholders (used as is when polished_rows is None)."""
    stones_scale: float = 1.0
    """Multiplies the number of rough stones per box (the mean is set by the box's size range)."""
    sightholders: int = 66
    """Sightholders (DOMAIN.md: about 60 to 70; 69 in 2024)."""
    dealer_share: float = 0.15
    """Share of sightholders in the dealer category."""
    retailer_share: float = 0.12
    """Share of sightholders in the retailer category (vertically integrated: they polish, honestly)."""
    behaviour_counts: dict[str, int] = field(default_factory=_default_behaviour_counts)
    """How many manufacturers play each dishonest behaviour; dealers are dealer_declared, the rest honest."""
    flip_share: float = 0.6
    """Share of a flipper's boxes it resells as rough without declaring it."""
    dealer_resale_share: float = 0.85
    """Share of a dealer's boxes it resells as rough (declared); it polishes the rest."""
    launder_extra: tuple[float, float] = (0.5, 1.0)
    """A launderer adds this range times the box's true polished carats of other goods."""
    skill_sd: float = 0.05
    """Spread of honest manufacturers' skill (a yield multiplier around 1, clipped to 0.85..1.12)."""
    model_yields: dict[str, float] = field(default_factory=_default_yields)
    """Mean polished yield by rough model (DOMAIN.md typical yields; rejections and mixed are choices)."""
    stone_yield_sd: float = 0.12
    """Log-spread of one rough stone's yield around its box's mean."""
    max_honest_yield: float = 0.60
    """No honest stone yields more than this (DOMAIN.md: above ~60% a box is physically suspect)."""
    polish_share: float = 0.97
    """Share of a polished box's rough stones that become polished stones; the rest is declared rejected or lost."""
    tracking_share: float = 0.7
    """Share of honest sightholders whose tracking system records rough_stone_id and rough_carats."""
    costs_and_margin: float = 0.15
    """Manufacturing costs and margin taken off polished value to value rough (DOMAIN.md: 15%)."""
    monthly_drift_sd: float = 0.02
    """Month-to-month log-spread of the polished price index."""
    monthly_drift_mean: float = -0.002
    """Mean monthly log-change of the polished price index."""
    box_price_sd: float = 0.04
    """Log-spread of a box's sale price around its true value (the producer's fine sorting knows the goods)."""
    n_transactions: int = 20_000
    """Polished price records (transactions.csv rows, asking rows included)."""
    asking_share: float = 0.2
    """Share of price records that are asking prices."""
    asking_premium: float = 0.25
    """Asking prices sit this much above transaction levels (DOMAIN.md: ~25% reported discount)."""
    transaction_noise_sd: float = 0.08
    """Log-spread of a transaction price around the grid."""
    misdeclared_share: float = 0.10
    """Share of KP certificate lines whose declared value is off, half under, half over."""
    misdeclared_range: tuple[float, float] = (0.30, 0.60)
    """How far off a misdeclared line is: declared = true x (1 -/+ this)."""
    parcel_contents_share: float = 0.5
    """Share of KP certificates whose parcel contents (by assortment) are sent."""
    assortments: int = 300
    """Assortment codes in the producers' price books."""
    as_of_days: int = 45
    """The market is observed this many days after the last sight: boxes not finished by then are in process."""
    chunk_boxes: int = 4_000
    """Boxes generated per chunk: bounds memory (about 1 KB per polished row in a chunk)."""
    producers: int = 5
    """How many of the producers in `parties.PRODUCERS` sell at the sights (1 to 5), their shares
    renormalised; every producer stays in parties.csv."""
    row_order: str = "shuffled"
    """Order of the rows in rough_sales, polished_outcomes and rough_dispositions: `generated` (as
    drawn: box by box), `shuffled` (a seeded random order: order means nothing, as in real data),
    `by_sightholder` (sorted by the sightholder's id, then the row's text: what a sender's system
    often does), `copier_first` (flipper_copy sightholders' outcome rows first, so a copier's claims
    are stored before the owners'; the rest shuffled)."""
    weight_precision: str = "reported"
    """`reported`: lab-graded polished stones (lab not none) of 0.30 ct and more are written to two
    decimals (rounded to the nearest 0.01 ct, never above the rough stone as reported), smaller and
    internal weights to three; the senders drawn with `rough_rounding_share` round rough_carats to two
    decimals. `three`: every weight to three decimals."""
    rough_rounding_share: float = 0.2
    """Share of sightholders whose tracking system writes rough_carats to two decimals (with
    `weight_precision` reported)."""
    certificate_make_up: str = "shipment"
    """`shipment`: a KP certificate line carries every parcel of its HS code in the shipment: the
    buyer's boxes of that sight plus goods of other boxes, sellers and sights and goods bought on the
    open market (`linked_share_median`, `linked_share_sd`), and some certificates carry 7102.10 or
    7102.21 lines of such goods alone (`extra_line_share`); parcel contents describe the whole line.
    `boxes`: a line carries the linked boxes only."""
    linked_share_median: float = 0.07
    """With `certificate_make_up` shipment: the median share of a line's carats that the linked
    boxes make up."""
    linked_share_sd: float = 1.0
    """Log-spread of that share (clipped to 0.01..1)."""
    extra_line_share: float = 0.3
    """With `certificate_make_up` shipment: chance that a certificate carries a line of an HS code
    (7102.10, 7102.21) none of its linked boxes has."""
    exporter_mix_persistence: float = 0.85
    """With `certificate_make_up` shipment: share of a line's other-goods parcels drawn from its
    exporter's usual goods (a few assortments of neighbouring value per HS code, drawn once per
    exporter), the rest from the whole catalogue by supply weight. An exporter buys from its usual
    sources, so its shipments persist in what they carry; 0 draws every parcel from the catalogue."""
    in_process_share: float = 0.1
    """Share of polished boxes whose buyer has polished only part (20-90% of the stones) by the as-of
    date and declares the rest's rough `in_process` (truth/boxes.csv: fate polished, in_process_carats)."""
    flipper_periods: str = "all"
    """`all`: flippers flip `flip_share` of their boxes at every sight. `single`: each flipper flips
    (`flip_share` of its boxes, at least one) at one sight only and polishes honestly otherwise."""

    def __post_init__(self) -> None:
        problems = []
        if self.years < 1:
            problems.append("years must be at least 1")
        if not 1 <= self.sights_per_year <= 12:
            problems.append("sights_per_year must be 1 to 12")
        if self.sightholders < 20:
            problems.append("sightholders must be at least 20 (the behaviours need a cast)")
        unknown = set(self.behaviour_counts) - set(BEHAVIOURS)
        if unknown:
            problems.append(f"unknown behaviours {sorted(unknown)}")
        manufacturers = self.sightholders - round(self.sightholders * self.dealer_share) - round(
            self.sightholders * self.retailer_share)
        if sum(self.behaviour_counts.values()) > manufacturers - 5:
            problems.append("too many dishonest manufacturers for the number of sightholders")
        for name in ("flip_share", "dealer_resale_share", "polish_share", "tracking_share", "asking_share",
                     "misdeclared_share", "parcel_contents_share", "dealer_share", "retailer_share",
                     "rough_rounding_share", "extra_line_share", "in_process_share", "exporter_mix_persistence"):
            if not 0 <= getattr(self, name) <= 1:
                problems.append(f"{name} must be between 0 and 1")
        if self.n_transactions < 0 or self.boxes_per_sight < 1 or self.assortments < 10:
            problems.append("n_transactions >= 0, boxes_per_sight >= 1 and assortments >= 10")
        if self.polished_rows is not None and self.polished_rows < 100:
            problems.append("polished_rows must be at least 100")
        for name, allowed in (("row_order", ROW_ORDERS), ("weight_precision", WEIGHT_PRECISIONS),
                              ("certificate_make_up", CERTIFICATE_MAKE_UPS), ("flipper_periods", FLIPPER_PERIODS)):
            if getattr(self, name) not in allowed:
                problems.append(f"{name} must be one of {', '.join(allowed)}, not {getattr(self, name)!r}")
        from .parties import PRODUCERS  # parties imports this module: read it when a record is made

        if not isinstance(self.producers, int) or not 1 <= self.producers <= len(PRODUCERS):
            problems.append(f"producers must be a whole number from 1 to {len(PRODUCERS)}")
        if not 0 < self.linked_share_median <= 1 or self.linked_share_sd < 0:
            problems.append("linked_share_median must be in (0, 1] and linked_share_sd >= 0")
        if problems:
            raise ParameterError("; ".join(problems))

    @property
    def costs_factor(self) -> Decimal:
        return 1 - Decimal(str(self.costs_and_margin))

    def sight_months(self) -> list[tuple[int, int]]:
        """(year, month) of every sight, in order."""
        skip = {10: {8, 12}, 11: {8}, 12: set()}.get(self.sights_per_year)
        months = [m for m in range(1, 13) if m not in skip] if skip is not None else [
            1 + (12 * i) // self.sights_per_year for i in range(self.sights_per_year)]
        return [(self.start_year + y, m) for y in range(self.years) for m in months]

    def sight_dates(self) -> list[dt.date]:
        """The first day of each sight (the second Monday of its month)."""
        dates = []
        for year, month in self.sight_months():
            first = dt.date(year, month, 1)
            dates.append(first + dt.timedelta(days=(7 - first.weekday()) % 7 + 7))
        return dates

    def as_of(self) -> dt.date:
        return self.sight_dates()[-1] + dt.timedelta(days=self.as_of_days)

    def as_json(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return dict(sorted(value.items()))
    return value


PRESETS: dict[str, dict[str, Any]] = {
    "small": {"years": 1, "polished_rows": 30_000, "stones_scale": 0.3, "n_transactions": 20_000},
    "medium": {"years": 2, "polished_rows": 1_000_000, "stones_scale": 1.0, "n_transactions": 500_000},
    "large": {"years": 3, "polished_rows": 10_000_000, "stones_scale": 1.0, "n_transactions": 2_000_000},
}
"""Size presets: `small` runs in seconds for tests, `large` is the 10M-row benchmark market."""


def market_params(size: str = "small", **overrides: Any) -> MarketParams:
    """The parameters of a size preset with any field overridden by name."""
    if size not in PRESETS:
        raise ParameterError(f"size must be one of {', '.join(SIZES)}, not {size!r}")
    names = {f.name for f in dataclasses.fields(MarketParams)}
    unknown = set(overrides) - names
    if unknown:
        raise ParameterError(f"unknown simulator parameters {sorted(unknown)}")
    values = {**PRESETS[size], **overrides}
    for name in ("launder_extra", "misdeclared_range"):
        if name in values:
            values[name] = tuple(values[name])
    try:
        return MarketParams(**values)
    except TypeError as wrong:  # a value of the wrong kind for its parameter (text where a number goes)
        raise ParameterError(str(wrong)) from None
