"""Box valuation from reported outcomes, and the rough price book built from tracked boxes."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import numpy as np

from conftest import CommandLine
from roughtrace.valuation.boxes import BoxRules, value_boxes
from roughtrace.valuation.cli import pricebook_app, value_app
from roughtrace.valuation.method import FlatCost, SizeTableCost
from roughtrace.valuation.pricebook import FITTED, build_price_book, headline, read_price_book
from roughtrace.valuation.summary import summary
from test_valuation_support import SALES_HEADER, GradePricer, book_market, context, load, new_store, settings

runner = CommandLine()


def one_box_store():
    """The worked example as a box: 1 ct of rough, one 0.30 ct G VS1 round polished from it."""
    store = new_store()
    load(store, "rough_sales", SALES_HEADER + """
B1,2026-01,2026-01-12,P1,M1,BW,A-ST,stones,0.5,1.5,white,high,1,1.000,300.00,
""")
    load(store, "polished_outcomes", """
stone_id,lab,sightholder_id,box_id,polished_date,shape,carat,color,clarity
G1,GIA,M1,B1,2026-03-01,round,0.300,G,VS1
""")
    return store


def test_box_is_valued_by_the_worked_example():
    boxes = value_boxes(one_box_store(), GradePricer(), FlatCost()).to_pylist()
    assert len(boxes) == 1
    box = boxes[0]
    assert box["polished_total_usd"] == Decimal("450.00")
    assert box["rough_price_per_carat"] == Decimal("382.50")
    assert box["paid_per_carat"] == Decimal("300.00")
    assert box["uplift"] == Decimal("0.2750")  # 382.50 / 300 - 1
    assert box["yield_"] == Decimal("0.3000")
    assert box["in_book"] and box["hs_code"] == "7102.31" and box["period"] == "2026-01"


def test_rough_set_aside_is_not_counted_as_polished():
    store = one_box_store()
    load(store, "rough_dispositions", """
sightholder_id,box_id,disposition,carats,date,counterparty_id
M1,B1,rejected,0.250,2026-02-01,
""")
    box = value_boxes(store, GradePricer(), FlatCost()).to_pylist()[0]
    assert box["polished_rough_carats"] == Decimal("0.750")
    assert box["rough_price_per_carat"] == Decimal("510.00")  # 382.50 / 0.75
    assert box["yield_"] == Decimal("0.4000")


def test_suspect_yield_stays_out_of_the_book():
    store = new_store()
    load(store, "rough_sales", SALES_HEADER + """
B1,2026-01,2026-01-12,P1,M1,BW,A-ST,stones,0.5,1.5,white,high,1,1.000,300.00,
""")
    load(store, "polished_outcomes", """
stone_id,lab,sightholder_id,box_id,polished_date,shape,carat,color,clarity
G1,GIA,M1,B1,2026-03-01,round,0.700,G,VS1
""")
    box = value_boxes(store, GradePricer(), FlatCost(), BoxRules(max_yield=0.60)).to_pylist()[0]
    assert not box["in_book"]
    assert "yield" in box["excluded_reason"]


def test_table_model_takes_cutting_costs_per_stone_size():
    model = SizeTableCost(((Decimal("0.001"), Decimal("40")),), Decimal("0.10"))
    box = value_boxes(one_box_store(), GradePricer(), model).to_pylist()[0]
    assert box["cutting_costs_usd"] == Decimal("12.00")
    assert box["rough_price_per_carat"] == Decimal("394.20")
    assert json.loads(box["cost_model"])["name"] == "table"


def test_stones_are_priced_as_of_a_given_date():
    seen = []

    class Recording(GradePricer):
        def price_per_carat(self, shape, carat, color, clarity, date, cut=None):
            seen.extend(date.tolist())
            return super().price_per_carat(shape, carat, color, clarity, date, cut)

    value_boxes(one_box_store(), Recording(), FlatCost(), as_of=dt.date(2026, 6, 30))
    assert seen == [dt.date(2026, 6, 30)]
    seen.clear()
    value_boxes(one_box_store(), Recording(), FlatCost())
    assert set(seen) == {dt.date(2026, 3, 15)}  # the middle of the polished month


class RisingPricer(GradePricer):
    """GradePricer's prices, 10% higher from March 2026 on."""

    def price_per_carat(self, shape, carat, color, clarity, date, cut=None):
        base = super().price_per_carat(shape, carat, color, clarity, date, cut)
        return base * np.where(date >= np.datetime64("2026-03-01"), 1.1, 1.0)


def test_each_stone_is_priced_in_its_polished_month():
    store = new_store()
    load(store, "rough_sales", SALES_HEADER + """
B1,2026-01,2026-01-12,P1,M1,BW,A-ST,stones,0.5,1.5,white,high,1,1.000,300.00,
B2,2026-01,2026-01-12,P1,M1,BW,A-ST,stones,0.5,1.5,white,high,1,1.000,300.00,
""")
    load(store, "polished_outcomes", """
stone_id,lab,sightholder_id,box_id,polished_date,shape,carat,color,clarity
G1,GIA,M1,B1,2026-02-01,round,0.300,G,VS1
G2,GIA,M1,B2,2026-03-20,round,0.300,G,VS1
""")
    totals = {b["box_id"]: b["polished_total_usd"] for b in value_boxes(store, RisingPricer(), FlatCost()).to_pylist()}
    assert totals == {"B1": Decimal("450.00"), "B2": Decimal("495.00")}
    as_of = {b["box_id"]: b["polished_total_usd"]
             for b in value_boxes(store, RisingPricer(), FlatCost(), as_of=dt.date(2026, 1, 31)).to_pylist()}
    assert as_of == {"B1": Decimal("450.00"), "B2": Decimal("450.00")}


def test_fitted_entries_follow_the_market_for_an_assortment_not_sold_again():
    """A-ST sold in January and March, B-SH only in January: B-SH's March price moves with A-ST's."""
    store = new_store()
    sales, outcomes = [SALES_HEADER], ["stone_id,lab,sightholder_id,box_id,polished_date,shape,carat,color,clarity"]
    for i in range(6):
        for code, colour, sale, polished in (("A-ST", "G", "2026-01-12", "2026-01-30"), ("A-ST", "G", "2026-03-09", "2026-03-30"),
                                              ("B-SH", "J", "2026-01-12", "2026-01-30")):
            box = f"{code}-{sale}-{i}"
            sales.append(f"{box},{sale[:7]},{sale},P1,M1,BW,{code},stones,0.5,1.5,white,high,1,1.000,300.00,")
            outcomes.append(f"S{box},GIA,M1,{box},{polished},round,{0.29 + 0.004 * i:.3f},{colour},VS1")
    load(store, "rough_sales", "\n".join(sales))
    load(store, "polished_outcomes", "\n".join(outcomes))
    build_price_book(store, settings(), RisingPricer())
    fitted = {(r["assortment"], r["period"]): r["price_per_carat"] for r in read_price_book(store, level=FITTED).to_pylist()}
    assert set(fitted) == {(a, p) for a in ("A-ST", "B-SH") for p in ("2026-01", "2026-02", "2026-03")}
    for code in ("A-ST", "B-SH"):
        assert fitted[(code, "2026-02")] == fitted[(code, "2026-01")]  # no sight in February: carried forward
        # March's six boxes move it by the market's 10%, shrunk a little toward January (issue 15)
        assert abs(fitted[(code, "2026-03")] / fitted[(code, "2026-01")] - Decimal("1.1")) < Decimal("0.01")


def test_pricing_runs_once_per_distinct_key_not_per_stone():
    pricer = GradePricer()
    store = book_market(boxes_per_assortment=8)
    build_price_book(store, settings(), pricer)
    assert pricer.calls == 2  # the keys, and the cell-months
    keys = store.query("SELECT COUNT(*) AS n FROM valuation_polished_quotes")["n"][0].as_py()
    assert keys == 2  # G and J colour, one weight


def test_book_gives_median_band_count_and_yield():
    store = book_market(boxes_per_assortment=6, spread=0.2)
    result = build_price_book(store, settings(), GradePricer())
    assert result.boxes_valued == 18 and result.boxes_in_book == 18
    entry = read_price_book(store, assortment="A-ST", level="assortment/origin/period").to_pylist()
    assert len(entry) == 1
    e = entry[0]
    assert (e["boxes"], e["origin"], e["period"], e["hs_code"]) == (6, "BW", "2026-01", "7102.31")
    assert e["price_per_carat"] == Decimal("382.50")  # the median box is the worked example
    assert e["p10_per_carat"] < e["price_per_carat"] < e["p90_per_carat"]
    assert e["yield_median"] == Decimal("0.3000")
    assert e["paid_per_carat"] == Decimal("300.00")
    levels = {r["level"] for r in read_price_book(store).to_pylist()}
    assert {"assortment/origin/period", "hs_code/origin/period", "origin", "all"} <= levels


def test_book_entries_hold_every_box_of_their_group():
    store = book_market(boxes_per_assortment=5, spread=0.1)
    build_price_book(store, settings(), GradePricer())
    rows = read_price_book(store).to_pylist()
    total = next(r for r in rows if r["level"] == "all")["boxes"]
    for level in ("assortment/origin/period", "hs_code", "origin/period"):
        assert sum(r["boxes"] for r in rows if r["level"] == level) == total


def test_headline_and_summary():
    store = book_market()
    assert headline(store) is None
    build_price_book(store, settings(), GradePricer())
    line = headline(store)
    assert line["boxes"] == 18 and line["assortments"] == 3
    assert summary(store, settings())["price_book"] == line


def test_cli_value_rough_json_worked_example():
    result = runner.invoke(value_app, ["rough", "--polished-total", "450", "--rough-carats", "1", "--json"],
                           obj=context(new_store()))
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["rough_price_per_carat"] == "382.50"
    assert body["rough_value_usd"] == "382.50"
    assert body["polished_total_usd"] == "450.00" and body["rough_carats"] == "1.000"
    assert body["cost_model"] == {"name": "flat", "margin": "0.15"}


def test_cli_value_rough_margin_and_usage_errors():
    obj = context(new_store())
    result = runner.invoke(value_app, ["rough", "--polished-total", "450", "--rough-carats", "1", "--cost-margin", "0.2",
                                       "--json"], obj=obj)
    assert json.loads(result.output)["rough_price_per_carat"] == "360.00"
    bad = runner.invoke(value_app, ["rough", "--polished-total", "4.501", "--rough-carats", "1", "--json"], obj=obj)
    assert bad.exit_code == 2
    body = json.loads(bad.output)
    assert body["ok"] is False and set(body["errors"][0]) == {"code", "message", "source"}
    table = runner.invoke(value_app, ["rough", "--polished-total", "450", "--rough-carats", "1", "--cost-model", "table"],
                          obj=obj)
    assert table.exit_code == 2 and "Traceback" not in table.output


def test_cli_pricebook_build_show_export(tmp_path, monkeypatch):
    store = book_market()
    monkeypatch.setattr("roughtrace.app.valuation.index_pricer", lambda store, settings: GradePricer())
    obj = context(store)
    built = runner.invoke(pricebook_app, ["build", "--json"], obj=obj)
    assert built.exit_code == 0, built.output
    assert json.loads(built.output)["boxes_in_book"] == 18
    shown = runner.invoke(pricebook_app, ["show", "--assortment", "A-ST", "--json"], obj=obj)
    entries = json.loads(shown.output)["entries"]
    assert [e["price_per_carat"] for e in entries] == ["382.50"]
    out = tmp_path / "book.csv"
    exported = runner.invoke(pricebook_app, ["export", "--out", str(out)], obj=obj)
    assert exported.exit_code == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("assortment,hs_code,origin,period,level") and len(lines) == 1 + len(read_price_book(store))
    bad = runner.invoke(pricebook_app, ["show", "--level", "nonsense", "--json"], obj=obj)
    assert bad.exit_code == 2 and json.loads(bad.output)["ok"] is False


def test_an_untracked_assortment_is_priced_from_its_description():
    """C-ST was sold but never tracked; it is rough of the same description as A-ST."""
    store = book_market(boxes_per_assortment=6, spread=0.1)
    load(store, "rough_sales", SALES_HEADER + """
C-ST-0,2026-01,2026-01-12,P1,D1,BW,C-ST,stones,0.5,1.5,white,high,1,1.000,300.00,
""")
    build_price_book(store, settings(), GradePricer())
    fitted = {r["assortment"]: r for r in read_price_book(store, level=FITTED, period="2026-01").to_pylist()}
    assert fitted["C-ST"]["boxes"] == 0 and fitted["C-ST"]["hs_code"] == "7102.31"
    assert abs(fitted["C-ST"]["price_per_carat"] / fitted["A-ST"]["price_per_carat"] - 1) < Decimal("0.01")
    assert fitted["C-ST"]["price_se"] > fitted["A-ST"]["price_se"]
    assert read_price_book(store, assortment="C-ST", level="assortment").num_rows == 0  # nothing observed


def test_export_escapes_formula_text_but_not_numbers():
    from roughtrace.valuation.cli import _cell

    assert _cell("=HYPERLINK()") == "'=HYPERLINK()" and _cell("-A") == "'-A"
    assert _cell(Decimal("-0.0078")) == "-0.0078" and _cell(None) == ""
