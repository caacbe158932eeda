"""Hostile files are refused before memory grows: a profile that never ends, a header or a line
too long, a workbook whose shared text or sheet is a zip bomb, a workbook naming shared text it
does not hold, too many records or columns. Each refusal is a problem with a stable code; the
bounds are settings, set small here so the files stay small."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import pytest

from roughtrace.errors import FileRejected, UsageError
from roughtrace.ingest import import_file
from roughtrace.ingest.profile import load_profile
from roughtrace.settings import Settings
from roughtrace.store import Store
from workbook_support import MAIN, PARTS

HEADER = "party_id,name,role,category,country"


def refused(store: Store, kind: str, path: Path, code: str, **settings: str) -> FileRejected:
    """Import `path`, which must be refused whole with `code`, quickly, and store nothing."""
    started = time.perf_counter()
    with pytest.raises(FileRejected) as caught:
        import_file(store, kind, path, settings=Settings(settings))
    assert time.perf_counter() - started < 30
    problem = caught.value.problems[0]
    assert problem.code == code, caught.value.problems
    assert "Traceback" not in problem.message and "File \"" not in problem.message
    assert store.query("SELECT count(*) AS n FROM batches").column("n")[0].as_py() == 0
    assert store.query(f"SELECT count(*) AS n FROM {kind}").column("n")[0].as_py() == 0
    return caught.value


def workbook(path: Path, rows: list[list[str]], shared: list[str] | None = None, sheet_tail: str = "") -> Path:
    """A workbook written part by part: cells given as `s:N` name shared text N, others are inline."""
    def cell(ref: str, value: str) -> str:
        if value.startswith("s:"):
            return f'<c r="{ref}" t="s"><v>{value[2:]}</v></c>'
        return f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>'

    sheet_rows = "".join(
        f'<row r="{r}">' + "".join(cell(f"{chr(65 + c)}{r}", v) for c, v in enumerate(values)) + "</row>"
        for r, values in enumerate(rows, 1))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in PARTS.items():
            archive.writestr(name, text)
        archive.writestr("xl/worksheets/sheet1.xml", f'<worksheet xmlns="{MAIN}"><sheetData>{sheet_rows}{sheet_tail}'
                         "</sheetData></worksheet>")
        texts = shared or []
        archive.writestr("xl/sharedStrings.xml", f'<sst xmlns="{MAIN}" count="{len(texts)}" uniqueCount="{len(texts)}">'
                         + "".join(f"<si><t>{t}</t></si>" for t in texts) + "</sst>")
    return path


PARTY = [HEADER.split(","), ["SH1", "Cutter One", "sightholder", "manufacturer", "IN"]]


def test_a_workbook_written_part_by_part_imports(duck: Store, tmp_path: Path) -> None:
    """The hand-made workbooks below are real workbooks: this one, with shared text, loads."""
    path = workbook(tmp_path / "parties.xlsx", [PARTY[0], ["s:0", "Cutter One", "sightholder", "manufacturer", "IN"]], ["SH1"])
    assert import_file(duck, "parties", path).rows_accepted == 1


def test_a_profile_that_never_ends_is_refused_quickly() -> None:
    started = time.perf_counter()
    with pytest.raises(UsageError) as caught:
        load_profile(Path("/dev/zero"))
    assert caught.value.problems[0].code == "profile_too_large"
    assert time.perf_counter() - started < 5


def test_a_profile_over_its_setting_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "acme.toml"
    path.write_text('[profile]\nname = "Acme"\n' + "# padding\n" * 200)
    assert load_profile(path).name == "Acme"
    with pytest.raises(UsageError) as caught:
        load_profile(path, limit=512)
    assert caught.value.problems[0].code == "profile_too_large"


def test_a_header_over_64_kib_is_refused_not_read_as_a_record(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "parties.csv"
    path.write_text(HEADER + ",x" * 40_000 + "\nSH1,Cutter One,sightholder,manufacturer,IN\n")
    error = refused(store, "parties", path, "header_too_large")
    assert "65,536 bytes" in error.problems[0].message


def test_a_header_over_its_setting_is_refused(duck: Store, tmp_path: Path) -> None:
    path = tmp_path / "parties.csv"
    path.write_text(HEADER + "\nSH1,Cutter One,sightholder,manufacturer,IN\n")
    refused(duck, "parties", path, "header_too_large", max_header_bytes="20")


def test_a_line_over_the_record_limit_is_refused_with_its_record(duck: Store, tmp_path: Path) -> None:
    path = tmp_path / "parties.csv"
    path.write_text(HEADER + "\nSH1,Cutter One,sightholder,manufacturer,IN\nSH2," + "x" * 300_000 + ",sightholder,dealer,BE\n")
    error = refused(duck, "parties", path, "record_too_large", max_record_bytes="100000")
    assert error.problems[0].row == 2


def test_a_json_lines_line_over_the_record_limit_is_refused(duck: Store, tmp_path: Path) -> None:
    path = tmp_path / "parties.jsonl"
    path.write_text('{"party_id": "SH1", "name": "' + "x" * 300_000 + '", "role": "sightholder", "country": "BE"}\n')
    refused(duck, "parties", path, "record_too_large", max_record_bytes="100000")


def test_too_many_columns_are_refused(duck: Store, tmp_path: Path) -> None:
    path = tmp_path / "parties.csv"
    path.write_text(HEADER + ",a,b,c\nSH1,Cutter One,sightholder,manufacturer,IN,,,\n")
    refused(duck, "parties", path, "too_many_columns", max_columns="6")


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_too_many_records_are_refused(duck: Store, tmp_path: Path, suffix: str) -> None:
    rows = [PARTY[0]] + [[f"SH{i}", "Cutter", "sightholder", "manufacturer", "IN"] for i in range(50)]
    path = tmp_path / f"parties.{suffix}"
    if suffix == "csv":
        path.write_text("\n".join(",".join(r) for r in rows) + "\n")
    else:
        workbook(path, rows)
    refused(duck, "parties", path, "too_many_records", max_rows="20")


def test_records_a_workbook_cannot_hold_count_towards_the_row_limit(duck: Store, tmp_path: Path) -> None:
    """A workbook of extra cells (every record unreadable, for the quarantine) is bounded too."""
    rows = [PARTY[0]] + [["SH1", "Cutter", "sightholder", "manufacturer", "IN", "extra"] for _ in range(50)]
    refused(duck, "parties", workbook(tmp_path / "parties.xlsx", rows), "too_many_records", max_rows="20")


def test_shared_text_over_its_setting_is_refused_before_it_is_read(duck: Store, tmp_path: Path) -> None:
    path = workbook(tmp_path / "parties.xlsx", PARTY, ["y" * 50 for _ in range(2000)])
    refused(duck, "parties", path, "xlsx_too_large", max_xlsx_shared_strings_bytes="10000")


def test_a_workbook_expanding_past_its_setting_is_refused(duck: Store, tmp_path: Path) -> None:
    path = workbook(tmp_path / "parties.xlsx", PARTY, ["y" * 50 for _ in range(2000)])
    refused(duck, "parties", path, "xlsx_too_large", max_xlsx_expanded_bytes="50000")


def test_a_zip_bomb_sheet_is_refused_by_its_ratio(duck: Store, tmp_path: Path) -> None:
    tail = '<row r="9"><c r="A9"><v>1</v></c></row>' * 60_000  # 2.4 MB of one row repeated: compresses 500-fold
    refused(duck, "parties", workbook(tmp_path / "parties.xlsx", PARTY, sheet_tail=tail), "xlsx_bomb")


def test_a_cell_naming_missing_shared_text_is_a_clear_error(store: Store, tmp_path: Path) -> None:
    rows = [PARTY[0], ["SH1", "s:7", "sightholder", "manufacturer", "IN"]]
    error = refused(store, "parties", workbook(tmp_path / "parties.xlsx", rows, ["only one"]), "unreadable_xlsx")
    assert "shared text" in error.problems[0].message


@pytest.mark.parametrize("suffix", ["csv", "xlsx", "jsonl"])
def test_a_file_of_mostly_unreadable_records_is_refused(duck: Store, tmp_path: Path, suffix: str) -> None:
    """A file whose records mostly cannot be read (a cell too many, not JSON) answers at once,
    instead of quarantining each."""
    rows = [PARTY[0]] + [["SH1", "Cutter", "sightholder", "manufacturer", "IN", "extra"] for _ in range(30)]
    path = tmp_path / f"parties.{suffix}"
    if suffix == "csv":
        path.write_text("\n".join(",".join(r) for r in rows) + "\n")
    elif suffix == "xlsx":
        workbook(path, rows)
    else:
        path.write_text('{"party_id": "SH0", "name": "Zero", "role": "trader", "country": "BE"}\n' + "not json\n" * 30)
    refused(duck, "parties", path, "too_many_unreadable", max_unreadable_records="10")


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_a_record_nested_deeper_than_its_setting_is_refused_with_its_record(duck: Store, tmp_path: Path, suffix: str) -> None:
    """Brackets inside text do not count; arrays and objects a record opens one inside another do."""
    shallow = '{"party_id": "SH1", "name": "[[[[{{{{ \\\\\\" [[[[", "role": "sightholder", "category": "dealer", "country": "BE"}'
    deep = '{"party_id": "SH2", "name": "Deep", "role": "trader", "country": "BE", "x": ' + "[" * 9 + "]" * 9 + "}"
    records = [shallow, deep]
    text = "[" + ",\n".join(records) + "]" if suffix == ".json" else "\n".join(records) + "\n"
    path = tmp_path / f"parties{suffix}"
    path.write_text(text)
    problem = refused(duck, "parties", path, "json_too_deep", max_json_depth="8").problems[0]
    assert problem.row == 2 and problem.file == path.name
    assert "10 deep" in problem.message and "max_json_depth" in problem.message
    result = import_file(duck, "parties", path, settings=Settings({"max_json_depth": "10"}))
    assert result.rows_accepted == 2, result.errors
    assert import_file(duck, "parties", tmp_path / f"parties{suffix}").rows_unchanged == 2  # the default takes it


def test_the_nesting_of_each_json_text_is_measured_outside_its_strings() -> None:
    import json

    import pyarrow as pa

    from roughtrace.ingest.read.json_records import json_depths

    values = [{"a": [1, [2, {"b": "]]]"}]]}, "\\\"[[", [], {"k\\\\": ["\\\\"]}, None, [[[[["{"]]]]]]
    texts = pa.array([None if v is None else json.dumps(v, separators=(",", ":")) for v in values])
    assert json_depths(texts).tolist() == [4, 0, 1, 2, 0, 5]
    assert json_depths(texts.slice(2, 3)).tolist() == [1, 2, 0]
