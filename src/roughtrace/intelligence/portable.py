"""The intelligence cells' box facts written once, as an Ibis expression any engine Ibis compiles for
runs (Spark; DuckDB in the tests): one row per box sold to a sightholder with what its buyer
reported of it, the columns and types of `cells.box_facts_sql`.

Every figure is a whole number: weights as thousandths of a carat (a stored weight has three places,
so carat x 1000 is whole on every engine), and a stone's value at the index median in cents, rounded
half up from integer thousandths of a cent, so no engine rounds through floating point. Sums are
typed as the store engine types a sum of BIGINT (DECIMAL(38,0)).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import ibis

from ..domain.sizes import BRACKET_LOWER_BOUNDS, BRACKETS
from ..pricing.portable import UNITS
from .cells import LARGE_CT, TOP_CLARITIES, TOP_COLOURS

CARAT = "decimal(18,3)"
"""A stored weight, as the store types it (a store may type a column by its values)."""
SUM = "decimal(38,0)"
"""A sum of whole numbers, as the store engine types it."""
SIZE_CLASSES: tuple[tuple[int, str], ...] = ((100, "sand"), (1_000, "smalls"), (15_000, "sizes"))
"""A box's size class by its average stone: under 0.1 ct sand, to 1 ct smalls, to 15 ct sizes (the
bound in thousandths of a carat a stone, the first below it strictly), else specials."""


def _thousandths(carats: Any) -> Any:
    return (carats.cast(CARAT) * 1000).cast("int64")


def _bracket(carat: Any) -> Any:
    """`pricing.index.BRACKET_SQL`: the price-list size bracket of a polished weight."""
    bounds = list(zip(BRACKET_LOWER_BOUNDS, BRACKETS, strict=True))
    return ibis.cases(*((carat >= ibis.literal(low, CARAT), label) for low, label in reversed(bounds)),
                      else_=BRACKETS[0])


def _when(condition: Any, value: Any) -> Any:
    return ibis.cases((condition, value), else_=ibis.literal(0, "int64"))


def _filled(column: Any) -> Any:
    return column.cast(SUM).fill_null(ibis.literal(Decimal(0), SUM))


def box_facts(tables: Mapping[str, Any], *, price_period: str) -> Any:
    """`cells.box_facts_sql`: every box sold to a sightholder, with its buyer's polished outcome
    (carats by grade and size, stones, days to polish, what the index prices of it) and its
    declared dispositions, in no order."""
    o, s, d, parties, index = (tables["polished_outcomes"], tables["rough_sales"], tables["rough_dispositions"],
                               tables["parties"], tables["price_index_cells"])
    carat = o.carat.cast(CARAT)
    stones = o.select(
        o_box=o.box_id, o_holder=o.sightholder_id, mct=_thousandths(o.carat), color=o.color, clarity=o.clarity,
        polished_date=o.polished_date, shape_family=ibis.cases((o.shape == "round", "round"), else_="fancy"),
        size_bracket=_bracket(carat), period_start=o.polished_date.truncate(UNITS[price_period]))
    sold = s.select(o_sale_box=s.box_id, o_buyer=s.buyer_id, o_sale_date=s.sale_date)
    cells = index.select(p_start=index.period_start, p_family=index.shape_family, p_bracket=index.size_bracket,
                         p_color=index.color, p_clarity=index.clarity,
                         ppc_cents=(index.median_ppc.cast("decimal(18,2)") * 100).cast("int64"))
    j = (stones.join(sold, (stones.o_box == sold.o_sale_box) & (stones.o_holder == sold.o_buyer))
         .left_join(cells, (stones.period_start == cells.p_start) & (stones.shape_family == cells.p_family)
                    & (stones.size_bracket == cells.p_bracket) & (stones.color == cells.p_color)
                    & (stones.clarity == cells.p_clarity)))
    priced = j.ppc_cents.notnull()
    # carat x median x 100 in cents is mct x ppc_cents / 1000, rounded half up (both are positive); the
    # engines divide in floating point, exact while the product is below 2^53 (a 100 ct stone at a
    # million dollars a carat is 10^13)
    value = (j.mct * j.ppc_cents.fill_null(0) + 500) // 1000
    outcome = j.group_by(outcome_box=j.o_box).aggregate(
        polished_mct=j.mct.sum(),
        top_colour_mct=_when(j.color.isin(list(TOP_COLOURS)), j.mct).sum(),
        top_clarity_mct=_when(j.clarity.isin(list(TOP_CLARITIES)), j.mct).sum(),
        large_mct=_when(j.mct >= int(LARGE_CT * 1000), j.mct).sum(),
        outcome_stones=j.count(),
        polish_days=(j.polished_date.epoch_days() - j.o_sale_date.epoch_days()).cast("int64").sum(),
        priced_mct=_when(priced, j.mct).sum(),
        priced_value_cents=_when(priced, value.cast("int64")).sum())

    bought = s.select(d_sale_box=s.box_id, d_buyer=s.buyer_id)
    declared_rows = d.join(bought, (d.box_id == bought.d_sale_box) & (d.sightholder_id == bought.d_buyer))
    r = declared_rows
    declared = r.group_by(declared_box=r.box_id).aggregate(
        sold_rough_mct=_when(r.disposition == "sold_rough", _thousandths(r.carats)).sum(),
        in_process_mct=_when(r.disposition == "in_process", _thousandths(r.carats)).sum())

    holders = parties.filter(parties.role == "sightholder").select(holder=parties.party_id)
    boxes = (s.join(holders, s.buyer_id == holders.holder)
             .left_join(outcome, s.box_id == outcome.outcome_box)
             .left_join(declared, s.box_id == declared.declared_box))
    b = boxes
    rough_mct = _thousandths(b.carats)
    size_class = ibis.cases(*((rough_mct < bound * b.stones.cast("int64") if i == 0
                               else rough_mct <= bound * b.stones.cast("int64"), name)
                              for i, (bound, name) in enumerate(SIZE_CLASSES)), else_="specials")
    with_outcome = b.outcome_box.notnull()
    return b.select(
        box_id=b.box_id, sightholder_id=b.buyer_id, seller_id=b.seller_id, sale_date=b.sale_date,
        assortment=b.assortment, model=b.model, size_class=size_class, rough_mct=rough_mct,
        outcome_rough_mct=ibis.cases((with_outcome, rough_mct), else_=ibis.literal(0, "int64")),
        reported_boxes=ibis.cases((with_outcome | b.declared_box.notnull(), 1), else_=0).cast("int32"),
        polished_mct=_filled(b.polished_mct), top_colour_mct=_filled(b.top_colour_mct),
        top_clarity_mct=_filled(b.top_clarity_mct), large_mct=_filled(b.large_mct),
        stones=b.outcome_stones.cast("int64").fill_null(ibis.literal(0, "int64")),
        polish_days=_filled(b.polish_days),
        sold_rough_mct=_filled(b.sold_rough_mct), in_process_mct=_filled(b.in_process_mct),
        priced_mct=_filled(b.priced_mct), priced_value_cents=_filled(b.priced_value_cents))
