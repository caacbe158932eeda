"""No string becomes SQL, and clear answers: hostile settings and store paths run nothing, usage
mistakes exit 2 with the setting's rule, secrets and tracebacks never reach a message, control
characters are rejected alike on both engines, and any JSON key is read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from conftest import PARTIES, write
from roughtrace import cli as cli_module
from roughtrace.cli import main
from roughtrace.errors import UsageError
from roughtrace.ingest import import_file
from roughtrace.settings import SettingError, Settings, redacted
from roughtrace.store import Store, open_store

PASSWORD = "s3cret-Pw0rd"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`roughtrace ARGS` in-process: (exit code, stdout, stderr); no traceback may be printed."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(list(args))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out and "Traceback" not in captured.err
    return int(done.value.code or 0), captured.out, captured.err


def errors(out: str) -> list[dict[str, Any]]:
    body = json.loads(out)
    assert body["ok"] is False
    return list(body["errors"])


# -- no string becomes SQL ----------------------------------------------------------------------------------
@pytest.mark.parametrize("given_by", ["flag", "environment"])
def test_a_memory_limit_holding_sql_is_refused_and_runs_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, given_by: str) -> None:
    target = tmp_path / "x.csv"
    hostile = f"1GB'; COPY (SELECT 42) TO '{target}'; --"
    args = ["--db", f"duckdb:///{tmp_path / 's.duckdb'}"]
    if given_by == "flag":
        args += ["--set", f"import_memory_limit={hostile}"]
    else:
        monkeypatch.setenv("ROUGHTRACE_IMPORT_MEMORY_LIMIT", hostile)
    code, out, _ = run(capsys, *args, "status", "--json")
    assert code == 2
    [problem] = errors(out)
    assert problem["code"] == "bad_setting"
    assert "import_memory_limit takes a size of at least 64MB" in problem["message"]
    assert not target.exists()


def test_a_duckdb_path_holding_a_quote_runs_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "x.csv"
    store_path = f"{tmp_path}/a'; COPY (SELECT 42) TO '{target}'; --"
    Path(store_path).parent.mkdir(parents=True, exist_ok=True)
    code, out, _ = run(capsys, "--db", f"duckdb:///{store_path}", "init")
    assert code == 0, out
    code, out, _ = run(capsys, "--db", f"duckdb:///{store_path}", "status", "--json")
    assert code == 0, out
    assert not target.exists()
    assert Path(store_path).exists()  # the quote is part of the file's name, nothing more


def test_a_store_named_o_brien_works(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = "duckdb:///" + str(tmp_path / "o'brien.duckdb")
    code, out, _ = run(capsys, "--db", db, "import", "parties", str(write(tmp_path, "parties.csv", PARTIES)), "--json")
    assert code == 0, out
    code, out, _ = run(capsys, "--db", db, "status", "--json")
    assert code == 0 and json.loads(out)["rows"]["parties"] == 4


def test_typed_settings_hold_to_their_rules() -> None:
    def value(name: str, text: str) -> Any:
        return Settings(environ={"ROUGHTRACE_" + name.upper(): text})[name]

    assert value("import_memory_limit", " 2gb ") == "2GB"
    assert value("import_memory_limit", "1GiB") == "1GiB"
    assert value("import_threads", "4") == 4
    for name, text in [("import_memory_limit", "1KB"), ("import_memory_limit", "lots"), ("import_memory_limit", "-1GB"),
                       ("import_memory_limit", "1e9"), ("import_threads", "0"), ("import_threads", "-2"),
                       ("max_text_length", "0"), ("max_reported_errors", "-1")]:
        with pytest.raises(SettingError, match=f"^{name} takes "):
            value(name, text)
    with pytest.raises(SettingError, match="import_threads takes a positive whole number"):
        Settings({"import_threads": 0})


# -- clear answers ----------------------------------------------------------------------------------------
def _profile(tmp_path: Path, text: str) -> str:
    path = tmp_path / "profile.toml"
    path.write_text(text)
    return str(path)


USAGE_MISTAKES = {
    "import_threads=0": (["--set", "import_threads=0"], [], "bad_setting", "import_threads takes a positive whole number"),
    "import_memory_limit=1KB": (["--set", "import_memory_limit=1KB"], [], "bad_setting", "import_memory_limit takes a size"),
    "encoding rot13": ([], ["--encoding", "rot13"], "unknown_encoding", "the name of a text encoding"),
    "empty delimiter": ([], ["--profile", "{profile}"], "bad_delimiter", "one character"),
    "profile is a folder": ([], ["--profile", "{folder}"], "profile_not_found", "is a folder"),
}


@pytest.mark.parametrize("mistake", list(USAGE_MISTAKES))
def test_usage_mistakes_exit_2_with_the_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str], mistake: str) -> None:
    before, after, code_expected, rule = USAGE_MISTAKES[mistake]
    places = {"profile": _profile(tmp_path, '[profile]\ndelimiter = ""\n'), "folder": str(tmp_path)}
    after = [a.format(**places) for a in after]
    parties = str(write(tmp_path, "parties.csv", PARTIES))
    code, out, _ = run(capsys, "--db", f"duckdb:///{tmp_path / 's.duckdb'}", *before, "import", "parties", parties, *after, "--json")
    assert code == 2, out
    [problem] = errors(out)
    assert problem["code"] == code_expected and rule in problem["message"]


@pytest.mark.parametrize("address", ["duckdb://", "duckdb:///", "duckdb:////"])
def test_a_store_address_without_a_path_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch, address: str) -> None:
    parties = str(write(tmp_path, "parties.csv", PARTIES))
    code, out, _ = run(capsys, "--db", address, "import", "parties", parties, "--json")
    assert code == 2 and errors(out)[0]["code"] == "bad_setting"
    monkeypatch.setenv("ROUGHTRACE_DB", address)
    code, out, _ = run(capsys, "import", "parties", parties, "--json")
    assert code == 2 and "without a path would keep the data in memory" in errors(out)[0]["message"]
    with pytest.raises(UsageError) as refused:
        open_store(address)
    assert refused.value.problems[0].code == "bad_store_url"


def _internal_error(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    def broken(self: Any) -> Store:
        raise RuntimeError(text)
    monkeypatch.setattr(cli_module.App, "store", broken)


@pytest.mark.parametrize("debug", ["0", "false", "", "off", " no "])
def test_roughtrace_debug_off_means_off(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch, debug: str) -> None:
    monkeypatch.setenv("ROUGHTRACE_DEBUG", debug)
    _internal_error(monkeypatch, "the engine broke")
    code, out, _ = run(capsys, "--db", f"duckdb:///{tmp_path / 's.duckdb'}", "status", "--json")
    assert code == 1 and errors(out)[0]["code"] == "internal_error"


def test_roughtrace_debug_on_shows_the_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUGHTRACE_DEBUG", "1")
    _internal_error(monkeypatch, "the engine broke")
    with pytest.raises(RuntimeError, match="the engine broke"):
        main(["--db", f"duckdb:///{tmp_path / 's.duckdb'}", "status"])


def test_an_internal_error_message_carries_no_traceback_or_code_paths(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code_file = Path(cli_module.__file__).parent / "ingest" / "read" / "workbook.py"
    _internal_error(monkeypatch, f'Traceback (most recent call last):\n  File "{code_file}", line 612, in _open_xlsx\n'
                                 "    strings[int(index)]\nIndexError: list index out of range")
    code, out, _ = run(capsys, "--db", f"duckdb:///{tmp_path / 's.duckdb'}", "status", "--json")
    [problem] = errors(out)
    assert code == 1 and problem["code"] == "internal_error"
    assert "Traceback" not in problem["message"] and "File " not in problem["message"]
    assert str(code_file.parent) not in problem["message"] and ".py" not in problem["message"]
    assert "RuntimeError" in problem["message"]


def _with_password(url: str) -> str:
    parts = urlsplit(url)
    user = parts.username or "postgres"
    host = parts.hostname or "127.0.0.1"
    netloc = f"{user}:{PASSWORD}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def test_a_password_is_masked_in_any_address() -> None:
    assert redacted(f"postgresql://app:{PASSWORD}@db.example:5432/rt?sslmode=require") == \
        "postgresql://app:***@db.example:5432/rt?sslmode=require"
    assert PASSWORD not in redacted(f"cannot reach host=db password={PASSWORD} dbname=rt")
    assert redacted("duckdb:///o'brien.duckdb") == "duckdb:///o'brien.duckdb"


def test_the_database_password_is_never_printed(capsys: pytest.CaptureFixture[str], pg_url: str) -> None:
    url = _with_password(pg_url)
    seen: list[str] = []
    for args in (["init", "--json"], ["status", "--json"], ["status"], ["settings", "--json"], ["settings"]):
        code, out, err = run(capsys, "--db", url, *args)
        assert code == 0, out + err
        seen += [out, err]
    assert "***" in json.loads(run(capsys, "--db", url, "status", "--json")[1])["db"]
    unreachable = _with_password("postgresql://postgres@127.0.0.1:1/nowhere")
    for args in (["--db", unreachable, "status"], ["--db", unreachable, "status", "--json"],
                 ["--db", url, "--set", "import_threads=0", "status"], ["--db", url.replace("postgresql", "postgres-x"), "status"]):
        code, out, err = run(capsys, *args)
        assert code in (1, 2)
        seen += [out, err]
    assert not [text for text in seen if PASSWORD in text]


# -- control characters and JSON keys ---------------------------------------------------------------------
def test_control_characters_are_quarantined_alike_on_both_engines(store: Store, tmp_path: Path) -> None:
    filler = "".join(f"P{n},Party {n},trader,,AE\n" for n in range(1, 3000))  # past the first 64 KB
    path = tmp_path / "parties.csv"
    path.write_text("party_id,name,role,category,country\n" + filler + "PNUL,Bad\x00name,trader,,AE\n"
                    'PUS,"Unit\x1fsep",trader,,AE\nPBEL,Bell\x07,trader,,AE\n"PTAB","Tab\there\nand a line",trader,,AE\n',
                    encoding="utf-8")
    assert path.stat().st_size > 1 << 16
    result = import_file(store, "parties", path)
    assert result.stored and result.rows_accepted == 3000
    assert sorted((p.code, p.column, p.row) for p in result.errors) == [
        ("control_character", "name", 3000), ("control_character", "name", 3001), ("control_character", "name", 3002)]
    assert store.rows("SELECT name FROM parties WHERE party_id = ?", ("PTAB",)) == [{"name": "Tab\there\nand a line"}]
    assert store.rows("SELECT count(*) AS n FROM parties WHERE party_id IN ('PNUL', 'PUS', 'PBEL')") == [{"n": 0}]
    assert store.rows("SELECT count(*) AS n FROM quarantine") == [{"n": 3}]


def test_a_nul_in_a_json_value_is_quarantined_alike_on_both_engines(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "parties.jsonl"
    path.write_text(json.dumps({"party_id": "P1", "name": "Good", "role": "trader", "country": "AE"}) + "\n"
                    + json.dumps({"party_id": "P2", "name": "Bad\u0000", "role": "trader", "country": "AE"}) + "\n")
    result = import_file(store, "parties", path)
    assert result.rows_accepted == 1 and [(p.code, p.row) for p in result.errors] == [("control_character", 2)]


def test_a_json_key_holding_a_quote_is_read(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "parties.jsonl"
    records = [{"party_id": "P1", "name": 'The "Oval" Co', "role": "trader", "country": "AE", 'say "hi"': "x", "a/b~c.d": "y"},
               {"party_id": "P2", "name": "Second", "role": "trader", "country": "BE"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = import_file(store, "parties", path)
    assert result.ok and result.rows_accepted == 2, result.errors
    assert store.rows("SELECT name FROM parties WHERE party_id = ?", ("P1",)) == [{"name": 'The "Oval" Co'}]


def test_a_json_key_holding_a_quote_names_a_mapped_column(duck: Store, tmp_path: Path) -> None:
    from roughtrace.ingest.profile import load_profile

    profile = load_profile(Path(_profile(tmp_path, '[columns]\n"Party \\"ID\\"" = "party_id"\n')))
    path = tmp_path / "parties.json"
    path.write_text(json.dumps([{'Party "ID"': "P1", "name": "One", "role": "trader", "country": "AE"}]))
    result = import_file(duck, "parties", path, profile=profile)
    assert result.ok and result.rows_accepted == 1, result.errors
    assert duck.rows("SELECT party_id FROM parties") == [{"party_id": "P1"}]



def test_a_market_folder_holding_a_quote_is_reordered(tmp_path: Path) -> None:
    from roughtrace.sim.order import reorder_rows

    folder = tmp_path / "o'brien market"
    folder.mkdir()
    path = write(folder, "sights.csv", "sightholder_id,n\n" + "".join(f"SH{n % 3},{n}\n" for n in range(50)))
    reorder_rows(path, "by_sightholder", 7, "sightholder_id", ())
    lines = path.read_text().splitlines()
    assert lines[0] == "sightholder_id,n" and sorted(lines[1:]) == sorted(f"SH{n % 3},{n}" for n in range(50))
    assert lines[1:] == sorted(lines[1:])
    assert sorted(p.name for p in folder.iterdir()) == ["sights.csv"]


@pytest.mark.parametrize(("name", "text", "rule"), [
    ("price_period", "month') --", "one of week, month, quarter, year"),
    ("pricebook_period", "fortnight", "one of month, quarter, year"),
    ("cost_model", "free", "one of flat, table"),
    ("pricebook_price_date", "today", "one of sale, polished"),
])
def test_a_setting_naming_a_choice_takes_only_its_choices(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          name: str, text: str, rule: str) -> None:
    assert Settings({name: f" {Settings()[name].upper()} "})[name] == Settings()[name]
    code, out, _ = run(capsys, "--db", f"duckdb:///{tmp_path / 's.duckdb'}", "--set", f"{name}={text}", "settings", "--json")
    assert code == 2
    [problem] = errors(out)
    assert problem["code"] == "bad_setting" and problem["message"].startswith(f"{name} takes {rule}")
