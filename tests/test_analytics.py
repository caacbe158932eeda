"""The analytics port: each computation's portable form gives what the store engine's own plan
gives, and the default engine loads neither Ibis nor pyspark."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pyarrow as pa
import pytest

from analytics_support import trades as _trades
from roughtrace.analytics.port import InStoreEngine, engine_for
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
    from roughtrace.analytics.ibis_engine import IbisEngine

    native = InStoreEngine().run(CELL_FIGURES, priced, length=length, outlier_iqr=outlier_iqr, periods=periods)
    engine = IbisEngine()
    try:
        portable = engine.run(CELL_FIGURES, priced, length=length, outlier_iqr=outlier_iqr, periods=periods)
    finally:
        engine.close()
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
from analytics_support import trades as _trades
store = open_store("duckdb:///{tmp_path / 's.duckdb'}")
store.migrate()
store.append("transactions", _trades(3, 200))
report = index.build(store, Settings())
assert report.cells_written > 0, report
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
