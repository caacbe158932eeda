"""Output of one hand: figures written the trade's way, tables for people, one JSON object for
machines, clean help, filterable verdict lists, receipts that read back, and printable reports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import CommandLine
from roughtrace import render
from roughtrace.checks.cli import app as verify_app
from roughtrace.cli import KindName, app
from roughtrace.domain.kinds import KINDS
from roughtrace.ledger.cli import app as ledger_app
from roughtrace.pricing import index as price_index
from roughtrace.pricing.cli import app as prices_app
from roughtrace.settings import Settings
from roughtrace.valuation.cli import kp_app, pricebook_app, value_app
from test_checks_cli import OUTCOMES, SALES
from test_checks_support import builder
from test_ledger_store import books, ledger  # noqa: F401 - fixtures
from test_pricing_index import TRADES
from test_pricing_index import load as load_trades
from test_valuation_kp import valued_market
from test_valuation_support import certificate_rows, context, load, new_store

runner = CommandLine()


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    """Tables as a wide terminal shows them (Rich reads COLUMNS when a console is made)."""
    monkeypatch.setenv("COLUMNS", "200")


def one_object(output: str) -> dict:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    return json.loads(lines[0])


# -- the figures ------------------------------------------------------------------------------------

def test_money_is_grouped_exact_and_signed():
    assert render.money(Decimal("352632.68")) == "$352,632.68"
    assert render.money(Decimal("85000")) == "$85,000.00"
    assert render.money(Decimal("-85.5")) == "-$85.50"
    assert render.money(Decimal("0.125")) == "$0.12"  # half-even, never through a binary float
    assert render.money(Decimal("12345678901234.57")) == "$12,345,678,901,234.57"
    assert render.signed_money(Decimal("1200")) == "+$1,200.00" and render.signed_money(None) == render.DASH


def test_fractions_percentages_carats_and_countries():
    assert render.percent(Decimal("0.0152")) == "1.52%"
    assert render.percent(Decimal("0.0152"), signed=True) == "+1.52%"
    assert render.points(Decimal("-2.5")) == "-2.50%"
    assert render.carats(Decimal("1.234")) == "1.234 ct" and render.carats(Decimal("12345.6")) == "12,345.600 ct"
    assert render.country("BW") == "Botswana (BW)" and render.country("mixed") == "mixed"
    assert render.words("cannot_value") == "cannot value"


def test_any_field_is_formatted_by_what_its_name_says():
    assert render.value("rough_value_usd", Decimal("8500")) == "$8,500.00"
    assert render.value("paid_per_carat", "1755.75") == "$1,755.75"
    assert render.value("uplift", Decimal("-0.6044")) == "-60.44%"
    assert render.value("yield_", Decimal("0.5518")) == "55.18%"
    assert render.value("origin", "NA") == "Namibia (NA)"
    assert render.value("in_book", True) == "yes"
    assert render.label("yield_") == "yield" and render.label("polished_total_usd") == "polished total"


def test_the_cost_model_reads_as_a_sentence():
    assert render.cost_model({"name": "flat", "margin": "0.15"}) == \
        "flat: 15.00% of the polished value for costs and margin"
    table = render.cost_model('{"name": "table", "margin": "0.10", "cost_table_usd_per_polished_carat": '
                              '[{"from_carat": "0.001", "usd": "45"}]}')
    assert table == "table: cutting $45.00/ct from 0.001 ct; then a margin of 10.00%"


# -- help and choices -------------------------------------------------------------------------------

def help_text(*args: str) -> str:
    result = runner.invoke(app, [*args, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", [("import",), ("kp", "check"), ("pricebook", "export"), ("verify", "sightholders")])
def test_help_names_what_parameters_take_in_plain_words(command):
    text = help_text(*command)
    assert not re.search(r"<(bool|str|int|path|list\[str\])>", text), text
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage and "<" not in usage


def test_kind_is_a_real_choice():
    text = help_text("import")
    assert "KIND" in text and "rough_sales" in text and "{kind}" not in text and "<bool>" not in text
    assert set(KindName.__args__) == set(KINDS)
    result = runner.invoke(app, ["import", "boxes", "x.csv"])
    assert result.exit_code == 2 and "boxes" in result.output


# -- verify sightholders ----------------------------------------------------------------------------

@pytest.fixture
def sightholders(engine, tmp_path):
    for build in builder(engine, tmp_path):  # the builder closes its stores when the test is done
        store = build(SALES, OUTCOMES)
        yield SimpleNamespace(store=lambda store=store: store, settings=Settings({}, environ={}))


def test_sightholders_show_names_and_a_summary_first(sightholders):
    result = runner.invoke(verify_app, ["sightholders"], obj=sightholders, terminal_width=200)
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert first.startswith("3 sightholders: 1 high risk, 0 medium risk, 2 low risk")
    assert "Cutter One" in result.output and "size and timing x1" in result.output
    assert result.output.index("Cutter One") < result.output.index("Cutter Two")


def test_sightholders_filter_by_risk_and_top(sightholders):
    body = one_object(runner.invoke(verify_app, ["sightholders", "--risk", "low", "--json"], obj=sightholders).output)
    assert [s["sightholder_id"] for s in body["sightholders"]] == ["D1", "M2"]
    assert body["summary"] == {"sightholders": 3, "risk": {"high": 1, "medium": 0, "low": 2}}
    body = one_object(runner.invoke(verify_app, ["sightholders", "--top", "1", "--json"], obj=sightholders).output)
    assert [(s["sightholder_id"], s["name"]) for s in body["sightholders"]] == [("M1", "Cutter One")]
    assert body["shown"] == 1 and body["matching"] == 3
    bad = runner.invoke(verify_app, ["sightholders", "--risk", "severe"], obj=sightholders)
    assert bad.exit_code == 2


# -- kp check -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def certificates():
    store = valued_market()
    load(store, "kp_certificates", certificate_rows([
        ("BW1", "7102.31", "2.000", "459.00"),  # 60% of about 2 x $382.50
        ("BW2", "7102.31", "2.000", "1071.00"),  # 140%
        ("BW3", "7102.31", "2.000", "780.00"),  # 102%, reasonable
    ]))
    load(store, "parcel_contents", "certificate_id,hs_code,assortment,carats\n"
                                   "BW1,7102.31,A-ST,2.000\nBW2,7102.31,A-ST,2.000\nBW3,7102.31,A-ST,2.000")
    return store


def test_kp_lines_carry_their_dollar_gap(certificates):
    body = one_object(runner.invoke(kp_app, ["check", "--all", "--json"], obj=context(certificates)).output)
    for line in body["lines"]:
        assert Decimal(line["gap_usd"]) == Decimal(line["declared_usd"]) - Decimal(line["estimated_usd"])
    gaps = {line["certificate_id"]: Decimal(line["gap_usd"]) for line in body["lines"]}
    assert gaps["BW1"] < -300 and gaps["BW2"] > 300 and 0 < gaps["BW3"] < 20
    assert Decimal(body["totals"]["overvalued_gap_usd"]) == gaps["BW2"]
    assert Decimal(body["totals"]["undervalued_gap_usd"]) == gaps["BW1"]


def test_kp_lines_filter_sort_and_top(certificates):
    obj = context(certificates)
    body = one_object(runner.invoke(kp_app, ["check", "--all", "--verdict", "undervalued", "--json"], obj=obj).output)
    assert [line["certificate_id"] for line in body["lines"]] == ["BW1"]
    assert body["verdicts"]["reasonable"] == 1  # the counts cover every line checked
    body = one_object(runner.invoke(kp_app, ["check", "--all", "--sort", "gap", "--top", "2", "--json"], obj=obj).output)
    shown = [abs(Decimal(line["gap_usd"])) for line in body["lines"]]
    assert len(shown) == 2 and shown == sorted(shown, reverse=True) and min(shown) > 300
    text = runner.invoke(kp_app, ["check", "--all", "--sort", "gap"], obj=obj).output
    assert text.startswith("3 certificate lines, declared $2,310.00: 1 reasonable, 1 undervalued, 1 overvalued")
    assert re.search(r"-\$30\d\.\d\d", text) and re.search(r"\+\$30\d\.\d\d", text) and "Botswana (BW)" in text
    assert "$229.50" in text  # BW1's declared $/ct


# -- price book and box values --------------------------------------------------------------------

def test_pricebook_show_with_nothing_to_show_is_an_error(certificates):
    obj = context(certificates)
    result = runner.invoke(pricebook_app, ["show", "--origin", "XX", "--json"], obj=obj)
    assert result.exit_code == 1
    body = one_object(result.output)
    assert body["ok"] is False and body["errors"][0]["code"] == "no_entries"
    plain = runner.invoke(pricebook_app, ["show", "--origin", "XX"], obj=obj)
    assert plain.exit_code == 1 and "run `roughtrace pricebook build`" not in plain.stdout
    empty = runner.invoke(pricebook_app, ["show", "--json"], obj=context(new_store()))
    assert empty.exit_code == 1 and one_object(empty.output)["errors"][0]["code"] == "empty_price_book"


def test_pricebook_show_is_a_table_with_countries_and_percentages(certificates):
    result = runner.invoke(pricebook_app, ["show", "--origin", "BW"], obj=context(certificates), terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "Botswana (BW)" in result.output and re.search(r"\$3\d\d\.\d\d", result.output)
    assert re.search(r"\d\d\.\d%", result.output) and "0.2" not in result.output  # yields as percentages


def test_value_box_speaks_of_yield_not_yield_(certificates):
    result = runner.invoke(value_app, ["box", "A-ST-0"], obj=context(certificates), terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "yield_" not in result.output and re.search(r"yield\s+\d\d\.\d\d%", result.output)
    assert "Botswana (BW)" in result.output and "$300.00" in result.output
    assert "{" not in result.output and "flat: 15.00% of the polished value" in result.output


def test_value_rough_shows_money_and_no_json():
    result = runner.invoke(value_app, ["rough", "--polished-total", "10000", "--rough-carats", "20"],
                           obj=context(new_store()), terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "$8,500.00" in result.output and "20.000 ct" in result.output and '"margin"' not in result.output


# -- receipts ---------------------------------------------------------------------------------------

def ledger_run(store, *args):
    result = CommandLine().invoke(ledger_app, list(args), obj=SimpleNamespace(store=lambda: store, settings=Settings()))
    return result.exit_code, result.stdout


def test_prove_out_writes_a_receipt_that_reads_back(books, tmp_path):  # noqa: F811
    code, out = ledger_run(books, "key", "export")
    key = tmp_path / "ledger.pub"
    key.write_text(out)
    receipt = tmp_path / "receipt.json"
    code, out = ledger_run(books, "prove", "1", "--out", str(receipt))
    assert code == 0 and "receipt written to" in out
    assert json.loads(receipt.read_text())["entry_index"] == 1
    code, out = ledger_run(books, "verify", "--receipt", str(receipt), "--public-key", str(key))
    assert code == 0 and out.startswith("verified: entry 1")


def test_a_receipt_saved_from_the_terminal_still_verifies(books, tmp_path):  # noqa: F811
    key = tmp_path / "ledger.pub"
    key.write_text(ledger_run(books, "key", "export")[1])
    code, printed = ledger_run(books, "prove", "1")
    assert code == 0 and printed.lstrip().startswith("{")  # the summary goes beside, on stderr
    saved = tmp_path / "receipt.json"
    saved.write_text("entry 1 in the log of 3 entries: 2 proof hashes\n" + printed + "\n$ \n")
    code, out = ledger_run(books, "verify", "--receipt", str(saved), "--public-key", str(key), "--json")
    assert code == 0 and one_object(out)["ok"] is True


def test_a_file_with_no_receipt_is_refused_in_words(books, tmp_path):  # noqa: F811
    key = tmp_path / "ledger.pub"
    key.write_text(ledger_run(books, "key", "export")[1])
    junk = tmp_path / "junk.json"
    junk.write_text("entry 1 in the log of 3 entries\n")
    code, out = ledger_run(books, "verify", "--receipt", str(junk), "--public-key", str(key), "--json")
    error = one_object(out)["errors"][0]
    assert code == 1 and error["code"] == "receipt_invalid"
    assert "holds no receipt" in error["message"] and "Expecting value" not in error["message"]


# -- the price index over time ----------------------------------------------------------------------

@pytest.fixture
def index_store(store):
    from roughtrace.pricing.schema import ensure_schema

    ensure_schema(store)
    load_trades(store, TRADES)
    price_index.build(store, fit_model=False)
    return SimpleNamespace(store=lambda: store, settings=Settings({}, environ={}))


def test_history_lists_each_period_with_its_change(index_store):
    body = one_object(runner.invoke(prices_app, ["history", "--json"], obj=index_store).output)
    periods = [(p["period_start"], p["headline"]) for p in body["periods"]]
    assert [p for p, _ in periods] == ["2025-01-01", "2025-02-01"] and periods[0][1] == "100.00"
    second = Decimal(periods[1][1])
    assert body["periods"][1]["change_pct"] == str(((second / 100 - 1) * 100).quantize(Decimal("0.01")))
    text = runner.invoke(prices_app, ["history"], obj=index_store, terminal_width=200).output
    assert "2025-01" in text and "100.00" in text and "1,0" not in text.split("2025-01")[0]


def test_history_of_one_cell_and_its_errors(index_store):
    args = ["history", "--shape-family", "round", "--size", "1.00-1.49", "--color", "g", "--clarity", "vs1", "--json"]
    body = one_object(runner.invoke(prices_app, args, obj=index_store).output)
    assert body["periods"][0]["n_trades"] == 5 and body["cell"]["color"] == "G"
    partial = runner.invoke(prices_app, ["history", "--shape-family", "round", "--json"], obj=index_store)
    assert partial.exit_code == 2 and one_object(partial.output)["errors"][0]["code"] == "missing_option"
    missing = runner.invoke(prices_app, [*args[:-2], "IF", "--json"], obj=index_store)
    assert missing.exit_code == 1 and one_object(missing.output)["errors"][0]["code"] == "no_such_cell"


# -- printable reports ------------------------------------------------------------------------------

class Page(HTMLParser):
    """An HTML page's text, its tags and any reference to the network."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.links: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.links += [v for k, v in attrs if k in ("href", "src") and v]

    def handle_data(self, data):
        self.text.append(data)


def read_html(path: Path) -> Page:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "http://" not in text and "https://" not in text
    page = Page(text)
    assert not page.links and "script" not in page.tags and "link" not in page.tags
    return page


def pdf_text(path: Path) -> str:
    data = path.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert b"/FontFile2" in data  # fonts embedded, not left to the reader's machine
    if shutil.which("pdftotext"):
        return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    from pypdf import PdfReader  # pragma: no cover - where poppler is missing

    return "\n".join(page.extract_text() for page in PdfReader(path).pages)  # pragma: no cover


def test_kp_report_as_html_and_as_pdf(certificates, tmp_path):
    obj = context(certificates)
    html_file, pdf_file = tmp_path / "bw1.html", tmp_path / "bw1.pdf"
    for out in (html_file, pdf_file):
        result = runner.invoke(kp_app, ["report", "BW1", "--out", str(out)], obj=obj)
        assert result.exit_code == 0, result.output
    page = read_html(html_file)
    text = " ".join(page.text)
    gap = one_object(runner.invoke(kp_app, ["check", "BW1", "--json"], obj=obj).output)["lines"][0]["gap_usd"]
    shown_gap = render.signed_money(Decimal(gap))
    assert "svg" in page.tags and "undervalued" in text and "$459.00" in text and shown_gap in text
    words = pdf_text(pdf_file)
    assert "BW1" in words and "$459.00" in words and shown_gap in words and "undervalued" in words
    wrong = runner.invoke(kp_app, ["report", "BW1", "--out", str(tmp_path / "bw1.docx"), "--json"], obj=obj)
    assert wrong.exit_code == 2 and one_object(wrong.output)["errors"][0]["code"] == "unknown_report_format"


def test_verification_report_as_html_and_as_pdf(sightholders, tmp_path):
    for name in ("m1.html", "m1.pdf"):
        result = runner.invoke(verify_app, ["report", "M1", "--out", str(tmp_path / name)], obj=sightholders)
        assert result.exit_code == 0, result.output
    text = " ".join(read_html(tmp_path / "m1.html").text)
    assert "Cutter One (M1)" in text and "Belgium (BE)" in text and "high; score" in text and "mass balance" in text and "How to answer" in text
    words = pdf_text(tmp_path / "m1.pdf")
    assert "Cutter One" in words and "mass balance" in words and "Belgium (BE)" in words
    missing = runner.invoke(verify_app, ["report", "NOPE", "--out", str(tmp_path / "x.html"), "--json"], obj=sightholders)
    assert missing.exit_code == 1 and one_object(missing.output)["errors"][0]["code"] == "sightholder_not_found"


def test_price_history_report_charts_the_index(index_store, tmp_path):
    html_file, pdf_file = tmp_path / "index.html", tmp_path / "index.pdf"
    for out in (html_file, pdf_file):
        assert runner.invoke(prices_app, ["history", "--out", str(out)], obj=index_store).exit_code == 0
    page = read_html(html_file)
    source = html_file.read_text()
    assert "svg" in page.tags and "polyline" in page.tags and source.count("<circle") == 2
    assert "100.00" in " ".join(page.text)
    words = pdf_text(pdf_file)
    assert "The polished price index over time" in words and "100.00" in words and "2025-02" in words
