"""Every rule of formats.md, for every kind: a record that breaks it and one that keeps it.

Each kind's cases go into one file (one record per case) imported once per engine: every problem
is reported (never the first only) with its row, column and code, the good records load, and
values are stored in their canonical spelling.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from roughtrace.domain import kinds
from roughtrace.domain.kinds import KINDS
from roughtrace.settings import Settings
from roughtrace.store import Store
from test_import_support import GOOD, imported, problems, trade_fixture, write_rows  # noqa: F401

MAX_TEXT = 40
FORMULA = '=HYPERLINK("http://evil.example","Box")'
"""Text a spreadsheet would run: stored verbatim all the same."""
REFERENCES = {("polished_outcomes", "box_id"), ("rough_dispositions", "box_id"), ("parcel_contents", "certificate_id"),
              ("kp_certificates", "certificate_id")}
"""Text columns whose value must name something (or follow a rule): no free text there."""


@dataclass(frozen=True)
class Case:
    change: dict[str, str]
    code: str | None
    """None: the record loads."""
    column: str | None = None
    """The column the problem names (by default the one changed)."""
    stored: dict[str, Any] = field(default_factory=dict)
    """Canonical values the store must hold for a record that loads."""

    def reported_column(self) -> str:
        return self.column or next(iter(self.change))


def bad(column: str, value: str, code: str, reported: str | None = None, **more: str) -> Case:
    return Case({column: value, **more}, code, reported or column)


def ok(change: dict[str, str], **stored_values: Any) -> Case:
    return Case(change, None, stored=stored_values)


# -- the rules every column obeys by its type ----------------------------------------------------------
def type_cases(kind: kinds.Kind) -> list[Case]:
    cases: list[Case] = []
    for c in kind.columns:
        name, base = c.name, GOOD[kind.name][c.name]
        if c.required:
            cases += [bad(name, "", "missing_value"), bad(name, "   ", "missing_value")]
        elif c.type != kinds.PARTY and (kind.name, name) != ("parties", "category"):
            cases.append(ok({name: ""}, **{name: None}))
        if c.type in (kinds.CARATS, kinds.USD):
            places = 3 if c.type == kinds.CARATS else 2
            exact = Decimal(base)
            cases += [
                bad(name, f"{exact:.{places}f}1", "too_many_decimals"),
                bad(name, f"{exact:.{places}f}09", "too_many_decimals"),
                bad(name, "1.5e2", "not_a_number"),
                bad(name, "1E3", "not_a_number"),
                bad(name, "NaN", "not_a_number"),
                bad(name, "inf", "not_a_number"),
                bad(name, "-Infinity", "not_a_number"),
                bad(name, "1,250.00", "not_a_number"),
                bad(name, "twelve", "not_a_number"),
                bad(name, "0", "not_positive"),
                bad(name, "-1.5", "not_positive"),
                bad(name, "1" * 17, "out_of_range"),
                ok({name: f"{exact:.{places}f}000"}, **{name: exact}),  # trailing zeros are not extra decimals
                ok({name: f" {exact} "}, **{name: exact}),
            ]
        elif c.type == kinds.INTEGER:
            cases += [bad(name, "2.5", "not_an_integer"), bad(name, "1e1", "not_an_integer"), bad(name, "two", "not_an_integer"),
                      bad(name, "0", "not_positive"), bad(name, "-2", "not_positive"), ok({name: f" {base} "}, **{name: int(base)})]
        elif c.type == kinds.DATE:
            cases += [bad(name, v, "bad_date") for v in ("20/02/2026", "2026-2-17", "2026-02-30", "2026-13-01", "20260217",
                                                          "2026-02-17T10:00:00", "yesterday")]
            cases.append(ok({name: base}, **{name: datetime.date.fromisoformat(base)}))
        elif c.type == kinds.ENUM:
            cases += [bad(name, "bogus", "unknown_value"), bad(name, base + "x", "unknown_value"),
                      ok({name: base.swapcase()}, **{name: base}), ok({name: f"  {base.upper()} "}, **{name: base})]
        elif c.type == kinds.COUNTRY:
            cases += [bad(name, v, "unknown_country") for v in ("UK", "EU", "XX", "GBR", "Botswana")]
        elif c.type == kinds.ORIGIN:
            cases += [bad(name, v, "unknown_country") for v in ("UK", "EU", "XX", "mix")]
            cases += [ok({name: "MIXED"}, **{name: "mixed"}), ok({name: "Mixed"}, **{name: "mixed"}),
                      ok({name: "za"}, **{name: "ZA"}), ok({name: "gb"}, **{name: "GB"})]
        elif c.type == kinds.PARTY:
            cases.append(bad(name, "NOBODY", "unknown_party"))
        elif c.type == kinds.TEXT:
            cases.append(bad(name, "x" * (MAX_TEXT + 1), "too_long"))
            if (kind.name, name) not in REFERENCES:
                cases += [ok({name: "x" * MAX_TEXT}, **{name: "x" * MAX_TEXT}), ok({name: FORMULA}, **{name: FORMULA})]
    return cases


def country_cases(kind: str, column: str, partner: dict[str, str] | None = None) -> list[Case]:
    """`gb` loads as GB (with whatever else must change with the country)."""
    return [ok({column: "gb", **(partner or {})}, **{column: "GB"})]


# -- the rules that look at more than one value, or at the store ---------------------------------------
CASES: dict[str, list[Case]] = {
    "parties": type_cases(KINDS["parties"]) + country_cases("parties", "country") + [
        bad("category", "", "category_required"),
        bad("role", "trader", "category_not_allowed", "category"),
        bad("role", "producer", "category_not_allowed", "category", category="dealer"),
        ok({"role": "trader", "category": ""}, role="trader", category=None),
        ok({"role": "Sightholder", "category": "Dealer"}, role="sightholder", category="dealer"),
    ],
    "rough_sales": type_cases(KINDS["rough_sales"]) + country_cases("rough_sales", "origin") + [
        bad("size_max_ct", "0.50", "size_range"),
        bad("carats", "21.000", "average_size"),           # 2.1 ct a stone in a 0.75-2.00 box
        bad("carats", "7.490", "average_size"),            # 0.749 ct a stone
        bad("stones", "100", "average_size", "carats"),
        ok({"carats": "7.500"}, carats=Decimal("7.500")),  # the bounds are inside the range
        ok({"carats": "20.000"}, carats=Decimal("20.000")),
        ok({"size_min_ct": "1.25", "size_max_ct": "1.25"}, size_max_ct=Decimal("1.250")),
        ok({"kp_certificate_id": "ZA4242"}, kp_certificate_id="ZA4242"),  # a certificate not loaded yet is fine
        ok({"buyer_id": "TR1"}, buyer_id="TR1"),
    ],
    "polished_outcomes": type_cases(KINDS["polished_outcomes"]) + [
        bad("carat", "1.501", "larger_than_rough"),
        ok({"carat": "1.500"}, carat=Decimal("1.500")),
        ok({"rough_carats": "", "rough_stone_id": "", "carat": "3.000"}, rough_carats=None),
        bad("box_id", "B404", "unknown_box"),
        bad("sightholder_id", "SH2", "box_not_bought"),
        bad("polished_date", "2026-01-19", "before_sale"),
        ok({"polished_date": "2026-01-20"}, polished_date=datetime.date(2026, 1, 20)),
        ok({"lab": "none", "stone_id": "SURAT-000017"}, lab="none"),
        ok({"color": "Fancy"}, color="fancy"),
        ok({"color": "z", "clarity": "vvs2", "cut": "vg", "shape": "Asscher"}, color="Z", clarity="VVS2", cut="VG", shape="asscher"),
    ],
    "rough_dispositions": type_cases(KINDS["rough_dispositions"]) + [
        bad("disposition", "sold_rough", "counterparty_required", "counterparty_id"),
        ok({"disposition": "Sold_Rough", "counterparty_id": "TR1"}, disposition="sold_rough", counterparty_id="TR1"),
        ok({"disposition": "lost", "counterparty_id": ""}, disposition="lost"),
        bad("counterparty_id", "NOBODY", "unknown_party", disposition="sold_rough"),
        bad("box_id", "B404", "unknown_box"),
        bad("sightholder_id", "SH2", "box_not_bought"),
        bad("date", "2026-01-19", "before_sale"),
        ok({"date": "2026-01-20"}, date=datetime.date(2026, 1, 20)),
    ],
    "transactions": type_cases(KINDS["transactions"]) + [
        ok({"price_type": "Asking"}, price_type="asking"),
        ok({"cut": "", "lab": ""}, cut=None, lab=None),
        ok({"color": "fancy", "shape": "HEART"}, color="fancy", shape="heart"),
    ],
    "kp_certificates": type_cases(KINDS["kp_certificates"]) + country_cases(
        "kp_certificates", "exporting_country", {"certificate_id": "GB7777"}) + [
        ok({"importing_country": "gb"}, importing_country="GB"),
        bad("importing_country", "BW", "same_country"),
        bad("importing_country", "bw", "same_country"),
        bad("certificate_id", "ZA0009", "certificate_prefix"),
        bad("certificate_id", "0009BW", "certificate_prefix"),
        ok({"certificate_id": "bw0010"}, certificate_id="bw0010"),
        bad("expiry_date", "2026-01-10", "expiry_not_after_issue"),
        bad("expiry_date", "2025-12-31", "expiry_not_after_issue"),
        ok({"expiry_date": "2026-01-11"}, expiry_date=datetime.date(2026, 1, 11)),
        bad("hs_code", "7102.39", "unknown_value"),
        ok({"hs_code": "7102.10"}, hs_code="7102.10"),
        ok({"hs_code": "7102.21"}, hs_code="7102.21"),
        ok({"origin": "mixed"}, origin="mixed"),
    ],
    "parcel_contents": type_cases(KINDS["parcel_contents"]) + [
        bad("certificate_id", "BW9999", "unknown_certificate_line", "hs_code"),
        bad("hs_code", "7102.10", "unknown_certificate_line"),
        ok({"hs_code": "7102.21", "carats": "0.500"}, hs_code="7102.21"),
    ],
}


def _unique(kind: str, n: int, row: dict[str, str], case: Case) -> dict[str, str]:
    """Give each case's record its own identity so cases do not meet as duplicates."""
    changed = set(case.change)
    if kind == "parties" and "party_id" not in changed:
        row["party_id"] = f"SH9{n:03d}"
    elif kind == "rough_sales" and "box_id" not in changed:
        row["box_id"] = f"B9{n:03d}"
    elif kind == "polished_outcomes" and "stone_id" not in changed:
        row["stone_id"] = f"22314{n:05d}"
    elif kind == "transactions" and "tx_id" not in changed:
        row["tx_id"] = f"T{n:04d}"
    elif kind == "kp_certificates" and "certificate_id" not in changed:
        row["certificate_id"] = f"BW{n:06d}"
    elif kind == "rough_dispositions" and "date" not in changed:
        row["date"] = (datetime.date(2026, 3, 1) + datetime.timedelta(days=n)).isoformat()
    elif kind == "parcel_contents" and "assortment" not in changed:
        row["assortment"] = f"A-{n:03d}"
    return row


def build(kind: str) -> list[dict[str, str]]:
    return [_unique(kind, n, {**GOOD[kind], **case.change}, case) for n, case in enumerate(CASES[kind], start=1)]


def test_every_column_of_every_kind_has_a_failing_and_a_passing_case() -> None:
    for kind, spec in KINDS.items():
        failing = {c.reported_column() for c in CASES[kind] if c.code}
        passing = {col for c in CASES[kind] if c.code is None for col in c.change}
        assert set(spec.column_names) <= failing, (kind, set(spec.column_names) - failing)
        free = {c.name for c in spec.columns if c.type != kinds.PARTY and (kind, c.name) not in REFERENCES}
        assert free <= passing, (kind, free - passing)


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_rule_rejects_its_record_and_keeps_the_good_ones(trade: Store, tmp_path: Path, kind: str) -> None:
    cases = CASES[kind]
    path = write_rows(tmp_path, kind, build(kind), name=f"{kind}_cases.csv")
    result = imported(trade, kind, path, settings=Settings({"max_text_length": MAX_TEXT}))
    found = problems(result)
    rows_with_problems = {row for row, _, _ in found}
    wrong = []
    for n, case in enumerate(cases, start=1):
        if case.code is None:
            if n in rows_with_problems:
                wrong.append((n, case.change, "should load", sorted(p for p in found if p[0] == n)))
        elif (n, case.reported_column(), case.code) not in found:
            wrong.append((n, case.change, f"should be {case.code} on {case.reported_column()}",
                          sorted(p for p in found if p[0] == n)))
    assert not wrong, "\n".join(map(str, wrong))
    failing = sum(1 for c in cases if c.code)
    assert result.rows_rejected == failing
    assert result.rows_accepted == len(cases) - failing
    assert result.stored and result.batch_id is not None

    rows = {r["source_row"]: r for r in trade.query(f"SELECT * FROM {kind} WHERE batch_id = ?", (result.batch_id,)).to_pylist()}
    assert set(rows) == {n for n, c in enumerate(cases, start=1) if c.code is None}
    mismatched = [(n, col, rows[n][col], want) for n, c in enumerate(cases, start=1) if c.code is None
                  for col, want in c.stored.items() if rows[n][col] != want]
    assert not mismatched, mismatched

    quarantined = trade.query("SELECT source_row, problems FROM quarantine WHERE batch_id = ? ORDER BY source_row",
                              (result.batch_id,)).to_pylist()
    assert [q["source_row"] for q in quarantined] == [n for n, c in enumerate(cases, start=1) if c.code]


def test_every_problem_of_a_record_is_reported_not_the_first_only(market: Store, tmp_path: Path) -> None:
    path = write_rows(tmp_path, "polished_outcomes", [
        {**GOOD["polished_outcomes"], "lab": "XYZ", "carat": "0.7021", "color": "blue", "clarity": "VS3", "polished_date": "2026-02-31"}])
    result = imported(market, "polished_outcomes", path)
    assert problems(result) >= {(1, "lab", "unknown_value"), (1, "carat", "too_many_decimals"), (1, "color", "unknown_value"),
                                (1, "clarity", "unknown_value"), (1, "polished_date", "bad_date")}
    messages = " ".join(p.message for p in result.errors)
    assert "0.7021" in messages and "blue" in messages


def test_amounts_are_stored_exactly_never_rounded(store: Store, tmp_path: Path) -> None:
    path = write_rows(tmp_path, "transactions", [
        {**GOOD["transactions"], "tx_id": "T1", "carat": "0.001", "price_usd": "0.01"},
        {**GOOD["transactions"], "tx_id": "T2", "carat": "999999999999999.999", "price_usd": "9999999999999999.99"},
        {**GOOD["transactions"], "tx_id": "T3", "carat": "1.0005", "price_usd": "10.005"},
    ])
    result = imported(store, "transactions", path)
    assert problems(result) == {(3, "carat", "too_many_decimals"), (3, "price_usd", "too_many_decimals")}
    rows = store.query("SELECT tx_id, carat, price_usd FROM transactions ORDER BY tx_id").to_pylist()
    assert [(r["carat"], r["price_usd"]) for r in rows] == [
        (Decimal("0.001"), Decimal("0.01")), (Decimal("999999999999999.999"), Decimal("9999999999999999.99"))]


@given(st.lists(st.text(alphabet="0123456789.+-eE _,x\u0661", max_size=24), min_size=1, max_size=40))
@hyp_settings(max_examples=150, deadline=None)
def test_amounts_typed_by_the_quick_test_are_those_the_rule_accepts(texts: list[str]) -> None:
    """Typing takes text that starts the cast value as printed ('1.25' of '1.250') without the
    regex; for any text, the typed value is the one the rule alone (regex, then cast) gives."""
    import duckdb

    from roughtrace.ingest.rules import q, typed_sql

    con = duckdb.connect()
    con.execute("CREATE TABLE t (i INTEGER, v_x VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [(i, text or None) for i, text in enumerate(texts)])
    for type_, places in ((kinds.CARATS, 3), (kinds.USD, 2)):
        column = kinds.Column("x", type_)
        sql_type = "DECIMAL(18,3)" if type_ == kinds.CARATS else "DECIMAL(18,2)"
        pattern = r"[+-]?([0-9]+(\.[0-9]{0,P}0*)?|\.[0-9]{1,P}0*)".replace("P", str(places))
        by_rule = f"CASE WHEN regexp_full_match(v_x, {q(pattern)}) THEN TRY_CAST(v_x AS {sql_type}) END"
        got = con.execute(f"SELECT i, v_x, {typed_sql(column)} AS typed, {by_rule} AS ruled FROM t ORDER BY i").fetchall()
        assert [(v, typed) for _, v, typed, _ in got] == [(v, ruled) for _, v, _, ruled in got]


def test_every_party_column_of_every_kind_has_its_reference_check() -> None:
    from roughtrace.domain import kinds as contract
    from roughtrace.ingest.stage2 import CHECKS, stage2_rules

    assert set(CHECKS) == set(contract.KINDS)
    for kind in contract.KINDS.values():
        parties = {c.name for c in kind.columns if c.type == contract.PARTY}
        assert {r.column for r in stage2_rules(kind) if r.code == "unknown_party"} == parties, kind.name
        if kind.key:  # a kind with a key says what a second record of it means
            assert {r.code for r in stage2_rules(kind)} >= {"duplicate_id", "already_stored"}, kind.name


def test_out_of_memory_is_told_by_the_engines_exception_type_and_its_message_inside_another() -> None:
    import duckdb

    from roughtrace.errors import out_of_memory

    assert out_of_memory(duckdb.OutOfMemoryException("anything"))
    assert out_of_memory(duckdb.TransactionException("Failed to commit: Out of Memory Error: could not allocate"))
    assert out_of_memory(duckdb.InvalidInputException("failed to pin block of size 256 KiB"))
    assert not out_of_memory(duckdb.ConversionException("Could not convert string 'x' to INT32"))
    assert not out_of_memory(ValueError("a bug"))
