"""Formats users send: JSON Lines with a broken line, CSV with broken records and blank lines,
dates and amounts written the local way, and the line a user finds a rejected record on."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import write
from roughtrace.errors import FileRejected, Problem, UsageError
from roughtrace.ingest import import_file
from roughtrace.ingest.profile import load_profile
from roughtrace.store import Store
from test_import_support import imported, stored


def quarantined(store: Store) -> list[tuple[int, list[str], list[int | None]]]:
    """(record number, codes, lines) of every quarantined record, in file order."""
    rows = store.query("SELECT source_row, problems FROM quarantine ORDER BY source_row").to_pylist()
    return [(r["source_row"], [p["code"] for p in json.loads(r["problems"])], [p.get("line") for p in json.loads(r["problems"])])
            for r in rows]


def lines(result: object) -> set[tuple[int | None, int | None, str]]:
    """(row, line, code) of every problem an import answered."""
    return {(p.row, p.line, p.code) for p in result.errors}  # type: ignore[attr-defined]


# -- JSON Lines: a line that is not JSON is one record for the quarantine --------------------------------
PARTY = {"party_id": "SH1", "name": "Cutter One", "role": "sightholder", "category": "dealer", "country": "IN"}


def test_a_broken_json_line_is_quarantined_and_the_other_lines_load(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "parties.jsonl"
    path.write_text(json.dumps(PARTY) + "\n\n"
                    '{"party_id": "TR1", "name": "Trader", "role": "trader", "country": "AE"\n'
                    + json.dumps({**PARTY, "party_id": "TR2", "role": "trader", "category": None}) + "\n"
                    + json.dumps({**PARTY, "party_id": "SH9", "country": "XX"}) + "\n", encoding="utf-8")
    result = imported(store, "parties", path)
    assert (result.rows_read, result.rows_accepted, result.rows_rejected) == (4, 2, 2)
    assert lines(result) == {(2, 3, "bad_json"), (4, 5, "unknown_country")}
    assert "not valid JSON" in next(p.message for p in result.errors if p.code == "bad_json")
    assert [r["party_id"] for r in stored(store, "parties")] == ["SH1", "TR2"]
    assert quarantined(store) == [(2, ["bad_json"], [3]), (4, ["unknown_country"], [5])]
    record = json.loads(store.query("SELECT record FROM quarantine WHERE source_row = 2").column("record")[0].as_py())
    assert record == {"_text": '{"party_id": "TR1", "name": "Trader", "role": "trader", "country": "AE"'}


def test_json_lines_none_of_which_is_json_reject_the_file(duck: Store, tmp_path: Path) -> None:
    path = tmp_path / "parties.jsonl"
    path.write_text("\nparty_id,name\nSH1,Cutter One\n", encoding="utf-8")
    with pytest.raises(FileRejected) as caught:
        import_file(duck, "parties", path)
    problem = caught.value.problems[0]
    assert problem.code == "unreadable_jsonl" and problem.line == 2 and "no line is JSON" in problem.message


def test_nested_certificate_lines_keep_their_numbers_beside_a_broken_line(duck: Store, tmp_path: Path) -> None:
    header = {"certificate_id": "BW0001", "exporting_country": "BW", "importing_country": "BE", "origin": "BW",
              "exporter_name": "Okavango Diamond Co", "exporter_address": "Gaborone", "importer_name": "Antwerp Rough NV",
              "importer_address": "Antwerp", "issuing_authority": "Ministry of Minerals", "issue_date": "2026-01-05",
              "expiry_date": "2026-03-05", "parcels": 2}
    first = {**header, "lines": [{"hs_code": "7102.31", "carats": "100.000", "value_usd": "60000.00"},
                                 {"hs_code": "7102.21", "carats": "20.000", "value_usd": "1500.00"}]}
    last = {**header, "certificate_id": "ZA0002", "exporting_country": "ZA",
            "lines": [{"hs_code": "7102.31", "carats": "10.0001", "value_usd": "900.00"}]}
    path = tmp_path / "certificates.jsonl"
    path.write_text(json.dumps(first) + "\n{broken\n" + json.dumps(last) + "\n", encoding="utf-8")
    result = imported(duck, "kp_certificates", path)
    assert (result.rows_read, result.rows_accepted) == (4, 2)
    assert lines(result) == {(3, 2, "bad_json"), (4, 3, "too_many_decimals")}


# -- CSV: broken records are quarantined with the line a spreadsheet shows -------------------------------
def test_csv_lines_count_blank_lines_and_not_line_ends_inside_quotes(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "parties.csv", '''
        party_id,name,role,category,country

        SH1,"Cutter
        One",sightholder,manufacturer,IN
        TR1,Trader,trader,AE

        TR2,Trader Two,trader,,XX
        TR3,"Trader ""Three""",trader,,AE
        ''')
    result = imported(store, "parties", path)
    assert (result.rows_read, result.rows_accepted, result.rows_rejected) == (4, 2, 2)
    # record 2 is on the 4th row a spreadsheet shows (header, blank, record 1), record 3 on the 6th
    assert lines(result) == {(2, 4, "field_count"), (3, 6, "unknown_country")}
    assert quarantined(store) == [(2, ["field_count"], [4]), (3, ["unknown_country"], [6])]


def test_csv_without_blank_lines_puts_record_n_on_line_n_plus_1(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "parties.csv", """
        party_id,name,role,category,country
        SH1,Cutter One,sightholder,manufacturer,IN
        TR1,Trader,trader,,UK
        TR2,Trader Two,trader
        """)
    result = imported(store, "parties", path)
    assert lines(result) == {(2, 3, "unknown_country"), (3, 4, "field_count")}


def test_csv_blank_lines_with_crlf_and_before_the_header(duck: Store, tmp_path: Path) -> None:
    path = tmp_path / "parties.csv"
    path.write_bytes(b"\r\n\r\nparty_id,name,role,category,country\r\nSH1,Cutter One,sightholder,manufacturer,IN\r\n\r\n"
                     b"TR1,Trader,trader,,UK\r\n")
    result = imported(duck, "parties", path)
    assert lines(result) == {(2, 6, "unknown_country")}


def test_xlsx_lines_are_the_sheet_rows(duck: Store, tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for row in [[None], ["party_id", "name", "role", "category", "country"], ["SH1", "Cutter One", "sightholder", "manufacturer", "IN"],
                [None, None], ["TR1", "Trader", "trader", None, "UK"]]:
        sheet.append(row)
    book.save(tmp_path / "parties.xlsx")
    result = imported(duck, "parties", tmp_path / "parties.xlsx")
    assert lines(result) == {(2, 5, "unknown_country")}


def test_a_json_array_has_no_lines(duck: Store, tmp_path: Path) -> None:
    path = tmp_path / "parties.json"
    path.write_text(json.dumps([PARTY, {**PARTY, "party_id": "SH2", "country": "XX"}]), encoding="utf-8")
    assert lines(imported(duck, "parties", path)) == {(2, None, "unknown_country")}


def test_the_error_shape_carries_the_line_when_there_is_one() -> None:
    assert Problem("bad_date", "m", file="f.csv", row=4, column="date", line=5).as_dict()["source"] == {
        "file": "f.csv", "row": 4, "column": "date", "line": 5}
    assert Problem("usage", "m").as_dict()["source"] == {"file": None, "row": None, "column": None}


# -- dates and amounts written the local way -----------------------------------------------------------
LOCAL_PROFILE = """
    [profile]
    delimiter = ";"
    date_format = "%d/%m/%Y"
    decimal = ","
    thousands = "."
    """


def test_a_profile_reads_local_dates_and_amounts_exactly(store: Store, tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, "local.toml", LOCAL_PROFILE))
    path = write(tmp_path, "tx.csv", """
        tx_id;date;shape;color;clarity;carat;price_usd;price_type
        T1;10/12/2024;round;G;VS1;1,01;2.950,00;transaction
        T2;01/02/2025;round;G;VS1;0,5;12.345.678,5;transaction
        T3;2025-02-03;round;G;VS1;,25;950;transaction
        T4;31/02/2024;round;G;VS1;1,010;2.950,00;transaction
        T5;10/12/2024;round;G;VS1;1.01;29.50;transaction
        T6;10/12/2024;round;G;VS1;1,0101;2950,001;transaction
        T7;10/12/2024;round;G;VS1;1,5e3;2.95.0,00;transaction
        """)
    result = imported(store, "transactions", path, profile=profile)
    assert (result.rows_read, result.rows_accepted) == (7, 3)
    assert lines(result) == {(4, 5, "bad_date"), (5, 6, "not_a_number"), (6, 7, "too_many_decimals"), (7, 8, "not_a_number")}
    assert {(p.row, p.column) for p in result.errors if p.code == "not_a_number"} == {
        (5, "carat"), (5, "price_usd"), (7, "carat"), (7, "price_usd")}
    assert "%d/%m/%Y" in next(p.message for p in result.errors if p.code == "bad_date")
    assert "',' as decimal point" in next(p.message for p in result.errors if p.code == "not_a_number")
    rows = stored(store, "transactions", "tx_id, date::VARCHAR AS date, carat, price_usd")
    assert rows == [
        {"tx_id": "T1", "date": "2024-12-10", "carat": Decimal("1.010"), "price_usd": Decimal("2950.00")},
        {"tx_id": "T2", "date": "2025-02-01", "carat": Decimal("0.500"), "price_usd": Decimal("12345678.50")},
        {"tx_id": "T3", "date": "2025-02-03", "carat": Decimal("0.250"), "price_usd": Decimal("950.00")},
    ]


def test_a_date_column_can_have_its_own_format(market: Store, tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, "dates.toml", """
        [profile]
        date_format = "%m/%d/%Y"
        [dates]
        polished_date = "%d.%m.%y"
        """))
    path = write(tmp_path, "outcomes.csv", """
        stone_id,lab,sightholder_id,box_id,polished_date,shape,carat,color,clarity
        2231456789,GIA,SH1,B1,02.03.26,round,0.702,G,VS1
        2231456790,GIA,SH1,B1,03/02/2026,round,0.702,G,VS1
        """)
    result = imported(market, "polished_outcomes", path, profile=profile)
    assert lines(result) == {(2, 3, "bad_date")}
    assert stored(market, "polished_outcomes", "polished_date::VARCHAR AS d") == [{"d": "2026-03-02"}]


def test_stones_may_carry_thousands_marks(market: Store, tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, "swiss.toml", """
        [profile]
        thousands = "'"
        """))
    boxes = """
        box_id,sight,sale_date,seller_id,buyer_id,origin,assortment,model,size_min_ct,size_max_ct,colour,quality,stones,carats,price_usd
        B9,2026-01,2026-01-20,DB,SH1,BW,A-100,stones,0.01,0.10,white,high,1'200,60.000,25'000.00
        B8,2026-01,2026-01-20,DB,SH1,BW,A-100,stones,0.01,0.10,white,high,12'00,60.000,25000.00
        """
    result = imported(market, "rough_sales", write(tmp_path, "boxes.csv", boxes), profile=profile)
    assert lines(result) == {(2, 3, "not_an_integer")}
    assert stored(market, "rough_sales", "stones, price_usd", "WHERE box_id = 'B9'") == [{"stones": 1200, "price_usd": Decimal("25000.00")}]


@pytest.mark.parametrize(("text", "said"), [
    ('[profile]\ndate_format = "%d/%m"\n', "year, a month and a day"),
    ('[profile]\ndate_format = "dd/mm/yyyy"\n', "year, a month and a day"),
    ('[profile]\ndecimal = ";"\n', "decimal mark"),
    ('[profile]\nthousands = "_"\n', "between thousands"),
    ('[profile]\ndecimal = ","\nthousands = ","\n', "two ways"),
    ('[dates]\npolished_date = 3\n', "date format"),
])
def test_a_profile_with_a_bad_notation_is_refused(tmp_path: Path, text: str, said: str) -> None:
    (tmp_path / "bad.toml").write_text(text, encoding="utf-8")
    with pytest.raises(UsageError) as caught:
        load_profile(tmp_path / "bad.toml")
    assert caught.value.problems[0].code == "bad_profile" and said in caught.value.problems[0].message


def test_a_date_format_for_a_column_that_is_not_a_date_is_a_usage_error(duck: Store, tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, "p.toml", '[dates]\ncarat = "%d/%m/%Y"\n'))
    path = write(tmp_path, "outcomes.csv", "stone_id,lab,sightholder_id,box_id,polished_date,shape,carat,color,clarity\n")
    with pytest.raises(UsageError) as caught:
        import_file(duck, "polished_outcomes", path, profile=profile)
    assert "not a date column" in caught.value.problems[0].message


def test_a_sheet_named_in_a_toml_profile(duck: Store, tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    book.active.title = "Notes"
    book.active.append(["nothing to import here"])
    sheet = book.create_sheet("Parties")
    for row in [["party_id", "name", "role", "category", "country"], ["SH1", "Cutter One", "sightholder", "manufacturer", "IN"]]:
        sheet.append(row)
    book.save(tmp_path / "parties.xlsx")
    profile = load_profile(write(tmp_path, "p.toml", '[profile]\nsheet = "Parties"\n'))
    assert imported(duck, "parties", tmp_path / "parties.xlsx", profile=profile).rows_accepted == 1


# -- the contract's page stands on its own -----------------------------------------------------------------
FORMATS_PAGE = Path(__file__).resolve().parent.parent / "docs" / "formats.md"


def test_the_formats_page_names_no_file_outside_the_repository() -> None:
    page = FORMATS_PAGE.read_text(encoding="utf-8")
    assert "../" not in page and "shared/" not in page
    root = FORMATS_PAGE.parent.parent
    for named in re.findall(r"`((?:src|docs|tests|bench)/[\w/.-]+\.(?:py|md|toml))`", page):
        assert (root / named).exists(), named


def test_the_formats_page_lists_every_column_of_every_kind() -> None:
    from roughtrace.domain.kinds import KINDS

    page = FORMATS_PAGE.read_text(encoding="utf-8")
    for kind in KINDS.values():
        section = page.split(f"\n### {kind.name}", 1)[1].split("\n#", 1)[0]
        listed = {name.strip() for row in section.splitlines() if row.startswith("| ") and not row.startswith("| column")
                  for name in row.split("|")[1].split(",")}
        assert listed == set(kind.column_names), kind.name


def test_a_quote_left_open_is_quarantined_and_the_records_after_it_load(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "parties.csv", '''
        party_id,name,role,category,country
        SH1,"Cutter One
        Surat, Gujarat",sightholder,manufacturer,IN
        SH3,"Dealer Three,sightholder,dealer,BE
        TR1,Trader,trader,,AE
        TR2,"Trader Two",trader,,AE
        TR3,Three,trader,,AE
        ''')
    result = imported(store, "parties", path)
    assert (result.rows_read, result.rows_accepted, result.rows_rejected) == (3, 2, 1)
    assert lines(result) == {(2, 3, "quote_overrun")}
    assert [r["party_id"] for r in stored(store, "parties")] == ["SH1", "TR3"]
    assert stored(store, "parties", "name", "WHERE party_id = 'SH1'") == [{"name": "Cutter One\nSurat, Gujarat"}]
    text = json.loads(store.query("SELECT record FROM quarantine").column("record")[0].as_py())["_text"]
    assert "TR1,Trader,trader,,AE" in text


def test_a_workbook_mixes_number_cells_and_local_text_under_one_profile(duck: Store, tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    for row in [["tx_id", "date", "shape", "color", "clarity", "carat", "price_usd", "price_type"],
                ["T1", "10/12/2024", "round", "G", "VS1", 1.01, "2.950,00", "transaction"],
                ["T2", "11/12/2024", "round", "G", "VS1", "0,75", 1234.5, "transaction"]]:
        book.active.append(row)
    book.save(tmp_path / "tx.xlsx")
    profile = load_profile(write(tmp_path, "local.toml", LOCAL_PROFILE))
    result = imported(duck, "transactions", tmp_path / "tx.xlsx", profile=profile)
    assert result.rows_accepted == 2, result.errors
    assert stored(duck, "transactions", "carat, price_usd") == [{"carat": Decimal("1.010"), "price_usd": Decimal("2950.00")},
                                                              {"carat": Decimal("0.750"), "price_usd": Decimal("1234.50")}]


def test_the_command_line_shows_lines_and_says_what_they_are(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import csv

    from roughtrace.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as done:
            main(["--db", f"duckdb:///{tmp_path / 'cli.duckdb'}", *args])
        captured = capsys.readouterr()
        return int(done.value.code or 0), captured.out, captured.err

    path = write(tmp_path, "parties.csv", """
        party_id,name,role,category,country

        SH1,Cutter One,sightholder,manufacturer,IN
        TR1,Trader,trader,,UK
        """)
    code, out, _ = run("import", "parties", str(path))
    assert code == 3
    assert "line: where the record is in the file, as a spreadsheet numbers its rows" in " ".join(out.split())
    assert re.search(r"│ +4 │ country", out)
    code, out, _ = run("quarantine", "export", "--out", str(tmp_path / "q.csv"))
    with (tmp_path / "q.csv").open(newline="", encoding="utf-8") as handle:
        exported = list(csv.DictReader(handle))
    assert [(r["row"], r["line"]) for r in exported] == [("2", "4")]
    broken = tmp_path / "parties.jsonl"
    broken.write_text("\nnot json\n", encoding="utf-8")
    code, _, err = run("import", "parties", str(broken))
    assert code == 1 and "parties.jsonl, line 2:" in err
