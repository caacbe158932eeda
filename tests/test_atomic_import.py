"""An import that dies halfway leaves the store exactly as it was; the same file then imports."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from conftest import BOXES, PARTIES, write
from roughtrace.errors import RoughtraceError
from roughtrace.ingest import import_file
from roughtrace.store import Store, open_store

KILLER = textwrap.dedent("""
    import os, signal, sys
    from roughtrace.ingest import import_file
    from roughtrace.store import open_store, postgres
    from roughtrace.wiring import wire
    wire()
    postgres.BULK_ROWS = 1_000  # a first load: PostgreSQL drops the stone index, to build it after the rows
    url, path, stage = sys.argv[1:4]
    store = open_store(url)
    def progress(step, done, total):
        if step == stage:
            os.kill(os.getpid(), signal.SIGKILL)
    import_file(store, "polished_outcomes", path, progress=progress)
    print("finished without being killed")
""")


def _outcomes(tmp_path: Path, rows: int) -> Path:
    lines = ["stone_id,lab,sightholder_id,box_id,polished_date,shape,carat,color,clarity"]
    lines += [f"S{i:07d},GIA,SH1,B1,2026-02-01,round,0.{300 + i % 600},G,VS1" for i in range(rows)]
    lines += ["BAD,GIA,SH1,B1,2026-02-01,round,-1,G,VS1"]
    path = tmp_path / "outcomes.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _snapshot(store: Store) -> dict[str, object]:
    """Rows per table, and (PostgreSQL) the outcomes' indexes, which a first load rebuilds."""
    tables = ("polished_outcomes", "batches", "quarantine", "parties", "rough_sales")
    seen: dict[str, object] = {t: int(store.query(f"SELECT count(*) AS n FROM {t}").column("n")[0].as_py()) for t in tables}
    if store.engine == "postgresql":
        seen["indexes"] = sorted(r["d"] for r in store.rows(
            "SELECT pg_get_indexdef(indexrelid) AS d FROM pg_index WHERE indrelid = CAST('polished_outcomes' AS regclass)"))
    return seen


def _url(store: Store) -> str:
    return store.url if store.engine == "postgresql" else f"duckdb:///{store.path}"


@pytest.mark.parametrize("stage", ["checking", "storing"])
def test_a_killed_import_leaves_the_store_unchanged(market: Store, tmp_path: Path, stage: str) -> None:
    path = _outcomes(tmp_path, 20_000)
    before = _snapshot(market)
    url = _url(market)
    if market.engine == "duckdb":
        market.close()  # one writer at a time: the child holds the file
    done = subprocess.run([sys.executable, "-c", KILLER, url, str(path), stage], capture_output=True, text=True, timeout=300)
    assert done.returncode == -9, done.stdout + done.stderr  # killed, not finished
    reopened = open_store(url)  # a new process's view: recovery must find the store as it was
    try:
        assert _snapshot(reopened) == before
        result = import_file(reopened, "polished_outcomes", path)
        assert (result.rows_read, result.rows_accepted, result.rows_rejected) == (20_001, 20_000, 1)
        after = _snapshot(reopened)
    finally:
        reopened.close()
    assert after["polished_outcomes"] == before["polished_outcomes"] + 20_000
    assert after["quarantine"] == before["quarantine"] + 1


def test_strict_stores_nothing_when_a_row_is_bad(market: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "outcomes.csv", """
        stone_id,lab,sightholder_id,box_id,polished_date,shape,carat,color,clarity
        G1,GIA,SH1,B1,2026-02-01,round,0.52,H,SI1
        G2,GIA,SH1,B1,2026-02-01,round,0.5234,H,SI1
        """)
    before = _snapshot(market)
    result = import_file(market, "polished_outcomes", path, strict=True)
    assert not result.ok and not result.stored and result.rows_rejected == 1
    assert [(p.row, p.column) for p in result.errors] == [(2, "carat")]  # said, though nothing was stored
    assert _snapshot(market) == before


def test_a_failure_while_the_ledger_hashes_beside_the_import_stores_nothing(market: Store, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A DuckDB store's ledger hashes the rows on a second connection while the box records are
    made: a failure in either leaves the store as it was, no hashing thread running and no work
    tables behind; the same file then imports, and the ledger verifies it."""
    from roughtrace.ledger import audit
    from roughtrace.ledger import imports as ledger_imports
    from roughtrace.provenance import boxes

    path = _outcomes(tmp_path, 5_000)
    before = _snapshot(market)

    def box_records_fail(*args: object) -> None:
        time.sleep(0.5)  # time for the hashing to fill what may wait and block: only the failure's clean-up frees it
        raise RuntimeError("the box records failed")

    def hashing_fails(*args: object, **kwargs: object):
        raise RuntimeError("the hashing failed")
        yield  # a generator, as leaf_chunks is

    for target, name, replacement, message in ((boxes, "refresh", box_records_fail, "box records"),
                                               (ledger_imports, "leaf_chunks", hashing_fails, "hashing")):
        with monkeypatch.context() as patched:
            patched.setattr(ledger_imports, "_BESIDE_CHUNK_ROWS", 500)  # more ranges than may wait: hashing blocks
            patched.setattr(target, name, replacement)
            with pytest.raises(RuntimeError, match=message):
                import_file(market, "polished_outcomes", path)
        assert _snapshot(market) == before
        assert not [t for t in threading.enumerate() if t.name == "roughtrace-ledger-hashing" and t.is_alive()]
    if market.engine == "duckdb":
        assert market.rows("""SELECT count(*) AS n FROM duckdb_tables() WHERE database_name = 'rt_import'
                              OR (temporary AND starts_with(table_name, 'rt_'))""") == [{"n": 0}]
        assert market.rows("""SELECT count(*) AS n FROM duckdb_views() WHERE database_name = 'rt_import'
                              OR (temporary AND starts_with(view_name, 'rt_'))""") == [{"n": 0}]
    result = import_file(market, "polished_outcomes", path)
    assert result.stored and result.rows_accepted == 5_000
    assert audit.verify(market).ok


def test_a_first_load_keeps_the_stores_indexes_whether_it_fails_or_stores(market: Store, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from roughtrace.store import postgres

    monkeypatch.setattr(postgres, "BULK_ROWS", 1_000)  # PostgreSQL rebuilds the stone index after the rows
    path = _outcomes(tmp_path, 5_000)
    before = _snapshot(market)
    assert import_file(market, "polished_outcomes", path, strict=True).stored is False
    assert _snapshot(market) == before
    result = import_file(market, "polished_outcomes", path)
    assert result.rows_accepted == 5_000 and result.stored
    after = _snapshot(market)
    assert after.get("indexes") == before.get("indexes")
    assert market.rows("SELECT box_id FROM polished_outcomes WHERE stone_id = ?", ("S0004321",)) == [{"box_id": "B1"}]


def test_an_import_short_of_memory_says_which_setting_to_raise_and_stores_nothing(duck: Store, tmp_path: Path) -> None:
    import_file(duck, "parties", write(tmp_path, "parties.csv", PARTIES))
    import_file(duck, "rough_sales", write(tmp_path, "rough_sales.csv", BOXES))
    path = _outcomes(tmp_path, 100_000)
    before = _snapshot(duck)
    url = _url(duck)
    duck.close()  # reopened with an engine limit far too small for 100,000 rows
    short = open_store(url, "8MB")
    try:
        with pytest.raises(RoughtraceError) as raised:
            import_file(short, "polished_outcomes", path)
        assert [p.code for p in raised.value.problems] == ["out_of_memory"]
        assert "import_memory_limit" in raised.value.problems[0].message
        assert "SET threads" not in raised.value.problems[0].message
        assert _snapshot(short) == before
    finally:
        short.close()
