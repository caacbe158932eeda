"""Order means nothing: any permutation of the rows of any file, and any order the files are stored
in, gives the same verdicts (findings as a set, risk per sightholder) for every check and the same
traced claim for every conflicting stone."""

from __future__ import annotations

import json
import shutil

import pyarrow.csv as pacsv
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from roughtrace.checks import assess, run_checks
from roughtrace.provenance import trace
from test_checks_support import load_market_directory, new_store, settings

sim = pytest.importorskip("roughtrace.sim")

ORDERED_KINDS = ("rough_sales", "polished_outcomes", "rough_dispositions")


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    """A small market with every behaviour (copiers whose claims conflict, rounders, launderers),
    its weights written as labs report them."""
    directory = tmp_path_factory.mktemp("order")
    sim.generate_market(directory, seed=7, size="small", polished_rows=8_000, row_order="generated",
                        weight_precision="reported")
    _add_copies(directory)
    return directory


def _add_copies(directory):
    """Conflicts of every kind, whatever the seed drew: one sightholder claims the lab-graded stones of
    boxes of three others from boxes of its own (the conflict graph decides), and another claims one
    stone of a fourth (a single clash: undecided unless the chain tells)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    outcomes_path, sales_path = directory / "polished_outcomes.csv", directory / "rough_sales.csv"
    names = pacsv.read_csv(outcomes_path).column_names
    outcomes = pacsv.read_csv(outcomes_path, convert_options=pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names}, strings_can_be_null=True))
    sales_names = pacsv.read_csv(sales_path).column_names
    sales = pacsv.read_csv(sales_path, convert_options=pacsv.ConvertOptions(
        column_types={n: pa.string() for n in sales_names}))
    graded = outcomes.filter(pc.not_equal(outcomes.column("lab"), "none"))
    boxes = sorted(set(graded.column("box_id").to_pylist()))
    buyer = dict(zip(sales.column("box_id").to_pylist(), sales.column("buyer_id").to_pylist(), strict=True))
    owners, sources = [], []
    for box in boxes:
        if buyer[box] not in owners:
            owners.append(buyer[box])
            sources.append(box)
        if len(owners) == 4:
            break
    holders = sorted(set(buyer.values()) - set(owners), key=lambda h: (-sum(v == h for v in buyer.values()), h))
    copier, single = holders[0], holders[1]
    targets = sorted(b for b, h in buyer.items() if h == copier)[:3] + sorted(b for b, h in buyer.items()
                                                                             if h == single)[:1]
    copies = []
    for source, target in zip(sources[:4], targets, strict=True):
        rows = graded.filter(pc.equal(graded.column("box_id"), source))
        if target == targets[-1]:
            rows = rows.slice(0, 1)
        rows = rows.set_column(rows.column_names.index("box_id"), "box_id", pa.array([target] * rows.num_rows))
        rows = rows.set_column(rows.column_names.index("sightholder_id"), "sightholder_id",
                               pa.array([buyer[target]] * rows.num_rows))
        copies.append(rows)
    pacsv.write_csv(pa.concat_tables([outcomes, *copies]), outcomes_path)


def verdicts(directory):
    import os

    os.environ["ROUGHTRACE_TEST_FAST_LOAD"] = "1"  # storage order as written, files in manifest order
    try:
        store = new_store()
        load_market_directory(store, directory)
    finally:
        del os.environ["ROUGHTRACE_TEST_FAST_LOAD"]
    found = sorted((f.check, f.severity, f.sightholder_id, f.box_id or "", f.message)
                   for f in run_checks(store, settings()))
    risk = {r.sightholder_id: (r.level, r.score) for r in assess(store, settings())}
    conflicted = store.query(
        "SELECT stone_id, lab FROM polished_outcomes WHERE lab <> 'none' GROUP BY stone_id, lab "
        "HAVING COUNT(DISTINCT sightholder_id || '/' || box_id) > 1 ORDER BY stone_id, lab LIMIT 5").to_pylist()
    traced = [(c["stone_id"], trace(store, c["stone_id"], c["lab"], settings()).stone["box_id"]) for c in conflicted]
    return found, risk, traced


@pytest.fixture(scope="module")
def baseline(market):
    found, risk, traced = verdicts(market)
    assert any(f[0] == "duplicate_claims" for f in found), "the market should hold conflicting claims"
    assert traced
    return found, risk, traced


@hypothesis_settings(max_examples=6, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(row_seed=st.integers(min_value=0, max_value=2**32 - 1), file_order=st.permutations(range(7)),
       by=st.sampled_from(["shuffled", "reversed", "by_sightholder"]))
def test_any_row_order_and_file_order_gives_the_same_verdicts(market, baseline, tmp_path_factory, row_seed,
                                                              file_order, by):
    import numpy as np

    directory = tmp_path_factory.mktemp("permuted")
    manifest = json.loads((market / "manifest.json").read_text())
    rng = np.random.default_rng(row_seed)
    for entry in manifest["files"]:
        source = market / entry["file"]
        if entry["kind"] not in ORDERED_KINDS:
            shutil.copy(source, directory / entry["file"])
            continue
        table = pacsv.read_csv(source, convert_options=pacsv.ConvertOptions(strings_can_be_null=False,
                                                                            auto_dict_encode=False))
        table = pacsv.read_csv(source, convert_options=pacsv.ConvertOptions(
            column_types={name: "string" for name in table.column_names}))
        if by == "shuffled":
            order = rng.permutation(table.num_rows)
        elif by == "reversed":
            order = np.arange(table.num_rows)[::-1]
        else:
            holder = "buyer_id" if "buyer_id" in table.column_names else "sightholder_id"
            order = np.lexsort((rng.random(table.num_rows), np.asarray(table.column(holder).to_pylist(), dtype=str)))
        pacsv.write_csv(table.take(order), directory / entry["file"])
    files = manifest["files"]
    # parties first (the sales name them), the other files in any order
    parties = [f for f in files if f["kind"] == "parties"]
    others = [f for f in files if f["kind"] != "parties"]
    shuffled = [others[i] for i in file_order if i < len(others)] + others[len(file_order):]
    manifest["files"] = parties + shuffled
    (directory / "manifest.json").write_text(json.dumps(manifest))
    if (market / "truth").exists():
        shutil.copytree(market / "truth", directory / "truth")
    found, risk, traced = verdicts(directory)
    expected_found, expected_risk, expected_traced = baseline
    assert risk == expected_risk
    assert found == expected_found
    assert traced == expected_traced


STATISTICS = ("probability", "robust_z", "binomial_tail", "chi_square_z", "chance_at_market_share", "certainty")
"""Evidence keys that say how sure a finding is: a probability or a z-score with its population, or
`certainty` (what a finding no statistic decides rests on)."""


def test_every_finding_says_what_it_broke_and_how_sure_it_is(market):
    store = new_store()
    load_market_directory(store, market)
    found = run_checks(store, settings())
    assert {f.check for f in found} >= {"duplicate_claims", "mass_balance", "coverage", "size_and_timing"}
    for finding in found:
        assert finding.evidence.get("expected"), (finding.check, finding.message)
        assert any(finding.evidence.get(key) not in (None, "", [], {}) for key in STATISTICS), (
            finding.check, finding.evidence)
