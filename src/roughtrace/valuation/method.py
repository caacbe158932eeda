"""Price reverse engineering: the value of rough from the polished it yields.

    rough price per carat = (total polished price / rough carats) x (1 - costs and margin)

Worked example (DOMAIN.md): a 0.30 ct polished stone at $1,500/ct ($450) cut from 1 ct of rough,
costs and margin 15%: $450 / 1 ct x 0.85 = $382.50 per carat of rough.

Two cost models, each an explicit parameter that every valuation names:

- `FlatCost(margin)`: costs and margin together as one fraction of the polished value (default 15%).
- `SizeTableCost(table, margin)`: a cutting cost in USD per polished carat looked up by the polished
  stone's size, taken off first, then a margin fraction of what is left. This answers the critique
  that costs are partly per carat and weigh more on small goods.

Everything here is pure and exact (`Decimal`); the vectorised versions used over millions of stones
live beside the exact ones and follow the same definitions.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from ..domain.money import round_usd
from ..errors import RoughtraceError, UsageError

ONE = Decimal(1)


class CostModelError(UsageError):
    """A cost model parameter a valuator gave that cannot be used."""

    code = "bad_option"


class ValuationError(RoughtraceError):
    """Amounts no valuation can be made from (no rough weight, a negative polished total)."""

    code = "valuation_failed"


@dataclass(frozen=True)
class FlatCost:
    """Costs and margin together as one fraction of the polished value."""

    margin: Decimal = Decimal("0.15")
    """Fraction of the polished value taken off (0.15 = 15%)."""

    name = "flat"

    def __post_init__(self) -> None:
        if not (Decimal(0) <= self.margin < ONE):
            raise CostModelError(f"cost margin must be from 0 to below 1, not {self.margin}")

    def cutting_cost_per_carat(self, polished_carat: Decimal) -> Decimal:
        """USD per polished carat taken off before the margin: none in the flat model."""
        return Decimal(0)

    def cutting_cost_per_carat_array(self, polished_carat: np.ndarray) -> np.ndarray:
        return np.zeros(len(polished_carat), dtype=np.float64)

    def describe(self) -> dict[str, Any]:
        """The model and its parameters, as stated on every valuation."""
        return {"name": self.name, "margin": str(self.margin)}


@dataclass(frozen=True)
class SizeTableCost:
    """A cutting cost per polished carat by polished stone size, then a margin on what is left."""

    table: tuple[tuple[Decimal, Decimal], ...] = field(
        default=((Decimal("0.001"), Decimal("45")), (Decimal("0.08"), Decimal("30")), (Decimal("0.23"), Decimal("22")),
                 (Decimal("0.50"), Decimal("18")), (Decimal("1.00"), Decimal("17")), (Decimal("2.00"), Decimal("17"))),
    )
    """(smallest polished weight in carats, USD per polished carat) rows, ascending by weight."""
    margin: Decimal = Decimal("0.10")
    """Fraction of the polished value left after cutting costs that is taken as margin."""

    name = "table"

    def __post_init__(self) -> None:
        if not self.table:
            raise CostModelError("a cost table needs at least one row")
        lows = [low for low, _ in self.table]
        if lows != sorted(lows) or len(set(lows)) != len(lows):
            raise CostModelError("cost table rows must rise strictly by polished weight")
        if any(cost < 0 for _, cost in self.table):
            raise CostModelError("a cutting cost cannot be negative")
        if not (Decimal(0) <= self.margin < ONE):
            raise CostModelError(f"margin must be from 0 to below 1, not {self.margin}")

    def cutting_cost_per_carat(self, polished_carat: Decimal) -> Decimal:
        """USD per polished carat for a stone of this weight (the row whose lower bound it reaches;
        a stone below the first row takes the first row's cost)."""
        lows = [low for low, _ in self.table]
        index = max(bisect.bisect_right(lows, polished_carat) - 1, 0)
        return self.table[index][1]

    def cutting_cost_per_carat_array(self, polished_carat: np.ndarray) -> np.ndarray:
        lows = np.array([float(low) for low, _ in self.table])
        costs = np.array([float(cost) for _, cost in self.table])
        index = np.maximum(np.searchsorted(lows, np.asarray(polished_carat, dtype=np.float64), side="right") - 1, 0)
        return costs[index]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "margin": str(self.margin),
            "cost_table_usd_per_polished_carat": [{"from_carat": str(low), "usd": str(cost)} for low, cost in self.table],
        }


CostModel = FlatCost | SizeTableCost


def parse_cost_table(text: str) -> tuple[tuple[Decimal, Decimal], ...]:
    """Read a cost table written `LOW=USD;LOW=USD;...` (the `cost_table` setting's form)."""
    rows = []
    for part in text.replace(",", ";").split(";"):
        if not part.strip():
            continue
        low, sep, cost = part.partition("=")
        if not sep:
            raise CostModelError(f"cost table entry {part.strip()!r} is not LOW=USD")
        try:
            rows.append((Decimal(low.strip()), Decimal(cost.strip())))
        except ArithmeticError:
            raise CostModelError(f"cost table entry {part.strip()!r} is not two numbers") from None
    return tuple(rows)


def cost_model_from_settings(settings: Any, margin: Decimal | None = None, name: str | None = None) -> CostModel:
    """The cost model the settings choose (`cost_model`, `cost_margin`, `cost_table`, `table_margin`);
    `margin` overrides the chosen model's margin."""
    chosen = name or settings["cost_model"]
    if chosen == "flat":
        return FlatCost(margin=settings["cost_margin"] if margin is None else margin)
    if chosen == "table":
        return SizeTableCost(table=parse_cost_table(settings["cost_table"]),
                             margin=settings["table_margin"] if margin is None else margin)
    raise CostModelError(f"cost_model is flat or table, not {chosen!r}")


@dataclass(frozen=True)
class RoughValuation:
    """The value of a quantity of rough, reverse-engineered from its polished."""

    polished_total_usd: Decimal
    """What the polished sells for, USD."""
    rough_carats: Decimal
    """Rough weight the polished came from, carats."""
    cutting_costs_usd: Decimal
    """Cutting costs taken off before the margin, USD (0 in the flat model)."""
    rough_value_usd: Decimal
    """(polished total - cutting costs) x (1 - margin), never below 0; USD, to the cent."""
    rough_price_per_carat: Decimal
    """rough_value / rough_carats, USD per rough carat, to the cent."""
    cost_model: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "rough_price_per_carat": str(self.rough_price_per_carat),
            "rough_value_usd": str(self.rough_value_usd),
            "polished_total_usd": str(self.polished_total_usd),
            "rough_carats": str(self.rough_carats),
            "cutting_costs_usd": str(self.cutting_costs_usd),
            "cost_model": self.cost_model,
        }


def reverse_engineer(
    polished_total_usd: Decimal,
    rough_carats: Decimal,
    cost_model: CostModel | None = None,
    polished_carats: Iterable[Decimal] = (),
) -> RoughValuation:
    """Rough value and price per rough carat from the total polished price, exactly.

    `polished_carats` are the weights of the polished stones, needed by the table model to look up
    the cutting cost per carat of each stone (the flat model ignores them). The value is floored at
    0: costs above the polished value mean the rough is worth nothing to cut, not a negative amount.
    """
    model = cost_model or FlatCost()
    if rough_carats <= 0:
        raise ValuationError("rough carats must be above 0")
    if polished_total_usd < 0:
        raise ValuationError("a polished total cannot be negative")
    cutting = sum((model.cutting_cost_per_carat(c) * c for c in polished_carats), Decimal(0))
    net = max(polished_total_usd - cutting, Decimal(0))
    value = net * (ONE - model.margin)
    return RoughValuation(
        polished_total_usd=polished_total_usd,
        rough_carats=rough_carats,
        cutting_costs_usd=round_usd(cutting),
        rough_value_usd=round_usd(value),
        rough_price_per_carat=round_usd(value / rough_carats),
        cost_model=model.describe(),
    )


def rough_value_array(
    polished_total_usd: np.ndarray, cutting_costs_usd: np.ndarray, margin: Decimal
) -> np.ndarray:
    """The same definition over columns (float64 USD), for boxes and price books:
    max(polished total - cutting costs, 0) x (1 - margin)."""
    net = np.maximum(np.asarray(polished_total_usd, dtype=np.float64) - np.asarray(cutting_costs_usd, dtype=np.float64), 0.0)
    return net * (1.0 - float(margin))
