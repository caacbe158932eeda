"""Polished grading scales: colour, clarity, cut, shape and lab, each in trade order.

Lists are ordered best first, so a lower index is a better grade.
"""

from __future__ import annotations

COLOURS: tuple[str, ...] = tuple(chr(c) for c in range(ord("D"), ord("Z") + 1)) + ("fancy",)
"""Colour grades D (colourless) to Z, then `fancy` for fancy colours (not on the D-Z scale)."""

CLARITIES: tuple[str, ...] = ("FL", "IF", "VVS1", "VVS2", "VS1", "VS2", "SI1", "SI2", "I1", "I2", "I3")
"""Clarity grades, flawless first."""

CUTS: tuple[str, ...] = ("EX", "VG", "G", "F", "P")
"""Cut grades: excellent, very good, good, fair, poor."""

SHAPES: tuple[str, ...] = (
    "round", "princess", "cushion", "oval", "emerald", "pear",
    "marquise", "radiant", "asscher", "heart", "other",
)
LABS: tuple[str, ...] = ("GIA", "IGI", "HRD", "AGS", "none")
"""Grading labs; `none` means the stone id is the manufacturer's own, not a lab report number."""

SHAPE_FAMILIES: tuple[str, ...] = ("round", "fancy")


def shape_family(shape: str) -> str:
    """The price-list family of a shape: rounds have their own grid, every other shape
    is priced on the fancy (pear) grid."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}")
    return "round" if shape == "round" else "fancy"


def colour_rank(colour: str) -> int:
    """0 for D, rising as colour worsens; `fancy` ranks after Z (priced separately)."""
    return COLOURS.index(colour)


def clarity_rank(clarity: str) -> int:
    """0 for FL, rising as clarity worsens."""
    return CLARITIES.index(clarity)


def is_better_or_equal(colour_a: str, clarity_a: str, colour_b: str, clarity_b: str) -> bool:
    """True when grade a is at least as good as grade b on both colour and clarity: the
    partial order a monotone price grid must respect (a better stone is never cheaper)."""
    return colour_rank(colour_a) <= colour_rank(colour_b) and clarity_rank(clarity_a) <= clarity_rank(clarity_b)
