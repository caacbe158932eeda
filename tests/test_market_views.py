"""Whole-market results kept with their store: computed once while the store's imports, price
builds and settings stay as they are, again when any of them changes, never handed to another store."""

from __future__ import annotations

from pathlib import Path

from conftest import write
from roughtrace.app import Context
from roughtrace.app.market_views import kept
from roughtrace.ingest import import_file
from roughtrace.settings import Settings
from roughtrace.store import Store, open_store

PARTIES = """
    party_id,name,role,category,country
    DB,Producer,producer,,BW
    SH1,Cutter One,sightholder,manufacturer,IN
"""
MORE = """
    party_id,name,role,category,country
    SH2,Dealer Two,sightholder,dealer,BE
"""


def test_a_result_is_kept_until_the_store_or_the_settings_change(store: Store, tmp_path: Path) -> None:
    import_file(store, "parties", write(tmp_path, "parties.csv", PARTIES))
    computed: list[int] = []

    def compute() -> int:
        computed.append(1)
        return len(computed)

    context = Context(store, Settings())
    assert kept(context, "count", compute) == 1
    assert kept(context, "count", compute) == 1  # kept
    import_file(store, "parties", write(tmp_path, "more.csv", MORE))
    assert kept(context, "count", compute) == 2  # a new batch
    assert kept(Context(store, Settings({"checks_risk_high": "11"})), "count", compute) == 3  # another setting
    other = open_store(f"duckdb:///{tmp_path / 'other.duckdb'}")
    try:
        other.migrate()
        assert kept(Context(other, Settings()), "count", compute) == 4  # another store
    finally:
        other.close()


def test_stores_that_share_what_they_keep_compute_it_once(tmp_path: Path) -> None:
    from roughtrace.app.market_views import share_views

    stores = [open_store(f"duckdb:///{tmp_path / name}") for name in ("a.duckdb", "b.duckdb")]
    computed: list[int] = []

    def compute() -> int:
        computed.append(1)
        return len(computed)

    try:
        for store in stores:
            store.migrate()
        share_views(stores)
        assert [kept(Context(store, Settings()), "n", compute) for store in stores] == [1, 1]
    finally:
        for store in stores:
            store.close()
