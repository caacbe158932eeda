"""The reverse-engineering formula and its cost models, exact in decimals."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from roughtrace.valuation.method import (
    CostModelError,
    FlatCost,
    SizeTableCost,
    ValuationError,
    cost_model_from_settings,
    parse_cost_table,
    reverse_engineer,
    rough_value_array,
)
from test_valuation_support import settings

usd_amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("10000000"), places=2)
carat_amounts = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("100000"), places=3)
margins = st.decimals(min_value=Decimal("0"), max_value=Decimal("0.99"), places=4)


def test_worked_example_is_exact():
    """0.30 ct polished at $1,500/ct ($450) cut from 1 ct of rough, 15% costs and margin: $382.50/ct."""
    result = reverse_engineer(Decimal("450.00"), Decimal("1.000"), FlatCost(Decimal("0.15")))
    assert result.rough_price_per_carat == Decimal("382.50")
    assert result.rough_value_usd == Decimal("382.50")
    assert result.cost_model == {"name": "flat", "margin": "0.15"}
    assert result.as_dict()["rough_price_per_carat"] == "382.50"


def test_default_model_is_fifteen_percent_flat():
    assert reverse_engineer(Decimal("450"), Decimal("1")).rough_price_per_carat == Decimal("382.50")
    assert cost_model_from_settings(settings()) == FlatCost(Decimal("0.15"))


def test_price_per_carat_divides_by_rough_carats():
    result = reverse_engineer(Decimal("900.00"), Decimal("2.000"))
    assert result.rough_value_usd == Decimal("765.00")
    assert result.rough_price_per_carat == Decimal("382.50")


def test_table_model_takes_cutting_cost_per_polished_carat_then_margin():
    model = SizeTableCost(table=((Decimal("0.001"), Decimal("40")), (Decimal("1.00"), Decimal("20"))), margin=Decimal("0.10"))
    # one 0.30 ct stone at $40/ct cutting = $12; ($450 - $12) x 0.90 = $394.20
    result = reverse_engineer(Decimal("450.00"), Decimal("1.000"), model, [Decimal("0.300")])
    assert result.cutting_costs_usd == Decimal("12.00")
    assert result.rough_value_usd == Decimal("394.20")
    # a 1.20 ct stone falls in the second row
    assert model.cutting_cost_per_carat(Decimal("1.20")) == Decimal("20")
    assert model.cutting_cost_per_carat(Decimal("0.0005")) == Decimal("40")
    assert list(model.cutting_cost_per_carat_array(np.array([0.0005, 0.3, 1.0, 5.0]))) == [40, 40, 20, 20]
    assert result.cost_model["name"] == "table"


def test_value_never_negative_when_costs_exceed_polished():
    model = SizeTableCost(table=((Decimal("0.001"), Decimal("1000")),), margin=Decimal("0.10"))
    assert reverse_engineer(Decimal("10.00"), Decimal("1"), model, [Decimal("0.5")]).rough_value_usd == 0


def test_settings_choose_the_table_model():
    model = cost_model_from_settings(settings(cost_model="table", cost_table="0.001=50;0.5=25", table_margin="0.2"))
    assert model == SizeTableCost(((Decimal("0.001"), Decimal("50")), (Decimal("0.5"), Decimal("25"))), Decimal("0.2"))


@pytest.mark.parametrize("text", ["0.5", "a=1", "1=2;0.5=3"])
def test_bad_cost_tables_are_refused(text):
    with pytest.raises(CostModelError):
        SizeTableCost(parse_cost_table(text))


@pytest.mark.parametrize("margin", [Decimal("-0.1"), Decimal("1"), Decimal("1.5")])
def test_bad_margins_are_refused(margin):
    with pytest.raises(CostModelError):
        FlatCost(margin)


def test_rough_carats_must_be_positive():
    with pytest.raises(ValuationError):
        reverse_engineer(Decimal("450"), Decimal("0"))


@given(usd_amounts, usd_amounts, carat_amounts, margins)
def test_value_is_monotone_in_polished_total(a, b, rough, margin):
    low, high = sorted((a, b))
    model = FlatCost(margin)
    assert reverse_engineer(low, rough, model).rough_price_per_carat <= reverse_engineer(high, rough, model).rough_price_per_carat


@given(usd_amounts, carat_amounts, margins, margins)
def test_value_falls_as_costs_and_margin_rise(total, rough, m1, m2):
    low, high = sorted((m1, m2))
    assert (reverse_engineer(total, rough, FlatCost(high)).rough_value_usd
            <= reverse_engineer(total, rough, FlatCost(low)).rough_value_usd)


@given(usd_amounts, carat_amounts, st.decimals(min_value=0, max_value=500, places=2),
       st.decimals(min_value=0, max_value=500, places=2), st.lists(carat_amounts, min_size=1, max_size=5))
def test_value_falls_as_cutting_costs_rise(total, rough, c1, c2, stones):
    low, high = sorted((c1, c2))
    cheap = SizeTableCost(((Decimal("0.001"), low),), Decimal("0.1"))
    dear = SizeTableCost(((Decimal("0.001"), high),), Decimal("0.1"))
    assert reverse_engineer(total, rough, dear, stones).rough_value_usd <= reverse_engineer(total, rough, cheap, stones).rough_value_usd


@given(usd_amounts, carat_amounts, margins)
def test_exact_formula_matches_its_definition(total, rough, margin):
    result = reverse_engineer(total, rough, FlatCost(margin))
    assert result.rough_value_usd == (total * (1 - margin)).quantize(Decimal("0.01"))
    assert result.rough_price_per_carat == (total * (1 - margin) / rough).quantize(Decimal("0.01"))


@given(st.lists(st.tuples(usd_amounts, st.decimals(min_value=0, max_value=1000, places=2)), min_size=1, max_size=20), margins)
def test_column_version_agrees_with_exact_one(rows, margin):
    totals = np.array([float(t) for t, _ in rows])
    costs = np.array([float(c) for _, c in rows])
    columns = rough_value_array(totals, costs, margin)
    for (total, cost), value in zip(rows, columns, strict=True):
        exact = max(total - cost, Decimal(0)) * (1 - margin)
        assert abs(Decimal(str(value)) - exact) < Decimal("0.01")
