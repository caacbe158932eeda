"""The demo market's pipeline on the default engine and on a local Spark gives the same answers:
the same index cells and asking gaps, headline, stone quotes, box valuations, price book entries,
KP verdicts, the check facts its verification gathers and every sightholder's risk weighed from
them, and the intelligence cells' box facts, amounts exact to the cent. One Spark session serves the module (its start is most of the
time). Without pyspark, Ibis or Java the module is skipped, except on CI (`CI` set), where that is
a failure: CI installs them."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from analytics_support import quote_model, same_facts
from roughtrace.app import Context
from roughtrace.app.analytics import export_snapshot
from roughtrace.app.demo import run_demo
from roughtrace.app.pricing import build_price_index
from roughtrace.settings import Settings
from roughtrace.store import open_store

pytestmark = pytest.mark.slow
MASTER = "local[2]"
COMPARED = {
    "price_index_cells": "period_start, shape_family, size_bracket, color, clarity",
    "price_asking_gap": "period_start, shape_family, size_bracket, color, clarity",
    "price_periods": "period_start",
    "rough_price_book": "level, assortment, hs_code, origin, period",
    "valuation_polished_quotes": "shape_family, color, clarity, cut, carat_cents",
    "valuation_price_moves": "shape_family, bracket, color, clarity, month_key",
    "box_valuations": "box_id",
    "price_model_effects": "level, period_start, shape_family, size_bracket, color, clarity, cut",
}
"""The tables compared row for row, with their order; `built_at` columns differ by the clock."""


def _needs() -> list[str]:
    missing = [name for name in ("pyspark", "ibis") if importlib.util.find_spec(name) is None]
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        missing.append("a Java runtime")
    return missing


@pytest.fixture(scope="module")
def spark():
    missing = _needs()
    if missing:
        message = f"the spark engine needs {', '.join(missing)}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI installs them)")
        pytest.skip(message)
    from roughtrace.analytics.spark import spark_session

    return spark_session(MASTER)


@pytest.fixture
def staged(monkeypatch) -> list[str]:
    """The name of every table the Spark engine copies to Spark, in order, while the test runs."""
    from roughtrace.analytics.spark import SparkEngine

    names: list[str] = []
    frame = SparkEngine._frame

    def counted(self, name, table):
        names.append(name)
        return frame(self, name, table)

    monkeypatch.setattr(SparkEngine, "_frame", counted)
    return names


def _tables(store) -> dict[str, list[dict]]:
    found = {}
    for table, order in COMPARED.items():
        rows = store.query(f"SELECT * FROM {table} ORDER BY {order}").to_pylist()
        found[table] = [{k: v for k, v in row.items() if k != "built_at"} for row in rows]
    found["quote model"] = quote_model(store)
    return found


def _risks(store, settings: Settings, tables: dict) -> list[tuple]:
    """Every sightholder's risk weighed from the findings of the rules over the check facts `tables`."""
    from roughtrace.checks import facts as fact_queries
    from roughtrace.checks.registry import CHECKS
    from roughtrace.checks.rules import Facts
    from roughtrace.checks.verify import assess

    facts = Facts(tables, fact_queries.as_of(store, settings))
    findings = [f for check in CHECKS for f in check.rule(facts, settings)]
    return [(r.sightholder_id, r.level, r.score, tuple((f.check, f.box_id, f.severity, f.message) for f in r.findings))
            for r in assess(store, settings, findings=findings)]


def _run(path: Path, market: Path, **settings: str) -> tuple[dict, dict, dict, list[tuple], pa.Table]:
    """The demo on a new store: its summary, the compared tables, the check facts its verification
    gathered (on the engine the settings choose), the risks weighed from them, and the intelligence
    box facts of its market (on that engine)."""
    from roughtrace.checks import facts as fact_queries
    from roughtrace.intelligence.cells import market_facts

    gathered: dict = {}
    gather = fact_queries.gather

    def recording(*args, **kwargs):
        tables = gather(*args, **kwargs)
        gathered.update(tables)
        return tables

    store = open_store(f"duckdb:///{path}")
    try:
        store.migrate()
        chosen = Settings(overrides=settings)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(fact_queries, "gather", recording)
            summary = run_demo(Context(store, chosen), seed=5, size="small", out_dir=market)
        return summary, _tables(store), gathered, _risks(store, chosen, gathered), market_facts(store, chosen)
    finally:
        store.close()


def _kp_lines(path: Path, **settings: str) -> list[dict]:
    """Every certificate line of a demo's store checked on the engine the settings choose, by line."""
    from roughtrace.valuation.kp import check_certificates

    store = open_store(f"duckdb:///{path}")
    try:
        return check_certificates(store, Settings(overrides=settings)).sort_by(
            [("certificate_id", "ascending"), ("hs_code", "ascending")]).to_pylist()
    finally:
        store.close()


def test_the_demo_gives_the_same_answers_on_duckdb_and_on_spark(spark, tmp_path: Path) -> None:
    from roughtrace.checks import facts as fact_queries

    on_duckdb, duckdb_tables, duckdb_facts, duckdb_risks, duckdb_boxes = _run(tmp_path / "duck.duckdb",
                                                                               tmp_path / "market")
    on_spark, spark_tables, spark_facts, spark_risks, spark_boxes = _run(
        tmp_path / "spark.duckdb", tmp_path / "market", analytics_engine="spark", spark_master=MASTER)
    assert duckdb_tables["price_index_cells"] and duckdb_tables["rough_price_book"]
    for table in COMPARED:
        assert spark_tables[table] == duckdb_tables[table], table
    assert spark_tables["quote model"] == duckdb_tables["quote model"]
    assert on_spark["prices"]["headline"] == on_duckdb["prices"]["headline"]
    assert on_spark["valuation"]["kp"]["verdicts"] == on_duckdb["valuation"]["kp"]["verdicts"]
    assert on_spark["valuation"]["price_book"] == on_duckdb["valuation"]["price_book"]
    assert on_spark["verification"] == on_duckdb["verification"]
    assert sorted(duckdb_facts) == sorted(fact_queries.FACT_NAMES)
    for name, native in duckdb_facts.items():
        assert native.num_rows > 0 or name in fact_queries.DERIVED_FACTS, name
        same_facts(native, spark_facts[name])
    assert spark_risks == duckdb_risks
    assert pa.compute.sum(duckdb_boxes.column("priced_value_cents")).as_py() > 0
    same_facts(duckdb_boxes, spark_boxes)
    duckdb_lines = _kp_lines(tmp_path / "duck.duckdb")
    assert duckdb_lines
    assert _kp_lines(tmp_path / "spark.duckdb", analytics_engine="spark", spark_master=MASTER) == duckdb_lines


def test_spark_reads_a_parquet_snapshot_and_builds_the_same_index(spark, tmp_path: Path) -> None:
    """The index from the snapshot's records, and the intelligence box facts from the snapshot's input
    kinds beside the index cells the store holds (the snapshot has the input kinds only)."""
    from roughtrace.intelligence.cells import market_facts

    _run(tmp_path / "demo.duckdb", tmp_path / "market")
    store = open_store(f"duckdb:///{tmp_path / 'demo.duckdb'}")
    try:
        written = export_snapshot(Context(store, Settings()), tmp_path / "snapshot")
        assert written["transactions"] == store.query("SELECT count(*) AS n FROM transactions")["n"][0].as_py()
        before = _tables(store)["price_index_cells"]
        store.execute("DELETE FROM price_periods")
        on_snapshot = Settings(overrides={
            "analytics_engine": "spark", "spark_master": MASTER, "spark_snapshot": str(tmp_path / "snapshot")})
        build_price_index(Context(store, on_snapshot))
        assert _tables(store)["price_index_cells"] == before
        same_facts(market_facts(store, Settings()), market_facts(store, on_snapshot))
    finally:
        store.close()


def test_the_quote_model_is_the_same_on_spark_from_a_sample(spark, tmp_path: Path) -> None:
    """The quote model's trades, its regression's sample, its cell effects' share of each cell and
    the trade counts read by Spark, the sample smaller than the trades and the cap than the cells:
    the same stored model to the last bit (coefficients, covariance, every cell effect) and the
    same quotes."""
    from analytics_support import trades
    from roughtrace.pricing import index
    from roughtrace.pricing.schema import ensure_schema

    store = open_store(f"duckdb:///{tmp_path / 'model.duckdb'}")
    try:
        store.migrate()
        ensure_schema(store)
        store.append("transactions", trades(7, 3000))
        assert index.build(store, Settings(overrides={"price_model_sample": "500", "price_effects_cap": "5"})
                           ).model_trades > 500
        on_duckdb = quote_model(store)
        index.fit_and_store_model(store, Settings(overrides={
            "price_model_sample": "500", "price_effects_cap": "5", "analytics_engine": "spark", "spark_master": MASTER}))
        assert quote_model(store) == on_duckdb
    finally:
        store.close()


def test_the_check_facts_copy_each_store_table_to_spark_once(spark, staged, tmp_path: Path) -> None:
    """`gather` stages each table its facts read once, with the union of their columns, and every
    fact read from those copies equals the store's own query."""
    from roughtrace.analytics.port import InStoreEngine
    from roughtrace.analytics.spark import SparkEngine
    from roughtrace.checks import facts as fact_queries
    from roughtrace.sim import generate_market
    from test_checks_support import load_market_directory

    generate_market(tmp_path / "market", seed=12, size="small", polished_rows=4_000)
    store = open_store(f"duckdb:///{tmp_path / 'facts.duckdb'}")
    try:
        store.migrate()
        load_market_directory(store, tmp_path / "market")
        names = list(fact_queries.FACT_NAMES)
        settings = Settings(environ={})
        engine = SparkEngine(MASTER, session=spark)
        try:
            on_spark = fact_queries.gather(store, names, settings, engine=engine)
        finally:
            engine.close()
        read = {table for computation in (*fact_queries.FACT_COMPUTATIONS.values(),
                                          *(fact.computation for fact in fact_queries.DERIVED_FACTS.values()))
                for table in computation.inputs}
        assert sorted(staged) == sorted([*read, "grid_classes"])  # and the classes given to grid_boxes
        native = fact_queries.gather(store, names, settings, engine=InStoreEngine())
        for name in names:
            same_facts(native[name], on_spark[name])
    finally:
        store.close()


def test_the_kp_check_copies_each_store_table_to_spark_once(spark, staged, tmp_path: Path) -> None:
    """The KP check's passes stage each input table they read once (rough_sales, read by three of
    them, among them; a table the areas derive is copied by each pass that reads it, as a caller may
    rewrite it between passes), and the check on Spark gives every line and its evidence as on the
    default engine."""
    from roughtrace.analytics.spark import SparkEngine
    from roughtrace.domain.kinds import KINDS
    from roughtrace.pricing import index
    from roughtrace.sim import generate_market
    from roughtrace.valuation.kp import CHECK_INPUTS, CertificateCheck, CheckRules
    from roughtrace.valuation.pricebook import build_price_book
    from roughtrace.valuation.pricer import index_pricer
    from test_checks_support import load_market_directory

    generate_market(tmp_path / "market", seed=13, size="small", polished_rows=4_000)
    store = open_store(f"duckdb:///{tmp_path / 'kp.duckdb'}")
    try:
        store.migrate()
        load_market_directory(store, tmp_path / "market")
        settings = Settings(environ={})
        index.build(store, settings)
        build_price_book(store, settings, index_pricer(store, settings))
        rules = CheckRules.from_settings(settings)
        with CertificateCheck(store, rules) as check:
            native_lines, native_parts = check.lines(), check.parts()
        engine = SparkEngine(MASTER, session=spark)
        try:
            with CertificateCheck(store, rules, None, engine) as check:
                spark_lines, spark_parts = check.lines(), check.parts()
        finally:
            engine.close()
        read = [table for computation in CHECK_INPUTS for table in computation.inputs]
        derived = [table for table in read if table not in KINDS]
        assert derived, "the check reads tables the areas derive (valued boxes, the book)"
        assert sorted(staged) == sorted([*{table for table in read if table in KINDS}, *derived])
        assert native_lines.num_rows > 0
        assert spark_lines.equals(native_lines)
        assert spark_parts.equals(native_parts)
    finally:
        store.close()
