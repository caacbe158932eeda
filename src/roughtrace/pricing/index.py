"""Building the transaction price index, incrementally, and the quote model beside it.

`build(store, settings)` recomputes only the periods whose input rows changed (a fingerprint of
each period's transaction and asking rows is kept in `price_periods`); the cells of every other
period stay byte for byte as they were. Each cell's figures come from the analytics engine the
settings choose (`CELL_FIGURES`, `roughtrace.analytics`). On the default engine the store reads the
rows once: one query gives every price record its date, an integer cell key and its price per carat
(`CASE`, `array_position`, written once for DuckDB and PostgreSQL); one sort in `quartiles` groups
them by cell, and counts, quartiles and the outlier rule are rank arithmetic on the sorted prices.
The portable form (`portable.py`, for Spark) does the same arithmetic on each cell's sorted prices.
The quote model's trades and its regression's sample come from the same engine (`MODEL_TRADES`,
`MODEL_SAMPLE`), and so do its cell effects' share of each index cell and every trade counted
(`MODEL_EFFECT_TRADES`, `MODEL_TRADE_COUNTS`); the fit over them is numpy's (`model.py`), so every
engine stores the same model.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..analytics.port import AnalyticsEngine, Computation, InStoreEngine, engine_for
from ..domain.grades import CLARITIES, COLOURS, CUTS, LABS, SHAPE_FAMILIES
from ..domain.periods import start as period_start
from ..domain.periods import start_sql as sql_period
from ..domain.periods import starts as period_starts
from ..domain.sizes import BRACKET_LOWER_BOUNDS, BRACKETS
from ..store.port import Store
from . import lattice, quartiles
from . import model as hedonic
from .schema import ensure_schema
from .settings import (
    PRICE_EFFECTS_CAP,
    PRICE_MODEL_SAMPLE,
    PRICE_OUTLIER_IQR,
    PRICE_PERIOD,
    PRICE_RIDGE,
)

FAMILY_SQL = "CASE WHEN shape = 'round' THEN 'round' ELSE 'fancy' END"
BRACKET_SQL = "CASE " + " ".join(
    f"WHEN carat >= {low} THEN '{label}'" for low, label in reversed(list(zip(BRACKET_LOWER_BOUNDS, BRACKETS, strict=True)))
) + f" ELSE '{BRACKETS[0]}' END"
PPC_SQL = "CAST(price_usd AS DOUBLE PRECISION) / CAST(carat AS DOUBLE PRECISION)"
CELL_COLUMNS = ("period_start", "shape_family", "size_bracket", "color", "clarity")
_CELL_LIST = ", ".join(CELL_COLUMNS)


def setting(settings: Any, spec: Any) -> Any:
    """A setting's value from a `Settings` object, or its default when there is none."""
    return spec.default if settings is None else settings[spec.name]


ASKING_KEY = 1 << 15
PERIOD_KEY = 1 << 16
"""Cell keys, one integer per cell and price type: the model's cell key (family x bracket x
colour x clarity, below 2^15), plus 2^15 for asking rows, plus 2^16 x the period start in days
since 1970-01-01."""
_UNKNOWN_CODE = {"color": 31, "clarity": 15}


def _code_sql(column: str, scale: tuple[str, ...]) -> str:
    """Portable SQL for the 0-based index of a grade in its scale; a value outside the scale (the
    import never stores one) gets the field's last code, which no grade uses."""
    values = ", ".join(f"'{v}'" for v in scale)
    return f"COALESCE(array_position(ARRAY[{values}], {column}) - 1, {_UNKNOWN_CODE[column]})"


ROW_CELL_SQL = (
    f"CASE price_type WHEN 'transaction' THEN 0 WHEN 'asking' THEN {ASKING_KEY} ELSE -{PERIOD_KEY} END "
    "+ CASE WHEN shape = 'round' THEN 0 ELSE 16384 END + "
    "CASE " + " ".join(f"WHEN carat >= {low} THEN {code * 512}" for code, low in reversed(list(enumerate(BRACKET_LOWER_BOUNDS))))
    + f" ELSE 0 END + {_code_sql('color', COLOURS)} * 16 + {_code_sql('clarity', CLARITIES)}")
"""A price record's cell key without its period (integer arithmetic on each row, nothing to hash);
negative for a price type other than transaction or asking (the import never stores one)."""


def _price_rows(length: str, periods: list[dt.date] | None) -> tuple[str, tuple]:
    """SQL for one row per stored price record: its date, its cell key without the period
    (`ROW_CELL_SQL`) and its price per carat (USD/ct). No filter on the price type: the key tells
    the types apart, and a filter costs the engine more than the rows it would drop."""
    if periods is None:
        return f"SELECT date, {ROW_CELL_SQL} AS cell, {PPC_SQL} AS ppc FROM transactions", ()
    return (f"SELECT date, {ROW_CELL_SQL} AS cell, {PPC_SQL} AS ppc FROM transactions "
            f"WHERE {sql_period('date', length)} IN ({', '.join('?' for _ in periods)})", tuple(periods))


@dataclass(frozen=True)
class BuildReport:
    """What a build did: periods recomputed and kept, cells written, trades behind the model."""

    periods_rebuilt: tuple[dt.date, ...]
    periods_kept: int
    cells_written: int
    model_trades: int
    index_seconds: float
    model_seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"periods_rebuilt": [p.isoformat() for p in self.periods_rebuilt], "periods_kept": self.periods_kept,
                "cells_written": self.cells_written, "model_trades": self.model_trades,
                "index_seconds": round(self.index_seconds, 3), "model_seconds": round(self.model_seconds, 3)}


_FINGERPRINT_SUMS = ("count(*) AS n, sum(price_usd) AS usd, sum(carat) AS ct, min(batch_id) AS b0, "
                     "max(batch_id) AS b1, sum(batch_id) AS bs, sum(source_row) AS sr")


def _fingerprint_text(length: str, rule: str, by_type: dict[str, dict]) -> str:
    parts = [f"period={length}", f"rule={rule}"]
    for price_type, r in sorted(by_type.items()):
        usd = Decimal(r["usd"]).quantize(Decimal("0.01"))
        ct = Decimal(r["ct"]).quantize(Decimal("0.001"))
        parts.append(f"{price_type}:{int(r['n'])}:{usd}:{ct}:{int(r['b0'])}:{int(r['b1'])}:{int(r['bs'])}:{int(r['sr'])}")
    return "|".join(parts)


def _fingerprint_map(rows: list[dict], length: str, rule: str) -> dict[dt.date, tuple[str, int, int]]:
    """Per period: (fingerprint text, transaction rows, asking rows) from per-(period, type) sums."""
    parts: dict[dt.date, dict[str, dict]] = {}
    for row in rows:
        parts.setdefault(row["period_start"], {})[row["price_type"]] = row
    return {period: (_fingerprint_text(length, rule, by_type), int(by_type.get("transaction", {}).get("n", 0)),
                     int(by_type.get("asking", {}).get("n", 0))) for period, by_type in parts.items()}


def _fingerprints(store: Store, length: str, rule: str) -> dict[dt.date, tuple[str, int, int]]:
    """The fingerprint of every period's stored rows: one hash aggregate per day and price type
    (no period arithmetic on every row, no sort), summed up per period here."""
    by_period: dict[tuple[dt.date, str], dict] = {}
    for row in store.query(f"SELECT date, price_type, {_FINGERPRINT_SUMS} FROM transactions GROUP BY 1, 2").to_pylist():
        if row["price_type"] not in ("transaction", "asking"):  # (a filter in the query costs more than it saves)
            continue
        key = (period_start(row["date"], length), row["price_type"])
        total = by_period.get(key)
        if total is None:
            by_period[key] = {**row, "period_start": key[0]}
            continue
        for name in ("n", "usd", "ct", "bs", "sr"):
            total[name] += row[name]
        total["b0"], total["b1"] = min(total["b0"], row["b0"]), max(total["b1"], row["b1"])
    return _fingerprint_map(list(by_period.values()), length, rule)


def _numbers(column: pa.ChunkedArray, dtype: Any) -> np.ndarray:
    """A result column as one numpy array (dates as days since 1970-01-01, decimals as floats)."""
    if pa.types.is_date32(column.type):
        column = column.cast(pa.int32())
    elif pa.types.is_decimal(column.type):
        column = column.cast(pa.float64())
    chunks = [chunk.to_numpy(zero_copy_only=False) for chunk in column.chunks]
    return np.concatenate(chunks).astype(dtype, copy=False) if chunks else np.zeros(0, dtype)


def _cents(values: np.ndarray) -> pa.Array:
    """Float USD per carat as DECIMAL(18,2), rounded half-even to the cent (NaN becomes NULL)."""
    values = np.asarray(values, dtype=float)
    rounded = pc.round(pa.array(values, mask=np.isnan(values)), 2, round_mode="half_to_even")
    return pc.cast(rounded, pa.decimal128(18, 2))


def _cell_columns(keys: np.ndarray) -> dict[str, pa.Array]:
    """The cell columns (period start, family, bracket, colour, clarity) of cell keys."""
    cell = keys % ASKING_KEY
    if (cell // 16 % 32 >= len(COLOURS)).any() or (cell % 16 >= len(CLARITIES)).any():
        raise ValueError("stored price records hold a colour or clarity outside the grading scales")
    return {"period_start": pa.array((keys // PERIOD_KEY).astype("datetime64[D]"), pa.date32()), **_decode_cell(cell)}


def _periods(days: np.ndarray, length: str) -> np.ndarray:
    """The period start of each day (days since 1970-01-01), looked up in a table of the days
    spanned (calendar arithmetic once per day, not once per row)."""
    if len(days) == 0:
        return days
    first = int(days.min())
    span = np.arange(first, int(days.max()) + 1).astype("datetime64[D]")
    return period_starts(span, length).astype(np.int64)[days - first]


def _native_cell_figures(store: Store, given: dict, *, length: str, outlier_iqr: float,
                         periods: list[dt.date] | None = None) -> pa.Table:
    """`CELL_FIGURES` in the store's engine and numpy: the engine gives each transaction and asking
    row its cell key and price per carat; one sort groups them by cell, and counts, quartiles and
    the outlier rule are rank arithmetic on the sorted values (`quartiles`)."""
    sql, params = _price_rows(length, periods)
    rows = store.query(sql, params)
    cell, ppc = _numbers(rows.column("cell"), np.int64), _numbers(rows.column("ppc"), float)
    key = _periods(_numbers(rows.column("date"), np.int64), length) * PERIOD_KEY + cell
    del rows
    if (cell < 0).any():
        key, ppc = key[cell >= 0], ppc[cell >= 0]
    del cell
    groups = quartiles.sort_groups(key, ppc)
    del key, ppc
    figures = quartiles.outlier_rule(groups, outlier_iqr, applies=groups.keys // ASKING_KEY % 2 == 0)
    q = figures.quartiles
    return pa.table({"key": groups.keys, "rows": groups.counts, "n": figures.n, "n_outliers": figures.n_outliers,
                     "q25": q[:, 0], "q50": q[:, 1], "q75": q[:, 2]})


CELL_FIGURES = Computation(
    "price index cells", "roughtrace.pricing.portable:cell_figures", _native_cell_figures,
    {"transactions": ("date", "price_type", "shape", "carat", "color", "clarity", "price_usd")})
"""Per (period, cell) key, ascending: rows, values kept and set aside by the outlier rule, and the
quartiles of price per carat (USD/ct) of the values kept."""


def compute_cells(store: Store, length: str, outlier_iqr: float, periods: list[dt.date] | None,
                  engine: AnalyticsEngine | None = None) -> tuple[pa.Table, pa.Table]:
    """Index cells (raw figures and monotone view) and the asking gap for the given periods (all
    when None): the analytics engine (the store's own by default) gives each cell's counts and
    quartiles (`CELL_FIGURES`); the monotone view and the gap are worked out here from those."""
    figures = (engine or InStoreEngine()).run(CELL_FIGURES, store, length=length, outlier_iqr=outlier_iqr,
                                              periods=periods)
    group_keys = _numbers(figures.column("key"), np.int64)
    q = np.column_stack([_numbers(figures.column(name), float) for name in ("q25", "q50", "q75")]) \
        if figures.num_rows else np.zeros((0, 3))
    asking = group_keys // ASKING_KEY % 2 == 1
    trade = np.flatnonzero(~asking)
    keys, n, q_trade = group_keys[trade], _numbers(figures.column("n"), np.int64)[trade], q[trade]
    cells = pa.table({
        **_cell_columns(keys),
        "n_trades": pa.array(n, pa.int64()),
        "n_outliers": pa.array(_numbers(figures.column("n_outliers"), np.int64)[trade], pa.int64()),
        "median_ppc": _cents(q_trade[:, 1]), "q25_ppc": _cents(q_trade[:, 0]), "q75_ppc": _cents(q_trade[:, 2]),
        "monotone_ppc": _cents(monotone_view(keys, q_trade[:, 1], n)),
    })
    ask = np.flatnonzero(asking)
    return cells, asking_gap(group_keys[ask] - ASKING_KEY, _numbers(figures.column("rows"), np.int64)[ask], q[ask, 1],
                             keys, cells)


def monotone_view(keys: np.ndarray, median: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The monotone view of each cell's median (USD per carat), grid by grid (period x family x
    bracket) for cells given by their keys (`ASKING_KEY`); fancy colours keep their raw median."""
    out = median.astype(float).copy()
    if len(keys) == 0:
        return out
    grids, grid = np.unique(keys // 512, return_inverse=True)
    colour, clarity = keys // 16 % 32, keys % 16
    on_lattice = colour < len(lattice.LATTICE_COLOURS)
    rows, cols = lattice.grid_shape()
    values = np.full((len(grids), rows, cols), np.nan)
    weights = np.zeros((len(grids), rows, cols))
    at = (grid[on_lattice], colour[on_lattice], clarity[on_lattice])
    values[at] = np.log(median[on_lattice])
    weights[at] = n[on_lattice]
    out[on_lattice] = np.exp(lattice.monotone_grids(values, weights)[at])
    return out


def asking_gap(asking_keys: np.ndarray, n_asking: np.ndarray, asking_ppc: np.ndarray,
               cell_keys: np.ndarray, cells: pa.Table) -> pa.Table:
    """Asking prices per cell and period (median of all asking rows, USD/ct) against the
    transaction median of the same cell as the index holds it (`cells`, whose keys are
    `cell_keys`, ascending); gap_pct = asking / transaction - 1, in percent."""
    if len(asking_keys) == 0:
        return pa.table({})
    at = np.searchsorted(cell_keys, asking_keys)
    traded = at < len(cell_keys)
    traded[traded] = cell_keys[at[traded]] == asking_keys[traded]
    rows = at[traded]
    trade_ppc = np.full(len(asking_keys), np.nan)
    trade_ppc[traded] = _numbers(cells.column("median_ppc"), float)[rows]
    n_trades = np.zeros(len(asking_keys), dtype=np.int64)
    n_trades[traded] = _numbers(cells.column("n_trades"), np.int64)[rows]
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = (asking_ppc / trade_ppc - 1) * 100
    return pa.table({
        **_cell_columns(asking_keys), "n_asking": pa.array(n_asking, pa.int64()), "n_trades": pa.array(n_trades, pa.int64()),
        "asking_median_ppc": _cents(asking_ppc), "transaction_median_ppc": _cents(trade_ppc), "gap_pct": _cents(gap),
    })


def _cell_codes(cells: pa.Table) -> np.ndarray:
    """The model's cell key (family x bracket x colour x clarity) of each row of a cells table."""
    code = [codes(cells.column(c), scale) for c, scale in (
        ("shape_family", SHAPE_FAMILIES), ("size_bracket", BRACKETS), ("color", COLOURS), ("clarity", CLARITIES))]
    return ((code[0] * 32 + code[1]) * 32 + code[2]) * 16 + code[3]


def headline_series(cells: pa.Table) -> dict[dt.date, float]:
    """The headline composite: a chained index (first period = 100) whose change from one period
    to the next is the trade-count-weighted mean log change of the median price per carat over the
    cells traded in both periods (a Tornqvist-style chain with trade counts as weights); a period
    with no cell in common with its predecessor carries the level forward. A period's level
    depends only on itself and earlier periods."""
    if cells.num_rows == 0:
        return {}
    periods, step = np.unique(_numbers(cells.column("period_start"), np.int64), return_inverse=True)
    n, m = _numbers(cells.column("n_trades"), float), _numbers(cells.column("median_ppc"), float)
    key = _cell_codes(cells) * len(periods) + step
    order = np.argsort(key)
    at = np.minimum(np.searchsorted(key[order], key - 1), len(key) - 1)
    pair = (step > 0) & (key[order][at] == key - 1)  # the same cell in the period before
    now, before = np.flatnonzero(pair), order[at[pair]]
    weight = n[now] + n[before]
    change = np.log(m[now] / m[before])
    total = np.bincount(step[now], weights=weight, minlength=len(periods))
    mean_change = np.divide(np.bincount(step[now], weights=weight * change, minlength=len(periods)), total,
                            out=np.zeros(len(periods)), where=total > 0)
    levels = 100.0 * np.exp(np.cumsum(mean_change))
    return dict(zip(periods.astype("datetime64[D]").tolist(), levels.tolist(), strict=True))


def build(store: Store, settings: Any = None, fit_model: bool = True) -> BuildReport:
    """Bring the index up to date with the stored transactions: recompute the periods whose rows
    changed, drop periods that lost all rows, recompute the headline chain and refit the model."""
    ensure_schema(store)
    started = time.perf_counter()
    length = str(setting(settings, PRICE_PERIOD))
    outlier_iqr = float(setting(settings, PRICE_OUTLIER_IQR))
    rule = str(outlier_iqr)
    stored = {r["period_start"]: r for r in store.query(
        "SELECT period_start, fingerprint, headline FROM price_periods").to_pylist()}
    fingerprints = _fingerprints(store, length, rule)
    changed = sorted(p for p, (text, _, _) in fingerprints.items() if stored.get(p, {}).get("fingerprint") != text)
    gone = sorted(set(stored) - set(fingerprints))
    full = len(changed) == len(fingerprints)
    cells, gap = None, None
    if changed:
        engine = engine_for(settings)
        try:
            cells, gap = compute_cells(store, length, outlier_iqr, None if full else changed, engine)
        finally:
            engine.close()
    with store.transaction():
        if changed or gone:
            marks = ", ".join("?" for _ in changed + gone)
            for table in ("price_index_cells", "price_asking_gap", "price_periods"):
                store.execute(f"DELETE FROM {table} WHERE period_start IN ({marks})", tuple(changed + gone))
        if cells is not None and cells.num_rows:
            store.append("price_index_cells", cells)
        if gap is not None and gap.num_rows:
            store.append("price_asking_gap", gap)
        levels = {period: Decimal(repr(level)).quantize(Decimal("0.01")) for period, level in headline_series(
            store.query(f"SELECT {_CELL_LIST}, n_trades, median_ppc FROM price_index_cells")).items()}
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        if changed:
            store.append("price_periods", pa.table({
                "period_start": pa.array(changed, pa.date32()),
                "fingerprint": [fingerprints[p][0] for p in changed],
                "n_trades": pa.array([fingerprints[p][1] for p in changed], pa.int64()),
                "n_asking": pa.array([fingerprints[p][2] for p in changed], pa.int64()),
                "headline": pa.array([levels.get(p) for p in changed], pa.decimal128(18, 2)),
                "built_at": pa.array([now] * len(changed), pa.timestamp("us")),
            }))
        for period, row in stored.items():  # a kept period's level moves only when an earlier period was rebuilt
            if period in fingerprints and period not in changed and row["headline"] != levels.get(period):
                store.execute("UPDATE price_periods SET headline = ? WHERE period_start = ?", (levels.get(period), period))
    index_seconds = time.perf_counter() - started
    started = time.perf_counter()
    model_trades = 0
    if fit_model and (changed or gone or not _has_model(store)):
        model_trades = fit_and_store_model(store, settings)
    return BuildReport(tuple(changed), len(fingerprints) - len(changed), 0 if cells is None else cells.num_rows,
                       model_trades, index_seconds, time.perf_counter() - started)


def _has_model(store: Store) -> bool:
    return store.query("SELECT count(*) AS n FROM price_model").column("n")[0].as_py() > 0


def codes(values: pa.Array | pa.ChunkedArray, vocabulary: tuple[str, ...]) -> np.ndarray:
    """Index of each value in a grading scale, -1 for missing or unknown (a column with no value at
    all may come back from an engine typed null)."""
    if pa.types.is_null(values.type):
        return np.full(len(values), -1, dtype=np.int64)
    found = pc.index_in(values, value_set=pa.array(vocabulary))
    return np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), dtype=np.int64)


MODEL_COLUMNS = ("shape_family", "carat", "color", "clarity", "cut", "lab", "period_start", "price_usd", "batch_id",
                 "source_row")
"""A trade's features as the model reads them (carat and price as the store's exact decimals) and
its identity in the store (batch, row)."""
DRAW_MODULUS = 2147483647
"""The sample's draws are whole numbers below this prime (2^31 - 1), so that every product of two
stays inside a signed 64-bit integer on every engine."""
DRAW_STEPS = ((48271, 16807, 12345), (69621, 39373, 1))
"""The multipliers and offsets of the draw's two quadratic mixing steps (`draw_of`)."""
_TRADE_SQL = (f"SELECT {FAMILY_SQL} AS shape_family, carat, color, clarity, cut, lab, {{period}} AS period_start, "
              "price_usd, CAST(batch_id AS BIGINT) AS batch_id, CAST(source_row AS BIGINT) AS source_row "
              "FROM transactions WHERE price_type = 'transaction'")
_IDENTITY_SQL = f"((batch_id % {DRAW_MODULUS}) * 1000003 + source_row % {DRAW_MODULUS}) % {DRAW_MODULUS}"


def _mixing_sql(value: str, a: int, b: int, c: int) -> str:
    """One mixing step of a trade's draw (`draw_of`) in SQL, over the column `value`."""
    return f"({value} * {value} % {DRAW_MODULUS} * {a} + {value} * {b} + {c}) % {DRAW_MODULUS}"


def draw_of(batch_id: np.ndarray, source_row: np.ndarray) -> np.ndarray:
    """Each trade's draw, in [0, `DRAW_MODULUS`), from its identity in the store (batch, row): the
    identity folded to one number, then two quadratic mixing steps, in integer arithmetic that no
    engine rounds (the sample's rule, `MODEL_SAMPLE`, written out for numpy)."""
    m = DRAW_MODULUS
    value = (np.asarray(batch_id, np.int64) % m * 1000003 + np.asarray(source_row, np.int64) % m) % m
    for a, b, c in DRAW_STEPS:
        value = (value * value % m * a + value * b + c) % m
    return value


def _native_model_trades(store: Store, given: dict, *, length: str) -> pa.Table:
    """`MODEL_TRADES` in the store's engine."""
    return store.query(_trades_sql(length))


def _trades_sql(length: str, cell: bool = False) -> str:
    """SQL for every transaction row as the model reads it (`MODEL_COLUMNS`), with its index cell
    (`ROW_CELL_SQL`) as `cell` when asked."""
    trades = _TRADE_SQL.format(period=sql_period("date", length))
    return trades.replace(" FROM transactions", f", {ROW_CELL_SQL} AS cell FROM transactions") if cell else trades


def _drawn_sql(length: str, cell: bool = False) -> str:
    """SQL for every transaction row as the model reads it (`MODEL_COLUMNS`, with its index cell when
    asked) and its draw (`draw_of`)."""
    first, second = _mixing_sql("identity", *DRAW_STEPS[0]), _mixing_sql("mixed", *DRAW_STEPS[1])
    columns = ", ".join(MODEL_COLUMNS + (("cell",) if cell else ()))
    return (f"SELECT {columns}, {second} AS draw FROM (SELECT {columns}, {first} AS mixed FROM "
            f"(SELECT *, {_IDENTITY_SQL} AS identity FROM ({_trades_sql(length, cell)}) AS trades) AS identified) AS mixed")


def _native_model_sample(store: Store, given: dict, *, length: str, below: int) -> pa.Table:
    """`MODEL_SAMPLE` in the store's engine."""
    return store.query(f"SELECT * FROM ({_drawn_sql(length)}) AS drawn WHERE draw < ?", (below,))


def _native_effect_trades(store: Store, given: dict, *, length: str, cap: int) -> pa.Table:
    """`MODEL_EFFECT_TRADES` in the store's engine: a window rank within each cell over the trades'
    identities and draws alone (a narrow sort), the kept identities joined back to their trades."""
    return store.query(
        f"SELECT {', '.join('t.' + c for c in MODEL_COLUMNS)} FROM ({_trades_sql(length)}) AS t JOIN (SELECT batch_id, "
        "source_row FROM (SELECT batch_id, source_row, row_number() OVER (PARTITION BY cell ORDER BY draw, batch_id, "
        f"source_row) AS place FROM ({_drawn_sql(length, cell=True)}) AS drawn) AS ranked WHERE place <= ?) AS kept "
        "ON t.batch_id = kept.batch_id AND t.source_row = kept.source_row", (cap,))


def _native_trade_counts(store: Store, given: dict, *, length: str) -> pa.Table:
    """`MODEL_TRADE_COUNTS` in the store's engine."""
    return store.query(
        f"SELECT {', '.join(COUNT_GROUP)}, count(*) AS n, min(carat) AS low_carat, max(carat) AS high_carat "
        f"FROM ({_trades_sql(length, cell=True)}) AS trades GROUP BY {', '.join(COUNT_GROUP)}")


COUNT_GROUP = ("cell", "shape_family", "color", "clarity", "cut", "period_start")
"""What `MODEL_TRADE_COUNTS` counts the trades by: the index cell (`ROW_CELL_SQL`; with the family
and grades that make it), the cut grade and the period."""


MODEL_TRADES = Computation(
    "price model trades", "roughtrace.pricing.portable:model_trades", _native_model_trades,
    {"transactions": ("date", "price_type", "shape", "carat", "color", "clarity", "cut", "lab", "price_usd", "batch_id",
                      "source_row")})
"""Every transaction (not asking) row as the model reads it (`MODEL_COLUMNS`), in no set order:
the cell effects' input."""
MODEL_SAMPLE = Computation(
    "price model sample", "roughtrace.pricing.portable:model_sample", _native_model_sample, MODEL_TRADES.inputs)
"""The transaction rows whose draw (`draw_of`, from the row's identity: not from the order rows
are stored or read) is below `below`, with their draw: the candidates of the regression's sample."""


MODEL_EFFECT_TRADES = Computation(
    "price model effect trades", "roughtrace.pricing.portable:model_effect_trades", _native_effect_trades,
    MODEL_TRADES.inputs)
"""The transaction rows the cell effects are taken from: in each index cell (`ROW_CELL_SQL`), the
`cap` of the lowest draws (`draw_of`; ties by identity), every one in a cell of no more: the
rank is integer arithmetic on the row's identity, the same on every engine and in any storage
order, and independent of the price, so each cell keeps an even share of its trades."""
MODEL_TRADE_COUNTS = Computation(
    "price model trade counts", "roughtrace.pricing.portable:model_trade_counts", _native_trade_counts,
    MODEL_TRADES.inputs)
"""Per index cell, cut grade and period (`COUNT_GROUP`), in no set order: the transaction rows `n`
and their lowest and highest carat (the store's decimals), exact on every engine."""


def _draw_limit(trades: int, sample: int) -> int:
    """The draw below which the sample's candidates lie: enough that `sample` of `trades` trades
    fall below it but for a chance of about 1 in 30,000 (four binomial standard deviations and a
    margin over the share `sample` / `trades`)."""
    share = (sample + 4 * math.sqrt(sample) + 64) / trades
    return DRAW_MODULUS if share >= 1 else int(math.ceil(share * DRAW_MODULUS))


def _identity_order(rows: pa.Table) -> np.ndarray | None:
    """The order of the rows' identities (batch, row), or None for rows already in it (the store's,
    as DuckDB scans it)."""
    batch, row = _numbers(rows.column("batch_id"), np.int64), _numbers(rows.column("source_row"), np.int64)
    if len(batch) < 2 or bool(np.all((batch[1:] > batch[:-1]) | ((batch[1:] == batch[:-1]) & (row[1:] > row[:-1])))):
        return None
    return np.lexsort((row, batch))


def _in_identity_order(rows: pa.Table) -> pa.Table:
    """The rows in the order of their identity (batch, row)."""
    order = _identity_order(rows)
    return rows if order is None else rows.take(pa.array(order))


@dataclass(frozen=True)
class ModelRows:
    """What the quote model is fitted from: the trades its cell effects are taken from (every trade,
    in identity order (batch, row), or at most `price_effects_cap` per index cell, in no set order:
    `_stones` orders them), its regression's sample (in identity order), and every trade counted by
    cell, cut and period (`MODEL_TRADE_COUNTS`, in no set order)."""

    effects: pa.Table
    sample: pa.Table
    counts: pa.Table
    capped: bool
    """Whether some cell has more trades than the cap (then `effects` is a share of the trades)."""

    @property
    def trades(self) -> int:
        return int(pc.sum(self.counts.column("n")).as_py() or 0)


MODEL_COMPUTATIONS = (MODEL_TRADE_COUNTS, MODEL_TRADES, MODEL_SAMPLE, MODEL_EFFECT_TRADES)


def model_trades(engine: AnalyticsEngine, store: Store, length: str, sample: int, cap: int) -> ModelRows:
    """The rows the quote model is fitted from (`ModelRows`). The sample is every trade when there
    are at most `sample`, else the `sample` trades of the lowest draws (ties by identity), an even
    sample of the market that is the same whichever engine reads it and however the rows are
    stored; the effects' trades are every trade unless a cell holds more than `cap`
    (`MODEL_EFFECT_TRADES`). Each store table is staged once for all of them (`engine.prepare`)."""
    engine.prepare(MODEL_COMPUTATIONS, store)
    counts = engine.run(MODEL_TRADE_COUNTS, store, length=length)
    _, per_cell = np.unique(_numbers(counts.column("cell"), np.int64), return_inverse=True)
    trades = int(_numbers(counts.column("n"), np.int64).sum())
    capped = trades > 0 and int(np.bincount(per_cell, weights=_numbers(counts.column("n"), np.int64)).max()) > cap
    effects = engine.run(MODEL_EFFECT_TRADES, store, length=length, cap=cap) if capped else None
    if trades <= sample or effects is None:
        every = _in_identity_order(engine.run(MODEL_TRADES, store, length=length))
        if trades <= sample:
            return ModelRows(every if effects is None else effects, every, counts, capped)
        effects = every
    drawn = engine.run(MODEL_SAMPLE, store, length=length, below=_draw_limit(trades, sample))
    if drawn.num_rows < sample:  # (the draws fell short of the margin: take every draw)
        drawn = engine.run(MODEL_SAMPLE, store, length=length, below=DRAW_MODULUS)
    batch, row = _numbers(drawn.column("batch_id"), np.int64), _numbers(drawn.column("source_row"), np.int64)
    chosen = np.lexsort((row, batch, _numbers(drawn.column("draw"), np.int64)))[:sample]
    chosen = chosen[np.lexsort((row[chosen], batch[chosen]))]
    return ModelRows(effects, drawn.take(pa.array(chosen)).drop_columns(["draw"]), counts, capped)


def _stones(rows: pa.Table, periods: np.ndarray) -> tuple[hedonic.Stones, np.ndarray]:
    """The model's stones of trade rows (`MODEL_COLUMNS`) and their log price per carat, over the
    index's `periods` (datetime64[D], ascending), in identity order (batch, row) whatever the rows'
    order (a reorder of the numpy columns, cheaper than of the rows)."""
    stones = _stones_of(rows, "carat", codes(rows.column("lab"), LABS), periods)
    log_ppc = np.log(_numbers(rows.column("price_usd"), float) / stones.carat)
    order = _identity_order(rows)
    return (stones, log_ppc) if order is None else (hedonic.take(stones, order), log_ppc[order])


def _stones_of(rows: pa.Table, carat: str, lab: np.ndarray, periods: np.ndarray) -> hedonic.Stones:
    """The model's stones of rows with a trade's family, grades and period, at the carat column named,
    over the index's `periods` (datetime64[D], ascending)."""
    row_periods = _numbers(rows.column("period_start"), np.int64).astype("datetime64[D]")
    return hedonic.Stones(
        family=codes(rows.column("shape_family"), SHAPE_FAMILIES), carat=_numbers(rows.column(carat), float),
        colour=codes(rows.column("color"), COLOURS), clarity=codes(rows.column("clarity"), CLARITIES),
        cut=codes(rows.column("cut"), CUTS), lab=lab, period=np.searchsorted(periods, row_periods).astype(np.int64))


def _trade_counts(counts: pa.Table, periods: np.ndarray) -> hedonic.TradeCounts:
    """The model's `TradeCounts` of `MODEL_TRADE_COUNTS` groups, in a set order (the groups come
    from the engine in none): one stone per group at its lowest carat."""
    stones = _stones_of(counts, "low_carat", np.full(counts.num_rows, -1, dtype=np.int64), periods)
    order = np.lexsort((stones.period, stones.cut, stones.cell_key()))
    return hedonic.TradeCounts(hedonic.take(stones, order), _numbers(counts.column("n"), np.int64)[order],
                               _numbers(counts.column("high_carat"), float)[order])


def fit_and_store_model(store: Store, settings: Any = None) -> int:
    """Fit the hedonic model on the stored transaction (not asking) rows and persist it: the
    regression on a sample of at most `price_model_sample` of them, the cell effects on at most
    `price_effects_cap` of each index cell's, each cell's trades counted in full (`model_trades`).
    The analytics engine the settings choose reads the rows; the fit is numpy's, so every engine
    stores the same model."""
    length = str(setting(settings, PRICE_PERIOD))
    periods = sorted(r["period_start"] for r in store.query(
        "SELECT period_start FROM price_periods WHERE n_trades > 0").to_pylist())
    engine = engine_for(settings)
    try:
        rows = model_trades(engine, store, length, int(setting(settings, PRICE_MODEL_SAMPLE)),
                            int(setting(settings, PRICE_EFFECTS_CAP)))
    finally:
        engine.close()
    with store.transaction():
        store.execute("DELETE FROM price_model")
        store.execute("DELETE FROM price_model_effects")
        if rows.trades == 0:
            return 0
        period_values = np.array(periods, dtype="datetime64[D]")
        stones, log_ppc = _stones(rows.effects, period_values)
        sub, sub_log_ppc = _stones(rows.sample, period_values)
        counts = _trade_counts(rows.counts, period_values) if rows.capped else None
        del rows
        fitted = hedonic.fit_on_sample(stones, log_ppc, sub, sub_log_ppc, tuple(p.isoformat() for p in periods),
                                       float(setting(settings, PRICE_RIDGE)), counts=counts)
        store.append("price_model", pa.table({"key": ["model", "covariance", "built_at"], "value": [
            json.dumps(model_document(fitted)), pack_factor(fitted.covariance_factor), dt.datetime.now(dt.UTC).isoformat()]}))
        store.append("price_model_effects", effects_table(fitted))
    from .quotes import forget_model  # (quotes imports this module)

    forget_model(store)
    return fitted.n_trades


def model_document(fitted: hedonic.HedonicModel) -> dict:
    """The fitted model minus its cell effects' rows, as JSON-ready data (each level's between- and
    within-cell variances included)."""
    return {
        "periods": list(fitted.periods), "keep": np.flatnonzero(fitted.keep).tolist(), "n_terms": len(fitted.keep),
        "beta": fitted.beta.tolist(), "sigma": fitted.sigma,
        "carat_range": {str(k): list(v) for k, v in fitted.carat_range.items()},
        "colour_range": list(fitted.colour_range), "clarity_range": list(fitted.clarity_range),
        "leverage": fitted.leverage, "n_trades": fitted.n_trades,
        "mix": {"cut": None if fitted.mix["cut"] is None else fitted.mix["cut"].tolist(), "lab": fitted.mix["lab"].tolist()},
        "levels": {name: {"between": level.between, "within": level.within} for name, level in (
            ("cell", fitted.cell), ("cell_period", fitted.cell_period), ("cell_cut", fitted.cell_cut))},
    }


def pack_factor(factor: np.ndarray) -> str:
    """The model's covariance factor (upper triangular, p x p) as text: its upper triangle, row by
    row, as little-endian float32, base64 (single precision is ample for a band's width)."""
    return base64.b64encode(factor[np.triu_indices(len(factor))].astype("<f4").tobytes()).decode("ascii")


def unpack_factor(text: str) -> np.ndarray:
    """The inverse of `pack_factor`."""
    packed = np.frombuffer(base64.b64decode(text), dtype="<f4").astype(float)
    size = int(round((math.sqrt(8 * len(packed) + 1) - 1) / 2))
    factor = np.zeros((size, size))
    factor[np.triu_indices(size)] = packed
    return factor


def _decode_cell(keys: np.ndarray) -> dict[str, pa.Array]:
    """The family, bracket, colour and clarity columns of the model's cell keys."""
    keys = np.asarray(keys, dtype=np.int64)
    return {name: pa.array(scale, pa.string()).take(pa.array(code)) for name, scale, code in (
        ("shape_family", SHAPE_FAMILIES, keys // 16384), ("size_bracket", BRACKETS, keys // 512 % 32),
        ("color", COLOURS, keys // 16 % 32), ("clarity", CLARITIES, keys % 16))}


EFFECTS_SCHEMA = pa.schema([
    ("level", pa.string()), ("period_start", pa.date32()), ("shape_family", pa.string()), ("size_bracket", pa.string()),
    ("color", pa.string()), ("clarity", pa.string()), ("cut", pa.string()), ("n_trades", pa.int64()),
    ("effect", pa.float64()), ("scale", pa.float64())])
"""The columns of `price_model_effects`, typed: a level with no rows (no cut grades in the data,
one period) is an empty table of these types, never a column of nulls."""


def effects_table(fitted: hedonic.HedonicModel) -> pa.Table:
    """The three levels of cell effects as rows of `price_model_effects` (`EFFECTS_SCHEMA`)."""
    parts = []
    for level, effects, divisor in (("cell", fitted.cell, 1), ("cell_period", fitted.cell_period, 4096),
                                    ("cell_cut", fitted.cell_cut, 8)):
        cell = effects.keys // divisor
        rest = effects.keys % divisor
        period = [dt.date.fromisoformat(fitted.periods[int(r)]) for r in rest] if level == "cell_period" else [None] * len(cell)
        cut = [CUTS[int(r)] for r in rest] if level == "cell_cut" else [None] * len(cell)
        parts.append(pa.table({
            "level": pa.array([level] * len(cell), pa.string()), "period_start": pa.array(period, pa.date32()),
            **_decode_cell(cell), "cut": pa.array(cut, pa.string()), "n_trades": pa.array(effects.n, pa.int64()),
            "effect": pa.array(effects.effect, pa.float64()), "scale": pa.array(effects.scale, pa.float64())},
            schema=EFFECTS_SCHEMA))
    return pa.concat_tables(parts)


def headline(store: Store) -> dict:
    """The demo summary's headline: the composite index level of the latest period, its change
    on the period before, and the index's size."""
    ensure_schema(store)
    periods = store.query("SELECT period_start, headline, n_trades, n_asking FROM price_periods "
                          "ORDER BY period_start").to_pylist()
    if not periods:
        return {"periods": 0, "cells": 0, "latest_period": None, "headline": None, "change_pct": None,
                "n_trades": 0, "n_asking": 0}
    last = periods[-1]
    before = periods[-2]["headline"] if len(periods) > 1 else None
    change = None if before in (None, 0) or last["headline"] is None else (last["headline"] / before - 1) * 100
    cells = store.query("SELECT count(*) AS n FROM price_index_cells").column("n")[0].as_py()
    return {"periods": len(periods), "cells": int(cells), "latest_period": last["period_start"].isoformat(),
            "headline": last["headline"], "change_pct": None if change is None else change.quantize(Decimal("0.01")),
            "n_trades": int(sum(p["n_trades"] for p in periods)), "n_asking": int(sum(p["n_asking"] for p in periods))}


def cell_series(store: Store, shape_family: str, size_bracket: str, color: str, clarity: str) -> pa.Table:
    """One cell's index series, period by period: raw median, quartiles and monotone view (USD/ct)."""
    return store.query(
        "SELECT period_start, n_trades, n_outliers, median_ppc, q25_ppc, q75_ppc, monotone_ppc FROM price_index_cells "
        "WHERE shape_family = ? AND size_bracket = ? AND color = ? AND clarity = ? ORDER BY period_start",
        (shape_family, size_bracket, color, clarity))
