"""The check facts written once, as Ibis expressions any engine Ibis compiles for runs (Spark;
DuckDB in the tests): each reduces the outcome rows to one row per box, per sightholder's weights or
per conflicting claim, and gives the rows, columns, types and order of its query in `facts.py`.

Carats stay exact decimals and each column is cast to the type the store engine's query gives
(sums of carats to three places, of squared carats to six), so the rules read the same table from
either engine. A weight's digits are taken from its thousandths as an integer (a stored weight has
three places, so carat x 1000 is whole on every engine). The one floating-point figure, a grade
mix's chi-square, is summed in whatever order the engine's grouping gives, as in the store's own
engine; it agrees to the last few bits, which the rules' thresholds never separate.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import ibis

from ..domain.sizes import BRACKET_LOWER_BOUNDS

SUM_CT = "decimal(38,3)"
"""A sum of carats, as the store engine types it."""
SUM_CT_SQUARED = "decimal(38,6)"
YIELD = "decimal(9,4)"
"""The width of a yield limit (a share of the rough's carats, to four places)."""
WITHIN = "decimal(24,4)"
"""A rough stone's carats and its polished carats, with half the unit they were written to: four
places, and room for any one stone's sum."""
LIMIT = "decimal(34,8)"
"""A weight within rounding times a yield limit (WITHIN x YIELD), exact."""


def thousandths(weight: Any) -> Any:
    """A weight in carats as a whole number of thousandths of a carat."""
    return (weight * 1000).cast("int64")


def half_unit(weight: Any) -> Any:
    """`facts.rounding`: half the unit a weight was written to (0.005 ct on the hundredth, else 0.0005)."""
    return ibis.cases((thousandths(weight) % 10 == 0, ibis.literal(Decimal("0.005"), WITHIN)),
                      else_=ibis.literal(Decimal("0.0005"), WITHIN))


def size_class(weight: Any) -> Any:
    """`facts.size_class`: the price-list bracket of a polished weight, as its lower bound's text."""
    bounds = sorted(BRACKET_LOWER_BOUNDS, reverse=True)
    cases = [(weight >= ibis.literal(bound, "decimal(9,3)"), str(bound)) for bound in bounds[:-1]]
    return ibis.cases(*cases, else_=str(bounds[-1]))


def _count(condition: Any) -> Any:
    """How many rows meet `condition`, as a BIGINT."""
    return ibis.cases((condition, 1), else_=0).sum().cast("int64")


def boxes(tables: Mapping[str, Any], *, checks_min_processing_days: int, checks_max_yield: Decimal) -> Any:
    """`facts.BOXES`: one row per box sold, with its outcome's counts, carats and dates, its rough
    stones' weights and yields, and the rough declared out of it."""
    o, s, d, parties = (tables["polished_outcomes"], tables["rough_sales"], tables["rough_dispositions"],
                        tables["parties"])
    sales = s.select(sale_box=s.box_id, sale_date=s.sale_date)
    dated = o.join(sales, o.box_id == sales.sale_box)
    days = dated.polished_date.epoch_days() - dated.sale_date.epoch_days()
    po = dated.group_by(po_box=dated.box_id).aggregate(
        polished_stones=dated.count(), po_carats=dated.carat.sum(), largest_polished_ct=dated.carat.max(),
        first_polished_date=dated.polished_date.min(), last_polished_date=dated.polished_date.max(),
        fast_stones=_count(days < checks_min_processing_days),
        early_stones=_count(dated.polished_date < dated.sale_date))

    per_rough = o.group_by(t_box=o.box_id, t_stone=o.rough_stone_id).aggregate(
        polished_ct=o.carat.sum(), rough_ct=o.rough_carats.max(), polished_rounding_ct=half_unit(o.carat).sum())
    t = per_rough
    tracked = t.t_stone.notnull()
    limit = ibis.literal(checks_max_yield, YIELD)
    least_polished = t.polished_ct.cast(WITHIN) - t.polished_rounding_ct.cast(WITHIN)
    most_rough = t.rough_ct.cast(WITHIN) + half_unit(t.rough_ct)
    over_yield = tracked & (least_polished.cast(LIMIT) > (most_rough * limit).cast(LIMIT))
    ratio = t.polished_ct.cast("float64") / t.rough_ct.cast("float64")
    rs = t.group_by(rs_box=t.t_box).aggregate(
        tracked_rough_stones=t.t_stone.count(),
        rough_stones_over_weight=_count(tracked & (t.polished_ct > t.rough_ct)),
        rough_stones_over_yield=_count(over_yield),
        example_rough_stone_id=ibis.cases((over_yield, t.t_stone), else_=ibis.null("string")).min(),
        example_polished_ct=ibis.cases((over_yield, t.polished_ct), else_=ibis.null(t.polished_ct.type())).max(),
        highest_rough_stone_yield=ibis.cases(
            (tracked & (t.rough_ct > 0), ratio),
            (tracked & (t.rough_ct <= 0), ibis.literal(float("inf"), "float64")),
            else_=ibis.null("float64")).max())

    rd = d.group_by(rd_box=d.box_id).aggregate(
        sold_rough=ibis.cases((d.disposition == "sold_rough", d.carats), else_=0).sum(),
        in_process=ibis.cases((d.disposition == "in_process", d.carats), else_=0).sum(),
        lost=ibis.cases((d.disposition.isin(["rejected", "lost"]), d.carats), else_=0).sum(),
        rd_count=d.count())

    p = parties.select(party_id=parties.party_id, category=parties.category)
    joined = (s.left_join(p, s.buyer_id == p.party_id)
              .left_join(po, s.box_id == po.po_box)
              .left_join(rs, s.box_id == rs.rs_box)
              .left_join(rd, s.box_id == rd.rd_box))
    j = joined
    zero = ibis.literal(0, "int64")
    return j.select(
        box_id=j.box_id, sight=j.sight, sale_date=j.sale_date, sightholder_id=j.buyer_id, category=j.category,
        assortment=j.assortment, model=j.model, rough_stones=j.stones, rough_carats=j.carats,
        size_max_ct=j.size_max_ct,
        polished_stones=j.polished_stones.cast("int64").fill_null(zero),
        polished_carats=j.po_carats.cast(SUM_CT).fill_null(0),
        largest_polished_ct=j.largest_polished_ct, first_polished_date=j.first_polished_date,
        last_polished_date=j.last_polished_date,
        fast_stones=j.fast_stones.fill_null(zero), early_stones=j.early_stones.fill_null(zero),
        tracked_rough_stones=j.tracked_rough_stones.cast("int64").fill_null(zero),
        rough_stones_over_weight=j.rough_stones_over_weight.fill_null(zero),
        rough_stones_over_yield=j.rough_stones_over_yield.fill_null(zero),
        example_rough_stone_id=j.example_rough_stone_id,
        example_polished_ct=j.example_polished_ct.cast(SUM_CT),
        highest_rough_stone_yield=j.highest_rough_stone_yield,
        sold_rough_carats=j.sold_rough.cast(SUM_CT).fill_null(0),
        in_process_carats=j.in_process.cast(SUM_CT).fill_null(0),
        lost_carats=j.lost.cast(SUM_CT).fill_null(0),
        dispositions=j.rd_count.cast("int64").fill_null(zero),
    ).order_by("box_id")


def claims(tables: Mapping[str, Any]) -> Any:
    """`facts.CLAIMS`: every claim on a lab report number claimed more than once, with its box's sale,
    the box's polished and leaving carats, and how many sightholders the market has."""
    o, s, d, parties = (tables["polished_outcomes"], tables["rough_sales"], tables["rough_dispositions"],
                        tables["parties"])
    graded = o.filter(o.lab != "none")
    conflicted = graded.group_by(c_lab=graded.lab, c_stone=graded.stone_id).aggregate(n=graded.count())
    conflicted = conflicted.filter(conflicted.n > 1)
    claimed = o.join(conflicted, (o.lab == conflicted.c_lab) & (o.stone_id == conflicted.c_stone)).select(
        "lab", "stone_id", "sightholder_id", "box_id", "polished_date", "carat", "rough_stone_id", "rough_carats")
    claimed_boxes = claimed.select(claimed_box=claimed.box_id).distinct()
    boxes_stones = o.view()  # (a new relation: `claimed` already joins the outcome rows)
    polished = boxes_stones.semi_join(claimed_boxes, boxes_stones.box_id == claimed_boxes.claimed_box)
    box_polished = polished.group_by(bp_box=polished.box_id).aggregate(
        bp_stones=polished.count(), bp_carats=polished.carat.sum())
    leaving = d.filter(d.disposition.isin(["sold_rough", "rejected", "lost"]))
    leaving = leaving.semi_join(claimed_boxes, leaving.box_id == claimed_boxes.claimed_box)
    box_out = leaving.group_by(bo_box=leaving.box_id).aggregate(leaving_carats=leaving.carats.sum())
    sightholders = parties.filter(parties.role == "sightholder")
    holders = sightholders.aggregate(sightholders=sightholders.count())
    sales = s.select(s_box=s.box_id, sight=s.sight, sale_date=s.sale_date, buyer_id=s.buyer_id,
                     size_min_ct=s.size_min_ct, size_max_ct=s.size_max_ct, box_rough_stones=s.stones,
                     box_rough_carats=s.carats)
    c = claimed.view()  # (a new relation: the boxes' sums come from `claimed` too)
    j = (c.join(sales, c.box_id == sales.s_box)
         .join(box_polished, c.box_id == box_polished.bp_box)
         .left_join(box_out, c.box_id == box_out.bo_box)
         .cross_join(holders))
    return j.select(
        lab=j.lab, stone_id=j.stone_id, sightholder_id=j.sightholder_id, box_id=j.box_id, sight=j.sight,
        sale_date=j.sale_date, buyer_id=j.buyer_id, size_min_ct=j.size_min_ct, size_max_ct=j.size_max_ct,
        box_rough_stones=j.box_rough_stones, polished_date=j.polished_date, carat=j.carat,
        rough_stone_id=j.rough_stone_id, rough_carats=j.rough_carats, box_rough_carats=j.box_rough_carats,
        box_leaving_carats=j.leaving_carats.cast(SUM_CT).fill_null(0),
        box_polished_carats=j.bp_carats.cast(SUM_CT), box_polished_stones=j.bp_stones.cast("int64"),
        sightholders=j.sightholders.cast("int64"),
    ).order_by("lab", "stone_id", "sightholder_id", "box_id", "polished_date", "carat")


def grade_mix(tables: Mapping[str, Any]) -> Any:
    """`facts.GRADE_MIX`: per polished box and grade scale, the chi-square distance of its grade
    counts from the rest of its assortment's (leave-one-out)."""
    o, s = tables["polished_outcomes"], tables["rough_sales"]
    by_clarity = o.group_by(c_box=o.box_id, grade=o.clarity).aggregate(n=o.count()).mutate(scale=ibis.literal("clarity"))
    by_colour = o.group_by(c_box=o.box_id, grade=o.color).aggregate(n=o.count()).mutate(scale=ibis.literal("colour"))
    cells = by_clarity.union(by_colour)
    sales = s.select(s_box=s.box_id, assortment=s.assortment, sightholder_id=s.buyer_id, sight=s.sight)
    boxed = cells.join(sales, cells.c_box == sales.s_box).select(
        "c_box", "assortment", "sightholder_id", "sight", "scale", "grade", "n")
    box_total = boxed.group_by(t_box=boxed.c_box, t_scale=boxed.scale).aggregate(total=boxed.n.sum().cast("int64"))
    population = boxed.group_by(p_assortment=boxed.assortment, p_scale=boxed.scale, p_grade=boxed.grade).aggregate(
        p_n=boxed.n.sum().cast("int64"))
    population_total = population.group_by(pt_assortment=population.p_assortment, pt_scale=population.p_scale).aggregate(
        pt_total=population.p_n.sum().cast("int64"), grades=population.count())
    b = boxed.view()  # (a new relation, so the joins name their own columns)
    j = (b.join(box_total, (b.c_box == box_total.t_box) & (b.scale == box_total.t_scale))
         .join(population, (b.assortment == population.p_assortment) & (b.scale == population.p_scale)
               & (b.grade == population.p_grade))
         .join(population_total, (b.assortment == population_total.pt_assortment)
               & (b.scale == population_total.pt_scale)))
    others = j.pt_total - j.total
    n = j.n.cast("float64")
    term = ibis.cases(
        (j.p_n > j.n, n * j.n.cast("float64") * others.cast("float64") / ((j.p_n - j.n) * j.total).cast("float64")),
        else_=ibis.literal(0.0, "float64"))
    grouped = j.group_by(box_id=j.c_box, sightholder_id=j.sightholder_id, sight=j.sight, assortment=j.assortment,
                         scale=j.scale, total=j.total, pt_total=j.pt_total, grades_=j.grades).aggregate(
        grades_only_here=_count(j.p_n == j.n), terms=term.sum())
    g = grouped
    return g.select(
        box_id=g.box_id, sightholder_id=g.sightholder_id, sight=g.sight, assortment=g.assortment, scale=g.scale,
        stones=g.total.cast("int64"), other_stones=(g.pt_total - g.total).cast("int64"),
        grades=g.grades_.cast("int64"), grades_only_here=g.grades_only_here,
        chi_square=g.terms - g.total.cast("float64"),
    ).order_by("box_id", "scale")


def digits(tables: Mapping[str, Any]) -> Any:
    """`facts.DIGITS`: per sightholder, lab and size class, the polished weights by their last two
    digits (hundredths and thousandths)."""
    o = tables["polished_outcomes"]
    weights = o.select(sightholder_id=o.sightholder_id, lab=o.lab, size_class=size_class(o.carat),
                       last_digits=thousandths(o.carat) % 100)
    counted = weights.group_by("sightholder_id", "lab", "size_class", "last_digits").aggregate(
        stones=weights.count())
    return counted.order_by("sightholder_id", "lab", "size_class", "last_digits")


def weight_grid(tables: Mapping[str, Any]) -> Any:
    """`facts.WEIGHT_GRID`: per sightholder, sight, lab and size class, the polished weights and how
    many of them sit on the hundredth and on the twentieth of a carat."""
    o, s = tables["polished_outcomes"], tables["rough_sales"]
    sales = s.select(s_box=s.box_id, sight=s.sight)
    j = o.join(sales, o.box_id == sales.s_box)
    weights = j.select(sightholder_id=j.sightholder_id, sight=j.sight, lab=j.lab, size_class=size_class(j.carat),
                       thousandths=thousandths(j.carat))
    counted = weights.group_by("sightholder_id", "sight", "lab", "size_class").aggregate(
        stones=weights.count(), on_hundredth=_count(weights.thousandths % 10 == 0),
        on_twentieth=_count(weights.thousandths % 50 == 0))
    return counted.order_by("sightholder_id", "sight", "lab", "size_class")


def grid_boxes(tables: Mapping[str, Any], *, most_by_chance: int, excess_millionths: int) -> Any:
    """`facts.GRID_BOXES`: per sightholder and box, the weights on their class's coarser grid and
    the count the classes' market shares expect (given as `grid_classes`), for the boxes above
    expectation by the excess with more than `most_by_chance` weights on the grid."""
    o, c, s = tables["polished_outcomes"], tables["grid_classes"], tables["rough_sales"]
    classes = c.select(c_lab=c.lab, c_size_class=c.size_class, grid_step=c.grid_step.cast("int64"),
                       share=c.share_millionths.cast("int64"))
    weights = o.select(sightholder_id=o.sightholder_id, box_id=o.box_id, lab=o.lab, size_class=size_class(o.carat),
                       thousandths=thousandths(o.carat))
    j = weights.join(classes, (weights.lab == classes.c_lab) & (weights.size_class == classes.c_size_class))
    j = j.mutate(on_grid=ibis.cases((j.thousandths % j.grid_step == 0, 1), else_=0), thousandth=j.grid_step == 10)
    counted = j.group_by("sightholder_id", "box_id").aggregate(
        stones=j.count(), on_grid=j.on_grid.sum().cast("int64"), expected_millionths=j.share.sum().cast("int64"),
        thousandth_stones=_count(j.thousandth),
        thousandth_on_grid=ibis.cases((j.thousandth, j.on_grid), else_=0).sum().cast("int64"),
        thousandth_expected_millionths=ibis.cases((j.thousandth, j.share), else_=0).sum().cast("int64"))
    kept = counted.filter((counted.on_grid > most_by_chance)
                          & (counted.on_grid * 1_000_000 - counted.expected_millionths
                             >= excess_millionths * counted.stones))
    sales = s.select(s_box=s.box_id, sight=s.sight)
    j = kept.join(sales, kept.box_id == sales.s_box)
    return j.select("sightholder_id", "sight", "box_id", "stones", "on_grid", "expected_millionths",
                    "thousandth_stones", "thousandth_on_grid", "thousandth_expected_millionths",
                    ).order_by("sightholder_id", "sight", "box_id")


def repeats(tables: Mapping[str, Any], *, checks_repeat_min_stones: int) -> Any:
    """`facts.REPEATS`: the boxes whose outcome's count, total, sum of squares, lightest and heaviest
    weight repeat another box's (unless both carry the same first lab report), with their sales."""
    o, s = tables["polished_outcomes"], tables["rough_sales"]
    report = ibis.cases((o.lab != "none", o.lab.concat(" ", o.stone_id)), else_=ibis.null("string"))
    pattern = o.group_by(p_box=o.box_id, sightholder_id=o.sightholder_id).aggregate(
        stones=o.count(), carats=o.carat.sum().cast(SUM_CT), carats_squared=(o.carat * o.carat).sum().cast(SUM_CT_SQUARED),
        smallest_ct=o.carat.min(), largest_ct=o.carat.max(), first_report=report.min(),
        first_polished_date=o.polished_date.min(), lightest_rough_ct=o.rough_carats.min(),
        heaviest_rough_ct=o.rough_carats.max())
    big = pattern.filter(pattern.stones >= checks_repeat_min_stones)
    repeated = big.group_by(r_stones=big.stones, r_carats=big.carats, r_squared=big.carats_squared,
                            r_smallest=big.smallest_ct, r_largest=big.largest_ct).aggregate(
        owners=big.first_report.fill_null(big.p_box).nunique())
    repeated = repeated.filter(repeated.owners > 1)
    sales = s.select(s_box=s.box_id, sight=s.sight, sale_date=s.sale_date, buyer_id=s.buyer_id,
                     size_min_ct=s.size_min_ct, size_max_ct=s.size_max_ct, rough_carats=s.carats,
                     rough_stones=s.stones)
    j = (pattern.join(repeated, (pattern.stones == repeated.r_stones) & (pattern.carats == repeated.r_carats)
                      & (pattern.carats_squared == repeated.r_squared) & (pattern.smallest_ct == repeated.r_smallest)
                      & (pattern.largest_ct == repeated.r_largest))
         .join(sales, pattern.p_box == sales.s_box))
    return j.select(
        box_id=j.p_box, sightholder_id=j.sightholder_id, sight=j.sight, stones=j.stones.cast("int64"),
        carats=j.carats, carats_squared=j.carats_squared, smallest_ct=j.smallest_ct, largest_ct=j.largest_ct,
        first_polished_date=j.first_polished_date, sale_date=j.sale_date, buyer_id=j.buyer_id,
        size_min_ct=j.size_min_ct, size_max_ct=j.size_max_ct, rough_carats=j.rough_carats,
        rough_stones=j.rough_stones, lightest_rough_ct=j.lightest_rough_ct, heaviest_rough_ct=j.heaviest_rough_ct,
    ).order_by("stones", "carats", "carats_squared", "box_id")
