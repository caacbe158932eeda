"""Quotes: every stone gets one, every band holds its point, far-out stones say so; the CLI."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import CommandLine
from roughtrace.domain.grades import CLARITIES, COLOURS, CUTS, SHAPES
from roughtrace.domain.sizes import BRACKET_LOWER_BOUNDS
from roughtrace.pricing import index as price_index
from roughtrace.pricing.cli import app
from roughtrace.pricing.quotes import Quoter, Stone, quote
from roughtrace.pricing.schema import ensure_schema
from roughtrace.settings import Settings
from roughtrace.store import open_store


def synthetic(n: int, seed: int = 1, one_cell: bool = False, noise: float = 0.05, cell_sd: float = 0.0) -> pa.Table:
    """Round and fancy trades over three months whose price per carat rises with weight and
    better grades (a clear, known structure); `noise` is each trade's own log-scale noise and
    `cell_sd` the spread of fixed cell premiums (size bracket x colour x clarity, the same for
    every seed) that no smooth model explains, as real markets have."""
    rng = np.random.default_rng(seed)
    carat = np.round(rng.uniform(0.3, 2.5, n), 3)
    colour = rng.integers(3, 9, n)  # G to J... D=0
    clarity = rng.integers(2, 8, n)
    month = rng.integers(1, 4, n)
    if one_cell:  # round H VS2 1.00-1.49 ct in March only
        carat, colour, clarity, month = np.round(rng.uniform(1.0, 1.4, n), 3), np.full(n, 4), np.full(n, 5), np.full(n, 3)
    bracket = np.searchsorted([float(b) for b in BRACKET_LOWER_BOUNDS], carat, side="right") - 1
    premium = np.random.default_rng(0).normal(0, cell_sd, (len(BRACKET_LOWER_BOUNDS), len(COLOURS), len(CLARITIES)))
    ppc = np.exp(8.5 + 0.8 * np.log(carat) - 0.08 * colour - 0.07 * clarity + premium[bracket, colour, clarity]
                 + rng.normal(0, noise, n))
    return pa.table({
        "tx_id": [f"s{seed}-{i}" for i in range(n)], "date": pa.array([dt.date(2025, int(m), 10) for m in month], pa.date32()),
        "shape": ["round"] * n if one_cell else rng.choice(["round", "oval"], n), "color": [COLOURS[c] for c in colour],
        "clarity": [CLARITIES[c] for c in clarity], "cut": rng.choice(["EX", "VG"], n), "lab": rng.choice(["GIA", "IGI"], n),
        "carat": pa.array([Decimal(f"{c:.3f}") for c in carat], pa.decimal128(18, 3)),
        "price_usd": pa.array([Decimal(f"{p * c:.2f}") for p, c in zip(ppc, carat, strict=True)], pa.decimal128(18, 2)),
        "price_type": ["transaction"] * n, "source": pa.nulls(n, pa.string()), "batch_id": pa.array([1] * n, pa.int64()),
        "source_row": pa.array(range(1, n + 1), pa.int64()), "extras": pa.nulls(n, pa.string()),
    })


@pytest.fixture(scope="module")
def store():
    s = open_store("duckdb:///:memory:")
    s.migrate()
    ensure_schema(s)
    s.append("transactions", synthetic(3000))
    s.append("transactions", synthetic(12, seed=2, one_cell=True))
    price_index.build(s)
    yield s
    s.close()


def test_a_well_traded_cell_quotes_from_the_cell(store):
    q = quote(store, Stone("round", Decimal("1.10"), "H", "VS2", "EX", "GIA", dt.date(2025, 3, 15)))
    assert q.method == "cell" and q.n >= 5
    expected = np.exp(8.5 + 0.8 * np.log(1.10) - 0.08 * 4 - 0.07 * 5)
    assert abs(float(q.price_per_carat) / expected - 1) < 0.05
    assert q.low <= q.price_per_carat <= q.high


def test_a_stone_far_outside_the_data_says_so(store):
    near = quote(store, Stone("round", Decimal("1.10"), "H", "VS2"))
    far = quote(store, Stone("round", Decimal("25.000"), "D", "FL"))
    assert far.method.endswith("-extrapolated") and far.n == 0
    assert float(far.high / far.low) > float(near.high / near.low)


def test_better_grade_quotes_dearer_through_the_model(store):
    worse = quote(store, Stone("round", Decimal("1.10"), "J", "SI1"))
    better = quote(store, Stone("round", Decimal("1.10"), "G", "VVS2"))
    assert better.price_per_carat > worse.price_per_carat


stones = st.builds(
    Stone, shape=st.sampled_from(SHAPES), carat=st.decimals("0.001", "30", places=3),
    color=st.sampled_from(COLOURS), clarity=st.sampled_from(CLARITIES), cut=st.none() | st.sampled_from(CUTS),
    lab=st.none() | st.sampled_from(["GIA", "IGI", "none"]),
    as_of=st.none() | st.dates(dt.date(2020, 1, 1), dt.date(2030, 1, 1)))


@settings(max_examples=150, deadline=None)
@given(stone=stones)
def test_every_stone_gets_a_quote_whose_band_holds_it(store, stone):
    q = quote(store, stone)
    assert q.price_per_carat > 0
    assert q.low <= q.price_per_carat <= q.high
    assert q.price_per_carat == q.price_per_carat.quantize(Decimal("0.01"))


def test_batch_quotes_match_single_quotes(store):
    quoter = Quoter.load(store)
    table = pa.table({"shape": ["round", "pear", "oval"], "carat": ["0.52", "1.01", "3.2"], "color": ["E", "H", "K"],
                      "clarity": ["VS1", "SI1", "I1"], "cut": ["EX", None, "VG"]})
    batch = quoter.quote_table(table)
    for i, row in enumerate(table.to_pylist()):
        single = quoter.quote(Stone(row["shape"], Decimal(row["carat"]), row["color"], row["clarity"], row["cut"]))
        assert batch.column("price_per_carat")[i].as_py() == single.price_per_carat
        assert batch.column("method")[i].as_py() == single.method


class _Ctx:
    def __init__(self, store):
        self._store = store
        self.settings = Settings({})

    def store(self):
        return self._store


def test_cli_quote_json_and_errors(store, tmp_path):
    runner = CommandLine()
    result = runner.invoke(app, ["quote", "--shape", "round", "--carat", "1.1", "--color", "H", "--clarity", "VS2",
                                 "--date", "2025-03-01", "--json"], obj=_Ctx(store))
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert set(body) == {"ok", "price_per_carat", "low", "high", "n", "method", "as_of"}
    bad = runner.invoke(app, ["quote", "--shape", "blob", "--carat", "0", "--color", "H", "--clarity", "VS2", "--json"],
                        obj=_Ctx(store))
    assert bad.exit_code == 2
    errors = json.loads(bad.output)
    assert errors["ok"] is False and {e["code"] for e in errors["errors"]} == {"unknown_grade", "bad_carat"}
    assert set(errors["errors"][0]) == {"code", "message", "source"}
    stones_csv = tmp_path / "stones.csv"
    stones_csv.write_text("shape,carat,color,clarity,cut,date\nround,1.10,H,VS2,EX,2025-02-01\npear,0.50,D,IF,,\n")
    many = runner.invoke(app, ["quote", "--file", str(stones_csv), "--json"], obj=_Ctx(store))
    assert many.exit_code == 0, many.output
    assert len(json.loads(many.output)["quotes"]) == 2
    exported = runner.invoke(app, ["export"], obj=_Ctx(store))
    assert exported.exit_code == 0 and "round 1.00-1.49 ct" in exported.output


@pytest.mark.parametrize("cell_sd", [0.0, 0.03, 0.06])
def test_the_band_reflects_the_evidence_behind_a_quote(cell_sd):
    """A thin market (300 trades, 8% trade noise, cell premiums no smooth model explains): the
    same stone quoted before and after 46 trades of its own cell arrive. Before, it is the model's
    guess; after, the cell knows its level, and the band must say so by narrowing."""
    def quoted(with_cell_trades: bool):
        s = open_store("duckdb:///:memory:")
        s.migrate()
        ensure_schema(s)
        market = synthetic(300, noise=0.08, cell_sd=cell_sd)
        colour, clarity = np.array(market.column("color").to_pylist()), np.array(market.column("clarity").to_pylist())
        carat = np.array([float(c) for c in market.column("carat").to_pylist()])
        s.append("transactions", market.filter(pa.array(~((colour == "H") & (clarity == "VS2") & (carat >= 1) & (carat < 1.5)))))
        if with_cell_trades:
            s.append("transactions", synthetic(46, seed=3, one_cell=True, noise=0.08, cell_sd=cell_sd))
        price_index.build(s)
        q = quote(s, Stone("round", Decimal("1.20"), "H", "VS2", as_of=dt.date(2025, 3, 15)))
        s.close()
        return q

    before, after = quoted(False), quoted(True)
    assert before.method == "model" and before.n == 0
    assert after.method == "cell" and after.n == 46
    assert float(after.high / after.low) < float(before.high / before.low)


def test_cli_reads_grades_in_any_case_as_the_importer_does(store):
    runner = CommandLine()
    upper = runner.invoke(app, ["quote", "--shape", "round", "--carat", "1.1", "--color", "H", "--clarity", "VS2",
                                "--cut", "EX", "--date", "2025-03-01", "--json"], obj=_Ctx(store))
    lower = runner.invoke(app, ["quote", "--shape", "Round", "--carat", "1.1", "--color", "h", "--clarity", "vs2",
                                "--cut", "ex", "--date", "2025-03-01", "--json"], obj=_Ctx(store))
    assert upper.exit_code == 0 and lower.exit_code == 0, lower.output
    assert json.loads(lower.output) == json.loads(upper.output)
    assert quote(store, Stone("round", Decimal("1.1"), "h", " vs2 ")) == quote(store, Stone("round", Decimal("1.1"), "H", "VS2"))


def test_cli_file_quotes_every_good_row_and_names_each_bad_one(store, tmp_path):
    stones_csv = tmp_path / "stones.csv"
    stones_csv.write_text("shape,carat,color,clarity,cut,date\n"
                          "round,1.10,h,VS2,EX,2025-02-01\n"
                          "round,1.10,H,VS9,EX,2025-02-01\n"
                          "pear,0.50,D,if,,\n"
                          "oval,-1,G,SI1,VG,2025-13-01\n")
    runner = CommandLine()
    result = runner.invoke(app, ["quote", "--file", str(stones_csv), "--json"], obj=_Ctx(store))
    assert result.exit_code == 1
    body = json.loads(result.output)
    assert body["ok"] is False
    assert [q["method"] is not None for q in body["quotes"]] == [True, False, True, False]
    assert body["quotes"][0]["color"] == "H" and body["quotes"][2]["clarity"] == "IF"
    assert [(e["source"]["row"], e["source"]["column"], e["code"]) for e in body["errors"]] == [
        (2, "clarity", "unknown_grade"), (4, "carat", "bad_carat"), (4, "date", "bad_date")]
    assert {e["source"]["file"] for e in body["errors"]} == {str(stones_csv)}
    text = runner.invoke(app, ["quote", "--file", str(stones_csv)], obj=_Ctx(store))
    assert text.exit_code == 1
    lines = text.stdout.splitlines()
    assert len(lines) == 5 and lines[0].endswith(",error")
    assert "VS9" in lines[2] and "unknown_grade" in lines[2] and lines[1].split(",")[-1] == ""


@pytest.mark.parametrize(("between_sd", "within_sd"), [(0.0, 0.1), (0.05, 0.1), (0.2, 0.05)])
def test_shrinkage_is_learnt_from_the_data(between_sd, within_sd):
    """Cells whose true effects spread by `between_sd`, trades around them by `within_sd`: the
    level's two variances come back from the residuals, and a cell's trust in its own median
    follows them (none when cells do not differ, most for many trades and wide differences)."""
    from roughtrace.pricing import model as hedonic

    rng = np.random.default_rng(11)
    counts = rng.integers(1, 30, 400)
    keys = np.repeat(np.arange(400), counts)
    residual = rng.normal(0, between_sd, 400)[keys] + rng.normal(0, within_sd, len(keys))
    effects, _ = hedonic._effects(keys, residual)
    assert abs(effects.within ** 0.5 - within_sd) < 0.1 * within_sd
    assert abs(effects.between ** 0.5 - between_sd) < 0.015
    trust = effects.weight(np.array([0, 1, 5, 50]))
    assert trust[0] == 0 and (np.diff(trust) >= 0).all()
    if between_sd == 0:
        assert trust[-1] < 0.3
    if between_sd > within_sd:
        assert trust[1] > 0.8 and trust[-1] > 0.99


def test_a_stone_without_cut_is_priced_at_the_markets_cut_mix(store):
    """Every fitted trade has a cut grade (EX or VG): a stone quoted without one is neither
    assumed excellent nor worse than the worst cut traded."""
    stone = Stone("round", Decimal("1.10"), "H", "VS2", as_of=dt.date(2025, 3, 15))
    unknown = quote(store, stone).price_per_carat
    excellent = quote(store, dataclasses.replace(stone, cut="EX")).price_per_carat
    very_good = quote(store, dataclasses.replace(stone, cut="VG")).price_per_carat
    assert min(excellent, very_good) <= unknown <= max(excellent, very_good)
    assert unknown not in (excellent, very_good)


def test_the_robust_fit_is_the_huber_estimate_and_outliers_do_not_move_it():
    """400 trades on a known price surface, one in twenty mistyped (price x10 or x0.1): the fitted
    coefficients are the Huber estimate itself (one more reweighting round moves no fitted trade
    by more than the fit's tolerance), and the mistyped trades leave the model's price of the other
    trades within 1% (median) of the fit without them."""
    from roughtrace.pricing import model as hedonic

    rng = np.random.default_rng(5)
    n = 400
    stones = hedonic.Stones(np.zeros(n, np.int64), np.round(np.exp(rng.normal(-0.3, 0.5, n)), 2).clip(0.2),
                            rng.integers(1, 8, n), rng.integers(2, 9, n), rng.integers(0, 3, n), np.full(n, -1),
                            np.zeros(n, np.int64))
    clean = 8.5 + 0.6 * np.log(stones.carat) - 0.07 * stones.colour - 0.09 * stones.clarity + rng.normal(0, 0.08, n)
    mistyped = rng.random(n) < 0.05
    log_ppc = clean + np.where(mistyped, rng.choice([-2.3, 2.3], n), 0.0)
    periods = ("2025-01-01",)
    fitted = hedonic.fit(stones, log_ppc, periods, 0.3, n)
    names = hedonic.terms(1)
    penalty = np.array([hedonic.GROUP_PENALTY[group] * 0.3 for _, group in names])[fitted.keep]
    x = hedonic.design(stones, 1, fitted.keep)
    residual = log_ppc - x @ fitted.beta
    sigma = np.median(np.abs(residual)) * hedonic.MAD_TO_SIGMA
    w = np.minimum(1.0, hedonic.HUBER * sigma / np.maximum(np.abs(residual), 1e-12))
    again = np.linalg.solve((x.T * w) @ x + np.diag(penalty), (x.T * w) @ log_ppc)
    assert np.max(np.abs(x @ (again - fitted.beta))) <= 2 * hedonic.HUBER_TOLERANCE
    kept = ~mistyped
    honest = hedonic.fit(hedonic.Stones(*(getattr(stones, f)[kept] for f in hedonic.Stones.__dataclass_fields__)),
                         log_ppc[kept], periods, 0.3, n)
    assert np.median(np.abs(fitted.base(stones) - honest.base(stones))[kept]) < 0.01


def test_effects_from_a_share_of_each_cell_count_every_trade():
    """Given every trade counted by cell, cut and period, the effects from all the trades are those
    without the counts, to the bit; from the trades of half of each cell (chosen without regard to
    price) they keep each cell's full count, the model's trades and ranges, and their medians are
    those of the half."""
    from roughtrace.pricing import model as hedonic

    rng = np.random.default_rng(8)
    n = 3000
    stones = hedonic.Stones(rng.integers(0, 2, n), np.round(np.exp(rng.normal(-0.3, 0.5, n)), 2).clip(0.2),
                            rng.integers(1, 5, n), rng.integers(2, 5, n), rng.integers(-1, 3, n), np.full(n, -1),
                            rng.integers(0, 3, n))
    log_ppc = (8.5 + 0.6 * np.log(stones.carat) - 0.07 * stones.colour + rng.normal(0, 0.2, 1 << 15)[stones.cell_key()]
               + rng.normal(0, 0.1, n))
    group = (stones.cell_key() * 8 + stones.cut + 1) * 4096 + stones.period
    _, first, inverse = np.unique(group, return_index=True, return_inverse=True)
    high = np.full(len(first), -np.inf)
    np.maximum.at(high, inverse, stones.carat)
    low = np.full(len(first), np.inf)
    np.minimum.at(low, inverse, stones.carat)
    heads = hedonic.take(stones, first)
    counts = hedonic.TradeCounts(dataclasses.replace(heads, carat=low), np.bincount(inverse).astype(np.int64), high)
    periods = ("2025-01-01", "2025-02-01", "2025-03-01")
    plain = hedonic.fit_on_sample(stones, log_ppc, stones, log_ppc, periods, 0.3)
    counted = hedonic.fit_on_sample(stones, log_ppc, stones, log_ppc, periods, 0.3, counts=counts)
    for level in ("cell", "cell_period", "cell_cut"):
        a, b = getattr(plain, level), getattr(counted, level)
        assert (a.keys == b.keys).all() and (a.n == b.n).all() and (a.effect == b.effect).all()
    half = np.flatnonzero(rng.random(n) < 0.5)
    shared = hedonic.fit_on_sample(hedonic.take(stones, half), log_ppc[half], stones, log_ppc, periods, 0.3,
                                   counts=counts)
    alone = hedonic.fit_on_sample(hedonic.take(stones, half), log_ppc[half], stones, log_ppc, periods, 0.3)
    assert shared.n_trades == n and alone.n_trades == len(half)
    assert shared.carat_range == plain.carat_range and (shared.beta == plain.beta).all()
    assert (shared.cell.n == plain.cell.lookup(shared.cell.keys)[0]).all()
    assert shared.cell.between > 0 and np.abs(shared.cell.effect).max() > 0.1
    assert (shared.cell.effect == alone.cell.effect).all()
    assert (shared.cell.n >= alone.cell.n).all() and (shared.cell.n > alone.cell.n).any()
