"""Building the transaction price index in the engine, incrementally, and the quote model beside it.

`build(store, settings)` recomputes only the periods whose input rows changed (a fingerprint of
each period's transaction and asking rows is kept in `price_periods`); the cells of every other
period stay byte for byte as they were. SQL is written once for DuckDB and PostgreSQL: `date_trunc`,
`ln`, `CASE`, and the ordered-set aggregate `percentile_cont(ARRAY[...]) WITHIN GROUP (ORDER BY ...)`.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..domain.grades import CLARITIES, COLOURS, CUTS, LABS, SHAPE_FAMILIES
from ..domain.sizes import BRACKET_LOWER_BOUNDS, BRACKETS
from ..store.port import Store
from . import lattice
from . import model as hedonic
from .periods import check_period, sql_period
from .schema import ensure_schema
from .settings import (
    PRICE_MODEL_SAMPLE,
    PRICE_OUTLIER_IQR,
    PRICE_PERIOD,
    PRICE_RIDGE,
    PRICE_SHRINKAGE,
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


def _cell_rows(length: str, price_type: str, periods: list[dt.date] | None) -> tuple[str, tuple]:
    """SQL for one row per stored price record of one price type with its cell keys and price
    per carat (USD/ct)."""
    where = f"price_type = '{price_type}'"
    params: tuple = ()
    if periods is not None:
        where += f" AND {sql_period('date', length)} IN ({', '.join('?' for _ in periods)})"
        params = tuple(periods)
    sql = (f"SELECT {sql_period('date', length)} AS period_start, {FAMILY_SQL} AS shape_family, "
           f"{BRACKET_SQL} AS size_bracket, color, clarity, {PPC_SQL} AS ppc FROM transactions WHERE {where}")
    return sql, params


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
    """The fingerprint of every period's stored rows: one hash aggregate, no sort."""
    rows = store.query(f"SELECT {sql_period('date', length)} AS period_start, price_type, {_FINGERPRINT_SUMS} "
                       "FROM transactions WHERE price_type IN ('transaction', 'asking') GROUP BY 1, 2").to_pylist()
    return _fingerprint_map(rows, length, rule)


def _quartiles(store: Store, sql: str, params: tuple) -> pa.Table:
    return _flat_quartiles(store.query(
        f"WITH t AS ({sql}) SELECT {_CELL_LIST}, count(*) AS n, min(ppc) AS lowest, max(ppc) AS highest, "
        "percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY ppc) AS q FROM t GROUP BY 1, 2, 3, 4, 5", params))


def _asking_medians(store: Store, sql: str, params: tuple) -> pa.Table:
    return store.query(f"WITH t AS ({sql}) SELECT {_CELL_LIST}, count(*) AS n, "
                       "percentile_cont(0.5) WITHIN GROUP (ORDER BY ppc) AS q50 FROM t GROUP BY 1, 2, 3, 4, 5", params)


def _flat_quartiles(table: pa.Table) -> pa.Table:
    """The list column `q` of three quartiles as float columns q25, q50, q75 (joins need flat columns)."""
    values = (np.array(pc.list_flatten(table.column("q")).to_numpy(zero_copy_only=False), dtype=float).reshape(-1, 3)
              if table.num_rows else np.zeros((0, 3)))
    table = table.drop_columns(["q"])
    for i, name in enumerate(("q25", "q50", "q75")):
        table = table.append_column(name, pa.array(values[:, i], pa.float64()))
    return table


def _split_quartiles(table: pa.Table) -> np.ndarray:
    if table.num_rows == 0:
        return np.zeros((0, 3))
    return np.column_stack([np.asarray(table.column(c).to_numpy(), dtype=float) for c in ("q25", "q50", "q75")])


def _cents(values: np.ndarray) -> pa.Array:
    """Float USD per carat as DECIMAL(18,2), rounded half-even to the cent (NaN becomes NULL)."""
    values = np.asarray(values, dtype=float)
    rounded = pc.round(pa.array(values, mask=np.isnan(values)), 2, round_mode="half_to_even")
    return pc.cast(rounded, pa.decimal128(18, 2))


def _keys(table: pa.Table) -> list[tuple]:
    return list(zip(*(table.column(c).to_pylist() for c in CELL_COLUMNS), strict=True))


def compute_cells(store: Store, length: str, outlier_iqr: float, periods: list[dt.date] | None,
                  ) -> tuple[pa.Table, pa.Table]:
    """Index cells (raw figures and monotone view) and the asking gap for the given periods (all
    when None). One pass over the transaction rows gives every cell's count, quartiles and
    extremes; a second pass re-aggregates only the cells whose extremes cross their fences; the
    asking rows are aggregated on their own."""
    sql, params = _cell_rows(length, "transaction", periods)
    first = _quartiles(store, sql, params)
    q = _split_quartiles(first)
    n = np.array(first.column("n").to_numpy(), dtype=np.int64)
    lowest = np.asarray(first.column("lowest").to_numpy(), dtype=float)
    highest = np.asarray(first.column("highest").to_numpy(), dtype=float)
    with np.errstate(divide="ignore"):
        lq1, lq3 = np.log(q[:, 0]), np.log(q[:, 2])
    fence_low = np.exp(lq1 - outlier_iqr * (lq3 - lq1))
    fence_high = np.exp(lq3 + outlier_iqr * (lq3 - lq1))
    has_outliers = ((lowest < fence_low) | (highest > fence_high)) & (outlier_iqr > 0)
    n_outliers = np.zeros(len(n), dtype=np.int64)
    if has_outliers.any():
        # second pass over the few cells whose extremes fall outside their fences
        fences = first.filter(pa.array(has_outliers)).select(list(CELL_COLUMNS)).append_column(
            "fence_low", pa.array(fence_low[has_outliers])).append_column("fence_high", pa.array(fence_high[has_outliers]))
        store.execute("CREATE TEMP TABLE price_fences (period_start DATE, shape_family VARCHAR, size_bracket VARCHAR, "
                      "color VARCHAR, clarity VARCHAR, fence_low DOUBLE PRECISION, fence_high DOUBLE PRECISION)")
        try:
            store.append("price_fences", fences)
            on = " AND ".join(f"t.{c} = f.{c}" for c in CELL_COLUMNS)
            second = _flat_quartiles(store.query(
                f"WITH t AS ({sql}) SELECT {', '.join('t.' + c for c in CELL_COLUMNS)}, count(*) AS n, "
                "percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY t.ppc) AS q "
                f"FROM t JOIN price_fences f ON {on} WHERE t.ppc >= f.fence_low AND t.ppc <= f.fence_high "
                "GROUP BY 1, 2, 3, 4, 5", params))
        finally:
            store.execute("DROP TABLE price_fences")
        rows = first.select(list(CELL_COLUMNS)).append_column("row", pa.array(np.arange(first.num_rows)))
        if second.num_rows == 0:  # (an engine may type an empty result's columns as null: nothing to join)
            second = rows.slice(0, 0).append_column("n", pa.array([], pa.int64()))
            for name in ("q25", "q50", "q75"):
                second = second.append_column(name, pa.array([], pa.float64()))
        else:
            second = second.join(rows, keys=list(CELL_COLUMNS), join_type="inner")
        at = np.asarray(second.column("row").to_numpy(), dtype=np.int64)
        kept = np.asarray(second.column("n").to_numpy(), dtype=np.int64)
        n_outliers[at] = n[at] - kept
        n[at] = kept
        q[at] = _split_quartiles(second)
    monotone = monotone_view(first, q[:, 1], n)
    cells = pa.table({
        **{c: first.column(c) for c in CELL_COLUMNS},
        "n_trades": pa.array(n, pa.int64()), "n_outliers": pa.array(n_outliers, pa.int64()),
        "median_ppc": _cents(q[:, 1]), "q25_ppc": _cents(q[:, 0]), "q75_ppc": _cents(q[:, 2]),
        "monotone_ppc": _cents(monotone),
    })
    asking_sql, asking_params = _cell_rows(length, "asking", periods)
    return cells, asking_gap(_asking_medians(store, asking_sql, asking_params), cells)


def monotone_view(cells: pa.Table, median: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The monotone view of each cell's median (USD per carat), grid by grid (period x family x
    bracket); fancy colours keep their raw median."""
    out = median.astype(float).copy()
    if cells.num_rows == 0:
        return out
    colour_index = {c: i for i, c in enumerate(lattice.LATTICE_COLOURS)}
    clarity_index = {c: i for i, c in enumerate(CLARITIES)}
    grid_keys = list(zip(*(cells.column(c).to_pylist() for c in CELL_COLUMNS[:3]), strict=True))
    grid_of: dict[tuple, int] = {}
    grid = np.array([grid_of.setdefault(k, len(grid_of)) for k in grid_keys])
    colour = np.array([colour_index.get(c, -1) for c in cells.column("color").to_pylist()])
    clarity = np.array([clarity_index[c] for c in cells.column("clarity").to_pylist()])
    on_lattice = colour >= 0
    rows, cols = lattice.grid_shape()
    values = np.full((len(grid_of), rows, cols), np.nan)
    weights = np.zeros((len(grid_of), rows, cols))
    values[grid[on_lattice], colour[on_lattice], clarity[on_lattice]] = np.log(median[on_lattice])
    weights[grid[on_lattice], colour[on_lattice], clarity[on_lattice]] = n[on_lattice]
    smooth = lattice.monotone_grids(values, weights)
    out[on_lattice] = np.exp(smooth[grid[on_lattice], colour[on_lattice], clarity[on_lattice]])
    return out


def asking_gap(asking: pa.Table, cells: pa.Table) -> pa.Table:
    """Asking prices per cell and period (median of all asking rows, USD/ct) against the
    transaction median of the same cell; gap_pct = asking / transaction - 1, in percent."""
    keys = list(CELL_COLUMNS)
    if asking.num_rows == 0:
        return pa.table({})
    trades = cells.select(keys + ["n_trades", "median_ppc"])
    joined = asking.select(keys + ["n", "q50"]).join(trades, keys=keys, join_type="left outer")
    asking_ppc = np.asarray(joined.column("q50").to_numpy(), dtype=float)
    trade_ppc = np.asarray(pc.cast(joined.column("median_ppc"), pa.float64()).to_numpy(zero_copy_only=False), dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = (asking_ppc / trade_ppc - 1) * 100
    return pa.table({
        **{c: joined.column(c) for c in keys},
        "n_asking": joined.column("n"), "n_trades": pc.fill_null(joined.column("n_trades"), 0),
        "asking_median_ppc": _cents(asking_ppc), "transaction_median_ppc": _cents(trade_ppc), "gap_pct": _cents(gap),
    })


def headline_series(cells: pa.Table) -> dict[dt.date, float]:
    """The headline composite: a chained index (first period = 100) whose change from one period
    to the next is the trade-count-weighted mean log change of the median price per carat over the
    cells traded in both periods (a Tornqvist-style chain with trade counts as weights); a period
    with no cell in common with its predecessor carries the level forward. A period's level
    depends only on itself and earlier periods."""
    if cells.num_rows == 0:
        return {}
    periods = sorted(set(cells.column("period_start").to_pylist()))
    number = {p: i for i, p in enumerate(periods)}
    table = pa.table({
        **{c: cells.column(c) for c in CELL_COLUMNS[1:]},
        "step": pa.array([number[p] for p in cells.column("period_start").to_pylist()], pa.int64()),
        "n": pc.cast(cells.column("n_trades"), pa.float64()), "m": pc.cast(cells.column("median_ppc"), pa.float64())})
    before = table.set_column(table.schema.get_field_index("step"), "step", pc.add(table.column("step"), 1))
    pairs = table.join(before, keys=list(CELL_COLUMNS[1:]) + ["step"], right_suffix="_before", join_type="inner")
    step = np.asarray(pairs.column("step").to_numpy(), dtype=np.int64)
    weight = pairs.column("n").to_numpy() + pairs.column("n_before").to_numpy()
    change = np.log(pairs.column("m").to_numpy() / pairs.column("m_before").to_numpy())
    total = np.bincount(step, weights=weight, minlength=len(periods))
    mean_change = np.divide(np.bincount(step, weights=weight * change, minlength=len(periods)), total,
                            out=np.zeros(len(periods)), where=total > 0)
    levels = 100.0 * np.exp(np.cumsum(mean_change))
    return {p: float(level) for p, level in zip(periods, levels, strict=True)}


def build(store: Store, settings: Any = None, fit_model: bool = True) -> BuildReport:
    """Bring the index up to date with the stored transactions: recompute the periods whose rows
    changed, drop periods that lost all rows, recompute the headline chain and refit the model."""
    ensure_schema(store)
    started = time.perf_counter()
    length = check_period(str(setting(settings, PRICE_PERIOD)))
    outlier_iqr = float(setting(settings, PRICE_OUTLIER_IQR))
    rule = str(outlier_iqr)
    stored = {r["period_start"]: r["fingerprint"] for r in store.query(
        "SELECT period_start, fingerprint FROM price_periods").to_pylist()}
    fingerprints = _fingerprints(store, length, rule)
    changed = sorted(p for p, (text, _, _) in fingerprints.items() if stored.get(p) != text)
    gone = sorted(set(stored) - set(fingerprints))
    full = len(changed) == len(fingerprints)
    cells, gap = compute_cells(store, length, outlier_iqr, None if full else changed) if changed else (None, None)
    with store.transaction():
        for period in changed + gone:
            for table in ("price_index_cells", "price_asking_gap", "price_periods"):
                store.execute(f"DELETE FROM {table} WHERE period_start = ?", (period,))
        if cells is not None and cells.num_rows:
            store.append("price_index_cells", cells)
        if gap is not None and gap.num_rows:
            store.append("price_asking_gap", gap)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        if changed:
            store.append("price_periods", pa.table({
                "period_start": pa.array(changed, pa.date32()),
                "fingerprint": [fingerprints[p][0] for p in changed],
                "n_trades": pa.array([fingerprints[p][1] for p in changed], pa.int64()),
                "n_asking": pa.array([fingerprints[p][2] for p in changed], pa.int64()),
                "headline": pa.array([None] * len(changed), pa.decimal128(18, 2)),
                "built_at": pa.array([now] * len(changed), pa.timestamp("us")),
            }))
        all_cells = store.query(f"SELECT {_CELL_LIST}, n_trades, median_ppc FROM price_index_cells")
        for period, level in headline_series(all_cells).items():
            store.execute("UPDATE price_periods SET headline = ? WHERE period_start = ?",
                          (Decimal(repr(level)).quantize(Decimal("0.01")), period))
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
    """Index of each value in a grading scale, -1 for missing or unknown."""
    found = pc.index_in(values, value_set=pa.array(vocabulary))
    return np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), dtype=np.int64)


def fit_and_store_model(store: Store, settings: Any = None) -> int:
    """Fit the hedonic model on every stored transaction (not asking) row and persist it."""
    length = check_period(str(setting(settings, PRICE_PERIOD)))
    periods = sorted(r["period_start"] for r in store.query(
        "SELECT period_start FROM price_periods WHERE n_trades > 0").to_pylist())
    rows = store.query(
        f"SELECT {FAMILY_SQL} AS shape_family, CAST(carat AS DOUBLE PRECISION) AS carat, color, clarity, cut, lab, "
        f"{sql_period('date', length)} AS period_start, ln({PPC_SQL}) AS log_ppc FROM transactions "
        "WHERE price_type = 'transaction'")
    with store.transaction():
        store.execute("DELETE FROM price_model")
        store.execute("DELETE FROM price_model_effects")
        if rows.num_rows == 0:
            return 0
        period_values = np.array(periods, dtype="datetime64[D]")
        row_periods = np.asarray(rows.column("period_start").to_numpy(zero_copy_only=False), dtype="datetime64[D]")
        stones = hedonic.Stones(
            family=codes(rows.column("shape_family"), SHAPE_FAMILIES),
            carat=np.asarray(rows.column("carat").to_numpy(), dtype=float),
            colour=codes(rows.column("color"), COLOURS), clarity=codes(rows.column("clarity"), CLARITIES),
            cut=codes(rows.column("cut"), CUTS), lab=codes(rows.column("lab"), LABS),
            period=np.searchsorted(period_values, row_periods).astype(np.int64))
        fitted = hedonic.fit(stones, np.asarray(rows.column("log_ppc").to_numpy(), dtype=float),
                             tuple(p.isoformat() for p in periods), float(setting(settings, PRICE_RIDGE)),
                             float(setting(settings, PRICE_SHRINKAGE)), int(setting(settings, PRICE_MODEL_SAMPLE)))
        store.append("price_model", pa.table({"key": ["model", "built_at"], "value": [
            json.dumps(model_document(fitted)), dt.datetime.now(dt.UTC).isoformat()]}))
        store.append("price_model_effects", effects_table(fitted))
    from .quotes import forget_model  # (quotes imports this module)

    forget_model(store)
    return fitted.n_trades


def model_document(fitted: hedonic.HedonicModel) -> dict:
    """The fitted model minus its cell effects, as JSON-ready data."""
    return {
        "periods": list(fitted.periods), "keep": np.flatnonzero(fitted.keep).tolist(), "n_terms": len(fitted.keep),
        "beta": fitted.beta.tolist(), "sigma": fitted.sigma,
        "carat_range": {str(k): list(v) for k, v in fitted.carat_range.items()},
        "colour_range": list(fitted.colour_range), "clarity_range": list(fitted.clarity_range),
        "shrinkage": fitted.shrinkage, "n_trades": fitted.n_trades,
    }


def _decode_cell(keys: np.ndarray) -> dict[str, list]:
    clarity, colour = keys % 16, (keys // 16) % 32
    bracket, family = (keys // 512) % 32, keys // 16384
    return {"shape_family": [SHAPE_FAMILIES[int(f)] for f in family], "size_bracket": [BRACKETS[int(b)] for b in bracket],
            "color": [COLOURS[int(c)] for c in colour], "clarity": [CLARITIES[int(c)] for c in clarity]}


def effects_table(fitted: hedonic.HedonicModel) -> pa.Table:
    parts = []
    for level, effects, divisor in (("cell", fitted.cell, 1), ("cell_period", fitted.cell_period, 4096),
                                    ("cell_cut", fitted.cell_cut, 8)):
        cell = effects.keys // divisor
        rest = effects.keys % divisor
        period = [dt.date.fromisoformat(fitted.periods[int(r)]) for r in rest] if level == "cell_period" else [None] * len(cell)
        cut = [CUTS[int(r)] for r in rest] if level == "cell_cut" else [None] * len(cell)
        parts.append(pa.table({
            "level": [level] * len(cell), "period_start": pa.array(period, pa.date32()), **_decode_cell(cell),
            "cut": pa.array(cut, pa.string()), "n_trades": pa.array(effects.n, pa.int64()),
            "effect": pa.array(effects.effect, pa.float64()), "scale": pa.array(effects.scale, pa.float64())}))
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
