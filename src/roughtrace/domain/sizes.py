"""Polished size brackets and rough size groups.

Brackets follow the trade's price lists (../shared/DOMAIN.md). A bracket holds every weight from
its lower bound up to, not including, the next bracket's lower bound, so a 3-decimal weight such
as 0.035 ct falls in 0.01-0.03. The lists leave 6.00-9.99 ct and 11 ct and up unnamed; roughtrace
names them so that every stone has a bracket.
"""

from __future__ import annotations

import bisect
from decimal import Decimal

_BRACKETS: tuple[tuple[str, str], ...] = (
    ("0.001", "0.00-0.009"),
    ("0.01", "0.01-0.03"),
    ("0.04", "0.04-0.07"),
    ("0.08", "0.08-0.14"),
    ("0.15", "0.15-0.17"),
    ("0.18", "0.18-0.22"),
    ("0.23", "0.23-0.29"),
    ("0.30", "0.30-0.39"),
    ("0.40", "0.40-0.49"),
    ("0.50", "0.50-0.69"),
    ("0.70", "0.70-0.89"),
    ("0.90", "0.90-0.99"),
    ("1.00", "1.00-1.49"),
    ("1.50", "1.50-1.99"),
    ("2.00", "2.00-2.99"),
    ("3.00", "3.00-3.99"),
    ("4.00", "4.00-4.99"),
    ("5.00", "5.00-5.99"),
    ("6.00", "6.00-9.99"),
    ("10.00", "10.00-10.99"),
    ("11.00", "11.00+"),
)
BRACKET_LOWER_BOUNDS: tuple[Decimal, ...] = tuple(Decimal(low) for low, _ in _BRACKETS)
BRACKETS: tuple[str, ...] = tuple(label for _, label in _BRACKETS)

MAGIC_WEIGHTS: tuple[Decimal, ...] = tuple(
    Decimal(w) for w in ("0.30", "0.40", "0.50", "0.70", "0.90", "1.00", "1.50", "2.00", "3.00", "4.00", "5.00", "10.00")
)
"""Weights at which price per carat jumps (a 1.00 ct stone costs far more per carat than a 0.99)."""

GRAINER_CT = Decimal("0.25")


def size_bracket(carat: Decimal) -> str:
    """The price-list bracket of a polished weight in carats, e.g. 0.52 -> '0.50-0.69'."""
    if carat <= 0:
        raise ValueError("a polished weight must be above 0 ct")
    index = bisect.bisect_right(BRACKET_LOWER_BOUNDS, carat) - 1
    return BRACKETS[max(index, 0)]


def rough_size_group(carat: Decimal) -> str:
    """The rough trade's size group of one stone: `sand` under 0.1 ct, `smalls` 0.1 to 1 ct,
    `sizes` above 1 ct, `specials` above 15 ct (handled one by one)."""
    if carat < Decimal("0.1"):
        return "sand"
    if carat <= Decimal("1"):
        return "smalls"
    if carat <= Decimal("15"):
        return "sizes"
    return "specials"


def grainer_range(low_grainers: int, high_grainers: int) -> tuple[Decimal, Decimal]:
    """A box size written in grainers as carats per stone: '3 to 8 grainer' -> (0.75, 2.00)."""
    return GRAINER_CT * low_grainers, GRAINER_CT * high_grainers
