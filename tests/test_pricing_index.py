"""The transaction price index: worked fixtures and properties."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roughtrace.domain.grades import CLARITIES
from roughtrace.pricing import index as price_index
from roughtrace.pricing import lattice, quartiles
from roughtrace.pricing.export import csv_safe, grids_csv
from roughtrace.pricing.schema import ensure_schema

TRADES = """tx_id,date,shape,color,clarity,cut,lab,carat,price_usd,price_type
t1,2025-01-03,round,G,VS1,EX,GIA,1.010,10100.00,transaction
t2,2025-01-09,round,G,VS1,VG,GIA,1.020,11220.00,transaction
t3,2025-01-20,round,G,VS1,EX,IGI,1.050,12600.00,transaction
t4,2025-01-21,round,G,VS1,EX,GIA,1.100,1100.00,transaction
t5,2025-01-22,round,G,VS1,EX,GIA,1.000,10500.00,transaction
t6,2025-01-25,round,G,VS1,EX,GIA,1.030,11330.00,transaction
t7,2025-01-11,round,H,VS1,EX,GIA,1.010,12120.00,transaction
t8,2025-01-12,round,H,VS1,EX,GIA,1.010,11110.00,transaction
t9,2025-01-12,pear,G,VS1,EX,GIA,1.010,8080.00,transaction
a1,2025-01-05,round,G,VS1,EX,GIA,1.010,14140.00,asking
a2,2025-01-06,round,G,VS1,EX,GIA,1.020,14280.00,asking
t10,2025-02-03,round,G,VS1,EX,GIA,1.010,10605.00,transaction
t11,2025-02-04,round,G,VS1,EX,GIA,1.200,13200.00,transaction
"""


def load(store, text: str, batch: int = 1) -> None:
    table = pacsv.read_csv(io.BytesIO(text.encode()), convert_options=pacsv.ConvertOptions(column_types={
        "carat": pa.decimal128(18, 3), "price_usd": pa.decimal128(18, 2), "date": pa.date32(),
        "cut": pa.string(), "lab": pa.string()}))
    n = table.num_rows
    table = table.append_column("source", pa.nulls(n, pa.string())).append_column(
        "batch_id", pa.array([batch] * n, pa.int64())).append_column(
        "source_row", pa.array(range(1, n + 1), pa.int64())).append_column("extras", pa.nulls(n, pa.string()))
    store.append("transactions", table)


@pytest.fixture
def store(store):
    """The shared store fixture (every engine in turn) with the price tables."""
    ensure_schema(store)
    return store


def cells(store) -> list[dict]:
    return store.query("SELECT * FROM price_index_cells ORDER BY period_start, shape_family, size_bracket, color, clarity").to_pylist()


def test_worked_cell_median_outlier_and_asking_gap(store):
    load(store, TRADES)
    price_index.build(store)
    g_vs1 = [c for c in cells(store) if c["color"] == "G" and c["shape_family"] == "round"
             and c["period_start"] == dt.date(2025, 1, 1)][0]
    # t4 at $1,000/ct (a price typed per carat) is an outlier; the other five are $10,000-12,000/ct
    assert g_vs1["n_trades"] == 5 and g_vs1["n_outliers"] == 1
    assert g_vs1["median_ppc"] == Decimal("11000.00")
    assert g_vs1["q25_ppc"] <= g_vs1["median_ppc"] <= g_vs1["q75_ppc"]
    gap = store.query("SELECT * FROM price_asking_gap").to_pylist()
    assert len(gap) == 1 and gap[0]["n_asking"] == 2
    assert gap[0]["asking_median_ppc"] == Decimal("14000.00")
    assert gap[0]["gap_pct"] == Decimal("27.27")  # 14,000 / 11,000 - 1


def test_monotone_view_repairs_an_inversion_and_keeps_raw(store):
    load(store, TRADES)
    price_index.build(store)
    jan = {(c["color"], c["shape_family"]): c for c in cells(store) if c["period_start"] == dt.date(2025, 1, 1)}
    g, h = jan[("G", "round")], jan[("H", "round")]
    assert h["median_ppc"] == Decimal("11500.00")  # H dearer than G: an inversion in the raw figures
    assert g["monotone_ppc"] >= h["monotone_ppc"]
    assert h["monotone_ppc"] < h["median_ppc"] and g["monotone_ppc"] > g["median_ppc"]
    assert g["median_ppc"] == Decimal("11000.00")  # raw figure kept beside the monotone one


def test_asking_rows_never_move_the_index(store):
    load(store, TRADES)
    price_index.build(store)
    before = cells(store)
    load(store, "tx_id,date,shape,color,clarity,cut,lab,carat,price_usd,price_type\n"
                "a9,2025-01-07,round,G,VS1,EX,GIA,1.010,99999.00,asking\n"
                "a10,2025-01-07,round,D,IF,EX,GIA,3.010,9.00,asking\n", batch=2)
    price_index.build(store)
    assert cells(store) == before


def test_adding_a_period_changes_no_other_period(store):
    load(store, TRADES)
    price_index.build(store)
    before = cells(store)
    headline_before = store.query("SELECT period_start, headline FROM price_periods ORDER BY 1").to_pylist()
    load(store, "tx_id,date,shape,color,clarity,cut,lab,carat,price_usd,price_type\n"
                "m1,2025-03-02,round,G,VS1,EX,GIA,1.010,12120.00,transaction\n"
                "m2,2025-03-05,round,F,VS1,EX,GIA,1.010,13130.00,transaction\n", batch=2)
    report = price_index.build(store, fit_model=False)
    assert report.periods_rebuilt == (dt.date(2025, 3, 1),) and report.periods_kept == 2
    after = cells(store)
    assert [c for c in after if c["period_start"] < dt.date(2025, 3, 1)] == before
    assert len(after) > len(before)
    headline_after = store.query("SELECT period_start, headline FROM price_periods ORDER BY 1").to_pylist()
    assert headline_after[:2] == headline_before


def test_headline_chain(store):
    load(store, TRADES)
    price_index.build(store)
    summary = price_index.headline(store)
    assert summary["periods"] == 2 and summary["latest_period"] == "2025-02-01"
    # the one cell traded in both months: median 11,000 then 10,750 ($/ct) -> -2.27%
    assert summary["headline"] == Decimal("97.73")


def test_export_grid_layout_and_escaping(store):
    load(store, TRADES)
    price_index.build(store)
    text = grids_csv(store, dt.date(2025, 1, 1), "raw")
    assert "round 1.00-1.49 ct, 2025-01-01" in text
    assert "color,VS1\nG,11000.00\nH,11500.00" in text
    assert csv_safe("=HYPERLINK()") == "'=HYPERLINK()" and csv_safe("-1") == "'-1" and csv_safe("G") == "G"


def _percentile_cont(values: np.ndarray, p: float) -> float:
    """SQL's percentile_cont over sorted values, as PostgreSQL computes it."""
    position = p * (len(values) - 1)
    low = int(np.floor(position))
    high = min(low + 1, len(values) - 1)
    return values[low] + (position - low) * (values[high] - values[low])


def _figures_by_sorting_each_cell(keys: np.ndarray, values: np.ndarray, k: float) -> dict[int, tuple]:
    """Reference: per cell, sort, take the quartiles, apply the fences, take them again."""
    out = {}
    for key in np.unique(keys):
        cell = np.sort(values[keys == key])
        q = [_percentile_cont(cell, p) for p in quartiles.QUARTILES]
        kept = cell
        if k > 0:
            low = np.exp(np.log(q[0]) - k * (np.log(q[2]) - np.log(q[0])))
            high = np.exp(np.log(q[2]) + k * (np.log(q[2]) - np.log(q[0])))
            kept = cell[(cell >= low) & (cell <= high)]
            if len(kept) == 0:
                kept = cell
        out[int(key)] = (len(kept), len(cell) - len(kept), [_percentile_cont(kept, p) for p in quartiles.QUARTILES])
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12), st.integers(1, 60), st.sampled_from([1.0, 1.0, 1.0, 0.1, 10.0])),
                min_size=1, max_size=300),
       st.sampled_from([0.0, 0.2, 1.5, 3.0]), st.sampled_from([0, 7, 2**40, 2**58]))
def test_one_sort_gives_each_cells_figures_under_the_outlier_rule(rows, k, spread):
    # cells as keys (spread far apart, up to keys too wide to pack beside the row number), prices
    # with ties and with gross errors (a tenth or ten times the price) so that the rule has work
    keys = np.array([cell * spread + cell for cell, _, _ in rows], dtype=np.int64)
    values = np.array([price * 100.0 * error for _, price, error in rows])
    groups = quartiles.sort_groups(keys, values)
    figures = quartiles.outlier_rule(groups, k)
    expected = _figures_by_sorting_each_cell(keys, values, k)
    assert groups.keys.tolist() == sorted(expected)
    for i, key in enumerate(groups.keys.tolist()):
        n, n_outliers, q = expected[key]
        assert (figures.n[i], figures.n_outliers[i]) == (n, n_outliers)
        assert figures.quartiles[i].tolist() == q  # the same arithmetic, to the last bit


def test_a_grade_outside_the_scales_is_refused(store):
    load(store, TRADES.replace("t9,2025-01-12,pear,G,", "t9,2025-01-12,pear,G+,"))
    with pytest.raises(ValueError, match="outside the grading scales"):
        price_index.build(store, fit_model=False)


def _pava_decreasing(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Reference pool-adjacent-violators (non-increasing) for positive weights."""
    blocks: list[list[float]] = []
    for value, weight in zip(y, w, strict=True):
        blocks.append([value * weight, weight, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] < blocks[-1][0] / blocks[-1][1]:
            s, ww, c = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += ww
            blocks[-1][2] += c
    return np.concatenate([[s / ww] * c for s, ww, c in blocks])


@given(st.lists(st.tuples(st.floats(-5, 5), st.floats(0.1, 10)), min_size=1, max_size=12))
def test_isotonic_rows_match_pool_adjacent_violators(points):
    y = np.array([p[0] for p in points])
    w = np.array([p[1] for p in points])
    fitted = lattice._isotonic_decreasing(y[None, :], w[None, :])[0]
    assert np.allclose(fitted, _pava_decreasing(y, w), atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.0, 0.9))
def test_monotone_view_is_monotone(seed, empty_share):
    rng = np.random.default_rng(seed)
    values = rng.normal(8, 1, (3, 23, 11))
    values[rng.random(values.shape) < empty_share] = np.nan
    weights = rng.integers(1, 50, values.shape).astype(float)
    smooth = lattice.monotone_grids(values, weights)
    traded = ~np.isnan(values)
    assert not np.isnan(smooth[traded]).any()
    filled = np.where(np.isnan(smooth), -np.inf, smooth)
    # better colour (lower row) and better clarity (lower column) are never cheaper
    assert (filled[:, :-1, :] >= filled[:, 1:, :]).all()
    assert (filled[:, :, :-1] >= filled[:, :, 1:]).all()


def test_monotone_view_leaves_a_monotone_grid_alone():
    rows, cols = lattice.grid_shape()
    grid = 10 - np.add.outer(np.arange(rows) * 0.1, np.arange(cols) * 0.07)[None]
    assert np.allclose(lattice.monotone_grids(grid, np.ones_like(grid)), grid)


def test_a_second_build_without_new_rows_recomputes_nothing(store):
    load(store, TRADES)
    first = price_index.build(store)
    assert len(first.periods_rebuilt) == 2
    again = price_index.build(store)
    assert again.periods_rebuilt == () and again.periods_kept == 2


def test_changing_the_period_length_rebuilds_everything(store):
    from roughtrace.settings import Settings

    load(store, TRADES)
    price_index.build(store)
    report = price_index.build(store, Settings({"price_period": "quarter"}))
    assert report.periods_rebuilt == (dt.date(2025, 1, 1),)
    assert {c["period_start"] for c in cells(store)} == {dt.date(2025, 1, 1)}
    assert sum(c["n_trades"] for c in cells(store)) == 10  # 11 transactions, one outlier


def test_a_rebuild_reaches_the_next_quote(store):
    from roughtrace.pricing.quotes import Stone, quote

    load(store, TRADES)
    price_index.build(store)
    stone = Stone("round", Decimal("1.01"), "F", "VS1", as_of=dt.date(2025, 3, 10))
    before = quote(store, stone)
    assert before.method.startswith("model")
    load(store, "tx_id,date,shape,color,clarity,cut,lab,carat,price_usd,price_type\n" + "".join(
        f"f{i},2025-03-0{i},round,F,VS1,EX,GIA,1.010,{13130 + i * 10}.00,transaction\n" for i in range(1, 7)), batch=2)
    price_index.build(store)
    after = quote(store, stone)
    assert after.method == "cell" and after.n == 6


def _partial_trades(n: int, seed: int, cut: bool, labs: tuple[str, ...], months: tuple[int, ...],
                    shapes: tuple[str, ...]) -> str:
    """Transactions as a price source sends them: any subset of the optional columns (an empty
    cut or lab column is a column the source does not carry), price per carat rising with weight
    and better grades."""
    rng = np.random.default_rng(seed)
    lines = ["tx_id,date,shape,color,clarity,cut,lab,carat,price_usd,price_type"]
    for i in range(n):
        carat = round(float(np.exp(rng.normal(-0.4, 0.45))), 2)
        colour, clarity = int(rng.integers(1, 8)), int(rng.integers(2, 9))
        ppc = np.exp(8.4 + 0.9 * np.log(carat) - 0.08 * colour - 0.07 * clarity + rng.normal(0, 0.08))
        lines.append(",".join([
            f"p{i}", f"2025-{rng.choice(months):02d}-{int(rng.integers(1, 28)):02d}", str(rng.choice(shapes)),
            "DEFGHIJKLM"[colour], CLARITIES[clarity], str(rng.choice(["EX", "VG", "G"])) if cut else "",
            str(rng.choice(labs)) if labs else "", f"{carat:.3f}", f"{ppc * carat:.2f}", "transaction"]))
    return "\n".join(lines) + "\n"

PARTIAL_DATA = {
    "no cut": dict(cut=False, labs=("GIA", "IGI"), months=(1, 2, 3), shapes=("round",)),
    "one lab": dict(cut=True, labs=("GIA",), months=(1, 2, 3), shapes=("round", "oval")),
    "no lab": dict(cut=False, labs=(), months=(1, 2), shapes=("round", "pear")),
    "one period": dict(cut=True, labs=("GIA", "HRD"), months=(5,), shapes=("round", "pear")),
    "one shape": dict(cut=False, labs=("IGI",), months=(4,), shapes=("pear",)),
}


@pytest.mark.parametrize("variant", sorted(PARTIAL_DATA))
def test_a_build_and_quotes_on_partial_data(store, variant):
    from roughtrace.pricing.quotes import Quoter

    text = _partial_trades(308, 5, **PARTIAL_DATA[variant])
    load(store, text)
    report = price_index.build(store)
    assert report.model_trades == 308
    effects = store.query("SELECT level, count(*) AS n FROM price_model_effects GROUP BY level").to_pylist()
    assert {r["level"] for r in effects} >= {"cell", "cell_period"}
    trades = pacsv.read_csv(io.BytesIO(text.encode()), convert_options=pacsv.ConvertOptions(
        column_types={"cut": pa.string(), "lab": pa.string(), "carat": pa.string()}))
    quotes = Quoter.load(store).quote_table(trades.select(["shape", "carat", "color", "clarity", "cut", "lab"]))
    quoted = np.array([float(v) for v in quotes.column("price_per_carat").to_pylist()])
    truth = np.array(trades.column("price_usd").to_pylist()) / np.array([float(c) for c in trades.column("carat").to_pylist()])
    # the stones it was built on come back near their own prices (noise is 8%)
    assert np.median(np.abs(quoted / truth - 1)) < 0.08


def test_the_models_sample_is_the_trades_of_the_lowest_draws(store):
    """Beyond `price_model_sample` trades the regression's sample is that many trades, those of the
    lowest draws from their identity (batch, row), in identity order, with every column of the trade;
    within it, every trade."""
    from analytics_support import trades
    from roughtrace.analytics.port import InStoreEngine

    rows = trades(5, 2000)
    store.append("transactions", rows.set_column(  # stored out of identity order
        rows.column_names.index("batch_id"), "batch_id", pa.array(np.repeat([3, 1, 2, 7], 500), pa.int64())))
    chosen = price_index.model_trades(InStoreEngine(), store, "month", 150, 10_000)
    every, sample = chosen.effects, chosen.sample
    batch, row = every.column("batch_id").to_numpy(), every.column("source_row").to_numpy()
    assert every.num_rows > 1000 and (np.diff(batch * 10_000 + row) > 0).all() and not chosen.capped
    lowest = np.lexsort((row, batch, price_index.draw_of(batch, row)))[:150]
    assert sample.equals(every.take(pa.array(np.sort(lowest))))
    whole = price_index.model_trades(InStoreEngine(), store, "month", every.num_rows, 10_000)
    assert whole.effects.equals(every) and whole.sample.equals(every) and whole.trades == every.num_rows


def _market_with_cell_effects(n: int, seed: int) -> pa.Table:
    """Transactions in a few large cells (round, three colours x three clarities x two sizes), each
    cell's prices off the grade pattern by an effect of its own (15% to 30%), trade noise 8%."""
    rng = np.random.default_rng(seed)
    colour, clarity, size = rng.integers(0, 3, n), rng.integers(0, 3, n), rng.integers(0, 2, n)
    cell_effect = rng.choice([-1, 1], 18) * rng.uniform(0.15, 0.3, 18)
    carat = np.round(np.where(size == 0, 0.5, 1.0) + rng.integers(0, 9, n) / 100, 3)
    ppc = np.exp(8.4 + 0.9 * np.log(carat) - 0.08 * colour - 0.07 * clarity
                 + cell_effect[(colour * 3 + clarity) * 2 + size] + rng.normal(0, 0.08, n))
    return pa.table({
        "tx_id": [f"t{i}" for i in range(n)],
        "date": pa.array((np.datetime64("2025-01-01") + rng.integers(0, 90, n)).astype("datetime64[D]"), pa.date32()),
        "shape": pa.array(["round"] * n), "color": np.array(list("DEF"))[colour],
        "clarity": np.array(CLARITIES[2:5])[clarity], "cut": rng.choice(np.array(["EX", "VG"]), n),
        "lab": pa.array(["GIA"] * n), "carat": pa.array([Decimal(f"{c:.3f}") for c in carat], pa.decimal128(18, 3)),
        "price_usd": pa.array([Decimal(f"{p:.2f}") for p in ppc * carat], pa.decimal128(18, 2)),
        "price_type": pa.array(["transaction"] * n), "source": pa.nulls(n, pa.string()),
        "batch_id": pa.array(np.repeat([4, 2], [n // 2, n - n // 2]), pa.int64()),
        "source_row": pa.array(np.arange(n), pa.int64()), "extras": pa.nulls(n, pa.string())})


def _cell_quotes(store, settings) -> np.ndarray:
    """Log price per carat quoted for one stone of each cell and cut in the last month."""
    from roughtrace.pricing.quotes import Quoter

    grid = [(c, q, w, cut) for c in "DEF" for q in CLARITIES[2:5] for w in ("0.54", "1.04") for cut in ("EX", "VG")]
    stones = pa.table({"shape": ["round"] * len(grid), "carat": [g[2] for g in grid], "color": [g[0] for g in grid],
                       "clarity": [g[1] for g in grid], "cut": [g[3] for g in grid], "lab": ["GIA"] * len(grid),
                       "date": pa.array([dt.date(2025, 3, 15)] * len(grid), pa.date32())})
    quotes = Quoter.load(store, settings).quote_table(stones)
    return np.log(np.array([float(v) for v in quotes.column("price_per_carat").to_pylist()]))


def test_the_cell_effects_come_from_at_most_the_cap_of_each_cells_trades(store):
    """With `price_effects_cap` 3, the effects are taken from 3 trades of each cell (the lowest draws),
    each cell still counts every trade, and the model is the same whichever order the rows are stored
    in; with 30 of cells of about 170 trades, the quotes keep what the cells' own prices tell: near
    those of the model on every trade, far nearer than the regression alone."""
    from analytics_support import quote_model, store_reversed
    from roughtrace.analytics.port import InStoreEngine
    from roughtrace.settings import Settings

    market = _market_with_cell_effects(3000, 11)
    store.append("transactions", market)
    capped = Settings(overrides={"price_effects_cap": "3"}, environ={})
    chosen = price_index.model_trades(InStoreEngine(), store, "month", 100_000, 3)
    assert chosen.capped and chosen.trades == 3000 and chosen.effects.num_rows == 18 * 3
    every = price_index.model_trades(InStoreEngine(), store, "month", 100_000, 10_000).effects
    batch, row = every.column("batch_id").to_numpy(), every.column("source_row").to_numpy()
    cell = np.array([f"{a}{b}{c >= 0.9}" for a, b, c in zip(
        every.column("color").to_pylist(), every.column("clarity").to_pylist(), every.column("carat").to_numpy(), strict=True)])
    draws = price_index.draw_of(batch, row)
    lowest = np.sort(np.concatenate([np.flatnonzero(cell == c)[np.lexsort((row[cell == c], batch[cell == c], draws[cell == c]))[:3]]
                                     for c in np.unique(cell)]))
    identity = [("batch_id", "ascending"), ("source_row", "ascending")]
    assert chosen.effects.sort_by(identity).equals(every.take(pa.array(lowest)))

    price_index.build(store, capped)
    stored = store.query("SELECT color, clarity, size_bracket, n_trades FROM price_model_effects WHERE level = 'cell' "
                         "ORDER BY 1, 2, 3").to_pylist()
    assert len(stored) == 18 and sum(r["n_trades"] for r in stored) == 3000
    assert min(r["n_trades"] for r in stored) > 100
    on_cap = quote_model(store)
    store_reversed(store, "transactions")
    price_index.fit_and_store_model(store, capped)
    assert quote_model(store) == on_cap
    price_index.fit_and_store_model(store, Settings(overrides={"price_effects_cap": "30"}, environ={}))
    near = _cell_quotes(store, None)

    price_index.fit_and_store_model(store, Settings(environ={}))
    uncapped = _cell_quotes(store, None)
    with store.transaction():
        store.execute("DELETE FROM price_model_effects")
    from roughtrace.pricing.quotes import forget_model

    forget_model(store)
    regression = _cell_quotes(store, None)
    off_capped, off_regression = np.abs(near - uncapped), np.abs(regression - uncapped)
    # the cells' own prices move the quotes by 6% (median) off the regression; 30 trades a cell keep
    # the quotes within 5% of those of every trade, and a median of under a third of that
    assert np.median(off_regression) > 0.04
    assert np.max(off_capped) < 0.05 and np.median(off_capped) < np.median(off_regression) / 3
