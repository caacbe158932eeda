"""Two imports side by side on one store: each job names its own work tables, so neither meets
the other's, whether the store is one PostgreSQL schema or one DuckDB file opened twice in a
process (which shares one database, and the import engine's work database with it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import BOXES, PARTIES, write
from roughtrace.ingest import import_file
from roughtrace.ledger import audit
from roughtrace.store import Store, open_store
from test_import_races import race

TX_HEADER = "tx_id,date,shape,color,clarity,cut,lab,carat,price_usd,price_type,source"
OUTCOME_HEADER = "stone_id,lab,sightholder_id,box_id,rough_stone_id,rough_carats,polished_date,shape,carat,color,clarity"


def _trades(count: int) -> str:
    return TX_HEADER + "\n" + "".join(f"T{i:06d},2026-03-05,round,G,VS1,EX,GIA,1.010,{9000 + i % 500}.00,transaction,Antwerp tender\n"
                                      for i in range(count))


def _outcomes(count: int) -> str:
    """`count` stones cut by SH1 from box B1, the last one lighter than nothing (quarantined)."""
    rows = "".join(f"22{i:08d},GIA,SH1,B1,R{i},1.500,2026-02-01,round,0.702,G,VS1\n" for i in range(count - 1))
    return OUTCOME_HEADER + "\n" + rows + "2299999999,GIA,SH1,B1,RX,1.500,2026-02-01,round,-1,G,VS1\n"


def _both_land_whole(store: Store, tmp_path: Path, url: str, ledger: bool = True) -> None:
    assert import_file(store, "parties", write(tmp_path, "parties.csv", PARTIES)).rows_rejected == 0
    assert import_file(store, "rough_sales", write(tmp_path, "boxes.csv", BOXES)).rows_rejected == 0
    trades = tmp_path / "trades.csv"
    trades.write_text(_trades(20_000))
    outcomes = tmp_path / "outcomes.csv"
    outcomes.write_text(_outcomes(20_000))
    traded, cut = race(url, [("transactions", trades), ("polished_outcomes", outcomes)], ledger=ledger)
    assert (traded.stored, traded.rows_accepted, traded.rows_rejected) == (True, 20_000, 0)
    assert (cut.stored, cut.rows_accepted, cut.rows_rejected) == (True, 19_999, 1)
    assert store.rows("SELECT count(*) AS n FROM transactions WHERE batch_id = ?", (traded.batch_id,)) == [{"n": 20_000}]
    assert store.rows("SELECT count(*) AS n FROM polished_outcomes WHERE batch_id = ?", (cut.batch_id,)) == [{"n": 19_999}]
    assert store.rows("SELECT count(*) AS n FROM quarantine WHERE batch_id = ?", (cut.batch_id,)) == [{"n": 1}]
    if ledger:
        assert traded.receipt is not None and cut.receipt is not None
        assert audit.verify(store).ok


@pytest.fixture
def pg_store() -> Iterator[Store]:
    from conftest import _pg_store

    for opened in _pg_store():
        opened.migrate()
        yield opened


def test_two_imports_side_by_side_on_one_postgresql_schema(pg_store: Store, tmp_path: Path) -> None:
    _both_land_whole(pg_store, tmp_path, pg_store.url)


def test_two_imports_side_by_side_on_one_duckdb_file(tmp_path: Path) -> None:
    """Checked side by side in the engine's shared work database (a strict import with a bad row
    checks as a logged import does, then stores nothing), then stored side by side, each logged in
    the ledger: the connections of one process write one transaction at a time."""
    url = f"duckdb:///{tmp_path / 'store.duckdb'}"
    store = open_store(url)
    try:
        store.migrate()
        assert import_file(store, "parties", write(tmp_path, "parties.csv", PARTIES)).rows_rejected == 0
        assert import_file(store, "rough_sales", write(tmp_path, "boxes.csv", BOXES)).rows_rejected == 0
        bad_trades = tmp_path / "bad-trades.csv"
        bad_trades.write_text(_trades(20_000) + "TX,2026-03-05,round,G,VS1,EX,GIA,0,9000.00,transaction,Antwerp tender\n")
        outcomes = tmp_path / "outcomes.csv"
        outcomes.write_text(_outcomes(30_000))
        traded, cut = race(url, [("transactions", bad_trades), ("polished_outcomes", outcomes)], strict=True)
        assert (traded.rows_read, traded.rows_accepted, traded.rows_rejected, traded.stored) == (20_001, 20_000, 1, False)
        assert (cut.rows_read, cut.rows_accepted, cut.rows_rejected, cut.stored) == (30_000, 29_999, 1, False)
        assert [p.row for p in traded.errors] == [20_001] and [p.row for p in cut.errors] == [30_000]
        assert store.rows("SELECT count(*) AS n FROM duckdb_tables() WHERE database_name = 'rt_import'") == [{"n": 0}]
        _both_land_whole(store, tmp_path, url)
    finally:
        store.close()
