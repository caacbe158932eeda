"""Commands that only read need no more than read rights: a read-only PostgreSQL role runs `status`
and `ledger verify`; a DuckDB reader opens the file read-only, beside other readers, and waits
while an import writes; the schema changes only by `init`, `migrate` or a writing command; spill
files a killed import left are removed at the next open."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import psycopg
import pytest

from conftest import write
from roughtrace.cli import main
from roughtrace.store import open_store


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    """Run the command line with --json; its exit code and answer."""
    with pytest.raises(SystemExit) as done:
        main([*args, "--json"])
    text = capsys.readouterr().out.strip()
    return int(done.value.code or 0), json.loads(text[text.index("{"):])


def duckdb_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    db = f"duckdb:///{tmp_path / 'store.duckdb'}"
    assert run(capsys, "--db", db, "init")[0] == 0
    parties = write(tmp_path, "parties.csv", """
        party_id,name,role,category,country
        SH1,Cutter One,sightholder,manufacturer,IN
        """)
    assert run(capsys, "--db", db, "import", "parties", str(parties))[0] == 0
    return db


def hold_write_lock(path: Path, seconds: float) -> subprocess.Popen[bytes]:
    """Another process holding the DuckDB file for writing, as an import does, for `seconds`."""
    script = textwrap.dedent(f"""
        import sys, time, duckdb
        con = duckdb.connect({str(path)!r})
        con.execute("BEGIN TRANSACTION; CREATE TEMP TABLE t AS SELECT 1")
        print("held", flush=True)
        time.sleep({seconds})
    """)
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
    return holder


def test_a_reader_waits_while_an_import_writes_then_answers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = duckdb_store(tmp_path, capsys)
    holder = hold_write_lock(tmp_path / "store.duckdb", 1.5)
    try:
        code, body = run(capsys, "--db", db, "status")
    finally:
        holder.wait()
    assert code == 0 and body["rows"]["parties"] == 1


def test_a_reader_says_an_import_is_running_when_the_wait_is_over(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = duckdb_store(tmp_path, capsys)
    holder = hold_write_lock(tmp_path / "store.duckdb", 5)
    try:
        code, body = run(capsys, "--db", db, "--set", "store_busy_wait=0", "status")
    finally:
        holder.kill()
        holder.wait()
    assert code == 1 and body["errors"][0]["code"] == "store_busy"
    assert "an import" in body["errors"][0]["message"]


def test_readers_read_beside_each_other(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = duckdb_store(tmp_path, capsys)
    reader = open_store(db, read_only=True)
    try:
        code, body = run(capsys, "--db", db, "--set", "store_busy_wait=0", "ledger", "verify")
    finally:
        reader.close()
    assert code == 0, body


def test_a_reader_never_creates_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, body = run(capsys, "--db", f"duckdb:///{tmp_path / 'none.duckdb'}", "status")
    assert code == 1 and body["errors"][0]["code"] == "store_missing"
    assert not (tmp_path / "none.duckdb").exists()


def test_a_store_behind_the_schema_says_to_migrate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = duckdb_store(tmp_path, capsys)
    store = open_store(db)
    store.execute("DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)")
    store.close()
    code, body = run(capsys, "--db", db, "status")
    assert code == 1 and body["errors"][0]["code"] == "schema_behind"
    assert "roughtrace migrate" in body["errors"][0]["message"]


def test_migrate_brings_a_new_store_up_to_date(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"duckdb:///{tmp_path / 'new.duckdb'}"
    code, body = run(capsys, "--db", db, "migrate")
    assert code == 0 and body["schema_version"] > 0
    assert run(capsys, "--db", db, "status")[0] == 0


def test_spill_files_of_a_killed_import_are_removed_at_the_next_open(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = duckdb_store(tmp_path, capsys)
    spill = tmp_path / "store.duckdb.tmp"
    spill.mkdir(exist_ok=True)
    (spill / "duckdb_temp_storage_S32K-0.tmp").write_bytes(b"\0" * 4096)
    open_store(db).close()
    assert not list(spill.glob("*.tmp"))


def test_a_read_only_role_runs_status_and_ledger_verify(pg_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    schema, role = "rt_" + uuid.uuid4().hex[:12], "rt_reader_" + uuid.uuid4().hex[:8]
    admin = psycopg.connect(pg_url, autocommit=True)
    admin.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in pg_url else "?"
    options = f"{separator}options=-csearch_path%3D{schema}"
    try:
        owner_db = pg_url + options
        assert run(capsys, "--db", owner_db, "init")[0] == 0
        parties = write(tmp_path, "parties.csv", """
            party_id,name,role,category,country
            SH1,Cutter One,sightholder,manufacturer,IN
            """)
        assert run(capsys, "--db", owner_db, "import", "parties", str(parties))[0] == 0
        admin.execute(f"CREATE ROLE {role} LOGIN")
        admin.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        admin.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}")
        user, rest = pg_url.split("://", 1)[1].split("@", 1)
        reader_db = f"postgresql://{role}@{rest}{options}"
        code, body = run(capsys, "--db", reader_db, "status")
        assert code == 0 and body["rows"]["parties"] == 1, body
        code, body = run(capsys, "--db", reader_db, "ledger", "verify")
        assert code == 0, body
        code, body = run(capsys, "--db", reader_db, "import", "parties", str(parties))
        assert code == 1  # writing needs write rights
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.execute(f"DROP ROLE IF EXISTS {role}")
        admin.close()


def test_a_read_only_command_writes_nothing_even_as_the_owner(pg_url: str) -> None:
    name = "rt_never_" + uuid.uuid4().hex[:8]
    store = open_store(pg_url, read_only=True)
    try:
        with pytest.raises(Exception, match="read-only transaction"):
            store.execute(f"CREATE TABLE {name} (x INTEGER)")
    finally:
        store.close()
