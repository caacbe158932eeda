"""Index periods under the `price_period` setting; the period arithmetic is `domain.periods`."""

from __future__ import annotations

import datetime as dt

import numpy as np

from ..domain import periods
from .settings import PERIODS


def check_period(length: str) -> str:
    if length not in PERIODS:
        raise ValueError(f"price_period must be one of {', '.join(PERIODS)}, not {length!r}")
    return length


def period_start(day: dt.date, length: str) -> dt.date:
    """The first day of the period of `length` that holds `day`."""
    return periods.start(day, check_period(length))


def period_starts(days: np.ndarray, length: str) -> np.ndarray:
    """Vectorised `period_start` over datetime64[D] values."""
    return periods.starts(days, check_period(length))


def sql_period(column: str, length: str) -> str:
    """Portable SQL for the period start of a DATE column (DuckDB and PostgreSQL alike)."""
    return periods.start_sql(column, check_period(length))
