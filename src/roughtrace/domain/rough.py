"""Rough assortments: models, colours, qualities, dispositions, and the parties who trade them."""

from __future__ import annotations

from decimal import Decimal

MODELS: tuple[str, ...] = ("stones", "shapes", "cleavages", "macles", "flats", "rejections", "mixed")
ROUGH_COLOURS: tuple[str, ...] = ("white", "off_white", "light_brown", "brown", "yellow", "grey", "mixed")
QUALITIES: tuple[str, ...] = ("high", "medium", "low", "rejection", "mixed")
DISPOSITIONS: tuple[str, ...] = ("in_process", "sold_rough", "rejected", "lost")
ROLES: tuple[str, ...] = ("producer", "sightholder", "trader", "retailer", "lab", "authority")
SIGHTHOLDER_CATEGORIES: tuple[str, ...] = ("manufacturer", "dealer", "retailer")
PRICE_TYPES: tuple[str, ...] = ("transaction", "asking")

TYPICAL_YIELD: dict[str, Decimal] = {
    "stones": Decimal("0.50"),
    "shapes": Decimal("0.45"),
    "cleavages": Decimal("0.35"),
    "macles": Decimal("0.28"),
    "flats": Decimal("0.25"),
}
"""Typical polished yield (polished carats / rough carats) by rough model, from trade reporting."""

SUSPECT_YIELD = Decimal("0.60")
"""A box yield above this is physically suspect for any model."""


def box_yield(polished_carats: Decimal, rough_carats: Decimal) -> Decimal:
    """Polished yield of a box: polished carats / rough carats (a fraction, 0.45 = 45%)."""
    if rough_carats <= 0:
        raise ValueError("rough carats must be above 0")
    return polished_carats / rough_carats
