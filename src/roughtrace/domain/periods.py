"""Periods: which week, month, quarter or year a date falls in, as its first day or as a label.

A period is named by its kind (`KINDS`) and identified by its first day: the Monday of an ISO week,
the first of a month, of a quarter's first month (January, April, July, October) or of January. The
price index keys its cells by that first day; the price book keys its entries by a label of it,
'2026-03' (month), '2026-Q1' (quarter) or '2026' (year); weeks have no label (`LABELLED`).

Each form comes three ways, for the three places a date is at hand: a `datetime.date` in Python
(`start`, `label`), a numpy `datetime64[D]` array (`starts`, `labels`) and a SQL expression over a
DATE column that DuckDB and PostgreSQL evaluate alike (`start_sql`, `label_sql`). The label is
always written from the period's first day, so the three labels follow from the three starts.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

KINDS: tuple[str, ...] = ("week", "month", "quarter", "year")
"""Every period kind, shortest first."""
LABELLED: tuple[str, ...] = ("month", "quarter", "year")
"""The kinds that have a label."""
MONTHS: dict[str, int] = {"month": 1, "quarter": 3, "year": 12}
"""Months in a period of each kind made of whole months; a period starts at a month index (months
since January of year 0) divisible by this."""


def check(kind: str, kinds: tuple[str, ...] = KINDS) -> str:
    """`kind` if it is one of `kinds`, else ValueError."""
    if kind not in kinds:
        raise ValueError(f"a period is one of {', '.join(kinds)}, not {kind!r}")
    return kind


def start(day: dt.date, kind: str) -> dt.date:
    """The first day of the period of `kind` that holds `day`."""
    if check(kind) == "week":
        return day - dt.timedelta(days=day.weekday())
    month = (day.month - 1) // MONTHS[kind] * MONTHS[kind] + 1
    return dt.date(day.year, month, 1)


def starts(days: np.ndarray, kind: str) -> np.ndarray:
    """`start` over an array of dates (datetime64[D] or anything numpy casts to it)."""
    days = np.asarray(days).astype("datetime64[D]")
    if check(kind) == "week":
        number = days.astype(np.int64)
        return (number - (number + 3) % 7).astype("datetime64[D]")  # day 0, 1970-01-01, is a Thursday
    months = days.astype("datetime64[M]").astype(np.int64)  # months since 1970-01, a multiple of 12
    return (months - months % MONTHS[kind]).astype("datetime64[M]").astype("datetime64[D]")


def start_sql(column: str, kind: str) -> str:
    """SQL for `start` of a DATE column (DuckDB and PostgreSQL; both start weeks on Monday)."""
    return f"CAST(date_trunc('{check(kind)}', {column}) AS DATE)"


def label(day: dt.date, kind: str) -> str:
    """The label of the period of `kind` (month, quarter or year) that holds `day`."""
    first = start(day, check(kind, LABELLED))
    if kind == "year":
        return f"{first.year:04d}"
    if kind == "month":
        return f"{first.year:04d}-{first.month:02d}"
    return f"{first.year:04d}-Q{(first.month - 1) // 3 + 1}"


def labels(days: np.ndarray, kind: str) -> np.ndarray:
    """`label` over an array of dates: an object array of str (None where a date is NaT)."""
    first = starts(days, check(kind, LABELLED))
    if first.size == 0:  # (numpy's zfill cannot size the text of no dates)
        return np.empty(first.shape, dtype=object)
    months = first.astype("datetime64[M]").astype(np.int64)
    years = np.char.zfill((months // 12 + 1970).astype(str), 4)
    if kind == "year":
        text = years
    elif kind == "month":
        text = np.char.add(np.char.add(years, "-"), np.char.zfill((months % 12 + 1).astype(str), 2))
    else:
        text = np.char.add(np.char.add(years, "-Q"), (months % 12 // 3 + 1).astype(str))
    out = text.astype(object)
    out[np.isnat(first)] = None
    return out


def label_sql(column: str, kind: str) -> str:
    """SQL for `label` of a DATE column (DuckDB and PostgreSQL alike)."""
    first = start_sql(column, check(kind, LABELLED))

    def part(field: str, width: int) -> str:
        return f"lpad(CAST(CAST(EXTRACT({field} FROM {first}) AS INTEGER) AS VARCHAR), {width}, '0')"

    if kind == "year":
        return part("YEAR", 4)
    if kind == "month":
        return f"({part('YEAR', 4)} || '-' || {part('MONTH', 2)})"
    return f"({part('YEAR', 4)} || '-Q' || {part('QUARTER', 1)})"
