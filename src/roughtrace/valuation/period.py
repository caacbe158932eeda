"""Price book periods: the month, quarter or year a box's sale (or a certificate's issue) falls in."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc

PERIODS: tuple[str, ...] = ("month", "quarter", "year")
ANY = "*"
"""Stands for any assortment, origin or period in a broader price book entry."""


def period_of(date: dt.date, period: str) -> str:
    """The label of the period `date` falls in: '2026-03' (month), '2026-Q1' (quarter), '2026' (year)."""
    if period == "month":
        return f"{date.year:04d}-{date.month:02d}"
    if period == "quarter":
        return f"{date.year:04d}-Q{(date.month - 1) // 3 + 1}"
    if period == "year":
        return f"{date.year:04d}"
    raise ValueError(f"a price book period is one of {', '.join(PERIODS)}, not {period!r}")


def period_labels(dates: pa.Array | pa.ChunkedArray, period: str) -> pa.Array:
    """`period_of` over an Arrow date column, vectorised."""
    year = pc.utf8_lpad(pc.cast(pc.year(dates), pa.string()), 4, "0")
    if period == "year":
        return year
    if period == "month":
        return pc.binary_join_element_wise(year, pc.utf8_lpad(pc.cast(pc.month(dates), pa.string()), 2, "0"), "-")
    if period == "quarter":
        return pc.binary_join_element_wise(year, pc.cast(pc.quarter(dates), pa.string()), "-Q")
    raise ValueError(f"a price book period is one of {', '.join(PERIODS)}, not {period!r}")
