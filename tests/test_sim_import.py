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
