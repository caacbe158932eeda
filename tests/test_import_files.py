"""Files as they really arrive: encodings, delimiters, blank lines, ragged rows, huge cells, binary
data, broken JSON, workbooks. Never a crash: a file is loaded, or rejected whole with a reason."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import write
from roughtrace.errors import FileRejected, UsageError
from roughtrace.ingest import import_file
from roughtrace.ingest.profile import MappingProfile
from roughtrace.ingest.read import source as reading
from roughtrace.store import Store
from test_import_support import GOOD, csv_text, imported, problems, stored

PARTIES_CSV = """\
party_id,name,role,category,country
SH1,Cutter One,sightholder,manufacturer,IN
TR1,Trader,trader,,AE
"""


def rejected(store: Store, kind: str, path: Path, code: str, **options: object) -> FileRejected:
    """Import a file that must be rejected whole with `code`; nothing may be stored."""
    with pytest.raises(FileRejected) as caught:
        import_file(store, kind, path, **options)  # type: ignore[arg-type]
    assert [p.code for p in caught.value.problems][:1] == [code], caught.value.problems
    for p in caught.value.problems:
        assert p.message and p.file
    assert store.query("SELECT count(*) AS n FROM batches").column("n")[0].as_py() == 0
    assert store.query(f"SELECT count(*) AS n FROM {kind}").column("n")[0].as_py() == 0
    return caught.value


# -- empty and header-only files ----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["parties.csv", "parties.xlsx", "parties.json", "parties.jsonl", "parties.parquet"])
def test_an_empty_file_is_rejected_in_every_format(duck: Store, tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"")
    rejected(duck, "parties", tmp_path / name, "empty_file")


def test_a_header_only_file_stores_nothing_and_says_so(store: Store, tmp_path: Path) -> None:
    result = imported(store, "parties", write(tmp_path, "parties.csv", "party_id,name,role,category,country\n"))
    assert (result.rows_read, result.rows_accepted, result.rows_rejected) == (0, 0, 0)
    assert result.ok and not result.errors


def test_a_file_of_blank_lines_has_no_header(duck: Store, tmp_path: Path) -> None:
    (tmp_path / "parties.csv").write_text("\n\n  \n", encoding="utf-8")
    rejected(duck, "parties", tmp_path / "parties.csv", "no_header")


# -- rows and row numbers ---------------------------------------------------------------------------------
def test_blank_lines_are_skipped_and_not_counted(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "parties.csv"
    path.write_text("party_id,name,role,category,country\n\nSH1,Cutter One,sightholder,manufacturer,IN\n\n\n"
                    "TR1,Trader,trader,,UK\n\nSH2,Dealer Two,sightholder,dealer,BE\n\n", encoding="utf-8")
    result = imported(store, "parties", path)
    assert result.rows_read == 3
    assert problems(result) == {(2, "country", "unknown_country")}
    assert [r["source_row"] for r in stored(store, "parties")] == [1, 3]


def test_ragged_rows_are_quarantined_with_their_row_number(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "parties.csv"
    path.write_text("party_id,name,role,category,country\n\nSH1,Cutter One,sightholder,manufacturer,IN\n"
                    "TR1,Trader,trader,AE\n\nSH2,Dealer Two,sightholder,dealer,BE,Antwerp,extra\n"
                    "TR2,Trader Two,trader,,AE\n", encoding="utf-8")
    result = imported(store, "parties", path)
    assert (result.rows_read, result.rows_accepted, result.rows_rejected) == (4, 2, 2)
    assert problems(result) == {(2, None, "field_count"), (3, None, "field_count")}
    assert [r["party_id"] for r in stored(store, "parties")] == ["SH1", "TR2"]
    assert [r["source_row"] for r in stored(store, "parties")] == [1, 4]
    kept = store.query("SELECT source_row, record FROM quarantine ORDER BY source_row").to_pylist()
    assert [k["source_row"] for k in kept] == [2, 3]
    assert "TR1,Trader,trader,AE" in kept[0]["record"]


def test_row_numbers_stay_right_after_many_ragged_rows(duck: Store, tmp_path: Path) -> None:
    lines = ["party_id,name,role,category,country"]
    for n in range(1, 301):
        lines.append(f"P{n},Party {n},trader,,AE" if n % 7 else f"P{n},Party {n},trader,AE")
    lines[150] = "P150,Party 150,trader,,XX"
    result = imported(duck, "parties", write(tmp_path, "parties.csv", "\n".join(lines) + "\n"))
    expected = {(n, None, "field_count") for n in range(7, 301, 7)} | {(150, "country", "unknown_country")}
    assert problems(result) == expected


# -- encodings -------------------------------------------------------------------------------------------------
def test_utf8_with_a_byte_order_mark(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "parties.csv"
    path.write_bytes(codecs.BOM_UTF8 + PARTIES_CSV.replace("Cutter One", "Société Générale").encode("utf-8"))
    result = imported(store, "parties", path)
    assert result.rows_accepted == 2 and not result.warnings
    assert stored(store, "parties")[0]["name"] == "Société Générale"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_a_byte_order_mark_is_detected(duck: Store, tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "parties.csv"
    text = PARTIES_CSV.replace("Trader", "Ørsted Rough")
    bom = b"" if encoding == "utf-16" else (codecs.BOM_UTF16_LE if encoding.endswith("le") else codecs.BOM_UTF16_BE)
    path.write_bytes(bom + text.encode(encoding))
    result = imported(duck, "parties", path)
    assert result.rows_accepted == 2 and result.rows_rejected == 0
    assert stored(duck, "parties")[1]["name"] == "Ørsted Rough"


def test_latin1_declared_by_an_option_or_a_profile(duck: Store, tmp_path: Path) -> None:
    path = tmp_path / "parties.csv"
    path.write_bytes(PARTIES_CSV.replace("Cutter One", "Société Générale").encode("latin-1"))
    by_option = imported(duck, "parties", path, encoding="latin-1")
    assert by_option.rows_accepted == 2
    assert stored(duck, "parties")[0]["name"] == "Société Générale"
    other = tmp_path / "parties-2.csv"
    other.write_bytes(PARTIES_CSV.replace("SH1,Cutter One", "SH3,Boîte Trois").encode("latin-1"))
    by_profile = imported(duck, "parties", other, profile=MappingProfile(name="legacy", encoding="latin-1"))
    assert by_profile.rows_accepted == 2
    assert "Boîte Trois" in [r["name"] for r in stored(duck, "parties")]


def test_undecodable_bytes_reject_the_file_saying_where(duck: Store, tmp_path: Path) -> None:
    path = tmp_path / "parties.csv"
    path.write_bytes(PARTIES_CSV.encode() + "SH3,Société,sightholder,dealer,BE\n".encode("latin-1"))
    error = rejected(duck, "parties", path, "bad_encoding")
    assert "line 4" in error.problems[0].message
    assert "--encoding" in error.problems[0].message


def test_undecodable_bytes_far_into_a_large_file(duck: Store, tmp_path: Path) -> None:
    body = "".join(f"P{n},Party {n},trader,,AE\n" for n in range(1, 5001))
    path = tmp_path / "parties.csv"
    path.write_bytes(b"party_id,name,role,category,country\n" + body.encode() + b"P9,Caf\xe9,trader,,AE\n")
    error = rejected(duck, "parties", path, "bad_encoding")
    assert "line 5002" in error.problems[0].message


def test_an_unknown_declared_encoding_is_a_usage_mistake(duck: Store, tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        import_file(duck, "parties", write(tmp_path, "parties.csv", PARTIES_CSV), encoding="klingon-8")
    assert [p.code for p in caught.value.problems] == ["unknown_encoding"]
    assert duck.query("SELECT count(*) AS n FROM batches").column("n")[0].as_py() == 0


# -- binary data and broken files ------------------------------------------------------------------------------
def test_binary_data_named_csv(duck: Store, tmp_path: Path) -> None:
    path = tmp_path / "parties.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    rejected(duck, "parties", path, "not_text")


@pytest.mark.parametrize(("name", "code"), [("parties.xlsx", "unreadable_xlsx"), ("parties.parquet", "unreadable_parquet"),
                                            ("parties.json", "unreadable_json"), ("parties.jsonl", "unreadable_jsonl")])
def test_binary_data_in_other_formats(duck: Store, tmp_path: Path, name: str, code: str) -> None:
    (tmp_path / name).write_bytes(b"\x00\x01\x02PK\x03\x04garbage\xff\xfe" * 50)
    error = rejected(duck, "parties", tmp_path / name, code if name != "parties.json" else "unreadable_jsonl")
    assert "cannot be read" in error.problems[0].message


def test_a_csv_file_named_xlsx(duck: Store, tmp_path: Path) -> None:
    (tmp_path / "parties.xlsx").write_text(PARTIES_CSV, encoding="utf-8")
    rejected(duck, "parties", tmp_path / "parties.xlsx", "unreadable_xlsx")


def test_an_unterminated_quote_rejects_the_file(duck: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "parties.csv", PARTIES_CSV + 'SH3,"Dealer Three,sightholder,dealer,BE\nTR9,Nine,trader,,AE\n')
    error = rejected(duck, "parties", path, "unterminated_quote")
    assert error.problems[0].row == 3


def test_a_quoted_value_may_hold_a_newline_and_the_delimiter(duck: Store, tmp_path: Path) -> None:
    path = tmp_path / "parties.csv"
    path.write_text("party_id,name,role,category,country,address\nTR1,Trader,trader,,AE,\nTR2,Trader Two,trader,,AE,Dubai\n"
                    'SH3,"Dealer, Three",sightholder,dealer,BE,"Pelikaanstraat 62\nAntwerp"\n', encoding="utf-8")
    result = imported(duck, "parties", path)
    assert result.rows_accepted == 3, result.errors
    assert stored(duck, "parties")[2]["address"] == "Pelikaanstraat 62\nAntwerp"


@pytest.mark.parametrize("extra", [1, 13 << 20])
def test_a_record_over_the_largest_rejects_the_file_cleanly_naming_it(duck: Store, tmp_path: Path, extra: int) -> None:
    path = tmp_path / "parties.csv"
    with path.open("w", encoding="utf-8") as handle:
        handle.write(PARTIES_CSV)
        handle.write('SH3,"' + "x" * (reading.CSV_BLOCK_BYTES + extra) + '",sightholder,dealer,BE\nSH4,Four,sightholder,dealer,BE\n')
    error = rejected(duck, "parties", path, "record_too_large")
    assert error.problems[0].row == 3
    assert f"{reading.CSV_BLOCK_BYTES >> 20} MB" in error.problems[0].message


def test_text_over_the_longest_allowed_rejects_the_record(duck: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "parties.csv", PARTIES_CSV + f"SH3,{'y' * 1001},sightholder,dealer,BE\nSH4,{'z' * 1000},sightholder,dealer,BE\n")
    result = imported(duck, "parties", path)
    assert problems(result) == {(3, "name", "too_long")}
    assert result.rows_accepted == 3


def test_formula_looking_text_is_stored_verbatim(duck: Store, tmp_path: Path) -> None:
    formulas = ["=1+1", "+SUM(A1:A9)", "-2+3", "@cmd", '=HYPERLINK("http://x","y")']
    rows = [{**GOOD["transactions"], "tx_id": f"T{n}", "source": text} for n, text in enumerate(formulas)]
    path = tmp_path / "transactions.csv"
    path.write_text(csv_text(list(GOOD["transactions"]), rows), encoding="utf-8")
    assert imported(duck, "transactions", path).rows_accepted == len(formulas)
    assert [r["source"] for r in stored(duck, "transactions")] == formulas


def test_whitespace_around_values_is_trimmed_and_inside_kept(duck: Store, tmp_path: Path) -> None:
    text = ("party_id,name,role,category,country\n"
            "SH1 ,\tCutter  One\u00a0,sightholder\u3000, manufacturer,IN\n"
            "TR1,Trader,trader,,\u2003AE\n")
    result = imported(duck, "parties", write(tmp_path, "parties.csv", text))
    assert result.rows_accepted == 2 and result.rows_rejected == 0
    rows = stored(duck, "parties")
    assert [(r["party_id"], r["name"], r["role"], r["category"], r["country"]) for r in rows] == [
        ("SH1", "Cutter  One", "sightholder", "manufacturer", "IN"), ("TR1", "Trader", "trader", None, "AE")]


@pytest.mark.parametrize(("values", "plain"), [
    (["GIA", "0.702", "2026-03-02"], True),
    (["GIA", " IGI"], False),
    (["GIA", "HRD\t"], False),
    (["GIA", "Cutter One"], False),  # a space inside: trimmed exactly, which leaves it be
    (["GIA", "IGI\u00a0"], False),
    (["", ""], True),
])
def test_a_column_is_plain_only_without_spaces_controls_or_non_ascii(values: list[str], plain: bool) -> None:
    assert reading._all_plain(pa.array(values)) is plain
    padded = pa.array([" x "] + values + [" y "])
    assert reading._all_plain(padded.slice(1, len(values))) is plain  # a slice sees its own bytes only


# -- delimiters and headers ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_semicolon_and_tab_delimiters(store: Store, tmp_path: Path, delimiter: str) -> None:
    text = PARTIES_CSV.replace(",", delimiter).replace("Cutter One", "Cutter, One")
    result = imported(store, "parties", write(tmp_path, "parties.csv" if delimiter == ";" else "parties.tsv", text))
    assert result.rows_accepted == 2 and result.rows_rejected == 0
    assert stored(store, "parties")[0]["name"] == "Cutter, One"


def test_column_names_match_whatever_their_case_and_spaces(duck: Store, tmp_path: Path) -> None:
    text = PARTIES_CSV.replace("party_id,name,role,category,country", " Party_ID , NAME,Role ,category,  Country")
    result = imported(duck, "parties", write(tmp_path, "parties.csv", text))
    assert result.rows_accepted == 2 and not result.warnings


def test_extra_columns_are_kept_and_warned(store: Store, tmp_path: Path) -> None:
    text = PARTIES_CSV.replace("country\n", "country,Account Manager\n").replace(",IN\n", ",IN,Priya\n").replace(",AE\n", ",AE,\n")
    result = imported(store, "parties", write(tmp_path, "parties.csv", text))
    assert result.rows_accepted == 2
    assert [(w.code, w.column) for w in result.warnings] == [("extra_column", "Account Manager")]
    extras = [json.loads(r["extras"]) for r in stored(store, "parties")]
    assert extras[0] == {"Account Manager": "Priya"}


def test_a_missing_required_column_rejects_the_file(store: Store, tmp_path: Path) -> None:
    text = "party_id,name,role,category\nSH1,Cutter One,sightholder,manufacturer\n"
    error = rejected(store, "parties", write(tmp_path, "parties.csv", text), "missing_column")
    assert error.problems[0].column == "country"


def test_every_missing_column_is_named(duck: Store, tmp_path: Path) -> None:
    error = rejected(duck, "polished_outcomes", write(tmp_path, "outcomes.csv", "stone_id,lab,carat\n1,GIA,0.5\n"), "missing_column")
    assert {p.column for p in error.problems} == {"sightholder_id", "box_id", "polished_date", "shape", "color", "clarity"}


def test_two_headers_for_one_column_reject_the_file(duck: Store, tmp_path: Path) -> None:
    text = PARTIES_CSV.replace("country\n", "Country \n").replace("party_id,", "party_id,COUNTRY,").replace("SH1,", "SH1,IN,").replace("TR1,", "TR1,AE,")
    rejected(duck, "parties", write(tmp_path, "parties.csv", text), "duplicate_column")


def test_an_optional_column_may_be_absent(duck: Store, tmp_path: Path) -> None:
    result = imported(duck, "parties", write(tmp_path, "parties.csv", PARTIES_CSV))
    assert result.rows_accepted == 2
    assert [r["address"] for r in stored(duck, "parties")] == [None, None]


# -- JSON -------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ['[{"party_id": "SH1", "name": "Cutter One"', "{not json}\n", "[1, 2"])
def test_broken_json_rejects_the_file(duck: Store, tmp_path: Path, text: str) -> None:
    path = tmp_path / "parties.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FileRejected) as caught:
        import_file(duck, "parties", path)
    assert caught.value.problems[0].code.startswith("unreadable_json")


@pytest.mark.parametrize(("text", "row"), [("[1, 2]", 1), ('[{"party_id": "SH1"}, "TR1"]', 2), ("[[1, 2]]", 1),
                                           ('"just text"', 1), ('{"party_id": "SH1"}\n[1]\n', 2)])
def test_json_that_is_not_objects_rejects_the_file(duck: Store, tmp_path: Path, text: str, row: int) -> None:
    path = tmp_path / "parties.json"
    path.write_text(text, encoding="utf-8")
    error = rejected(duck, "parties", path, "not_objects")
    assert error.problems[0].row == row


def test_json_records_with_missing_and_extra_keys(duck: Store, tmp_path: Path) -> None:
    records = [
        {"party_id": "SH1", "name": "Cutter One", "role": "sightholder", "category": "manufacturer", "country": "IN", "since": 1998},
        {"party_id": "TR1", "name": "Trader", "role": "TRADER", "country": "ae"},
        {"party_id": "TR2", "name": "Trader Two", "role": "trader", "country": None},
    ]
    path = tmp_path / "parties.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    result = imported(duck, "parties", path)
    assert problems(result) == {(3, "country", "missing_value")}
    assert [w.column for w in result.warnings] == ["since"]
    assert [(r["role"], r["country"]) for r in stored(duck, "parties")] == [("sightholder", "IN"), ("trader", "AE")]


def test_json_lines(duck: Store, tmp_path: Path) -> None:
    path = tmp_path / "parties.jsonl"
    path.write_text('{"party_id": "SH1", "name": "Cutter One", "role": "sightholder", "category": "dealer", "country": "IN"}\n\n'
                    '{"party_id": "TR1", "name": "Trader", "role": "trader", "country": "XX"}\n', encoding="utf-8")
    result = imported(duck, "parties", path)
    assert problems(result) == {(2, "country", "unknown_country")}


def test_certificate_lines_nested_in_json(store: Store, tmp_path: Path) -> None:
    header = {"certificate_id": "BW0001", "exporting_country": "BW", "importing_country": "BE", "origin": "BW",
              "exporter_name": "Okavango Diamond Co", "exporter_address": "Gaborone", "importer_name": "Antwerp Rough NV",
              "importer_address": "Antwerp", "issuing_authority": "Ministry of Minerals", "issue_date": "2026-01-05",
              "expiry_date": "2026-03-05", "parcels": 2}
    certificates = [
        {**header, "lines": [{"hs_code": "7102.31", "carats": "100.000", "value_usd": "60000.00"},
                             {"hs_code": "7102.21", "carats": "20.000", "value_usd": "1500.00"}]},
        {**header, "certificate_id": "ZA0002", "exporting_country": "ZA",
         "lines": [{"hs_code": "7102.31", "carats": "10.0001", "value_usd": "900.00"},
                   {"hs_code": "7102.10", "carats": "5.000", "value_usd": "100.00"}]},
    ]
    path = tmp_path / "certificates.json"
    path.write_text(json.dumps(certificates), encoding="utf-8")
    result = imported(store, "kp_certificates", path)
    assert (result.rows_read, result.rows_accepted) == (4, 3)
    assert problems(result) == {(3, "carats", "too_many_decimals")}
    lines = stored(store, "kp_certificates", "certificate_id, hs_code, parcels")
    assert lines == [{"certificate_id": "BW0001", "hs_code": "7102.31", "parcels": 2},
                     {"certificate_id": "BW0001", "hs_code": "7102.21", "parcels": 2},
                     {"certificate_id": "ZA0002", "hs_code": "7102.10", "parcels": 2}]


def test_certificate_lines_that_are_not_a_list(duck: Store, tmp_path: Path) -> None:
    path = tmp_path / "certificates.json"
    path.write_text(json.dumps([{"certificate_id": "BW0001", "lines": {"hs_code": "7102.31"}}]), encoding="utf-8")
    rejected(duck, "kp_certificates", path, "not_objects")


# -- workbooks and Parquet ----------------------------------------------------------------------------------------------
def _workbook(path: Path, sheets: dict[str, list[list[object]]]) -> None:
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)


PARTY_ROWS = [["party_id", "name", "role", "category", "country"], ["SH1", "Cutter One", "sightholder", "manufacturer", "IN"],
              [None, None, None, None, None], ["TR1", "Trader", "trader", None, "UK"]]


def test_xlsx_reads_the_first_sheet(store: Store, tmp_path: Path) -> None:
    _workbook(tmp_path / "parties.xlsx", {"Parties": PARTY_ROWS, "Notes": [["nothing here"]]})
    result = imported(store, "parties", tmp_path / "parties.xlsx")
    assert problems(result) == {(2, "country", "unknown_country")}


def test_xlsx_with_a_sheet_named_in_the_profile(duck: Store, tmp_path: Path) -> None:
    _workbook(tmp_path / "parties.xlsx", {"Cover": [["Sight 2026-01 report"]], "Parties": PARTY_ROWS[:2]})
    result = imported(duck, "parties", tmp_path / "parties.xlsx", profile=MappingProfile(sheet="Parties"))
    assert result.rows_accepted == 1
    with pytest.raises(FileRejected) as caught:
        import_file(duck, "parties", tmp_path / "parties.xlsx", profile=MappingProfile(sheet="Sheet9"))
    assert caught.value.problems[0].code == "unknown_sheet" and "Parties" in caught.value.problems[0].message


def test_xlsx_numbers_and_dates_as_cells(duck: Store, tmp_path: Path) -> None:
    import datetime

    _workbook(tmp_path / "tx.xlsx", {"Sheet1": [
        ["tx_id", "date", "shape", "color", "clarity", "carat", "price_usd", "price_type"],
        ["T1", datetime.date(2026, 3, 5), "round", "G", "VS1", "1.010", 9800, "transaction"],
        ["T2", datetime.datetime(2026, 3, 5), "round", "G", "VS1", 1, "9800.50", "asking"],
        [17, "2026-03-05", "oval", "H", "SI1", "0.5", "100", "transaction"],
    ]})
    result = imported(duck, "transactions", tmp_path / "tx.xlsx")
    assert result.rows_rejected == 0, result.errors
    assert [r["tx_id"] for r in stored(duck, "transactions")] == ["T1", "T2", "17"]


def test_xlsx_ragged_row(duck: Store, tmp_path: Path) -> None:
    _workbook(tmp_path / "parties.xlsx", {"P": PARTY_ROWS[:2] + [["TR1", "Trader", "trader", None, "AE", "surplus"]]})
    result = imported(duck, "parties", tmp_path / "parties.xlsx")
    assert problems(result) == {(2, None, "field_count")}


def test_parquet_with_typed_columns(duck: Store, tmp_path: Path) -> None:
    import datetime
    from decimal import Decimal

    table = pa.table({"tx_id": ["T1", "T2"], "date": pa.array([datetime.date(2026, 3, 5)] * 2, pa.date32()), "shape": ["round", "Pear"],
                      "color": ["G", "h"], "clarity": ["VS1", "si1"], "carat": pa.array([Decimal("1.010"), Decimal("0.5")], pa.decimal128(10, 3)),
                      "price_usd": pa.array([Decimal("9800.00"), Decimal("2100.55")], pa.decimal128(12, 2)), "price_type": ["transaction"] * 2,
                      "stones": pa.array([1, 1], pa.int32())})
    pq.write_table(table, tmp_path / "tx.parquet")
    result = imported(duck, "transactions", tmp_path / "tx.parquet")
    assert result.rows_accepted == 2 and [w.column for w in result.warnings] == ["stones"]
    assert [r["price_usd"] for r in stored(duck, "transactions")] == [Decimal("9800.00"), Decimal("2100.55")]


def test_a_file_with_an_unknown_extension(duck: Store, tmp_path: Path) -> None:
    rejected(duck, "parties", write(tmp_path, "parties.dat", PARTIES_CSV), "unknown_format")
    assert imported(duck, "parties", tmp_path / "parties.dat", file_format="csv").rows_accepted == 2


def test_a_file_that_does_not_exist(duck: Store, tmp_path: Path) -> None:
    rejected(duck, "parties", tmp_path / "nowhere.csv", "file_not_found")


def test_the_file_scan_gives_the_files_digest_and_quotes_and_names_a_failure(tmp_path: Path):
    import hashlib

    from roughtrace.ingest.read.source import FileScan

    path = tmp_path / "a.csv"
    path.write_bytes(b'stone_id,note\n1,"a ""b"""\n')
    scan = FileScan(path)
    assert scan.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert scan.quotes == 6 and scan.ends_with_newline
    with pytest.raises(FileRejected) as caught:
        _ = FileScan(tmp_path).sha256  # a folder cannot be read as bytes
    assert caught.value.problems[0].code == "unreadable_file"
