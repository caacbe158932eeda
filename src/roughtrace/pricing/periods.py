"""Index periods: the first day of the week, month, quarter or year a date falls in.

The SQL side truncates with `date_trunc`; these functions give the same period starts in Python
and numpy (weeks start on Monday, as ISO and both engines have it).
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from .settings import PERIODS


def check_period(length: str) -> str:
    if length not in PERIODS:
        raise ValueError(f"price_period must be one of {', '.join(PERIODS)}, not {length!r}")
    return length


def period_start(day: dt.date, length: str) -> dt.date:
    """The first day of the period of `length` that holds `day`."""
    check_period(length)
    if length == "week":
        return day - dt.timedelta(days=day.weekday())
    if length == "month":
        return day.replace(day=1)
    if length == "quarter":
        return day.replace(month=day.month - (day.month - 1) % 3, day=1)
    return day.replace(month=1, day=1)


def period_starts(days: np.ndarray, length: str) -> np.ndarray:
    """Vectorised `period_start` over datetime64[D] values."""
    check_period(length)
    days = days.astype("datetime64[D]")
    if length == "week":
        number = days.astype(np.int64)
        return (number - (number + 3) % 7).astype("datetime64[D]")  # 1970-01-01 was a Thursday
    if length == "month":
        return days.astype("datetime64[M]").astype("datetime64[D]")
    if length == "quarter":
        months = days.astype("datetime64[M]").astype(np.int64)
        return (months - months % 3).astype("datetime64[M]").astype("datetime64[D]")
    return days.astype("datetime64[Y]").astype("datetime64[D]")


def sql_period(column: str, length: str) -> str:
    """Portable SQL for the period start of a DATE column (DuckDB and PostgreSQL alike)."""
    return f"CAST(date_trunc('{check_period(length)}', {column}) AS DATE)"
