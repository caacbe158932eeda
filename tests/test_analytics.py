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
