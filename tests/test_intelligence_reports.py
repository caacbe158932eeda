"""Market intelligence over simulated small markets: who contributes, what each report holds, what
is logged, and that the facts query answers alike on both engines."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from conftest import CommandLine, make_store
from roughtrace.app import Context
from roughtrace.app.intelligence import producer_view, sightholder_report
from roughtrace.domain.disclosure import audit, rule_failures
from roughtrace.intelligence import cells as cell_sums
from roughtrace.intelligence.reports import Market, market_figures
from roughtrace.intelligence.settings import rules
from test_checks_support import load_market_directory, new_store, settings

sim = pytest.importorskip("roughtrace.sim")


@pytest.fixture(scope="module")
def market_directory(tmp_path_factory):
    directory = tmp_path_factory.mktemp("intelligence")
    sim.generate_market(directory, seed=3, size="small", polished_rows=12_000, n_transactions=2_000)
    return directory


@pytest.fixture(scope="module")
def market_store(market_directory):
    store = new_store()
    load_market_directory(store, market_directory)
    return store


@pytest.fixture(scope="module")
def market(market_store):
    return Market.build(cell_sums.load(market_store, settings()), rules(settings()))


def test_every_published_cell_passes_every_rule_and_the_audit(market):
    assert market.cells.contributed.any() and not market.cells.contributed.all()
    for protected in market.kinds.values():
        published = protected.suppression.published()
        assert published.any()
        for rule, failing in rule_failures(protected.table, market.rules).items():
            assert not (failing & published).any(), (protected.kind, rule)
        assert audit(protected.table, protected.suppression, market.rules) == []
        for row in protected.segments:
            for period in market.cells.periods:
                figures = market_figures(market, protected.kind, row, period)
                if figures.published and figures.quartiles:
                    assert figures.contributors >= market.rules.min_contributors


def test_a_non_contributors_report_holds_no_market_figure(market_store, market):
    cells = market.cells
    silent = np.argwhere((cells.boxes > 0) & ~cells.contributed)
    assert len(silent)
    context = Context(market_store, settings())
    for h, p in silent[:3]:
        report = sightholder_report(context, cells.sightholders[h], cells.periods[p])
        assert not report.contributor and report.segments == () and report.market_figures() == 0
        assert report.boxes_needed > 0 and report.unreported_boxes
        assert "market" not in json.dumps(report.as_dict(), default=str).replace("market_figures", "")
    h, p = np.argwhere(cells.contributed)[0]
    given = sightholder_report(context, cells.sightholders[h], cells.periods[p])
    assert given.contributor and given.market_figures() > 0


def test_the_report_is_logged_and_its_cells_hash_verifies(market_store, market):
    from roughtrace.app.ledger import public_key
    from roughtrace.ledger.decisions import digest, exact
    from roughtrace.ledger.receipts import Receipt, verify_receipt

    context = Context(market_store, settings())
    h, p = np.argwhere(market.cells.contributed)[-1]
    report = sightholder_report(context, market.cells.sightholders[h], market.cells.periods[p])
    receipt = Receipt.from_json(report.receipt)
    verify_receipt(public_key(context), receipt)
    entry = json.loads(receipt.entry)
    logged = json.dumps(entry)
    assert digest(exact(report.cells())) in logged and report.sightholder_id in logged
    tampered = [dict(line) for line in report.cells()]
    tampered[0]["value"] = "0.9999"
    assert digest(exact(tampered)) not in logged


def test_changing_one_contributors_outcome_changes_only_cells_it_contributes_to(market):
    cells = market.cells
    counts = np.where(cells.contributed.any(axis=1), cells.contributed.sum(axis=1), 99)
    h = int(np.argmin(counts))  # a contributor in few periods: most cells are others'

    sums = {kind: {name: values.copy() for name, values in by_name.items()} for kind, by_name in cells.sums.items()}
    for by_name in sums.values():
        for name in ("polished_mct", "top_colour_mct", "polish_days"):
            by_name[name][h] = by_name[name][h] * 11 // 10
    changed = Market.build(dataclasses.replace(cells, sums=sums), market.rules)
    compared = 0
    for kind, protected in market.kinds.items():
        for row in protected.segments:
            s = protected.segments.index(row)
            for q, period in enumerate(cells.periods):
                if protected.sums["rough_mct"][h, s, q] > 0 and cells.contributed[h, q]:
                    continue  # a cell it contributes to
                before, after = market_figures(market, kind, row, period), market_figures(changed, kind, row, period)
                if before.published and after.published:
                    assert before == after, (kind, row, period)
                    compared += 1
    assert compared > 10


def test_the_producer_sees_every_sale_unsuppressed(market_store, market):
    view = producer_view(Context(market_store, settings()))
    by_model = [r for r in view.rows if r["kind"] == "model"]
    assert sum(r["boxes"] for r in by_model) == int(market.cells.boxes.sum())
    assert any(r["buyers"] < market.rules.min_contributors for r in view.rows)  # cells a report would hide
    assert view.receipt is not None


def test_the_facts_answer_alike_on_both_engines(engine, tmp_path, market_directory, market_store):
    for store in make_store(engine, tmp_path):
        store.migrate()
        load_market_directory(store, market_directory)
        ours = cell_sums.box_facts(store, "quarter", "month").sort_by("box_id")
        reference = cell_sums.box_facts(market_store, "quarter", "month").sort_by("box_id")
        assert ours.column_names == reference.column_names
        for name in ours.column_names:
            assert ours.column(name).to_pylist() == reference.column(name).to_pylist(), name


class CliContext:
    def __init__(self, store):
        self._store = store
        self.settings = settings()

    def store(self):
        return self._store


def test_the_report_command_writes_html_and_json(market_store, market, tmp_path):
    from roughtrace.intelligence.cli import app

    h, p = np.argwhere(market.cells.contributed)[0]
    who, period = market.cells.sightholders[h], market.cells.periods[p]
    page = tmp_path / "report.html"
    result = CommandLine().invoke(app, ["report", "--sightholder", who, "--period", period, "--out", str(page), "--json"],
                                  obj=CliContext(market_store))
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["ok"] and body["contributor"] and body["format"] == "html" and body["receipt"]["entry_index"] >= 0
    assert "Market intelligence" in page.read_text()
    missing = CommandLine().invoke(app, ["report", "--sightholder", "NOBODY", "--json"], obj=CliContext(market_store))
    assert missing.exit_code == 1 and json.loads(missing.output)["errors"][0]["code"] == "sightholder_not_found"


def test_the_producer_view_narrows_to_a_producer_and_a_period(market_store, market):
    from roughtrace.errors import NotFound

    context = Context(market_store, settings())
    period = market.cells.periods[-1]
    producer = market_store.query("SELECT min(seller_id) AS s FROM rough_sales").column("s")[0].as_py()
    view = producer_view(context, period, producer)
    assert view.rows and {r["period"] for r in view.rows} == {period}
    whole = producer_view(context, period)
    assert sum(r["boxes"] for r in view.rows) < sum(r["boxes"] for r in whole.rows)
    with pytest.raises(NotFound) as missing:
        producer_view(context, None, "NOBODY")
    assert missing.value.problems[0].code == "producer_not_found"


def test_a_market_where_one_buyer_dominates_a_size_still_gets_its_reports(tmp_path):
    """The service tests' tiny market: one sightholder holds nearly all the 2024-Q4 outcome of
    'sizes', and the protection must hide past that cell's own row and column; every table still
    passes the audit and a contributor's report is published."""
    sim.generate_market(tmp_path, seed=3, size="small", polished_rows=3000, n_transactions=3000)
    store = new_store()
    load_market_directory(store, tmp_path)
    built = Market.build(cell_sums.load(store, settings()), rules(settings()))
    for protected in built.kinds.values():
        assert audit(protected.table, protected.suppression, built.rules) == []
    sizes = built.kinds["size_class"]
    assert not sizes.suppression.published()[sizes.table.index(("sizes", "2024-Q4"))]
    h, p = np.argwhere(built.cells.contributed)[-1]
    report = sightholder_report(Context(store, settings()), built.cells.sightholders[h], built.cells.periods[p])
    assert report.sightholder_id == built.cells.sightholders[h]
