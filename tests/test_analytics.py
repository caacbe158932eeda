"""The analytics port: each computation's portable form gives what the store engine's own plan
gives, and the default engine loads neither Ibis nor pyspark."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from decimal import Decimal

import pyarrow as pa
import pytest

from analytics_support import both_forms, store_reversed
from analytics_support import quote_model as _quote_model
from analytics_support import same_facts as _same_facts
from analytics_support import trades as _trades
from roughtrace.analytics.port import InStoreEngine, engine_for
from roughtrace.pricing import index as _index
from roughtrace.pricing.index import CELL_FIGURES
from roughtrace.pricing.schema import ensure_schema
from roughtrace.settings import SettingError, Settings

ibis = pytest.importorskip("ibis")  # the `spark` extra; the suite's environment has it


@pytest.fixture
def priced(store):
    ensure_schema(store)
    store.append("transactions", _trades(7, 3000))
    return store


@pytest.mark.parametrize(("length", "outlier_iqr", "periods"), [
    ("month", 3.0, None), ("week", 0.5, None), ("quarter", 0.0, None), ("month", 1.0, [dt.date(2025, 2, 1)])])
def test_portable_cell_figures_are_the_store_engines_to_the_bit(priced, length, outlier_iqr, periods):

    native, portable = both_forms(CELL_FIGURES, priced, length=length, outlier_iqr=outlier_iqr, periods=periods)
    assert native.num_rows > 0
    assert portable.cast(native.schema).equals(native)
    if outlier_iqr > 0:
        assert pa.compute.sum(native.column("n_outliers")).as_py() > 0


def test_the_engine_setting_is_checked():
    with pytest.raises(SettingError, match="analytics_engine"):
        Settings(overrides={"analytics_engine": "hadoop"})["analytics_engine"]
    with pytest.raises(SettingError, match="spark_master"):
        Settings(overrides={"spark_master": "http://cluster"})["spark_master"]
    assert isinstance(engine_for(Settings()), InStoreEngine)
    assert isinstance(engine_for(None), InStoreEngine)


def test_the_default_engine_loads_neither_ibis_nor_pyspark(tmp_path):
    code = f"""
import sys
from roughtrace.wiring import wire
wire()
from roughtrace.settings import Settings
from roughtrace.store import open_store
from roughtrace.pricing import index
from roughtrace.pricing.schema import ensure_schema
sys.path.insert(0, {str(__import__('pathlib').Path(__file__).parent)!r})
from analytics_support import same_facts as _same_facts
from analytics_support import trades as _trades
store = open_store("duckdb:///{tmp_path / 's.duckdb'}")
store.migrate()
store.append("transactions", _trades(3, 200))
report = index.build(store, Settings())
assert report.cells_written > 0, report
from roughtrace.checks import run_checks
run_checks(store, Settings())
from roughtrace.intelligence import cells
assert cells.market_facts(store, Settings()).num_rows == 0
from roughtrace.valuation.kp import check_certificates
assert check_certificates(store, Settings()).num_rows == 0
print(sorted(m for m in sys.modules if m.split('.')[0] in ('ibis', 'pyspark', 'py4j')))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("price_date", ["polished", "sale"])
def test_portable_box_valuation_passes_are_the_store_engines(store, price_date):
    """The price keys and each box's exact sums at the stored quotes, with a price move, a rough set
    aside and stones of many weights."""
    from roughtrace.analytics.ibis_engine import IbisEngine
    from roughtrace.valuation.boxes import BOX_TOTALS, PRICE_KEYS, value_boxes
    from roughtrace.valuation.method import FlatCost
    from test_valuation_support import GradePricer, book_market, load

    book_market(6, spread=0.37, store=store)
    load(store, "polished_outcomes", """
stone_id,lab,sightholder_id,box_id,polished_date,shape,carat,color,clarity
X1,GIA,M1,A-ST-1,2026-05-02,pear,1.013,G,VS1
X2,GIA,M1,A-ST-1,2026-05-02,oval,0.077,J,SI1
""")
    load(store, "rough_dispositions", """
sightholder_id,box_id,disposition,carats,date,counterparty_id
M1,A-ST-2,sold_rough,0.125,2026-02-01,M1
""")
    value_boxes(store, GradePricer(), FlatCost(), price_date=price_date)
    engine = IbisEngine()
    try:
        for computation, params in ((PRICE_KEYS, {"price_date": price_date, "fixed": False}),
                                    (PRICE_KEYS, {"price_date": price_date, "fixed": True}),
                                    (BOX_TOTALS, {"price_date": price_date})):
            native = InStoreEngine().run(computation, store, **params)
            portable = engine.run(computation, store, **params).cast(native.schema)
            order = [(name, "ascending") for name in native.column_names]
            assert native.num_rows > 0
            assert portable.sort_by(order).equals(native.sort_by(order)), computation.name
    finally:
        engine.close()


FACTS = ("boxes", "claims", "digits", "grade_mix", "repeats", "weight_grid")


@pytest.fixture(scope="module")
def simulated_market(tmp_path_factory):
    """A small simulated market with every behaviour: flippers' copied and invented outcomes
    (claims, repeats), launderers' yields, rounded weights."""
    from roughtrace.sim import generate_market
    from test_checks_support import load_market_directory, new_store

    directory = tmp_path_factory.mktemp("market")
    generate_market(directory, seed=11, size="small", polished_rows=15_000)
    store = new_store()
    load_market_directory(store, directory)
    return store


@pytest.mark.parametrize("fact", FACTS)
def test_portable_check_facts_are_the_store_engines(simulated_market, fact):
    from roughtrace.checks.facts import FACT_COMPUTATIONS, FACT_QUERIES, setting_values

    values = setting_values(FACT_QUERIES[fact], Settings(environ={}))
    native, portable = both_forms(FACT_COMPUTATIONS[fact], simulated_market, **values)
    assert native.num_rows > 0, fact
    _same_facts(native, portable)


def test_portable_grid_boxes_are_the_store_engines(simulated_market):
    """The boxes judged one by one for rounded weights, with the precision classes learnt from the
    market's weight grid given: the same rows from both forms, the simulated subtle flippers' boxes
    among them, and few of the market's boxes."""
    from roughtrace.checks.facts import DERIVED_FACTS, gather

    settings = Settings(environ={})
    fact = DERIVED_FACTS["grid_boxes"]
    given, params = fact.inputs(gather(simulated_market, fact.needs, settings), settings)
    native, portable = both_forms(fact.computation, simulated_market, given, **params)
    assert native.num_rows > 0
    _same_facts(native, portable)
    boxes = simulated_market.query("SELECT count(DISTINCT box_id) AS n FROM polished_outcomes")["n"][0].as_py()
    assert native.num_rows < boxes / 10


class _Rollback(Exception):
    pass


@pytest.fixture(scope="module")
def yield_engine():
    from roughtrace.analytics.ibis_engine import IbisEngine

    engine = IbisEngine()
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def one_box_market():
    from test_checks_support import PARTIES, SALES_HEADER, market

    return market(SALES_HEADER + "\nB0,2024-01,2024-01-08,P1,M2,BW,A1,stones,0.001,9.000,white,high,1,1.000,900.00,",
                  parties=PARTIES)


def _stones():
    from hypothesis import strategies as st

    weight = st.one_of(st.integers(min_value=1, max_value=300).map(lambda w: w * 10),
                       st.integers(min_value=1, max_value=3_000))
    return st.lists(st.tuples(st.integers(min_value=0, max_value=3), weight), min_size=1, max_size=10)


def test_portable_box_facts_agree_at_the_rounding_of_every_weight(one_box_market, yield_engine):
    """Rough stones whose polished weights sit at the yield limit within their rounding (weights on
    the hundredth and on the thousandth, untracked stones among them): the portable `boxes` fact
    counts, names and measures the same stones over the limit as the query, to the thousandth."""
    from hypothesis import HealthCheck, example, given
    from hypothesis import settings as hypothesis_settings
    from hypothesis import strategies as st

    from roughtrace.checks.facts import FACT_COMPUTATIONS, FACT_QUERIES, setting_values
    from test_checks_support import OUTCOMES_HEADER, SALES_HEADER, load

    @hypothesis_settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(roughs=st.lists(st.integers(min_value=1, max_value=5_000), min_size=4, max_size=4), stones=_stones(),
           max_yield=st.sampled_from(["0.60", "0.5", "0.6125"]), days=st.integers(min_value=-3, max_value=6))
    @example(roughs=[1, 527, 1_000, 1_000], stones=[(1, 320), (2, 600), (3, 604), (0, 5)], max_yield="0.60", days=0)
    def check(roughs, stones, max_yield, days):
        store = one_box_market
        rows = "".join(
            f"\nS{i},{'GIA' if i % 2 else 'none'},M1,B1,{f'R{r}' if r else ''},{Decimal(roughs[r]) / 1000 if r else ''},"
            f"{dt.date(2024, 3, 1) + dt.timedelta(days=days + i % 3)},round,{Decimal(w) / 1000},G,VS1,"
            for i, (r, w) in enumerate(stones))
        values = setting_values(FACT_QUERIES["boxes"], Settings({"checks_max_yield": max_yield}, environ={}))
        try:
            with store.transaction():
                load(store, "rough_sales",
                     SALES_HEADER + "\nB1,2024-01,2024-03-01,P1,M1,BW,A1,stones,0.001,9.000,white,high,20,9.000,9000.00,")
                load(store, "polished_outcomes", OUTCOMES_HEADER + rows)
                native = InStoreEngine().run(FACT_COMPUTATIONS["boxes"], store, **values)
                _same_facts(native, yield_engine.run(FACT_COMPUTATIONS["boxes"], store, **values))
                raise _Rollback
        except _Rollback:
            pass

    check()


@pytest.mark.parametrize("price_period", ["month", "quarter"])
def test_portable_intelligence_box_facts_are_the_store_engines(simulated_market, price_period):
    """The intelligence cells' box facts over the simulated market with its price index built: the
    same columns, types and rows, priced stones among them."""
    from roughtrace.intelligence.cells import BOX_FACTS
    from roughtrace.pricing import index

    if not simulated_market.query("SELECT count(*) AS n FROM price_index_cells")["n"][0].as_py():
        index.build(simulated_market, Settings(environ={}))
    native, portable = (table.sort_by("box_id") for table in both_forms(BOX_FACTS, simulated_market,
                                                                          price_period=price_period))
    assert native.num_rows > 0
    assert pa.compute.sum(native.column("priced_value_cents")).as_py() > 0
    assert pa.compute.sum(native.column("sold_rough_mct")).as_py() > 0
    _same_facts(native, portable)


def _kp_market(store):
    """The simulated market with its price index and rough price book built (once for the module)."""
    from roughtrace.pricing import index
    from roughtrace.valuation.pricebook import build_price_book
    from roughtrace.valuation.pricer import index_pricer

    settings = Settings(environ={})
    if not store.query("SELECT count(*) AS n FROM price_index_cells")["n"][0].as_py():
        index.build(store, settings)
    if not store.query("SELECT count(*) AS n FROM rough_price_book")["n"][0].as_py():
        build_price_book(store, settings, index_pricer(store, settings))
    return store


def test_portable_kp_check_passes_are_the_store_engines(simulated_market):
    """Every pass of the KP check over the store's tables, on a market whose lines are valued on
    every basis (linked boxes, parcel contents, exporter, origin and HS class mixes) and of every HS
    code: the same columns, types and rows, to the bit."""
    from roughtrace.analytics.ibis_engine import IbisEngine
    from roughtrace.valuation.kp import CERTIFICATE_LINES, CHECK_INPUTS, FITTED, check_certificates

    store = _kp_market(simulated_market)
    lines = check_certificates(store, Settings(environ={}))
    assert {"certificate_boxes", "parcel_contents", "exporter_mix", "origin_mix", "hs_class_mix"} <= set(
        lines["basis"].to_pylist())
    assert {"7102.10", "7102.21", "7102.31"} <= set(lines["hs_code"].to_pylist())
    some = tuple(sorted(set(lines["certificate_id"].to_pylist()))[:3]) + ("XX-NOT-STORED",)
    params = {"KP certificate lines": [{"certificate_ids": None}, {"certificate_ids": some}],
              "KP price book entries": [{"fitted": FITTED, "min_boxes": 5}, {"fitted": FITTED, "min_boxes": 1}]}
    engine = IbisEngine()
    try:
        for computation in CHECK_INPUTS:
            for values in params.get(computation.name, [{}]):
                native = InStoreEngine().run(computation, store, **values)
                portable = engine.run(computation, store, **values)
                order = [(name, "ascending") for name in native.column_names]
                assert native.num_rows > 0, computation.name
                assert portable.schema.equals(native.schema), computation.name
                assert portable.sort_by(order).equals(native.sort_by(order)), (computation.name, values)
        checked = InStoreEngine().run(CERTIFICATE_LINES, store, certificate_ids=some)
        assert 0 < sum(checked["checked"].to_pylist()) < checked.num_rows
    finally:
        engine.close()


@pytest.mark.parametrize("certificates", ["all", "some"])
def test_the_kp_check_through_the_portable_passes_gives_the_same_verdicts(simulated_market, certificates):
    """The whole check with its passes run by an Ibis engine: every line's verdict, band, basis and
    evidence as on the default engine, and the same evidence rows."""
    from roughtrace.analytics.ibis_engine import IbisEngine
    from roughtrace.valuation.kp import CertificateCheck, CheckRules

    store = _kp_market(simulated_market)
    rules = CheckRules.from_settings(Settings(environ={}))
    ids = None
    if certificates == "some":
        ids = sorted(set(store.query("SELECT certificate_id FROM kp_certificates")["certificate_id"].to_pylist()))[::7]
    with CertificateCheck(store, rules, ids) as check:
        native_lines, native_parts = check.lines(), check.parts()
    engine = IbisEngine()
    try:
        with CertificateCheck(store, rules, ids, engine) as check:
            portable_lines, portable_parts = check.lines(), check.parts()
    finally:
        engine.close()
    assert native_lines.num_rows > 0 and native_parts.num_rows > 0
    assert portable_lines.equals(native_lines)
    assert portable_parts.equals(native_parts)
def test_portable_price_book_figures_are_the_store_engines_to_the_bit(simulated_market):
    """The price book's figures at every level over the simulated market's valued boxes (even and
    odd groups, single boxes, boxes without an uplift among them): the same rows to the last bit,
    and so the same book entries."""
    from roughtrace.analytics.ibis_engine import IbisEngine
    from roughtrace.pricing import index
    from roughtrace.valuation.boxes import BoxRules, value_boxes
    from roughtrace.valuation.method import cost_model_from_settings
    from roughtrace.valuation.pricebook import BOOK_FIGURES, KEY_COLUMNS, LEVELS, aggregate_price_book
    from roughtrace.valuation.pricer import index_pricer

    settings = Settings(environ={})
    if not simulated_market.query("SELECT count(*) AS n FROM price_index_cells")["n"][0].as_py():
        index.build(simulated_market, settings)
    boxes = value_boxes(simulated_market, index_pricer(simulated_market, settings), cost_model_from_settings(settings),
                        BoxRules.from_settings(settings), persist=False)
    no_uplift = pa.array([i % 7 == 0 for i in range(boxes.num_rows)])
    boxes = boxes.set_column(boxes.schema.get_field_index("uplift"), "uplift",
                             pa.compute.if_else(no_uplift, pa.scalar(None, boxes.schema.field("uplift").type),
                                                boxes["uplift"]))
    given = {"valued_boxes": boxes}
    order = [(name, "ascending") for name in ("level",) + KEY_COLUMNS]
    native = InStoreEngine().run(BOOK_FIGURES, simulated_market, given).sort_by(order)
    engine = IbisEngine()
    try:
        portable = engine.run(BOOK_FIGURES, simulated_market, given)
        entries = aggregate_price_book(boxes, "flat", engine=engine, store=simulated_market)
    finally:
        engine.close()
    assert sorted(set(native.column("level").to_pylist())) == sorted(level for level, _ in LEVELS)
    assert pa.compute.min(native.column("boxes")).as_py() == 1 and native.column("uplift_median").null_count > 0
    assert portable.cast(native.schema).sort_by(order).equals(native)
    stamp = entries["built_at"][0].as_py()
    assert entries.equals(aggregate_price_book(boxes, "flat", built_at=stamp))


def test_the_default_engine_builds_the_price_book_without_ibis():
    code = """
import sys
import pyarrow as pa
from decimal import Decimal
from roughtrace.valuation.pricebook import aggregate_price_book
boxes = pa.table({"assortment": ["A", "A"], "hs_code": ["7102.31", "7102.31"], "origin": ["BW", "BW"],
                  "period": ["2026-01", "2026-01"], "model": ["stones", "stones"], "quality": ["high", "high"],
                  "polished_rough_carats": pa.array([Decimal("1.000"), Decimal("2.000")], pa.decimal128(18, 3)),
                  "polished_carats": pa.array([Decimal("0.300"), Decimal("0.700")], pa.decimal128(18, 3)),
                  "rough_value_usd": pa.array([Decimal("100.00"), Decimal("300.00")], pa.decimal128(18, 2)),
                  "rough_price_per_carat": pa.array([Decimal("100.00"), Decimal("150.00")], pa.decimal128(18, 2)),
                  "paid_usd": pa.array([Decimal("90.00"), Decimal("280.00")], pa.decimal128(18, 2)),
                  "box_carats": pa.array([Decimal("1.000"), Decimal("2.000")], pa.decimal128(18, 3)),
                  "uplift": pa.array([Decimal("0.1111"), None], pa.decimal128(18, 4)),
                  "yield_": pa.array([Decimal("0.3000"), Decimal("0.3500")], pa.decimal128(18, 4)),
                  "in_book": [True, True]})
book = aggregate_price_book(boxes, "flat")
entry = book.filter(pa.compute.equal(book["level"], "all")).to_pylist()[0]
assert (entry["price_per_carat"], entry["p10_per_carat"], entry["uplift_median"]) == (
    Decimal("125.00"), Decimal("105.00"), Decimal("0.1111")), entry
print(sorted(m for m in sys.modules if m.split('.')[0] in ('ibis', 'pyspark', 'py4j')))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize(("name", "params"), [
    ("MODEL_TRADES", {"length": "month"}), ("MODEL_TRADES", {"length": "week"}),
    ("MODEL_SAMPLE", {"length": "quarter", "below": 300_000_000}), ("MODEL_SAMPLE", {"length": "month", "below": 0})])
def test_portable_model_trades_and_sample_are_the_store_engines(priced, name, params):
    """The quote model's trades and its sample's candidates: the same rows, typed alike, with the
    draws the numpy rule gives."""

    computation = getattr(_index, name)
    native, portable = both_forms(computation, priced, **params)
    assert portable.column_names == native.column_names
    order = [(column, "ascending") for column in ("batch_id", "source_row")]
    assert portable.cast(native.schema).sort_by(order).equals(native.sort_by(order))
    if params.get("below") == 0:
        assert native.num_rows == 0
        return
    assert native.num_rows > 0
    if "draw" in native.column_names:
        draws = _index.draw_of(native.column("batch_id").to_numpy(), native.column("source_row").to_numpy())
        assert (draws == native.column("draw").to_numpy()).all()
        assert (draws < params["below"]).all()


def test_the_quote_model_is_the_same_through_ibis_and_however_the_rows_are_stored(priced, monkeypatch):
    """The stored model (coefficients, covariance, every cell effect and the quotes they give) from
    the store engine's plan, from the portable forms, and from the same rows stored in reverse, on a
    sample smaller than the trades: the same to the last bit."""
    from roughtrace.analytics.ibis_engine import IbisEngine

    settings = Settings(overrides={"price_model_sample": "500"}, environ={})
    assert _index.build(priced, settings).model_trades > 500
    native = _quote_model(priced)
    monkeypatch.setattr(_index, "engine_for", lambda settings: IbisEngine())
    _index.fit_and_store_model(priced, settings)
    assert _quote_model(priced) == native
    monkeypatch.undo()
    store_reversed(priced, "transactions")
    _index.fit_and_store_model(priced, settings)
    assert _quote_model(priced) == native


@pytest.mark.parametrize(("name", "params"), [
    ("MODEL_EFFECT_TRADES", {"length": "month", "cap": 3}), ("MODEL_EFFECT_TRADES", {"length": "quarter", "cap": 12}),
    ("MODEL_TRADE_COUNTS", {"length": "month"}), ("MODEL_TRADE_COUNTS", {"length": "week"})])
def test_portable_model_effect_trades_and_counts_are_the_store_engines(priced, name, params):
    """The cell effects' share of each cell's trades (the lowest draws, at most the cap) and the
    trades counted by cell, cut and period: the same rows, typed alike."""

    computation = getattr(_index, name)
    native, portable = both_forms(computation, priced, **params)
    assert portable.column_names == native.column_names and native.num_rows > 0
    keys = ("batch_id", "source_row") if "batch_id" in native.column_names else _index.COUNT_GROUP
    order = [(column, "ascending") for column in keys]
    assert portable.cast(native.schema).sort_by(order).equals(native.sort_by(order))
    every = InStoreEngine().run(_index.MODEL_TRADES, priced, length="month")
    if "cap" in params:
        assert native.num_rows < every.num_rows
    else:
        assert pa.compute.sum(native.column("n")).as_py() == every.num_rows
