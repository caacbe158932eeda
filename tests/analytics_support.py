"""Price records for the analytics tests, and how they compare a check fact's tables, without Ibis
(the default engine's test imports this)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from pytest import approx

from roughtrace.domain.grades import CLARITIES, COLOURS


def trades(seed: int, n: int) -> pa.Table:
    """Price records over a few months and cells: tight cells with a few wild prices, asking rows,
    ties, a one-trade cell and a price type the index leaves out."""
    rng = np.random.default_rng(seed)
    colour = rng.choice(np.array(COLOURS[:4] + ("fancy",)), n)
    clarity = rng.choice(np.array(CLARITIES[:3]), n)
    carat = np.round(rng.choice([0.31, 0.52, 1.01, 1.52, 3.05], n) + rng.integers(0, 5, n) / 100, 3)
    ppc = np.round(rng.lognormal(8.5, 0.2, n), 0)
    ppc[rng.random(n) < 0.03] *= rng.choice([0.05, 20.0])
    price_type = rng.choice(np.array(["transaction"] * 8 + ["asking", "auction"]), n)
    day = rng.integers(0, 120, n)
    return pa.table({
        "tx_id": [f"t{i}" for i in range(n)],
        "date": pa.array((np.datetime64("2025-01-01") + day).astype("datetime64[D]"), pa.date32()),
        "shape": rng.choice(np.array(["round", "pear", "oval"]), n), "color": colour, "clarity": clarity,
        "cut": pa.nulls(n, pa.string()), "lab": pa.nulls(n, pa.string()),
        "carat": pa.array([str(c) for c in carat]).cast(pa.decimal128(18, 3)),
        "price_usd": pa.array([f"{p * c:.2f}" for p, c in zip(ppc, carat, strict=True)]).cast(pa.decimal128(18, 2)),
        "price_type": price_type, "source": pa.nulls(n, pa.string()), "batch_id": pa.array([1] * n, pa.int64()),
        "source_row": pa.array(range(1, n + 1), pa.int64()), "extras": pa.nulls(n, pa.string()),
    })


def same_facts(native: pa.Table, portable: pa.Table) -> None:
    """The portable fact's table is the query's: the same columns, types and rows in the same
    order; a grade mix's chi-square (a floating-point sum the engines add in their own order) to
    the last few bits."""
    assert portable.schema.equals(native.schema), (portable.schema, native.schema)
    if "chi_square" in native.column_names:
        assert portable.column("chi_square").to_pylist() == approx(native.column("chi_square").to_pylist(),
                                                                   rel=1e-12, abs=1e-12)
        native, portable = native.drop_columns(["chi_square"]), portable.drop_columns(["chi_square"])
    assert portable.equals(native)


def quote_model(store) -> dict:
    """The quote model a build stored (its document, covariance factor and every cell effect, in
    order) and its quotes of a few stones, one of them in a cell no trade fell in."""
    from roughtrace.pricing.quotes import Quoter

    documents = {r["key"]: r["value"] for r in store.query("SELECT key, value FROM price_model").to_pylist()}
    stones = pa.table({
        "shape": ["round", "pear", "oval", "round"], "carat": ["0.52", "1.01", "3.05", "0.7"],
        "color": ["D", "F", "fancy", "K"], "clarity": [CLARITIES[0], CLARITIES[2], CLARITIES[1], CLARITIES[5]],
        "date": pa.array(np.array(["2025-02-10", "2025-04-01", "2025-01-05", "2025-03-03"], "datetime64[D]"),
                         pa.date32())})
    stones = stones.set_column(1, "carat", stones.column("carat").cast(pa.decimal128(18, 3)))
    return {"model": documents["model"], "covariance": documents["covariance"],
            "effects": store.query("SELECT * FROM price_model_effects ORDER BY level, period_start, shape_family, "
                                   "size_bracket, color, clarity, cut").to_pylist(),
            "quotes": Quoter.load(store).quote_table(stones).to_pylist()}


def both_forms(computation, store, given: dict | None = None, **params) -> tuple[pa.Table, pa.Table]:
    """The computation's table from the store engine's own plan and from its portable form run on
    DuckDB through Ibis."""
    from roughtrace.analytics.ibis_engine import IbisEngine
    from roughtrace.analytics.port import InStoreEngine

    native = InStoreEngine().run(computation, store, given, **params)
    engine = IbisEngine()
    try:
        portable = engine.run(computation, store, given, **params)
    finally:
        engine.close()
    return native, portable


def store_reversed(store, table: str) -> None:
    """Store a table's rows again, in the reverse order: what a rule computes must not depend on the
    order its rows were stored in."""
    rows = store.query(f"SELECT * FROM {table}")
    with store.transaction():
        store.execute(f"DELETE FROM {table}")
        store.append(table, rows.take(pa.array(range(rows.num_rows - 1, -1, -1))))
