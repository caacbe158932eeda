"""What may move the rough price book (issue 15, cause 5): no single box sets a period's level, a
period needs a minimum of boxes and leans on its neighbours, and boxes whose value is implausible
against their price, or bought by a high-risk sightholder, stay out."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from roughtrace.checks.findings import Risk
from roughtrace.valuation.pricebook import FITTED, build_price_book, read_price_book
from test_valuation_support import SALES_HEADER, GradePricer, book_market, load, settings

OUTCOMES = "stone_id,lab,sightholder_id,box_id,polished_date,shape,carat,color,clarity\n"


def sell(store, boxes):
    """Boxes of 1 ct of rough with one polished stone each: (box_id, sale_date, assortment, stone carat,
    paid USD, buyer)."""
    kind = {"A-ST": ("stones", "high", "G"), "B-SH": ("shapes", "medium", "J")}
    load(store, "rough_sales", SALES_HEADER + "\n" + "\n".join(
        f"{box},{sale[:7]},{sale},P1,{buyer},BW,{code},{kind[code][0]},0.5,1.5,white,{kind[code][1]},1,1.000,{paid},"
        for box, sale, code, _, paid, buyer in boxes))
    load(store, "polished_outcomes", OUTCOMES + "\n".join(
        f"S{box},GIA,{buyer},{box},2026-06-01,round,{stone:.3f},{kind[code][2]},VS1"
        for box, _, code, stone, _, buyer in boxes))


def steady_months(store, months, boxes=6, spread=0.1, level=1.0, buyer="M1"):
    """`boxes` boxes of each assortment sold on the 12th of each month, their stones 0.300 ct x level,
    spread evenly by +-spread."""
    rows = []
    for month in months:
        for code in ("A-ST", "B-SH"):
            for i in range(boxes):
                k = -1 + 2 * i / (boxes - 1) if boxes > 1 else 0.0
                rows.append((f"{code}-{month}-{i}", f"{month}-12", code, 0.300 * level * (1 + spread * k), "300.00", buyer))
    sell(store, rows)


def fitted(store, assortment, period):
    return read_price_book(store, assortment=assortment, level=FITTED, period=period)["price_per_carat"][0].as_py()


def test_a_box_whose_value_is_implausible_against_its_price_stays_out(store):
    book_market(boxes_per_assortment=6, spread=0.1, store=store)
    # paid $2,000 for rough whose polished returns $382.50 a carat: the outcome or the price is wrong
    sell(store, [("Z1", "2026-01-12", "A-ST", 0.300, "2000.00", "M1")])
    build_price_book(store, settings(), GradePricer())
    boxes = {r["box_id"]: r for r in store.query("SELECT box_id, in_book, excluded_reason FROM box_valuations").to_pylist()}
    assert boxes["Z1"] == {"box_id": "Z1", "in_book": False, "excluded_reason": "value implausible against the price paid"}
    assert sum(b["in_book"] for b in boxes.values()) == 18
    # the gate is a setting
    build_price_book(store, settings(pricebook_uplift_gate="100"), GradePricer())
    assert store.query("SELECT in_book FROM box_valuations WHERE box_id = 'Z1'")["in_book"][0].as_py()


def test_one_box_never_sets_a_periods_level(store):
    steady_months(store, ("2026-01", "2026-03"))
    # February's only box polished into 46% of the usual stone, and was paid for accordingly (so the
    # value-against-price gate does not catch it): alone it must not price February
    sell(store, [("F1", "2026-02-12", "A-ST", 0.138, "138.00", "M2")])
    build_price_book(store, settings(), GradePricer())
    for code in ("A-ST", "B-SH"):
        january, february, march = (fitted(store, code, p) for p in ("2026-01", "2026-02", "2026-03"))
        assert abs(february / january - 1) < Decimal("0.03") and abs(march / january - 1) < Decimal("0.03")


def test_a_period_with_few_boxes_is_shrunk_toward_its_neighbours(store):
    months = [f"2025-{m:02d}" for m in range(4, 13)]
    steady_months(store, months)
    # ten boxes of 2026-01 (five of each assortment) are worth 30% more than every month before
    steady_months(store, ["2026-01"], boxes=5, level=1.3, buyer="M1")
    build_price_book(store, settings(), GradePricer())
    move = fitted(store, "B-SH", "2026-01") / fitted(store, "B-SH", "2025-12")
    assert Decimal("1.0") < move < Decimal("1.25")
    # with the minimum raised above ten, January's own boxes no longer count
    build_price_book(store, settings(pricebook_period_min_boxes="11"), GradePricer())
    assert abs(fitted(store, "B-SH", "2026-01") / fitted(store, "B-SH", "2025-12") - 1) < Decimal("0.01")


def test_a_well_evidenced_move_is_kept():
    from roughtrace.valuation.pricebook import smooth_periods

    raw = np.array([0.0, 0.0, 0.0, 0.3, 0.3, 0.3])
    counts = np.full(6, 500)
    levels = smooth_periods(raw, counts, np.arange(6), 5, 0.01)
    assert abs(levels[3] - 0.3) < 0.02 and abs(levels[2]) < 0.02
    # the same move resting on one box a period is smoothed away, below the minimum it is ignored
    thin = smooth_periods(raw, np.full(6, 1), np.arange(6), 1, 0.01)
    assert 0 < thin[3] < 0.3
    assert np.allclose(smooth_periods(raw, np.full(6, 1), np.arange(6), 5, 0.01), 0)


def test_boxes_of_high_risk_sightholders_stay_out_when_the_setting_says_so(store, monkeypatch):
    book_market(boxes_per_assortment=6, store=store)
    sell(store, [(f"R{i}", "2026-01-12", "A-ST", 0.300, "300.00", "M9") for i in range(3)])
    monkeypatch.setattr("roughtrace.checks.verify.assess", lambda store, settings: [
        Risk("M9", "manufacturer", "high", Decimal(10), ()), Risk("M1", "manufacturer", "low", Decimal(0), ())])
    build_price_book(store, settings(), GradePricer())
    assert store.query("SELECT COUNT(*) AS n FROM box_valuations WHERE in_book")["n"][0].as_py() == 21
    build_price_book(store, settings(pricebook_exclude_risk="high"), GradePricer())
    out = store.query("SELECT box_id, excluded_reason FROM box_valuations WHERE NOT in_book ORDER BY box_id").to_pylist()
    assert out == [{"box_id": f"R{i}", "excluded_reason": "bought by a sightholder at high verification risk"}
                   for i in range(3)]
