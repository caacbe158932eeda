"""Every file of a simulated market goes through the real importers with zero rejected rows."""

from __future__ import annotations

import pytest

from roughtrace.sim import generate_market

ingest = pytest.importorskip("roughtrace.ingest")
store_module = pytest.importorskip("roughtrace.store")


def test_a_small_market_imports_with_zero_rejected_rows(tmp_path):
    market = generate_market(tmp_path / "market", seed=3, size="small", polished_rows=15_000, n_transactions=5_000)
    store = store_module.open_store("duckdb:///" + str(tmp_path / "s.duckdb"))
    store.migrate()
    for f in market.files:
        result = ingest.import_file(store, f.kind, f.path)
        assert result.ok, (f.kind, result.errors[:3])
        assert result.rows_rejected == 0, (f.kind, result.errors[:3])
        assert result.rows_read == result.rows_accepted == f.rows
    stored = store.query("SELECT count(*) AS n FROM polished_outcomes").column("n")[0].as_py()
    assert stored == market.file("polished_outcomes").rows  # conflicting claims are kept, not dropped


KNOBS = [("row_order", v) for v in ("generated", "shuffled", "by_sightholder", "copier_first")] + [
    ("weight_precision", "reported"), ("weight_precision", "three"), ("certificate_make_up", "shipment"),
    ("certificate_make_up", "boxes"), ("producers", 1), ("producers", 2), ("in_process_share", 0.0),
    ("in_process_share", 0.5), ("flipper_periods", "single"), ("retailer_share", 0.25), ("years", 2),
    ("exporter_mix_persistence", 0.0), ("exporter_mix_persistence", 1.0)]


@pytest.mark.parametrize(("name", "value"), KNOBS, ids=[f"{n}={v}" for n, v in KNOBS])
def test_every_knob_value_gives_a_market_that_imports_with_zero_rejected_rows(tmp_path, name, value):
    market = generate_market(tmp_path / "market", seed=8, polished_rows=3_000, n_transactions=200, **{name: value})
    store = store_module.open_store("duckdb:///" + str(tmp_path / "s.duckdb"))
    store.migrate()
    for f in market.files:
        result = ingest.import_file(store, f.kind, f.path)
        assert result.ok and result.rows_rejected == 0, (name, value, f.kind, result.errors[:3])
        assert result.rows_read == result.rows_accepted == f.rows
