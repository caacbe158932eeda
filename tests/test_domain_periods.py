"""The period forms agree: Python, numpy and SQL on both engines give the same start and label."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from conftest import make_store
from roughtrace.domain import periods
from roughtrace.store import Store

DATES = st.dates(min_value=dt.date(1000, 1, 8), max_value=dt.date(9999, 12, 24))


@pytest.fixture(scope="module", params=["duckdb", "postgresql"])
def engine_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    folder: Path = tmp_path_factory.mktemp("periods")
    yield from make_store(request.param, folder)


def test_known_periods() -> None:
    day = dt.date(2026, 3, 5)  # a Thursday
    assert [periods.start(day, k) for k in periods.KINDS] == [
        dt.date(2026, 3, 2), dt.date(2026, 3, 1), dt.date(2026, 1, 1), dt.date(2026, 1, 1)]
    assert [periods.label(day, k) for k in periods.LABELLED] == ["2026-03", "2026-Q1", "2026"]
    assert periods.label(dt.date(987, 11, 30), "quarter") == "0987-Q4"
    with pytest.raises(ValueError, match="a period is one of"):
        periods.start(day, "fortnight")
    with pytest.raises(ValueError, match="a period is one of month, quarter, year"):
        periods.label(day, "week")


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(days=st.lists(DATES, min_size=1, max_size=40))
def test_python_numpy_and_sql_agree(engine_store: Store, days: list[dt.date]) -> None:
    array = np.array(days, dtype="datetime64[D]")
    values = ", ".join("(CAST(? AS INTEGER), CAST(? AS DATE))" for _ in days)
    columns = [f"{periods.start_sql('d', k)} AS s_{k}" for k in periods.KINDS]
    columns += [f"{periods.label_sql('d', k)} AS l_{k}" for k in periods.LABELLED]
    params = tuple(x for n, d in enumerate(days) for x in (n, d.isoformat()))
    rows = engine_store.rows(f"SELECT n, {', '.join(columns)} FROM (VALUES {values}) AS t(n, d) ORDER BY n", params)
    assert len(rows) == len(days)
    for kind in periods.KINDS:
        python = [periods.start(d, kind) for d in days]
        assert periods.starts(array, kind).tolist() == python, kind
        assert [r[f"s_{kind}"] for r in rows] == python, kind
    for kind in periods.LABELLED:
        python_labels = [periods.label(d, kind) for d in days]
        assert periods.labels(array, kind).tolist() == python_labels, kind
        assert [r[f"l_{kind}"] for r in rows] == python_labels, kind


def test_labels_leave_missing_dates_missing() -> None:
    array = np.array(["2026-05-17", "NaT"], dtype="datetime64[D]")
    assert periods.labels(array, "month").tolist() == ["2026-05", None]
