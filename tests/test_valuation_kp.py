"""KP certificate checks: estimates, bands and verdicts per certificate line, and the report."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from conftest import CommandLine
from roughtrace.valuation.cli import kp_app
from roughtrace.valuation.kp import LINE_FIELDS, CertificateCheck, CheckRules, check_certificates
from roughtrace.valuation.pricebook import FITTED, build_price_book, read_price_book
from roughtrace.valuation.report import certificate_report
from test_valuation_support import (
    SALES_HEADER,
    GradePricer,
    book_market,
    certificate_rows,
    context,
    load,
    new_store,
    settings,
)

runner = CommandLine()
A_ST, B_SH = Decimal("382.50"), Decimal("195.84")
"""Book prices of the fixture's assortments: 0.30 ct from 1 ct at $1,500/ct (G) or $768/ct (J), less 15%."""


def valued_market(spread=0.1, **overrides):
    store = book_market(boxes_per_assortment=6, spread=spread)
    build_price_book(store, settings(**overrides), GradePricer())
    return store


def line(store, certificate_id, hs_code="7102.31", **overrides):
    rows = check_certificates(store, settings(**overrides), [certificate_id]).to_pylist()
    return next(r for r in rows if r["hs_code"] == hs_code)


def test_line_valued_from_contents_is_the_sum_of_its_parts():
    store = valued_market(spread=0.0)
    load(store, "kp_certificates", certificate_rows([("BW1", "7102.31", "5.000", "1352.52")]))
    load(store, "parcel_contents", """
certificate_id,hs_code,assortment,carats
BW1,7102.31,A-ST,2.000
BW1,7102.31,B-SH,3.000
""")
    with CertificateCheck(store, CheckRules(price_calibration="none")) as check:
        lines, parts = check.lines().to_pylist(), check.parts().to_pylist()
    (checked,) = lines
    assert checked["estimated_usd"] == sum(p["value_usd"] for p in parts) == 2 * A_ST + 3 * B_SH
    assert checked["basis"] == "parcel_contents" and checked["confidence"] == "high"
    assert checked["verdict"] == "reasonable"
    assert checked["coverage"] == 1
    assert {p["book_level"] for p in parts} == {FITTED}


def test_declared_far_below_or_above_is_flagged_in_its_direction():
    store = valued_market()
    load(store, "kp_certificates", certificate_rows([
        ("BW1", "7102.31", "2.000", "459.00"),  # 60% of 2 x 382.50
        ("BW2", "7102.31", "2.000", "1071.00"),  # 140%
        ("BW3", "7102.31", "2.000", "780.00"),  # 102%
    ]))
    load(store, "parcel_contents", """
certificate_id,hs_code,assortment,carats
BW1,7102.31,A-ST,2.000
BW2,7102.31,A-ST,2.000
BW3,7102.31,A-ST,2.000
""")
    verdicts = {r["certificate_id"]: r["verdict"] for r in check_certificates(store, settings()).to_pylist()}
    assert verdicts == {"BW1": "undervalued", "BW2": "overvalued", "BW3": "reasonable"}


def test_tolerance_is_a_setting():
    store = valued_market()
    load(store, "kp_certificates", certificate_rows([("BW1", "7102.31", "2.000", "600.00")]))  # 78%
    load(store, "parcel_contents", "certificate_id,hs_code,assortment,carats\nBW1,7102.31,A-ST,2.000")
    assert line(store, "BW1", kp_tolerance="0")["verdict"] == "undervalued"
    assert line(store, "BW1", kp_tolerance="0.5")["verdict"] == "reasonable"


def test_boxes_sold_under_the_certificate_give_the_contents():
    store = valued_market(spread=0.0)
    load(store, "rough_sales", SALES_HEADER + """
X1,2026-01,2026-01-12,P1,M1,BW,A-ST,stones,0.5,1.5,white,high,1,1.000,300.00,BW9
X2,2026-01,2026-01-12,P1,M1,BW,B-SH,shapes,0.5,1.5,white,medium,1,1.000,300.00,BW9
X3,2026-01,2026-01-12,P1,M1,BW,R-RJ,rejections,0.5,1.5,white,rejection,1,1.000,300.00,BW9
""")
    load(store, "kp_certificates", certificate_rows([("BW9", "7102.31", "2.000", "578.34"),
                                                     ("BW9", "7102.21", "1.000", "382.50")]))
    gem, industrial = line(store, "BW9"), line(store, "BW9", "7102.21")
    assert gem["basis"] == industrial["basis"] == "certificate_boxes"
    assert gem["estimated_usd"] == A_ST + B_SH  # the rejection box is not on the gem line
    assert industrial["estimated_usd"] == Decimal("382.50")


def test_without_contents_a_line_is_valued_on_its_own_hs_class():
    store = valued_market()
    load(store, "kp_certificates", certificate_rows([("BW1", "7102.21", "10.000", "3825.00"),
                                                     ("BW1", "7102.31", "10.000", "2900.00")]))
    industrial, gem = line(store, "BW1", "7102.21"), line(store, "BW1")
    assert industrial["basis"] == gem["basis"] == "hs_class_mix"
    assert industrial["confidence"] == "low"
    # industrial at the industrial boxes' median, never at gem prices; gem at the median of the gem
    # boxes, with a band from their P10 to their P90 that holds both gem assortments' book prices
    assert industrial["estimated_per_carat"] == A_ST
    assert B_SH < gem["estimated_per_carat"] < A_ST
    assert gem["low_per_carat"] < B_SH and gem["high_per_carat"] > A_ST
    assert gem["verdict"] == "reasonable"  # $290/ct lies inside what gem boxes of this origin are worth


def test_cannot_value_says_why():
    store = book_market()
    load(store, "kp_certificates", certificate_rows([("BW1", "7102.31", "1.000", "100.00")]))
    unbuilt = line(store, "BW1")
    assert unbuilt["verdict"] == "cannot_value" and "pricebook build" in unbuilt["reason"]
    build_price_book(store, settings(), GradePricer())
    load(store, "kp_certificates", certificate_rows([("BW2", "7102.10", "1.000", "100.00")]))
    # no tracked unsorted goods: KP statistics give a range (issue 15), unless there are none either
    unvalued = line(store, "BW2", "7102.10", kp_statistics_usd_per_carat="ZA=135")
    assert unvalued["verdict"] == "cannot_value" and "7102.10" in unvalued["reason"]
    assert unvalued["estimated_per_carat"] is None and unvalued["low_per_carat"] is None


def test_minimum_evidence_applies_to_observed_entries():
    store = valued_market()
    load(store, "kp_certificates", certificate_rows([("BW1", "7102.31", "2.000", "765.00")]))
    load(store, "parcel_contents", "certificate_id,hs_code,assortment,carats\nBW1,7102.31,A-ST,2.000")
    # the fitted entry rests on the whole book: it values A-ST whatever the minimum
    assert line(store, "BW1", valuation_min_boxes="7")["book_level"] == FITTED
    # an assortment the store has never seen, in a store with no described parcel to learn a mix
    # from, falls back to its HS class if that has the evidence, else to KP statistics
    alone = valued_market()
    load(alone, "kp_certificates", certificate_rows([("BW2", "7102.31", "2.000", "765.00")]))
    load(alone, "parcel_contents", "certificate_id,hs_code,assortment,carats\nBW2,7102.31,NEVER-SOLD,2.000")
    assert line(alone, "BW2", valuation_min_boxes="12")["basis"] == "hs_class_mix"  # 12 gem boxes
    unbooked = line(alone, "BW2", valuation_min_boxes="13")
    assert (unbooked["basis"], unbooked["confidence"]) == ("kp_statistics", "low")


_ids = (f"HY{i}" for i in itertools.count())
_shared = valued_market()


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=st.decimals(min_value=Decimal("0.001"), max_value=Decimal("500"), places=3),
       b=st.decimals(min_value=Decimal("0"), max_value=Decimal("500"), places=3),
       ratio=st.decimals(min_value=Decimal("0.05"), max_value=Decimal("3"), places=2),
       uncovered=st.decimals(min_value=Decimal("0"), max_value=Decimal("5"), places=3))
def test_band_contains_estimate_and_parts_sum(a, b, ratio, uncovered):
    cid = next(_ids)
    total = a + b + uncovered
    declared = max((ratio * total * A_ST).quantize(Decimal("0.01")), Decimal("0.01"))
    load(_shared, "kp_certificates", certificate_rows([(cid, "7102.31", f"{total:.3f}", f"{declared:.2f}")]))
    contents = [f"{cid},7102.31,A-ST,{a:.3f}"] + ([f"{cid},7102.31,B-SH,{b:.3f}"] if b > 0 else [])
    load(_shared, "parcel_contents", "certificate_id,hs_code,assortment,carats\n" + "\n".join(contents))
    # The shared store gathers a line per example: past kp_calibration_lines of them the declarations
    # would shift estimates away from the parts' sum, which tests of the calibration cover.
    rules = CheckRules(price_calibration="none", calibration_lines=10**9)
    with CertificateCheck(_shared, rules, [cid]) as check:
        (checked,), parts = check.lines().to_pylist(), check.parts().to_pylist()
    if checked["verdict"] == "cannot_value":
        return
    assert checked["low_per_carat"] <= checked["estimated_per_carat"] <= checked["high_per_carat"]
    parts_total = sum(p["value_usd"] for p in parts)
    if checked["basis"] == "parcel_contents" and uncovered == 0:
        assert abs(checked["estimated_usd"] - parts_total) <= Decimal("0.01") * (1 + len(parts))
    if checked["verdict"] == "undervalued":
        assert checked["declared_per_carat"] < checked["low_per_carat"]
    if checked["verdict"] == "overvalued":
        assert checked["declared_per_carat"] > checked["high_per_carat"]


def test_cli_check_json_contract_and_errors():
    store = valued_market()
    load(store, "kp_certificates", certificate_rows([("BW1", "7102.31", "2.000", "459.00")]))
    load(store, "parcel_contents", "certificate_id,hs_code,assortment,carats\nBW1,7102.31,A-ST,2.000")
    obj = context(store)
    result = runner.invoke(kp_app, ["check", "BW1", "--json"], obj=obj)
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    (checked,) = body["lines"]
    assert set(LINE_FIELDS[:10]) <= set(checked)
    assert checked["verdict"] == "undervalued" and checked["declared_per_carat"] == "229.50"
    assert body["verdicts"]["undervalued"] == 1
    assert runner.invoke(kp_app, ["check", "--all", "--json"], obj=obj).exit_code == 0
    usage = runner.invoke(kp_app, ["check", "--json"], obj=obj)
    assert usage.exit_code == 2 and json.loads(usage.output)["ok"] is False
    missing = runner.invoke(kp_app, ["check", "NOPE", "--json"], obj=obj)
    assert missing.exit_code == 1
    assert json.loads(missing.output)["errors"][0]["code"] == "certificate_not_found"


def test_report_is_one_self_contained_page(tmp_path):
    store = valued_market()
    load(store, "kp_certificates", certificate_rows([("BW1", "7102.31", "2.000", "459.00"),
                                                     ("BW1", "7102.10", "1.000", "50.00")]))
    load(store, "parcel_contents", "certificate_id,hs_code,assortment,carats\nBW1,7102.31,A-ST,2.000")
    page = certificate_report(store, settings(kp_statistics_usd_per_carat="ZA=135"), "BW1")
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "@media print" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page and "<link" not in page
    assert "undervalued" in page and "cannot value" in page and "A-ST" in page
    out = tmp_path / "r.html"
    result = runner.invoke(kp_app, ["report", "BW1", "--out", str(out)], obj=context(store))
    assert result.exit_code == 0 and out.read_text() == out.read_text() and "<svg" in out.read_text()
    missing = runner.invoke(kp_app, ["report", "NOPE", "--out", str(out), "--json"], obj=context(store))
    assert missing.exit_code == 1 and json.loads(missing.output)["errors"][0]["code"] == "certificate_not_found"


def test_the_demos_valuation_builds_the_book_and_counts_verdicts(monkeypatch):
    from roughtrace.app import Context
    from roughtrace.app.demo import _valuation_section

    store = book_market()
    load(store, "kp_certificates", certificate_rows([("BW1", "7102.31", "2.000", "459.00")]))
    load(store, "parcel_contents", "certificate_id,hs_code,assortment,carats\nBW1,7102.31,A-ST,2.000")
    monkeypatch.setattr("roughtrace.valuation.pricer.index_pricer", lambda store, settings: GradePricer())
    part = _valuation_section(Context(store, settings()))
    assert part["data"]["kp"]["verdicts"]["undervalued"] == 1
    assert part["data"]["price_book"]["boxes"] == 18
    assert any("undervalued" in line for line in part["lines"])
    gap = part["data"]["kp"]["usd_gap_to_estimate"]["undervalued"]
    assert Decimal(gap) > 0 and Decimal(gap) == Decimal(gap).quantize(Decimal("0.01"))


def test_a_shipped_box_with_an_outcome_is_valued_by_its_own_outcome():
    store = book_market(boxes_per_assortment=6, spread=0.1)
    load(store, "rough_sales", SALES_HEADER + """
X1,2026-01,2026-01-12,P1,M1,BW,A-ST,stones,0.5,1.5,white,high,1,1.000,300.00,BW9
X2,2026-01,2026-01-12,P1,M1,BW,A-ST,stones,0.5,1.5,white,high,1,1.000,300.00,BW9
X3,2026-01,2026-01-12,P1,M1,BW,A-ST,stones,0.5,1.5,white,high,1,1.000,300.00,BW9
""")
    load(store, "polished_outcomes", """
stone_id,lab,sightholder_id,box_id,polished_date,shape,carat,color,clarity
SX1,GIA,M1,X1,2026-03-01,round,0.330,G,VS1
SX3,GIA,M1,X3,2026-03-01,round,0.600,G,VS1
""")
    build_price_book(store, settings(), GradePricer())
    book = read_price_book(store, assortment="A-ST", level=FITTED, period="2026-01")["price_per_carat"][0].as_py()
    load(store, "kp_certificates", certificate_rows([("BW9", "7102.31", "3.000", "1200.00")]))
    with CertificateCheck(store, CheckRules(outcome_weight=1.0, price_calibration="none")) as check:
        (checked,), parts = check.lines().to_pylist(), check.parts().to_pylist()
    by_box = {p["box_id"]: p for p in parts}
    # X1's outcome, 10% better than its assortment's typical box, is this box's evidence
    assert by_box["X1"]["book_level"] == "box outcome" and by_box["X1"]["price_per_carat"] == Decimal("420.75")
    assert by_box["X2"]["book_level"] == FITTED and by_box["X2"]["price_per_carat"] == book  # no outcome yet
    # X3 claims twice the typical box: a claim, not evidence; valued at the book
    assert by_box["X3"]["book_level"] == FITTED and by_box["X3"]["price_per_carat"] == book
    assert abs(checked["estimated_usd"] - (Decimal("420.75") + 2 * book)) <= Decimal("0.02")
    assert checked["basis"] == "certificate_boxes"
    with CertificateCheck(store, CheckRules(outcome_weight=0.5, price_calibration="none")) as check:
        half = {p["box_id"]: p for p in check.parts().to_pylist()}
    assert book < half["X1"]["price_per_carat"] < Decimal("420.75")


def _outcome_market(prices_follow_outcomes: bool):
    """Six A-ST boxes whose stones weigh 0.300 x (1 + 0.2 k), k from -1 to 1, sold at $300/ct or, when
    `prices_follow_outcomes`, at $300 x (1 + 0.2 k); and X1, shipped under BW9, whose 0.330 ct stone
    makes it 10% better than the typical box (sold at $330 or $300)."""
    store = new_store()
    sales, outcomes = [SALES_HEADER], ["stone_id,lab,sightholder_id,box_id,polished_date,shape,carat,color,clarity"]
    for i, k in enumerate((-1.0, -0.6, -0.2, 0.2, 0.6, 1.0)):
        price = 300 * (1 + 0.2 * k) if prices_follow_outcomes else 300
        sales.append(f"A-ST-{i},2026-01,2026-01-12,P1,M1,BW,A-ST,stones,0.5,1.5,white,high,1,1.000,{price:.2f},")
        outcomes.append(f"SA{i},GIA,M1,A-ST-{i},2026-03-01,round,{0.300 * (1 + 0.2 * k):.3f},G,VS1")
    sales.append(f"X1,2026-01,2026-01-12,P1,M1,BW,A-ST,stones,0.5,1.5,white,high,1,1.000,"
                 f"{330 if prices_follow_outcomes else 300:.2f},BW9")
    outcomes.append("SX1,GIA,M1,X1,2026-03-01,round,0.330,G,VS1")
    load(store, "rough_sales", "\n".join(sales))
    load(store, "polished_outcomes", "\n".join(outcomes))
    build_price_book(store, settings(), GradePricer())
    load(store, "kp_certificates", certificate_rows([("BW9", "7102.31", "1.000", "400.00")]))
    return store


def test_the_weight_of_a_boxs_own_outcome_is_learnt_from_how_prices_follow_outcomes():
    # where what boxes sold for follows what their outcomes are worth, a shipped box is valued by its
    # own outcome; where prices ignore outcomes, its outcome says nothing about its price
    for follow, level in ((True, "box outcome"), (False, FITTED)):
        store = _outcome_market(follow)
        book = read_price_book(store, assortment="A-ST", level=FITTED, period="2026-01")["price_per_carat"][0].as_py()
        with CertificateCheck(store, CheckRules.from_settings(settings())) as check:
            (part,) = check.parts().to_pylist()
        assert part["book_level"] == level
        assert abs(part["price_per_carat"] - (Decimal("420.75") if follow else book)) <= Decimal("0.02")
        # a fixed weight is still a setting
        with CertificateCheck(store, CheckRules.from_settings(settings(kp_outcome_weight="0.5"))) as check:
            (half,) = check.parts().to_pylist()
        assert book < half["price_per_carat"] < Decimal("420.75")
