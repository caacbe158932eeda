"""Racing imports: the store holds each record's identity once, whatever arrives at the same time.

Four imports of overlapping files start together, each on its own connection; the later ones find
the records stored (unchanged) or, for another version of a record, quarantine it, as one import
after another would.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import BOXES, PARTIES, write
from roughtrace.errors import StoreError
from roughtrace.ingest import import_file
from roughtrace.ingest.pipeline import ImportResult
from roughtrace.ledger import audit
from roughtrace.store import Store, open_store

TX_HEADER = "tx_id,date,shape,color,clarity,cut,lab,carat,price_usd,price_type,source"
OUTCOME_HEADER = "stone_id,lab,sightholder_id,box_id,rough_stone_id,rough_carats,polished_date,shape,carat,color,clarity"


def price_records(first: int, last: int, price: int = 9000) -> str:
    """Polished price records T<first> to T<last>, each at `price` plus its number's last digits."""
    return TX_HEADER + "\n" + "".join(f"T{i:06d},2026-03-05,round,G,VS1,EX,GIA,1.010,{price + i % 500}.00,transaction,Antwerp tender\n"
                                      for i in range(first, last + 1))


def outcome_records(count: int) -> str:
    """`count` GIA-graded stones cut by SH1 from box B1."""
    return OUTCOME_HEADER + "\n" + "".join(f"22{i:08d},GIA,SH1,B1,R{i},1.500,2026-02-01,round,0.702,G,VS1\n" for i in range(count))


def race(url: str, jobs: list[tuple[str, Path]], opener: Callable[[str], Store] = open_store,
         **options: bool) -> list[ImportResult]:
    """Import each (kind, file) of `jobs` at once, each on a store connection of its own."""
    start = threading.Barrier(len(jobs))
    results: list[ImportResult | None] = [None] * len(jobs)
    failures: list[BaseException] = []

    def one(i: int, kind: str, path: Path) -> None:
        store = opener(url)
        try:
            start.wait()
            results[i] = import_file(store, kind, path, **options)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            failures.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=one, args=(i, kind, path)) for i, (kind, path) in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    return [r for r in results if r is not None]


def assert_counts_add_up(store: Store, table: str, identity: str, results: list[ImportResult]) -> int:
    """Every identity stored once; new rows, quarantined rows and rows read agree with what the
    imports said; the ledger vouches for it all. Returns the rows stored."""
    stored = store.rows(f"SELECT count(*) AS n, count(DISTINCT {identity}) AS ids FROM {table}")[0]
    assert stored["n"] == stored["ids"]
    for r in results:
        assert r.rows_read == r.rows_accepted + r.rows_rejected
    assert sum(r.rows_accepted - r.rows_unchanged for r in results) == stored["n"]
    quarantined = store.rows("SELECT count(*) AS n FROM quarantine WHERE kind = ?", (table,))[0]["n"]
    assert quarantined == sum(r.rows_rejected for r in results)
    assert audit.verify(store).ok
    return stored["n"]


def crlf(path: Path, name: str) -> Path:
    """The same records with CRLF line ends: another file, byte for byte."""
    twin = path.with_name(name)
    twin.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    return twin


@pytest.fixture
def pg_store(tmp_path: Path) -> Store:
    from conftest import _pg_store

    for opened in _pg_store():
        opened.migrate()
        assert import_file(opened, "parties", write(tmp_path, "parties.csv", PARTIES)).rows_rejected == 0
        assert import_file(opened, "rough_sales", write(tmp_path, "boxes.csv", BOXES)).rows_rejected == 0
        yield opened


def test_four_racing_imports_of_overlapping_records_store_each_once(pg_store: Store, tmp_path: Path) -> None:
    files = [write(tmp_path, f"prices{n}.csv", price_records(first, last))
             for n, (first, last) in enumerate(((1, 6000), (3000, 9000), (1, 9000)))]
    files.append(crlf(files[0], "prices0-crlf.csv"))
    results = race(pg_store.url, [("transactions", path) for path in files])
    assert assert_counts_add_up(pg_store, "transactions", "tx_id", results) == 9000
    assert sum(r.rows_unchanged for r in results) == 6000 + 6001 + 9000 + 6000 - 9000
    assert all(r.rows_rejected == 0 for r in results)


def test_an_outcome_file_and_its_crlf_twin_imported_at_once_are_stored_once(pg_store: Store, tmp_path: Path) -> None:
    outcomes = write(tmp_path, "outcomes.csv", outcome_records(8000))
    results = race(pg_store.url, [("polished_outcomes", outcomes), ("polished_outcomes", crlf(outcomes, "outcomes-crlf.csv"))])
    assert assert_counts_add_up(pg_store, "polished_outcomes", "stone_id", results) == 8000
    assert sorted(r.rows_unchanged for r in results) == [0, 8000]
    assert sorted(r.stored for r in results) == [False, True]


def test_racing_versions_of_one_transaction_keep_one_and_quarantine_the_other(pg_store: Store, tmp_path: Path) -> None:
    cheap = write(tmp_path, "cheap.csv", price_records(1, 5000, price=9000))
    dear = write(tmp_path, "dear.csv", price_records(1, 5000, price=9500))
    results = race(pg_store.url, [("transactions", cheap), ("transactions", dear)])
    assert assert_counts_add_up(pg_store, "transactions", "tx_id", results) == 5000
    assert sorted(r.rows_rejected for r in results) == [0, 5000]
    kept = pg_store.rows("SELECT count(DISTINCT price_usd >= 9500) AS versions FROM transactions")[0]["versions"]
    assert kept == 1  # every stored record from one file: the first to take the kind
    assert pg_store.rows("SELECT count(*) AS n FROM quarantine WHERE kind = 'transactions' "
                         "AND problems LIKE '[{\"code\":\"already_stored\",%'")[0]["n"] == 5000


def test_two_connections_of_one_process_to_a_duckdb_file_import_one_after_the_other(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'store.duckdb'}"
    first = open_store(url)
    first.migrate()
    outcomes = write(tmp_path, "outcomes.csv", outcome_records(8000))
    try:
        import_file(first, "parties", write(tmp_path, "parties.csv", PARTIES))
        import_file(first, "rough_sales", write(tmp_path, "boxes.csv", BOXES))
        results = race(url, [("polished_outcomes", outcomes), ("polished_outcomes", crlf(outcomes, "outcomes-crlf.csv"))])
        assert assert_counts_add_up(first, "polished_outcomes", "stone_id", results) == 8000
        assert sorted(r.rows_unchanged for r in results) == [0, 8000]
    finally:
        first.close()


def store_again(store: Store, table: str, where: str) -> None:
    """Store the rows of `table` meeting `where` once more, as a later batch would."""
    columns = [r["column_name"] for r in store.rows(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? "
        "ORDER BY ordinal_position", (table,))]
    store.execute(f"INSERT INTO {table} ({', '.join(columns)}) "
                  f"SELECT {', '.join('99' if c == 'batch_id' else c for c in columns)} FROM {table} WHERE {where}")


@pytest.mark.parametrize(("table", "where"), [
    ("parties", "party_id = 'SH1'"), ("rough_sales", "box_id = 'B1'"), ("transactions", "tx_id = 'T000001'")])
def test_postgresql_refuses_a_record_stored_twice(pg_store: Store, tmp_path: Path, table: str, where: str) -> None:
    import_file(pg_store, "transactions", write(tmp_path, "prices.csv", price_records(1, 3)))
    with pytest.raises(Exception, match="duplicate key|unique"):
        store_again(pg_store, table, where)


def test_postgresql_keeps_a_conflicting_claim_on_a_stone(pg_store: Store, tmp_path: Path) -> None:
    """The outcome's identity is the claim: the same stone from another box is a second row."""
    outcomes = write(tmp_path, "outcomes.csv", f"{OUTCOME_HEADER}\n2200000001,GIA,SH1,B1,R1,1.500,2026-02-01,round,0.702,G,VS1\n"
                                               "2200000001,GIA,SH2,B2,R9,0.900,2026-02-01,round,0.500,H,SI1\n")
    result = import_file(pg_store, "polished_outcomes", outcomes)
    assert result.rows_accepted == 2 and [w.code for w in result.warnings] == ["conflicting_claim"]
    with pytest.raises(Exception, match="duplicate key|unique"):
        store_again(pg_store, "polished_outcomes", "box_id = 'B1'")


def test_schema_10_keeps_a_stores_rows_and_refuses_one_holding_a_record_twice(engine: str, tmp_path: Path,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import load, make_store
    from roughtrace.store import migrations

    everything = migrations.all_migrations()
    for store in make_store(engine, tmp_path):
        monkeypatch.setattr(migrations, "all_migrations", lambda: tuple(m for m in everything if m.version < 10))
        assert store.migrate() == 9
        import_file(store, "parties", write(tmp_path, "parties.csv", PARTIES))
        import_file(store, "rough_sales", write(tmp_path, "boxes.csv", BOXES))
        import_file(store, "transactions", write(tmp_path, "prices.csv", price_records(1, 50)))
        before = store.rows("SELECT tx_id, price_usd, batch_id FROM transactions ORDER BY tx_id")
        load(store, "parties", "party_id,name,role,category,country\nSH1,Cutter One again,sightholder,manufacturer,IN\n")
        monkeypatch.setattr(migrations, "all_migrations", lambda: everything)
        with pytest.raises(StoreError, match="parties record.* more than once .*SH1"):
            store.migrate()
        assert store.schema_version() == 9
        store.execute("DELETE FROM parties WHERE name = 'Cutter One again'")
        assert store.migrate() == max(m.version for m in everything)
        assert store.rows("SELECT tx_id, price_usd, batch_id FROM transactions ORDER BY tx_id") == before
        assert audit.verify(store).ok
        if engine == "postgresql":
            # pg_index's flag, not pg_indexes' definitions: those are made for every schema's indexes,
            # and another test's schema dropped meanwhile would fail the query
            unique = store.rows("SELECT c.relname AS indexname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                                "WHERE n.nspname = current_schema() AND i.indisunique ORDER BY 1")
            assert {"parties_identity", "rough_sales_identity", "polished_outcomes_identity", "transactions_identity",
                    "kp_certificates_identity"} <= {r["indexname"] for r in unique}
