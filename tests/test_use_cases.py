"""The use cases in `app/`: typed results from a context, the ledger's entry logged by the use case
itself, and command-line modules that hold no SQL and write nothing to the ledger of their own."""

from __future__ import annotations

import csv
import re
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import write
from roughtrace import cli
from roughtrace.app import Context
from roughtrace.app.quarantine import export_quarantine, quarantined
from roughtrace.app.status import store_status
from roughtrace.ingest import import_file
from roughtrace.settings import Settings
from roughtrace.store import Store

PARTIES = """
    party_id,name,role,category,country
    DB,Producer,producer,,BW
    SH1,=Cutter One,sightholder,nonsense,IN
    SH2,Dealer Two,sightholder,dealer,BE
"""


INTERFACE_MODULES = ("cli.py", "cli_errors.py", "cli_help.py", "render.py", "checks/cli.py", "ledger/cli.py",
                     "pricing/cli.py", "provenance/cli.py", "sim/cli.py", "valuation/cli.py")
"""The command line's modules, every one of which reaches the store and the ledger through `app/` only."""
STORE_CALLS = {"execute", "executemany", "query", "rows", "transaction", "exclusive"}
SQL = re.compile(r"\b(SELECT\b.*\bFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX|VIEW)|"
                 r"DROP\s+TABLE|ALTER\s+TABLE)\b", re.DOTALL)
LEDGER_WRITERS = {"log_decision", "record_decision", "record_batch", "append_entries", "ensure_key",
                  "record_public_key", "load_signer"}
"""The ledger's functions that write to the log or make its key: only use cases (and the import) call them."""


def interface_trespasses(source: str) -> list[str]:
    """What a module does that only the use cases may: store calls, SQL text, the ledger's writers."""
    import ast

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in STORE_CALLS:
            found.append(f"line {node.lineno}: .{node.func.attr}(")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value):
            found.append(f"line {node.lineno}: SQL {node.value[:40]!r}")
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name in LEDGER_WRITERS or (node.module or "").endswith(("ledger.decisions", "ledger.keys", "ledger.log")):
                    found.append(f"line {node.lineno}: imports {node.module}.{alias.name}")
        elif isinstance(node, ast.Name) and node.id in LEDGER_WRITERS:
            found.append(f"line {node.lineno}: calls {node.id}")
    return found


@pytest.mark.parametrize("module", INTERFACE_MODULES)
def test_no_interface_module_touches_sql_or_writes_the_ledger(module: str) -> None:
    source = (Path(cli.__file__).parent / module).read_text(encoding="utf-8")
    assert interface_trespasses(source) == []


def test_the_interface_check_sees_sql_store_calls_and_ledger_writes() -> None:
    found = interface_trespasses(
        'from ..ledger.decisions import log_decision\n'
        'def f(store):\n'
        '    store.query("SELECT box_id FROM rough_sales WHERE box_id = ?")\n'
        '    log_decision(store, None, "x", {})\n'
        '    ctx.obj.store().execute("DELETE FROM parties")\n')
    assert len(found) == 6, found


def test_status_counts_what_the_store_holds(store: Store, tmp_path: Path) -> None:
    import_file(store, "parties", write(tmp_path, "parties.csv", PARTIES))
    held = store_status(Context(store, Settings()))
    assert held.rows["parties"] == 2 and held.rows["rough_sales"] == 0 and list(held.rows)[0] == "parties"
    assert (held.batches, held.quarantined, held.engine) == (1, 1, store.engine)
    assert held.as_dict()["rows"] == held.rows


def test_quarantine_gives_each_rejected_record_with_its_line_and_writes_it_safely(store: Store, tmp_path: Path) -> None:
    result = import_file(store, "parties", write(tmp_path, "parties.csv", PARTIES))
    context = Context(store, Settings())
    [row] = quarantined(context)
    assert (row.batch_id, row.file_name, row.source_row, row.line) == (result.batch_id, "parties.csv", 2, 3)
    assert row.record["name"] == "=Cutter One" and [p["code"] for p in row.problems] == ["unknown_value"]
    assert quarantined(context, batch=result.batch_id + 1) == []
    out = tmp_path / "quarantine.csv"
    assert export_quarantine(context, out) == 1
    [header, cells] = list(csv.reader(out.open(encoding="utf-8")))
    assert header[:7] == ["batch_id", "kind", "file", "row", "line", "codes", "problems"]
    assert dict(zip(header, cells, strict=True))["name"] == "'=Cutter One"


# -- use cases that log a decision: the ledger's entry comes with the result, whoever calls ------------

def entries(store: Store) -> int:
    from roughtrace.ledger.log import latest_head

    head = latest_head(store)
    return 0 if head is None else head.size


def test_an_import_through_its_use_case_stores_and_logs_the_batch(store: Store, tmp_path: Path) -> None:
    from roughtrace.app.imports import import_file as import_use_case

    result = import_use_case(Context(store, Settings()), "parties", write(tmp_path, "parties.csv", PARTIES))
    assert (result.rows_accepted, result.rows_rejected, result.stored) == (2, 1, True)
    assert result.receipt is not None and result.receipt["entry_index"] == entries(store) - 1


def test_assessing_sightholders_logs_the_assessment_and_chooses_what_to_show(engine: str, tmp_path: Path) -> None:
    from roughtrace.app.verify import assess_sightholders
    from test_checks_cli import OUTCOMES, SALES
    from test_checks_support import builder, settings

    for build in builder(engine, tmp_path):
        store = build(SALES, OUTCOMES)
        context = Context(store, settings())
        before = entries(store)
        result = assess_sightholders(context)
        assert entries(store) == before + 1 and result.receipt["entry_index"] == before
        assert sum(result.counts.values()) == len(result.risks) == len(result.shown) > 1
        assert [r.score for r in result.risks] != [] and result.names.keys() >= {r.sightholder_id for r in result.risks}
        top = assess_sightholders(context, levels=["low"], sort="name", top=1)
        assert [r.level for r in top.shown] == ["low"] and len(top.chosen) == top.counts["low"]
        assert top.receipt["entry_index"] == before + 1


def test_a_box_is_looked_up_with_its_buyer_or_not_found(market: Store) -> None:
    from roughtrace.app.verify import box_findings
    from roughtrace.errors import NotFound

    context = Context(market, Settings())
    found = box_findings(context, "B1")
    assert (found.sight, found.sightholder_id, found.sightholder_name, found.rough_carats) == (
        "2026-01", "SH1", "Cutter One", Decimal("12.500"))
    try:
        box_findings(context, "B9")
    except NotFound as error:
        assert [p.code for p in error.problems] == ["box_not_found"]
    else:
        raise AssertionError("an unknown box was found")


def test_checking_certificates_logs_the_verdicts_and_names_what_is_missing() -> None:
    from roughtrace.app.kp import check_certificates
    from roughtrace.errors import NotFound
    from test_valuation_kp import valued_market
    from test_valuation_support import certificate_rows, load

    store = valued_market()
    load(store, "kp_certificates", certificate_rows([("BW1", "7102.31", "2.000", "459.00"),
                                                     ("BW2", "7102.31", "2.000", "1071.00")]))
    context = Context(store, Settings())
    before = entries(store)
    checked = check_certificates(context, ["BW1", "NOPE"], sort="gap")
    assert entries(store) == before + 1 and checked.receipt["entry_index"] == before
    assert [line["certificate_id"] for line in checked.lines] == ["BW1"] and checked.not_found == ["NOPE"]
    assert checked.totals["declared_usd"] == Decimal("459.00") and sum(checked.verdicts.values()) == 1
    every = check_certificates(context, None, verdicts=["overvalued"])
    assert {line["verdict"] for line in every.shown} <= {"overvalued"} and every.totals["lines"] == 2
    try:
        check_certificates(context, ["NOPE"])
    except NotFound as error:
        assert [p.code for p in error.problems] == ["certificate_not_found"]
    else:
        raise AssertionError("a missing certificate was checked")
    assert entries(store) == before + 2  # a check that finds nothing logs nothing


def test_building_the_price_book_logs_the_build(monkeypatch) -> None:
    from roughtrace.app.valuation import box_valuation, build_price_book, price_book_entries
    from roughtrace.errors import NotFound, UsageError
    from test_valuation_support import GradePricer, book_market

    store = book_market()
    monkeypatch.setattr("roughtrace.app.valuation.index_pricer", lambda store, settings: GradePricer())
    context = Context(store, Settings())
    before = entries(store)
    built = build_price_book(context)
    assert entries(store) == before + 1 and built.receipt["entry_index"] == before
    assert built.build.boxes_in_book == 18
    assert box_valuation(context, "A-ST-0").fields["cost_model"]["name"] == built.build.cost_model["name"]
    assert [e["price_per_carat"] for e in price_book_entries(context, assortment="A-ST")] == [Decimal("382.50")]
    for call, code in ((lambda: box_valuation(context, "NOPE"), "box_not_valued"),
                       (lambda: price_book_entries(context, origin="ZZ"), "no_entries"),
                       (lambda: price_book_entries(context, level="nonsense"), "bad_option")):
        try:
            call()
        except (NotFound, UsageError) as error:
            assert [p.code for p in error.problems] == [code]
        else:
            raise AssertionError(f"no {code}")


def test_the_ledger_verifies_after_use_cases_logged_into_it(market: Store) -> None:
    from roughtrace.app.ledger import init_store, latest_head, prove_entry, verify_ledger
    from roughtrace.app.verify import assess_sightholders

    context = Context(market, Settings())
    init_store(context)
    assess_sightholders(context)
    audit = verify_ledger(context)
    assert audit.ok and audit.entries == latest_head(context).size == 3
    assert prove_entry(context, 2).head.size == 3


def test_a_call_acts_as_the_command_line_operator_unless_told() -> None:
    from conftest import new_store
    from roughtrace.app import CLI_OPERATOR, Actor, context_of

    class Obj:
        settings = Settings()

        def store(self) -> Store:
            return new_store()

    assert context_of(Obj()).actor == CLI_OPERATOR == Actor("cli", "operator")
    assert Context("s", Settings(), Actor("ana", "auditor")).actor.role == "auditor"  # type: ignore[arg-type]
