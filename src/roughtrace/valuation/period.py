"""Price book periods: the month, quarter or year a box's sale (or a certificate's issue) falls in,
by its label (`domain.periods`)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..domain import periods

PERIODS: tuple[str, ...] = periods.LABELLED
ANY = "*"
"""Stands for any assortment, origin or period in a broader price book entry."""


def period_labels(dates: pa.Array | pa.ChunkedArray, period: str) -> pa.Array:
    """The label of the period of `period` each date of an Arrow date column falls in."""
    days = np.asarray(dates.to_numpy(zero_copy_only=False), dtype="datetime64[D]")
    return pa.array(periods.labels(days, period), pa.string())
