"""Box valuation's two passes over the outcome stones written once, as Ibis expressions any engine
Ibis compiles for runs (Spark; DuckDB in the tests): the distinct price keys the pricer quotes
(`price_keys`, as `boxes.PRICE_KEYS`) and each box's sums over its stones priced at those quotes
(`box_totals`, as `boxes.BOX_TOTALS_SQL`). The rows each gives are the store engine's plan's.

Carats and dollars stay exact decimals: each stone's carat x price per carat x move is a product of
decimals narrowed to the widths a stored value can take (carats below a million, prices per carat
below a billion dollars, moves below ten million), so that no engine rounds the product (Spark
would cut a wider product's scale) and every engine sums the same exact amounts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ibis

from ..domain.kp import HS_GEM, HS_INDUSTRIAL, HS_UNSORTED

CARAT = "decimal(9,3)"
PRICE = "decimal(12,3)"
MOVE = "decimal(13,6)"
"""The widths of the factors; a wider one never has fewer places (Ibis types a product of decimals
only so)."""


def _family(shape: Any) -> Any:
    return ibis.cases((shape == "round", "round"), else_="fancy")


def _month_key(date: Any) -> Any:
    return (date.year().cast("int64") * 100 + date.month().cast("int64")).cast("int64")


def _stones(tables: Mapping[str, Any], price_date: str, fixed: bool) -> Any:
    """Every outcome stone of a sold box with its price key and the month it is priced in."""
    o, r = tables["polished_outcomes"], tables["rough_sales"]
    sales = r.select(sale_box=r.box_id, sale_date=r.sale_date)
    joined = o.join(sales, o.box_id == sales.sale_box)
    month = ibis.literal(0, "int64") if fixed else _month_key(
        joined.sale_date if price_date == "sale" else joined.polished_date)
    carat = joined.carat.cast("decimal(18,3)")  # (as stored: a store may type the column by its values)
    return joined.select(
        box_id=joined.box_id, shape_family=_family(joined.shape), color=joined.color, clarity=joined.clarity,
        cut=joined.cut.fill_null(""), carat=carat, carat_cents=(carat * 100).floor().cast("int64"), month_key=month)


def price_keys(tables: Mapping[str, Any], *, price_date: str, fixed: bool) -> Any:
    """The distinct (shape family, colour, clarity, cut, hundredth of a carat, month) of the outcome
    stones of sold boxes (month 0 when every stone is priced at one `fixed` date)."""
    stones = _stones(tables, price_date, fixed)
    return stones.select("shape_family", "color", "clarity", "cut", "carat_cents", "month_key").distinct()


def _hs_code(model: Any, quality: Any) -> Any:
    """`hs.hs_class` over two columns."""
    return ibis.cases(((model == "rejections") | (quality == "rejection"), HS_INDUSTRIAL),
                      ((model == "mixed") & (quality == "mixed"), HS_UNSORTED), else_=HS_GEM)


def box_totals(tables: Mapping[str, Any], *, price_date: str) -> Any:
    """Per sold box with an outcome, by box: the sale's columns, its HS code, the rough declared set
    aside, and its stones' count, carats, index value (carat x quote x the cell's move since the
    quote's date) and cutting costs."""
    stones = _stones(tables, price_date, fixed=False).view()  # (a new relation, so the join names its own columns)
    q, m = tables["valuation_polished_quotes"], tables["valuation_price_moves"]
    quotes = q.select(q_family=q.shape_family, q_color=q.color, q_clarity=q.clarity, q_cut=q.cut,
                      q_cents=q.carat_cents, q_bracket=q.bracket, price=q.price_per_carat,
                      cost=q.cutting_cost_per_carat)
    moves = m.select(m_family=m.shape_family, m_bracket=m.bracket, m_color=m.color, m_clarity=m.clarity,
                     m_month=m.month_key, move=m.move)
    priced = stones.join(quotes, [stones.shape_family == quotes.q_family, stones.color == quotes.q_color,
                                  stones.clarity == quotes.q_clarity, stones.cut == quotes.q_cut,
                                  stones.carat_cents == quotes.q_cents])
    priced = priced.left_join(moves, [quotes.q_family == moves.m_family, quotes.q_bracket == moves.m_bracket,
                                      quotes.q_color == moves.m_color, quotes.q_clarity == moves.m_clarity,
                                      stones.month_key == moves.m_month])
    priced = priced.select("box_id", "carat", "price", "cost", "move")
    carat = priced.carat.cast(CARAT)
    value = carat * priced.price.cast(PRICE) * priced.move.cast(MOVE).fill_null(ibis.literal(1, MOVE))
    per_box = priced.group_by(stone_box=priced.box_id).aggregate(
        stones_polished=priced.count(), polished_carats=priced.carat.sum(), polished_total_usd=value.sum(),
        cutting_costs_usd=(carat * priced.cost.cast(PRICE)).sum())
    d = tables["rough_dispositions"]
    set_aside = d.group_by(aside_box=d.box_id).aggregate(aside=d.carats.sum())
    r = tables["rough_sales"]
    boxes = r.join(per_box, r.box_id == per_box.stone_box).left_join(set_aside, r.box_id == set_aside.aside_box)
    boxes = boxes.select(*r.columns, "stones_polished", "polished_carats", "polished_total_usd", "cutting_costs_usd",
                         "aside")
    return boxes.select(
        box_id=boxes.box_id, buyer_id=boxes.buyer_id, sight=boxes.sight, sale_date=boxes.sale_date,
        origin=boxes.origin, assortment=boxes.assortment, model=boxes.model, quality=boxes.quality,
        hs_code=_hs_code(boxes.model, boxes.quality), box_carats=boxes.carats, paid_usd=boxes.price_usd,
        set_aside_carats=boxes.aside.fill_null(0).cast("decimal(38,3)"),
        stones_polished=boxes.stones_polished.cast("int64"),
        polished_carats=boxes.polished_carats.cast("decimal(38,3)"),
        polished_total_usd=boxes.polished_total_usd.cast("decimal(38,11)"),
        cutting_costs_usd=boxes.cutting_costs_usd.cast("decimal(38,5)"),
    ).order_by("box_id")
