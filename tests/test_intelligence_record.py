"""The published record in the store: each release a report makes is kept, reads back as it was,
and the next report, after late outcomes arrive for a period already reported, is protected and
audited against it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from roughtrace.app import Context
from roughtrace.app.intelligence import sightholder_report
from roughtrace.app.market_views import share_views
from roughtrace.domain.disclosure import audit
from roughtrace.intelligence import cells as cell_sums
from roughtrace.intelligence import record
from roughtrace.intelligence.reports import Market, load_market
from roughtrace.intelligence.settings import rules
from test_checks_support import load_market_directory, new_store, settings

sim = pytest.importorskip("roughtrace.sim")


@pytest.fixture(scope="module")
def market_directory(tmp_path_factory):
    directory = tmp_path_factory.mktemp("record")
    sim.generate_market(directory, seed=3, size="small", polished_rows=12_000, n_transactions=2_000)
    return directory


def test_a_release_reads_back_as_it_was_kept(market_directory):
    store = new_store()
    load_market_directory(store, market_directory)
    market = Market.build(cell_sums.load(store, settings()), rules(settings()))
    kept = record.releases_of(market)
    identity, added = record.keep(store, kept, "quarter")
    assert added and record.keep(store, kept, "quarter") == (identity, False)  # the same release is kept once
    assert record.count(store, "quarter") == 1 and record.count(store, "month") == 0
    assert record.load(store, "month") == {}
    loaded = record.load(store, "quarter")
    for kind, release in kept.items():
        (back,) = loaded[kind]
        assert back.table.cells == release.table.cells and back.table.relations == release.table.relations
        assert np.array_equal(back.published, release.published)
        where = [release.table.contributors.index(name) for name in back.table.contributors]
        assert np.array_equal(back.table.contributions, release.table.contributions[:, where, :])
        assert release.table.contributions[:, [c for c in range(len(release.table.contributors)) if c not in where]].sum() == 0


def test_a_market_protected_against_its_own_release_publishes_that_release_again(market_directory):
    """Keeping a report's release adds nothing a contributor did not know: the market built again
    against the record holding it publishes the same cells (so a report keeps its market over it)."""
    store = new_store()
    load_market_directory(store, market_directory)
    loaded = cell_sums.load(store, settings())
    first = record.releases_of(Market.build(loaded, rules(settings()), record.load(store, "quarter")))
    identity, _ = record.keep(store, first, "quarter")
    again = record.releases_of(Market.build(loaded, rules(settings()), record.load(store, "quarter")))
    assert record.release_id(again) == identity
    assert record.keep(store, again, "quarter") == (identity, False)


def test_late_outcomes_for_a_reported_period_never_revise_a_released_figure_alone(market_directory):
    """A contributor's outcomes and declarations of the first quarter arrive after a report: the
    figures they change hold that one sightholder's values beside the released ones, so none of
    them is published again with another figure; the next report is audited against the first."""
    store = new_store()
    load_market_directory(store, market_directory)
    context = Context(store, settings())
    facts = cell_sums.box_facts(store, "quarter", "month")
    cells = cell_sums.market_cells(facts, settings()["intelligence_contribution_share"])
    first = cells.periods[0]
    late = cells.sightholders[int(np.argmax(np.where(cells.contributed[:, 0], cells.boxes[:, 0], -1)))]
    boxes = [b for b, who, period in zip(facts.column("box_id").to_pylist(), facts.column("sightholder_id").to_pylist(),
                                         facts.column("period").to_pylist(), strict=True) if who == late and period == first]
    listed = ", ".join(f"'{b}'" for b in boxes)
    withheld = {table: store.query(f"SELECT * FROM {table} WHERE box_id IN ({listed})")
                for table in ("polished_outcomes", "rough_dispositions")}
    for table in withheld:
        store.execute(f"DELETE FROM {table} WHERE box_id IN ({listed})")
    reader = next(cells.sightholders[h] for h in np.flatnonzero(cells.contributed[:, -1]) if cells.sightholders[h] != late)
    before = sightholder_report(context, reader, cells.periods[-1])
    released = record.load(store, "quarter")
    assert all(len(listed_releases) == 1 for listed_releases in released.values())

    for table, rows in withheld.items():
        if rows.num_rows:
            store.append(table, rows)
    share_views([store])  # rows put back by hand, not by an import, leave the store's stamp: forget what was kept
    after = sightholder_report(context, reader, cells.periods[-1])
    assert json.loads(json.dumps(after.receipt))["entry_index"] > before.receipt["entry_index"]
    assert store.query("SELECT count(*) AS n FROM intelligence_releases").column("n")[0].as_py() == 2
    market = load_market(store, settings())  # against both releases now
    changed = 0
    for kind, protected in market.kinds.items():
        assert audit(protected.table, protected.suppression, market.rules, protected.record) == []
        (earlier,) = released[kind]
        own = protected.own
        published = protected.suppression.published()
        for k, key in enumerate(earlier.table.cells):
            if not earlier.published[k] or key not in own.cells:
                continue
            j = own.index(key)
            if not np.array_equal(own.totals[:, j], earlier.table.totals[:, k]):
                changed += 1
                assert not published[j], (kind, key)
    assert changed > 0

    # the trend's market yields: each from a cell of the audited pattern that is published, its ratio
    trends = 0
    for section in after.segments:
        protected = market.kinds[section.kind]
        for entry in section.trend:
            if entry.get("market_yield") is None:
                continue
            j = protected.table.index((section.market_row, entry["period"]))
            assert protected.suppression.published()[j]
            totals = protected.table.totals[:, j]
            assert abs(float(entry["market_yield"]) - totals[2] / totals[1]) < 1e-4
            trends += 1
    assert trends > 0
    written = json.loads(json.dumps(after.as_dict(), default=str))
    assert [t for s in written["segments"] for t in s["trend"]] == json.loads(json.dumps(
        [t for s in after.segments for t in s.trend], default=str))


def test_releases_keep_and_read_back_alike_on_both_engines(store):
    """Two releases of one kind (the second a quarter later, with a sightholder the first lacked),
    kept and read back in order on each engine."""
    from roughtrace.domain.disclosure import Release, two_way

    rng = np.random.default_rng(5)
    values = np.round(rng.gamma(2.0, 40.0, (3, 7, 2, 2)) * 1000)
    values[:, 6, :, 0] = 0
    names = [f"SH-{c:03d}" for c in range(7)]
    first = two_way(values[:, :6, :, :1], ["stones", "flats"], ["2024-Q1"], cell_sums.MAGNITUDES, names[:6])
    second = two_way(values, ["stones", "flats"], ["2024-Q1", "2024-Q2"], cell_sums.MAGNITUDES, names)
    kept = [Release(first, np.array([True, False, True, False, True, True])), Release(second, np.ones(9, bool))]
    for release in kept:
        record.keep(store, {"model": release}, "quarter")
    loaded = record.load(store, "quarter")["model"]
    assert [r.table.cells for r in loaded] == [r.table.cells for r in kept]
    for back, release in zip(loaded, kept, strict=True):
        assert back.table.contributors == release.table.contributors
        assert np.array_equal(back.table.contributions, release.table.contributions)
        assert np.array_equal(back.published, release.published)
