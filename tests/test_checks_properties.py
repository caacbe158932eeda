"""Invariants of verification, as properties: an honest market raises no high risk; a duplicate
claim always raises a finding for both sides and high risk for the copier when its chain cannot
hold; mass balance flags a box exactly when its yield
passes the maximum beyond the rounding of the reported weights."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from roughtrace.checks import CHECKS, assess, run_checks
from roughtrace.checks.facts import half_unit
from test_checks_support import (
    OUTCOMES_HEADER,
    SALES_HEADER,
    load,
    load_market_directory,
    market,
    new_store,
    settings,
)

sim = pytest.importorskip("roughtrace.sim")


@pytest.fixture(scope="module")
def honest_market(tmp_path_factory):
    directory = tmp_path_factory.mktemp("honest")
    sim.generate_market(directory, seed=5, size="small", behaviour_counts={}, polished_rows=12_000)
    store = new_store()
    load_market_directory(store, directory)
    return store


def test_an_honest_market_raises_no_high_risk(honest_market):
    risks = assess(honest_market, settings())
    assert risks and all(r.level != "high" for r in risks), [
        (r.sightholder_id, [f.message for f in r.findings if f.severity == "high"]) for r in risks if r.level == "high"]


class Rollback(Exception):
    pass


@hypothesis_settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_copied_claim_always_raises_a_finding_for_both_and_high_risk_when_the_chain_decides(honest_market, data):
    stones = honest_market.query(
        "SELECT stone_id, lab, sightholder_id, box_id, carat, shape, color, clarity, polished_date "
        "FROM polished_outcomes WHERE lab <> 'none' ORDER BY stone_id LIMIT 500").to_pylist()
    boxes = honest_market.query("SELECT box_id, buyer_id, sale_date FROM rough_sales ORDER BY box_id").to_pylist()
    stone = data.draw(st.sampled_from(stones))
    box = data.draw(st.sampled_from([b for b in boxes if b["box_id"] != stone["box_id"]
                                     and b["buyer_id"] != stone["sightholder_id"]]))
    days = data.draw(st.integers(min_value=20, max_value=200))
    claim = {
        "stone_id": stone["stone_id"], "lab": stone["lab"], "sightholder_id": box["buyer_id"],
        "box_id": box["box_id"], "rough_stone_id": None, "rough_carats": None,
        "polished_date": box["sale_date"] + dt.timedelta(days=days), "shape": stone["shape"],
        "carat": stone["carat"], "color": stone["color"], "clarity": stone["clarity"], "cut": None,
        "batch_id": 999_999, "source_row": 1,
    }
    try:
        with honest_market.transaction():
            honest_market.append("polished_outcomes", pa.Table.from_pylist([claim], schema=_schema(honest_market)))
            found = [f for f in run_checks(honest_market, settings()) if f.check == "duplicate_claims"]
            assert {(f.sightholder_id, f.box_id) for f in found} >= {
                (box["buyer_id"], box["box_id"]), (stone["sightholder_id"], stone["box_id"])}
            level = {r.sightholder_id: r.level for r in assess(honest_market, settings())}
            if stone["polished_date"] < box["sale_date"]:  # polished before the copier's box was sold
                assert level[box["buyer_id"]] == "high" and level[stone["sightholder_id"]] != "high"
            raise Rollback
    except Rollback:
        pass


def _schema(store) -> pa.Schema:
    return store.query("SELECT * EXCLUDE (extras) FROM polished_outcomes LIMIT 0").schema


@pytest.fixture(scope="module")
def empty_market():
    return market(SALES_HEADER + "\nB0,2024-01,2024-01-08,P1,M2,BW,A1,stones,0.001,9.000,white,high,1,1.000,900.00,")


ONLY_MASS_BALANCE = ",".join(c.name for c in CHECKS if c.name != "mass_balance")


@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rough_mct=st.integers(min_value=1_000, max_value=50_000),
       weights=st.lists(st.integers(min_value=1, max_value=2_000), min_size=1, max_size=12))
def test_mass_balance_flags_a_box_exactly_when_its_yield_passes_the_maximum(empty_market, rough_mct, weights):
    rough = Decimal(rough_mct) / 1000
    try:
        with empty_market.transaction():
            load(empty_market, "rough_sales",
                 SALES_HEADER + f"\nB1,2024-01,2024-01-08,P1,M1,BW,A1,stones,0.001,9.000,white,high,20,{rough},9000.00,")
            load(empty_market, "polished_outcomes", OUTCOMES_HEADER + "".join(
                f"\nS{i},none,M1,B1,,,2024-03-01,round,{Decimal(w) / 1000},G,VS1," for i, w in enumerate(weights)))
            flagged = [f for f in run_checks(empty_market, settings(checks_disabled=ONLY_MASS_BALANCE))
                       if f.box_id == "B1"]
            polished = Decimal(sum(weights)) / 1000
            rounding = Decimal("0.005") * len(weights)  # at most half a hundredth per reported weight
            assert bool(flagged) == (polished - rounding > Decimal("0.60") * (rough + half_unit(rough)))
            raise Rollback
    except Rollback:
        pass


def test_loading_helpers_agree_with_the_kinds():
    store = new_store()
    load(store, "parties", "party_id,name,role,category,country\nP1,Producer,producer,,BW")
    assert store.query("SELECT COUNT(*) AS n FROM parties").column("n")[0].as_py() == 1
