"""The demo runs the whole pipeline, and every capability answers the same on both engines."""

from __future__ import annotations

from pathlib import Path

from conftest import _pg_store
from roughtrace.app import Context
from roughtrace.app.demo import run_demo
from roughtrace.settings import Settings
from roughtrace.store import open_store


def _summary(store, market: Path) -> dict:
    store.migrate()
    return run_demo(Context(store, Settings()), seed=5, size="small", out_dir=market)


def test_the_demo_gives_the_same_answers_on_duckdb_and_postgresql(tmp_path: Path) -> None:
    duck = open_store(f"duckdb:///{tmp_path / 'demo.duckdb'}")
    try:
        on_duckdb = _summary(duck, tmp_path / "market")
    finally:
        duck.close()
    for pg in _pg_store():
        on_postgres = _summary(pg, tmp_path / "market")

    for summary in (on_duckdb, on_postgres):
        assert summary["loaded"] and all(step["rows_rejected"] == 0 for step in summary["loaded"])
        kp = summary["valuation"]["kp"]
        assert sum(kp["verdicts"].values()) == kp["lines"] > 0
        # each import's batch, then the price book's build, which the demo makes through its use case
        assert summary["ledger"]["size"] == len(summary["loaded"]) + 1
    assert [s["rows_accepted"] for s in on_duckdb["loaded"]] == [s["rows_accepted"] for s in on_postgres["loaded"]]
    assert on_duckdb["prices"]["headline"] == on_postgres["prices"]["headline"]
    assert on_duckdb["valuation"]["kp"]["verdicts"] == on_postgres["valuation"]["kp"]["verdicts"]
    assert on_duckdb["valuation"]["price_book"] == on_postgres["valuation"]["price_book"]
    assert [r["sightholder_id"] for r in on_duckdb["verification"]] == [r["sightholder_id"] for r in on_postgres["verification"]]
