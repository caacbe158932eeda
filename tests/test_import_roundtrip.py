"""Import then export gives the same rows: for every kind and every format, generated valid
records (in any spelling the contract accepts) -> file -> import -> export_kind -> the same
records in canonical form; and the export imports again as nothing new."""

from __future__ import annotations

import csv
import datetime
import json
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import BOXES, PARTIES, make_store, write
from roughtrace.domain import grades, kinds, kp, rough
from roughtrace.domain.kinds import KINDS
from roughtrace.ingest import import_file
from roughtrace.ingest.export import export_kind
from roughtrace.ledger.keys import ensure_key
from roughtrace.store import Store
from test_import_support import CERTIFICATES, assert_balanced

FORMATS = ("csv", "xlsx", "json", "jsonl", "parquet")
EXAMPLES = settings(max_examples=int(os.environ.get("ROUGHTRACE_ROUNDTRIP_EXAMPLES", "5")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                           HealthCheck.too_slow])


class _Rollback(Exception):
    """Ends an example: the store goes back to its reference data."""


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A DuckDB store with the market's parties, boxes and certificate BW0001, shared by the
    examples of a module; each example runs in a transaction rolled back at its end."""
    folder = tmp_path_factory.mktemp("roundtrip")
    # its signing key beside it: each test has a home (and config folder) of its own, the store outlives them
    ensure_key(folder / "store.duckdb.ledger-key.pem")
    for store in make_store("duckdb", folder):
        store.migrate()
        for kind, text in (("parties", PARTIES), ("rough_sales", BOXES), ("kp_certificates", CERTIFICATES)):
            assert import_file(store, kind, write(folder, f"{kind}.csv", text)).rows_rejected == 0
        yield store


# -- valid records, as a sender might spell them, with their canonical values --------------------
TEXT = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 ,;\"'=+-@#/&().éøü€", min_size=1, max_size=14
               ).filter(lambda s: s == s.strip())
COUNTRIES = ("BW", "ZA", "BE", "IN", "AE", "GB", "RU", "CA", "AO", "NA", "IL", "US")


def spelled(value: str) -> st.SearchStrategy[tuple[str, str]]:
    """(as written, canonical) for an enumeration value or country code, in any case."""
    return st.sampled_from([value, value.upper(), value.lower(), value.title()]).map(lambda text: (text, value))


def enum(values: tuple[str, ...]) -> st.SearchStrategy[tuple[str, str]]:
    return st.sampled_from(values).flatmap(spelled)


def country(values: tuple[str, ...] = COUNTRIES) -> st.SearchStrategy[tuple[str, str]]:
    return enum(values)


def amount(places: int, low: int = 1, high: int = 10**9) -> st.SearchStrategy[tuple[str, Decimal]]:
    """A positive exact amount in units of 10**-places, written with or without trailing zeros."""
    return st.integers(low, high).flatmap(lambda units: exact_text(Decimal(units).scaleb(-places)))


def exact_text(value: Decimal) -> st.SearchStrategy[tuple[str, Decimal]]:
    plain = format(value.normalize(), "f")
    return st.sampled_from([str(value), plain, str(value) + "00", f" {value} "]).map(lambda text: (text, value))


def optional(strategy: st.SearchStrategy[tuple[str, Any]]) -> st.SearchStrategy[tuple[str, Any]]:
    return st.one_of(st.just(("", None)), strategy)


def text_value() -> st.SearchStrategy[tuple[str, str]]:
    return TEXT.map(lambda t: (t, t))


def date_after(first: datetime.date, days: int = 400) -> st.SearchStrategy[tuple[str, str]]:
    return st.integers(0, days).map(lambda n: ((first + datetime.timedelta(days=n)).isoformat(),) * 2)


def fixed(text: str) -> tuple[str, str]:
    """A value written exactly as stored."""
    return (text, text)


SALE_DAY = datetime.date(2026, 1, 20)
BOUGHT = (("SH1", "B1"), ("SH2", "B2"))
PARTY_IDS = ("DB", "SH1", "SH2", "TR1")


@st.composite
def party(draw: st.DrawFn) -> dict[str, tuple[str, Any]]:
    role = draw(enum(rough.ROLES))
    category = draw(enum(rough.SIGHTHOLDER_CATEGORIES)) if role[1] == "sightholder" else ("", None)
    return {"party_id": draw(text_value().filter(lambda p: p[1] not in PARTY_IDS)), "name": draw(text_value()), "role": role, "category": category,
            "country": draw(country()), "address": draw(optional(text_value()))}


@st.composite
def box(draw: st.DrawFn) -> dict[str, tuple[str, Any]]:
    smallest = draw(st.integers(1, 5000))
    largest = draw(st.integers(smallest, smallest + 5000))
    stones = draw(st.integers(1, 500))
    weight = draw(st.integers(stones * smallest, stones * largest))
    return {
        "box_id": draw(text_value().filter(lambda b: b[1] not in ("B1", "B2"))), "sight": draw(st.sampled_from(["2026-01", "2026-02", "2026-03"]).map(lambda s: (s, s))),
        "sale_date": draw(date_after(datetime.date(2025, 1, 1))), "seller_id": draw(st.sampled_from(PARTY_IDS).map(lambda p: (p, p))),
        "buyer_id": draw(st.sampled_from(PARTY_IDS).map(lambda p: (p, p))),
        "origin": draw(st.one_of(country(), spelled("mixed"))), "assortment": draw(text_value()), "model": draw(enum(rough.MODELS)),
        "size_min_ct": draw(exact_text(Decimal(smallest).scaleb(-3))), "size_max_ct": draw(exact_text(Decimal(largest).scaleb(-3))),
        "colour": draw(enum(rough.ROUGH_COLOURS)), "quality": draw(enum(rough.QUALITIES)),
        "stones": draw(st.sampled_from([str(stones), f" {stones}"]).map(lambda t: (t, stones))),
        "carats": draw(exact_text(Decimal(weight).scaleb(-3))), "price_usd": draw(amount(2, 1, 10**13)),
        "kp_certificate_id": draw(optional(text_value())),
    }


@st.composite
def outcome(draw: st.DrawFn) -> dict[str, tuple[str, Any]]:
    sightholder, box_id = draw(st.sampled_from(BOUGHT))
    weight = draw(st.integers(1, 20_000))
    rough_weight = draw(st.one_of(st.none(), st.integers(weight, 60_000)))
    return {
        "stone_id": draw(text_value()), "lab": draw(enum(grades.LABS)), "sightholder_id": fixed(sightholder), "box_id": fixed(box_id),
        "rough_stone_id": draw(optional(text_value())),
        "rough_carats": ("", None) if rough_weight is None else draw(exact_text(Decimal(rough_weight).scaleb(-3))),
        "polished_date": draw(date_after(SALE_DAY)), "shape": draw(enum(grades.SHAPES)),
        "carat": draw(exact_text(Decimal(weight).scaleb(-3))), "color": draw(enum(grades.COLOURS)),
        "clarity": draw(enum(grades.CLARITIES)), "cut": draw(optional(enum(grades.CUTS))),
    }


@st.composite
def disposition(draw: st.DrawFn) -> dict[str, tuple[str, Any]]:
    sightholder, box_id = draw(st.sampled_from(BOUGHT))
    what = draw(enum(rough.DISPOSITIONS))
    counterparty = st.sampled_from(PARTY_IDS).map(lambda p: (p, p))
    return {"sightholder_id": fixed(sightholder), "box_id": fixed(box_id), "disposition": what,
            "carats": draw(amount(3, 1, 10**7)), "date": draw(date_after(SALE_DAY)),
            "counterparty_id": draw(counterparty if what[1] == "sold_rough" else optional(counterparty))}


@st.composite
def transaction(draw: st.DrawFn) -> dict[str, tuple[str, Any]]:
    return {"tx_id": draw(text_value()), "date": draw(date_after(datetime.date(2024, 1, 1), 900)), "shape": draw(enum(grades.SHAPES)),
            "color": draw(enum(grades.COLOURS)), "clarity": draw(enum(grades.CLARITIES)), "cut": draw(optional(enum(grades.CUTS))),
            "lab": draw(optional(enum(grades.LABS))), "carat": draw(amount(3, 1, 50_000)), "price_usd": draw(amount(2, 1, 10**10)),
            "price_type": draw(enum(rough.PRICE_TYPES)), "source": draw(optional(text_value()))}


@st.composite
def certificate(draw: st.DrawFn) -> list[dict[str, tuple[str, Any]]]:
    exporting = draw(country())
    importing = draw(country(tuple(c for c in COUNTRIES if c != exporting[1])))
    number = draw(st.integers(0, 10**6))
    prefix = draw(st.sampled_from([exporting[1], exporting[1].lower()]))
    issued = draw(st.integers(0, 700))
    issue = datetime.date(2025, 1, 1) + datetime.timedelta(days=issued)
    expiry = issue + datetime.timedelta(days=draw(st.integers(1, 365)))
    parcels = draw(st.integers(1, 40))
    header = {
        "certificate_id": fixed(f"{prefix}{number:07d}"), "exporting_country": exporting, "importing_country": importing,
        "origin": draw(st.one_of(country(), spelled("mixed"))), "exporter_name": draw(text_value()),
        "exporter_address": draw(text_value()), "importer_name": draw(text_value()), "importer_address": draw(text_value()),
        "issuing_authority": draw(text_value()), "issue_date": (issue.isoformat(),) * 2, "expiry_date": (expiry.isoformat(),) * 2,
        "parcels": (str(parcels), parcels),
    }
    codes = draw(st.lists(st.sampled_from(tuple(kp.HS_CODES)), min_size=1, max_size=3, unique=True))
    return [{**header, "hs_code": fixed(code), "carats": draw(amount(3, 1, 10**8)), "value_usd": draw(amount(2, 1, 10**11))}
            for code in codes]


@st.composite
def parcel(draw: st.DrawFn) -> dict[str, tuple[str, Any]]:
    return {"certificate_id": fixed("BW0001"), "hs_code": fixed(draw(st.sampled_from(["7102.31", "7102.21"]))),
            "assortment": draw(text_value()), "carats": draw(amount(3, 1, 3000))}


def _canonical_key(kind: str, row: dict[str, tuple[str, Any]]) -> tuple[Any, ...]:
    key = KINDS[kind].key or KINDS[kind].column_names
    return tuple(row[c][1] for c in key)


RECORDS: dict[str, st.SearchStrategy[list[dict[str, tuple[str, Any]]]]] = {
    "parties": st.lists(party(), min_size=1, max_size=5, unique_by=lambda r: r["party_id"][1]),
    "rough_sales": st.lists(box(), min_size=1, max_size=5, unique_by=lambda r: r["box_id"][1]),
    "polished_outcomes": st.lists(outcome(), min_size=1, max_size=5, unique_by=lambda r: (r["lab"][1], r["stone_id"][1])),
    "rough_dispositions": st.lists(disposition(), min_size=1, max_size=5, unique_by=lambda r: _canonical_key("rough_dispositions", r)),
    "transactions": st.lists(transaction(), min_size=1, max_size=5, unique_by=lambda r: r["tx_id"][1]),
    "kp_certificates": st.lists(certificate(), min_size=1, max_size=3, unique_by=lambda c: c[0]["certificate_id"][1].upper()).map(
        lambda certificates: [line for lines in certificates for line in lines]),
    "parcel_contents": st.lists(parcel(), min_size=1, max_size=5, unique_by=lambda r: r["assortment"][1]),
}


# -- writing the generated records as a sender would, and reading an export back -----------------------
def write_input(path: Path, kind: str, rows: list[dict[str, tuple[str, Any]]], fmt: str) -> None:
    """Every value as its text (as a sender's system writes it); empty optional values left out in JSON."""
    names = KINDS[kind].column_names
    if fmt == "csv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(names)
            writer.writerows([[row[c][0] for c in names] for row in rows])
    elif fmt == "xlsx":
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell

        book = Workbook(write_only=True)
        sheet = book.create_sheet("data")
        sheet.append(list(names))
        for row in rows:
            cells = []
            for c in names:
                cell = WriteOnlyCell(sheet, value=row[c][0] or None)
                if row[c][0]:
                    cell.data_type = "s"
                cells.append(cell)
            sheet.append(cells)
        book.save(path)
    elif fmt in ("json", "jsonl"):
        objects = [{c: row[c][0] for c in names if row[c][0] != ""} for row in rows]
        text = json.dumps(objects, ensure_ascii=False) if fmt == "json" else "\n".join(json.dumps(o, ensure_ascii=False) for o in objects) + "\n"
        path.write_text(text, encoding="utf-8")
    else:
        pq.write_table(pa.table({c: pa.array([row[c][0] or None for row in rows], pa.string()) for c in names}), path)


def read_export(path: Path, fmt: str) -> list[dict[str, Any]]:
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    if fmt == "xlsx":
        from openpyxl import load_workbook

        sheet = load_workbook(path, read_only=True).worksheets[0]
        values = list(sheet.iter_rows(values_only=True))
        width = len(values[0])
        return [dict(zip(values[0], tuple(row) + (None,) * (width - len(row)), strict=True)) for row in values[1:]]
    if fmt == "json":
        return json.loads(path.read_text(encoding="utf-8"))
    if fmt == "jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return pq.read_table(path).to_pylist()


def canonical(kind: str, row: dict[str, Any], fmt: str) -> dict[str, Any]:
    """An exported record in canonical values, checking amounts are exact text at full places."""
    out: dict[str, Any] = {}
    for column in KINDS[kind].columns:
        value = row[column.name]
        if value is None or value == "":
            out[column.name] = None
        elif column.type in (kinds.CARATS, kinds.USD):
            places = 3 if column.type == kinds.CARATS else 2
            if fmt != "parquet":
                assert isinstance(value, str) and len(value.split(".")[1]) == places, (column.name, value)
            out[column.name] = Decimal(str(value))
        elif column.type == kinds.INTEGER:
            out[column.name] = int(value)
        elif column.type == kinds.DATE:
            out[column.name] = value.isoformat()[:10] if hasattr(value, "isoformat") else value
        else:
            out[column.name] = value
    return out


def round_trip(store: Store, folder: Path, kind: str, fmt: str, rows: list[dict[str, tuple[str, Any]]],
               reimport: bool = False) -> None:
    source = folder / f"sent.{fmt}"
    write_input(source, kind, rows, fmt)
    already = store.query(f"SELECT count(*) AS n FROM {kind}").column("n")[0].as_py()
    result = import_file(store, kind, source)
    assert_balanced(result)
    assert result.rows_rejected == 0, [p.message for p in result.errors]
    assert result.rows_accepted == len(rows)
    exported = folder / f"exported.{fmt}"
    assert export_kind(store, kind, exported, fmt) == already + len(rows)
    expected = [{c: row[c][1] for c in KINDS[kind].column_names} for row in rows]
    assert [canonical(kind, r, fmt) for r in read_export(exported, fmt)][already:] == expected
    if not reimport:
        return
    again = import_file(store, kind, exported)
    total = already + len(rows)
    assert (again.rows_accepted, again.rows_unchanged, again.rows_rejected) == (total, total, 0)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", list(KINDS))
def test_import_then_export_gives_the_same_rows(reference: Store, tmp_path: Path, kind: str, fmt: str) -> None:
    @EXAMPLES
    @given(RECORDS[kind])
    def check(rows: list[dict[str, tuple[str, Any]]]) -> None:
        with pytest.raises(_Rollback), reference.transaction():
            round_trip(reference, tmp_path, kind, fmt, rows)
            raise _Rollback

    check()


FIXED_OUTCOMES: list[dict[str, tuple[str, Any]]] = [
        {"stone_id": ("2231456789", "2231456789"), "lab": ("gia", "GIA"), "sightholder_id": ("SH1", "SH1"), "box_id": ("B1", "B1"),
         "rough_stone_id": ("", None), "rough_carats": ("1.5", Decimal("1.500")), "polished_date": ("2026-03-02", "2026-03-02"),
         "shape": ("Round", "round"), "carat": ("0.7020", Decimal("0.702")), "color": ("g", "G"),
         "clarity": ("vs1", "VS1"), "cut": ("", None)},
        {"stone_id": ('=1+2 "quoted", é', '=1+2 "quoted", é'), "lab": ("none", "none"), "sightholder_id": ("SH2", "SH2"),
         "box_id": ("B2", "B2"), "rough_stone_id": ("R-1", "R-1"), "rough_carats": ("", None),
         "polished_date": ("2026-01-20", "2026-01-20"), "shape": ("pear", "pear"), "carat": ("999999999999.999", Decimal("999999999999.999")),
         "color": ("fancy", "fancy"), "clarity": ("I3", "I3"), "cut": ("ex", "EX")},
]
"""Two stones spelled loosely: a formula-looking, quoted, accented id and the largest carat weight."""


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_export_imports_again_as_nothing_new(reference: Store, tmp_path: Path, fmt: str) -> None:
    with pytest.raises(_Rollback), reference.transaction():
        round_trip(reference, tmp_path, "polished_outcomes", fmt, FIXED_OUTCOMES, reimport=True)
        raise _Rollback


@pytest.fixture
def pg_market(tmp_path: Path) -> Iterator[Store]:
    for store in make_store("postgresql", tmp_path):
        store.migrate()
        for kind, text in (("parties", PARTIES), ("rough_sales", BOXES)):
            assert import_file(store, kind, write(tmp_path, f"{kind}.csv", text)).rows_rejected == 0
        yield store


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_on_postgresql(pg_market: Store, tmp_path: Path, fmt: str) -> None:
    round_trip(pg_market, tmp_path, "polished_outcomes", fmt, FIXED_OUTCOMES, reimport=True)


def test_export_pages_through_the_store_in_import_order(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import roughtrace.ingest.export as export

    monkeypatch.setattr(export, "PAGE_ROWS", 2)
    first = "party_id,name,role,category,country\n" + "".join(f"P{n},Party {n},trader,,AE\n" for n in (5, 3, 1))
    second = "party_id,name,role,category,country\n" + "".join(f"P{n},Party {n},trader,,AE\n" for n in (4, 2))
    for name, text in (("a.csv", first), ("b.csv", second)):
        (tmp_path / name).write_text(text, encoding="utf-8")
        assert import_file(store, "parties", tmp_path / name).rows_accepted == (3 if name == "a.csv" else 2)
    assert export_kind(store, "parties", tmp_path / "out.csv", "csv") == 5
    assert [r["party_id"] for r in read_export(tmp_path / "out.csv", "csv")] == ["P5", "P3", "P1", "P4", "P2"]
    assert list(read_export(tmp_path / "out.csv", "csv")[0]) == list(KINDS["parties"].column_names)
    assert export_kind(store, "transactions", tmp_path / "none.jsonl", "jsonl") == 0
    assert export_kind(store, "transactions", tmp_path / "none.json", "json") == 0
    assert json.loads((tmp_path / "none.json").read_text()) == []
