"""The storage port, on every engine: migrations, transactions, exact decimals through query and append."""

from __future__ import annotations

import datetime
import os
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from roughtrace.errors import StoreError, UsageError
from roughtrace.store import Store, open_store
from roughtrace.store.migrations import all_migrations
from roughtrace.store.port import BulkImport


def test_migrate_is_idempotent_and_reports_the_version(store: Store) -> None:
    newest = max(m.version for m in all_migrations())
    assert store.schema_version() == newest
    assert store.migrate() == newest
    assert store.migrate() == newest
    applied = store.query("SELECT version FROM schema_migrations ORDER BY version").column("version").to_pylist()
    assert applied == sorted({m.version for m in all_migrations()})


def test_a_new_database_is_at_version_zero(tmp_path: Path) -> None:
    store = open_store(f"duckdb:///{tmp_path / 'fresh.duckdb'}")
    try:
        assert store.schema_version() == 0
    finally:
        store.close()


def test_a_transaction_that_raises_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.execute("INSERT INTO meta VALUES (?, ?)", ("owner", "roughtrace"))
        with store.transaction():  # a nested block joins the outer one
            store.execute("INSERT INTO meta VALUES (?, ?)", ("sight", "2026-01"))
        raise RuntimeError("the disk is full")
    assert store.query("SELECT count(*) AS n FROM meta").column("n")[0].as_py() == 0
    with store.transaction():
        store.execute("INSERT INTO meta VALUES (?, ?)", ("owner", "roughtrace"))
    assert store.query("SELECT value FROM meta WHERE key = ?", ("owner",)).column("value").to_pylist() == ["roughtrace"]


def test_in_transaction_follows_the_outermost_block(store: Store) -> None:
    assert not store.in_transaction()
    with store.transaction():
        with store.transaction():
            assert store.in_transaction()
        assert store.in_transaction()
    assert not store.in_transaction()
    with pytest.raises(RuntimeError), store.transaction(), store.transaction():
        raise RuntimeError("the disk is full")
    assert not store.in_transaction()


def test_every_adapter_offers_the_whole_port(store: Store) -> None:
    members = {name for protocol in (Store, BulkImport) for name in vars(protocol)
               if not name.startswith("_")} | set(BulkImport.__annotations__) | set(Store.__annotations__)
    assert {"import_engine", "reference", "write_from", "release_import_engine", "lock_for_append"} <= members
    assert [name for name in sorted(members) if not hasattr(store, name)] == []
    assert isinstance(store.writes_behind, bool) and isinstance(store.import_engine_is_store, bool)
    with store.transaction():
        store.lock_for_append("meta")
        store.execute("INSERT INTO meta VALUES (?, ?)", ("owner", "roughtrace"))
    assert store.rows("SELECT value FROM meta WHERE key = ?", ("owner",)) == [{"value": "roughtrace"}]


def test_a_failing_statement_inside_a_transaction_rolls_back_the_rest(store: Store) -> None:
    with pytest.raises(Exception), store.transaction():  # noqa: B017 - each engine raises its own error type
        store.execute("INSERT INTO meta VALUES (?, ?)", ("a", "1"))
        store.execute("INSERT INTO meta VALUES (?, ?)", ("a", "2"))  # the primary key refuses it
    assert store.query("SELECT count(*) AS n FROM meta").column("n")[0].as_py() == 0


AMOUNTS = ["0.001", "12.345", "999999999999999.999", "1.100"]
DOLLARS = ["0.01", "9999999999999999.99", "382.50", "25000.00"]


def test_append_and_query_keep_decimals_exact(store: Store) -> None:
    n = len(AMOUNTS)
    rows = pa.table({
        "tx_id": [f"T{i}" for i in range(n)],
        "date": pa.array([datetime.date(2026, 3, 5)] * n, pa.date32()),
        "shape": ["round"] * n, "color": ["G"] * n, "clarity": ["VS1"] * n, "cut": [None] * n, "lab": ["GIA"] * n,
        "carat": pa.array([Decimal(a) for a in AMOUNTS], pa.decimal128(18, 3)),
        "price_usd": pa.array([Decimal(d) for d in DOLLARS], pa.decimal128(18, 2)),
        "price_type": ["transaction"] * n, "source": ['=cmd|"/c calc"!A1', "Antwerp, tender", 'say "hi"', None],
        "batch_id": pa.array([1] * n, pa.int64()), "source_row": pa.array(range(1, n + 1), pa.int64()),
        "extras": [None] * n,
    })
    assert store.append("transactions", rows) == n
    again = rows.slice(0, 1).set_column(rows.schema.get_field_index("batch_id"), "batch_id", pa.array([2], pa.int64()))
    again = again.set_column(again.schema.get_field_index("tx_id"), "tx_id", pa.array([f"T{n}"]))  # a record of its own
    assert store.append("transactions", pa.RecordBatchReader.from_batches(again.schema, again.to_batches())) == 1
    back = store.query("SELECT carat, price_usd, source, cut FROM transactions WHERE batch_id = ? ORDER BY source_row", (1,))
    assert back.column("carat").to_pylist() == [Decimal(a) for a in AMOUNTS]
    assert back.column("price_usd").to_pylist() == [Decimal(d) for d in DOLLARS]
    assert [str(v) for v in back.column("carat").to_pylist()] == AMOUNTS
    assert back.column("source").to_pylist() == ['=cmd|"/c calc"!A1', "Antwerp, tender", 'say "hi"', None]
    assert back.column("cut").to_pylist() == [None] * n
    total = store.query("SELECT sum(carat) AS s FROM transactions WHERE batch_id = ?", (1,)).column("s")[0].as_py()
    assert Decimal(total) == sum(Decimal(a) for a in AMOUNTS)


def test_pages_stream_a_query_in_pages_of_one_schema(store: Store) -> None:
    """The rows of `query`, exact, in pages of at most the rows asked, every page of one schema (a
    page's carats need more digits than another's); an empty result is one empty page."""
    n = 7
    rows = pa.table({
        "tx_id": [f"T{i}" for i in range(n)], "date": pa.array([datetime.date(2026, 3, 5)] * n, pa.date32()),
        "shape": ["round"] * n, "color": ["G"] * n, "clarity": ["VS1"] * n, "cut": [None] * n, "lab": ["GIA"] * n,
        "carat": pa.array([Decimal(a) for a in ["0.001", "0.002", "12.345", "999999999999999.999", "1.100", "0.5",
                                                  "3.000"]], pa.decimal128(18, 3)),
        "price_usd": pa.array([Decimal("1.00")] * n, pa.decimal128(18, 2)), "price_type": ["transaction"] * n,
        "source": [None] * n, "batch_id": pa.array([1] * n, pa.int64()),
        "source_row": pa.array(range(1, n + 1), pa.int64()), "extras": [None] * n,
    })
    store.append("transactions", rows)
    sql = "SELECT tx_id, carat, cut FROM transactions WHERE batch_id = ? ORDER BY source_row"
    pages = list(store.pages(sql, (1,), rows=2))
    assert [page.num_rows for page in pages] == [2, 2, 2, 1]
    assert len({page.schema for page in pages}) == 1
    whole = store.query(sql, (1,))
    assert pa.concat_tables(pages).column("carat").to_pylist() == whole.column("carat").to_pylist()
    assert pa.concat_tables(pages).column("tx_id").to_pylist() == [f"T{i}" for i in range(n)]
    [empty] = store.pages(sql, (2,), rows=2)
    assert empty.num_rows == 0 and empty.column_names == ["tx_id", "carat", "cut"]


def test_store_urls(tmp_path: Path) -> None:
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        relative = open_store("duckdb:///relative.duckdb")
        relative.close()
        assert (tmp_path / "relative.duckdb").exists()
    finally:
        os.chdir(here)
    absolute = open_store(f"duckdb:///{tmp_path / 'absolute.duckdb'}")
    absolute.close()
    assert (tmp_path / "absolute.duckdb").exists()
    with pytest.raises(UsageError):
        open_store("sqlite:///x.db")
    with pytest.raises(StoreError):
        open_store(f"duckdb:///{tmp_path / 'no-such-folder' / 'x.duckdb'}")


def test_an_unreachable_postgresql_is_a_store_error() -> None:
    with pytest.raises(StoreError):
        open_store("postgresql://postgres@127.0.0.1:1/roughtrace?connect_timeout=2")


def test_version_9_keeps_a_stores_rows_and_their_ledger(engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store made before schema 9 (identifiers stored for speed) keeps every row, its index and
    its ledger's proofs through the migration, on both engines."""
    from conftest import BOXES, PARTIES, make_store, write
    from roughtrace.ingest import import_file
    from roughtrace.ledger import audit
    from roughtrace.store import migrations

    everything = migrations.all_migrations()
    outcomes = write(tmp_path, "outcomes.csv", """
        stone_id,lab,sightholder_id,box_id,rough_stone_id,rough_carats,polished_date,shape,carat,color,clarity
        2231456789,GIA,SH1,B1,R1,1.500,2026-02-01,round,0.702,G,VS1
        2231456790,GIA,SH1,B1,R2,1.200,2026-02-02,pear,0.515,H,SI1
        """)
    for store in make_store(engine, tmp_path):
        monkeypatch.setattr(migrations, "all_migrations", lambda: tuple(m for m in everything if m.version < 9))
        assert store.migrate() == 8
        for kind, path in (("parties", write(tmp_path, "parties.csv", PARTIES)), ("rough_sales", write(tmp_path, "boxes.csv", BOXES)),
                           ("polished_outcomes", outcomes)):
            assert import_file(store, kind, path).rows_rejected == 0
        before = store.rows("SELECT stone_id, rough_stone_id, carat, batch_id, source_row FROM polished_outcomes ORDER BY stone_id")
        monkeypatch.setattr(migrations, "all_migrations", lambda: everything)
        assert store.migrate() == max(m.version for m in everything)
        assert store.rows("SELECT stone_id, rough_stone_id, carat, batch_id, source_row FROM polished_outcomes ORDER BY stone_id") == before
        assert store.rows("SELECT box_id FROM polished_outcomes WHERE stone_id = ?", ("2231456790",)) == [{"box_id": "B1"}]
        assert audit.verify(store).ok
        if engine == "duckdb":
            ddl = store.rows("SELECT sql FROM duckdb_tables() WHERE table_name = 'polished_outcomes'")[0]["sql"]
            assert "stone_id VARCHAR USING COMPRESSION Uncompressed" in ddl
            assert store.rows("SELECT index_name FROM duckdb_indexes() WHERE table_name = 'polished_outcomes'") == [
                {"index_name": "checks_outcomes_stone"}]
        else:
            assert store.rows("SELECT collation_name FROM information_schema.columns WHERE table_schema = current_schema() "
                              "AND table_name = 'polished_outcomes' AND column_name = 'stone_id'") == [{"collation_name": "C"}]
