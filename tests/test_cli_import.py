"""The command line over import: exit codes, the one JSON object, the one error shape, no traceback."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import BOXES, PARTIES, PG_URL, write
from roughtrace.cli import main
from roughtrace.store import open_store

ROUGHTRACE = Path(sys.executable).parent / "roughtrace"
IMPORT_KEYS = {"ok", "batch_id", "kind", "rows_read", "rows_accepted", "rows_rejected", "duplicate_of", "errors", "warnings"}

OUTCOMES = """
    stone_id,lab,sightholder_id,box_id,polished_date,shape,carat,color,clarity,cut
    2231456789,GIA,SH1,B1,2026-03-02,round,0.702,G,VS1,EX
    2231456790,GIA,SH1,B1,2026-03-02,oval,1.010,H,SI1,VG
    """
BAD_OUTCOMES = """
    stone_id,lab,sightholder_id,box_id,polished_date,shape,carat,color,clarity,cut
    2231456789,GIA,SH1,B1,2026-03-02,round,0.702,G,VS1,EX
    2231456790,GIA,SH2,B1,2026-03-02,oval,1.0101,H,SI1,VG
    2231456791,GIA,SH1,B1,2026-03-02,oval,0.300,H,SI9,VG
    """


class Cli:
    """`roughtrace --db URL ...` run in-process, answering (exit code, stdout, stderr)."""

    def __init__(self, db: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.db = db
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        with pytest.raises(SystemExit) as done:
            main(["--db", self.db, *args])
        captured = self.capsys.readouterr()
        assert "Traceback" not in captured.err and "Traceback" not in captured.out
        return int(done.value.code or 0), captured.out, captured.err

    def json(self, *args: str) -> tuple[int, dict[str, Any]]:
        code, out, _ = self(*args, "--json")
        lines = [line for line in out.splitlines() if line.strip()]
        assert len(lines) == 1, out  # exactly one object
        return code, json.loads(lines[0])


@pytest.fixture(params=["duckdb", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path / 'cli.duckdb'}"
        return
    if not PG_URL:
        pytest.skip("no PostgreSQL: set ROUGHTRACE_TEST_PG")
    schema = "rt_cli_" + uuid.uuid4().hex[:10]
    admin = open_store(PG_URL)
    admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


@pytest.fixture
def cli(db_url: str, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(db_url, capsys)


@pytest.fixture
def duck_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(f"duckdb:///{tmp_path / 'cli.duckdb'}", capsys)


def with_market(cli: Cli, tmp_path: Path) -> Cli:
    assert cli("import", "parties", str(write(tmp_path, "parties.csv", PARTIES)))[0] == 0
    assert cli("import", "rough_sales", str(write(tmp_path, "boxes.csv", BOXES)))[0] == 0
    return cli


def stored_rows(cli: Cli, kind: str) -> int:
    code, body = cli.json("status")
    assert code == 0
    return int(body["rows"][kind])


# -- exit codes and the JSON answer -------------------------------------------------------------------------
def test_init_reports_the_schema_version(cli: Cli) -> None:
    code, body = cli.json("init")
    assert code == 0 and body["ok"] is True and body["schema_version"] >= 1


def test_all_rows_accepted_exits_0_with_one_json_object(cli: Cli, tmp_path: Path) -> None:
    with_market(cli, tmp_path)
    code, body = cli.json("import", "polished_outcomes", str(write(tmp_path, "outcomes.csv", OUTCOMES)))
    assert code == 0
    assert IMPORT_KEYS <= set(body)
    assert body["ok"] is True and body["kind"] == "polished_outcomes" and isinstance(body["batch_id"], int)
    assert (body["rows_read"], body["rows_accepted"], body["rows_rejected"]) == (2, 2, 0)
    assert body["errors"] == [] and body["warnings"] == [] and body["duplicate_of"] is None
    assert stored_rows(cli, "polished_outcomes") == 2


def test_rows_quarantined_exits_3_and_names_row_column_code(cli: Cli, tmp_path: Path) -> None:
    with_market(cli, tmp_path)
    code, body = cli.json("import", "polished_outcomes", str(write(tmp_path, "outcomes.csv", BAD_OUTCOMES)))
    assert code == 3
    assert body["ok"] is True and (body["rows_read"], body["rows_accepted"], body["rows_rejected"]) == (3, 1, 2)
    assert body["rows_read"] == body["rows_accepted"] + body["rows_rejected"]
    found = {(e["row"], e["column"], e["code"]) for e in body["errors"]}
    assert found == {(2, "sightholder_id", "box_not_bought"), (2, "carat", "too_many_decimals"), (3, "clarity", "unknown_value")}
    for error in body["errors"]:
        assert {"row", "column", "code", "message"} <= set(error) and error["message"]


def test_the_human_answer_names_the_problems(cli: Cli, tmp_path: Path) -> None:
    with_market(cli, tmp_path)
    code, out, _ = cli("import", "polished_outcomes", str(write(tmp_path, "outcomes.csv", BAD_OUTCOMES)))
    assert code == 3
    assert "3 rows read" in out and "1 accepted" in out and "2 rejected" in out
    assert "too_many_decimals" in out and "SI9" in out


def test_rows_quarantined_exit_3(duck_cli: Cli, tmp_path: Path) -> None:
    with_market(duck_cli, tmp_path)
    assert duck_cli("import", "polished_outcomes", str(write(tmp_path, "outcomes.csv", BAD_OUTCOMES)))[0] == 3


def test_a_strict_failure_exits_1(duck_cli: Cli, tmp_path: Path) -> None:
    with_market(duck_cli, tmp_path)
    assert duck_cli("import", "polished_outcomes", str(write(tmp_path, "outcomes.csv", BAD_OUTCOMES)), "--strict")[0] == 1


def test_a_file_rejected_whole_exits_1_with_the_one_error_shape(cli: Cli, tmp_path: Path) -> None:
    with_market(cli, tmp_path)
    path = write(tmp_path, "outcomes.csv", "stone_id,lab,carat\n1,GIA,0.5\n")
    code, body = cli.json("import", "polished_outcomes", str(path))
    assert code == 1
    assert set(body) == {"ok", "errors"} and body["ok"] is False
    assert body["errors"], body
    for error in body["errors"]:
        assert set(error) == {"code", "message", "source"}
        assert set(error["source"]) == {"file", "row", "column"}
    first = body["errors"][0]
    assert first["code"] == "missing_column" and first["source"]["file"] == "outcomes.csv"
    assert first["source"]["column"] in {"sightholder_id", "box_id", "polished_date", "shape", "color", "clarity"}
    assert stored_rows(cli, "polished_outcomes") == 0


def test_the_error_shape_is_pinned(duck_cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_bytes(b"")
    code, body = duck_cli.json("import", "parties", str(tmp_path / "empty.csv"))
    assert code == 1
    assert body == {"ok": False, "errors": [{"code": "empty_file", "message": body["errors"][0]["message"],
                                             "source": {"file": "empty.csv", "row": None, "column": None}}]}


def test_strict_stores_nothing_when_a_row_is_bad(cli: Cli, tmp_path: Path) -> None:
    with_market(cli, tmp_path)
    code, body = cli.json("import", "polished_outcomes", str(write(tmp_path, "outcomes.csv", BAD_OUTCOMES)), "--strict")
    assert code == 1
    assert body["ok"] is False and body["batch_id"] is None and body["rows_rejected"] == 2
    assert stored_rows(cli, "polished_outcomes") == 0
    assert cli.json("quarantine", "list")[1]["rows"] == []
    assert cli("import", "polished_outcomes", str(write(tmp_path, "good.csv", OUTCOMES)), "--strict")[0] == 0
    assert stored_rows(cli, "polished_outcomes") == 2


def test_importing_the_same_file_again_says_nothing_new(cli: Cli, tmp_path: Path) -> None:
    with_market(cli, tmp_path)
    path = str(write(tmp_path, "outcomes.csv", OUTCOMES))
    _, first = cli.json("import", "polished_outcomes", path)
    code, again = cli.json("import", "polished_outcomes", path)
    assert code == 0 and again["duplicate_of"] == first["batch_id"] and again["batch_id"] is None
    code, out, _ = cli("import", "polished_outcomes", path)
    assert code == 0 and "Nothing new" in out and f"batch {first['batch_id']}" in out
    assert stored_rows(cli, "polished_outcomes") == 2


# -- usage errors ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ("import", "diamonds", "x.csv"),
    ("import", "parties"),
    ("import", "parties", "x.csv", "--no-such-option"),
    ("import", "parties", "PARTIES", "--profile", "nowhere.toml"),
    ("--set", "no_such_setting=1", "status"),
])
def test_usage_errors_exit_2(duck_cli: Cli, tmp_path: Path, args: tuple[str, ...]) -> None:
    write(tmp_path, "parties.csv", PARTIES)
    args = tuple(str(tmp_path / "parties.csv") if a == "PARTIES" else a for a in args)
    code, _, _ = duck_cli(*args)
    assert code == 2
    code, body = duck_cli.json(*args)
    assert code == 2 and body["ok"] is False and body["errors"][0]["code"] and body["errors"][0]["message"]


def test_a_profile_naming_an_unknown_column_exits_2(duck_cli: Cli, tmp_path: Path) -> None:
    profile = write(tmp_path, "p.toml", '[columns]\nWt = "weight"\n')
    code, body = duck_cli.json("import", "parties", str(write(tmp_path, "parties.csv", PARTIES)), "--profile", str(profile))
    assert code == 2 and body["errors"][0]["code"] == "bad_profile"


def test_encoding_and_format_options(duck_cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "parties.dat"
    path.write_bytes("party_id,name,role,category,country\nSH1,Société Générale,sightholder,dealer,FR\n".encode("latin-1"))
    code, body = duck_cli.json("import", "parties", str(path), "--format", "csv")
    assert code == 1 and body["errors"][0]["code"] == "bad_encoding" and "line 2" in body["errors"][0]["message"]
    code, body = duck_cli.json("import", "parties", str(path), "--format", "csv", "--encoding", "latin-1")
    assert code == 0 and body["rows_accepted"] == 1


# -- malformed input never shows a traceback ---------------------------------------------------------------------
MALFORMED: dict[str, bytes] = {
    "empty.csv": b"",
    "header-only.csv": b"party_id,name,role,category,country\n",
    "binary.csv": bytes(range(256)) * 8,
    "ragged.csv": b"party_id,name,role,category,country\nSH1,One,sightholder,dealer\nSH2,Two,sightholder,dealer,BE,x,y\n",
    "quote.csv": b'party_id,name,role,category,country\nSH1,"One,sightholder,dealer,BE\nSH2,Two,sightholder,dealer,BE\n',
    "latin1.csv": "party_id,name,role,category,country\nSH1,Caf\u00e9,sightholder,dealer,BE\n".encode("latin-1"),
    "utf16.csv": "party_id,name,role,category,country\nSH1,Caf\u00e9,sightholder,dealer,BE\n".encode("utf-16"),
    "broken.json": b'[{"party_id": "SH1", "name": ',
    "scalars.json": b"[1, 2, 3]",
    "nested.json": b'[{"party_id": {"id": "SH1"}, "name": ["One"], "role": "sightholder", "category": "dealer", "country": "BE"}]',
    "binary.xlsx": b"PK\x03\x04" + bytes(range(256)) * 4,
    "text.parquet": b"party_id,name\nSH1,One\n",
    "formula.csv": b'party_id,name,role,category,country\n=cmd|"/c calc"!A1,@SUM(1),sightholder,dealer,BE\n',
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_input_is_answered_without_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    path = tmp_path / name
    path.write_bytes(MALFORMED[name])
    code, out, err = Cli(f"duckdb:///{tmp_path / 'human.duckdb'}", capsys)("import", "parties", str(path))
    assert code in (0, 1, 3)  # never 2 (not a usage error) and never an uncaught exception
    assert out or err
    code_json, body = Cli(f"duckdb:///{tmp_path / 'json.duckdb'}", capsys).json("import", "parties", str(path))
    assert code_json == code and "errors" in body and "ok" in body
    if code == 1:
        assert body["ok"] is False and body["errors"][0]["source"]["file"] == name


def test_the_installed_command_never_prints_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "binary.csv"
    path.write_bytes(bytes(range(256)) * 8)
    env = {k: v for k, v in os.environ.items() if k != "ROUGHTRACE_DEBUG"}
    done = subprocess.run([str(ROUGHTRACE), "--db", f"duckdb:///{tmp_path / 's.duckdb'}", "import", "parties", str(path), "--json"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    assert done.returncode == 1 and json.loads(done.stdout)["errors"][0]["code"] == "not_text"


# -- the quarantine ------------------------------------------------------------------------------------------------
def test_quarantine_list_and_export_escape_formula_cells(cli: Cli, tmp_path: Path) -> None:
    text = """
        tx_id,date,shape,color,clarity,carat,price_usd,price_type,source
        T1,2026-03-05,round,G,VS1,1.010,9800.00,transaction,=HYPERLINK("http://evil.example")
        T2,2026-03-05,round,G,VS9,1.010,9800.00,transaction,+cmd
        T3,2026-03-05,round,G,VS1,1.010,-5,transaction,@SUM(A1)
        =1+1,2026-03-05,round,G,VS1,1.0101,9800.00,transaction,plain
        """
    code, body = cli.json("import", "transactions", str(write(tmp_path, "tx.csv", text)))
    assert code == 3 and body["rows_rejected"] == 3
    code, listing = cli.json("quarantine", "list")
    assert code == 0 and [r["source_row"] for r in listing["rows"]] == [2, 3, 4]
    assert listing["rows"][0]["record"]["source"] == "+cmd"  # verbatim in the store
    assert listing["rows"][2]["record"]["tx_id"] == "=1+1"
    assert {p["code"] for r in listing["rows"] for p in r["problems"]} == {"unknown_value", "not_positive", "too_many_decimals"}

    out = tmp_path / "quarantine.csv"
    code, exported = cli.json("quarantine", "export", "--out", str(out))
    assert code == 0 and exported["rows"] == 3
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["source"] for r in rows] == ["'+cmd", "'@SUM(A1)", "plain"]
    assert [r["price_usd"] for r in rows] == ["9800.00", "'-5", "9800.00"]
    assert rows[2]["tx_id"] == "'=1+1"
    assert rows[0]["row"] == "2" and "unknown_value" in rows[0]["codes"]
    # the one row stored keeps its formula text verbatim
    assert cli.json("status")[1]["rows"]["transactions"] == 1


# -- a store another process holds --------------------------------------------------------------------------------
def test_status_while_another_process_holds_the_store_says_so(duck_cli: Cli, tmp_path: Path) -> None:
    assert duck_cli("init")[0] == 0
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, duckdb; con = duckdb.connect(sys.argv[1]); print('held', flush=True); sys.stdin.read()",
         str(tmp_path / "cli.duckdb")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        code, body = duck_cli.json("status")
        assert code == 1 and body["ok"] is False
        assert body["errors"][0]["code"] == "store_busy"
        assert "try again when it finishes" in body["errors"][0]["message"]
        code, _, err = duck_cli("status")
        assert code == 1 and "store_busy" in err and "Conflicting lock" not in err and "IO Error" not in err
    finally:
        holder.communicate("")
    assert duck_cli.json("status")[0] == 0
