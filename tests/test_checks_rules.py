"""Each check: a small market in the trade's words that trips it, and one that does not."""

from __future__ import annotations

import numpy as np
import pytest

from roughtrace.checks import assess, run_checks
from roughtrace.settings import SettingError
from test_checks_support import (
    DISPOSITIONS_HEADER,
    OUTCOMES_HEADER,
    PARTIES,
    SALES_HEADER,
    builder,
    load,
    settings,
)


@pytest.fixture
def build(engine, tmp_path):
    """Markets in the trade's words, on each engine in turn."""
    yield from builder(engine, tmp_path)


SALES = SALES_HEADER + """
B1,2024-01,2024-01-08,P1,M1,BW,A-STONES-8GR,stones,0.750,2.000,white,high,8,10.000,9000.00,BW0001
B2,2024-01,2024-01-08,P1,M2,BW,A-STONES-8GR,stones,0.750,2.000,white,high,8,10.000,9000.00,BW0001
B3,2024-03,2024-03-11,P1,D1,BW,A-STONES-8GR,stones,0.750,2.000,white,high,8,10.000,9000.00,BW0002
"""


def findings(store, check, **overrides):
    return [f for f in run_checks(store, settings(**overrides)) if f.check == check]


# --- mass balance ---------------------------------------------------------------------------------

def test_mass_balance_flags_a_box_yielding_more_than_the_rough_can_give(build):
    store = build(SALES, OUTCOMES_HEADER + """
GIA1000001,GIA,M1,B1,,,2024-02-20,round,1.800,G,VS1,EX
GIA1000002,GIA,M1,B1,,,2024-02-20,round,1.700,H,VS2,EX
GIA1000003,GIA,M1,B1,,,2024-02-21,oval,1.900,G,SI1,
GIA1000004,GIA,M1,B1,,,2024-02-21,oval,1.600,F,VS1,
""")
    [finding] = findings(store, "mass_balance")
    assert (finding.sightholder_id, finding.box_id, finding.severity) == ("M1", "B1", "high")
    assert finding.evidence["polished_carats"] == pytest.approx(7)
    assert "70.0% yield" in finding.message


def test_mass_balance_is_quiet_for_a_typical_yield(build):
    store = build(SALES, OUTCOMES_HEADER + """
GIA1000001,GIA,M1,B1,R1,2.000,2024-02-20,round,0.950,G,VS1,EX
GIA1000002,GIA,M1,B1,R2,1.900,2024-02-20,round,0.900,H,VS2,EX
GIA1000003,GIA,M1,B1,,,2024-02-21,oval,1.100,G,SI1,
GIA1000004,GIA,M1,B1,,,2024-02-21,oval,1.550,F,VS1,
""")
    assert findings(store, "mass_balance") == []


def test_mass_balance_counts_rough_declared_out_of_the_box(build):
    store = build(SALES, OUTCOMES_HEADER + """
GIA1000001,GIA,M1,B1,,,2024-02-20,round,1.000,G,VS1,EX
GIA1000002,GIA,M1,B1,,,2024-02-20,round,1.200,H,VS2,EX
""", DISPOSITIONS_HEADER + """
M1,B1,sold_rough,8.500,2024-02-01,T1
""")
    [finding] = findings(store, "mass_balance")
    assert "declared out as rough" in finding.message and finding.severity == "high"


def test_mass_balance_of_one_rough_stone(build):
    tripped = build(SALES, OUTCOMES_HEADER + """
GIA1000001,GIA,M1,B1,R1,1.500,2024-02-20,round,0.600,G,VS1,EX
GIA1000002,GIA,M1,B1,R1,1.500,2024-02-20,pear,0.500,H,VS2,
""")
    [finding] = findings(tripped, "mass_balance")
    assert finding.severity == "medium" and finding.evidence["example_rough_stone_id"] == "R1"
    over_weight = build(SALES, OUTCOMES_HEADER + """
GIA1000001,GIA,M1,B1,R1,1.500,2024-02-20,round,0.900,G,VS1,EX
GIA1000002,GIA,M1,B1,R1,1.500,2024-02-20,pear,0.700,H,VS2,
""")
    assert [f.severity for f in findings(over_weight, "mass_balance")] == ["high"]
    quiet = build(SALES, OUTCOMES_HEADER + """
GIA1000001,GIA,M1,B1,R1,1.500,2024-02-20,round,0.500,G,VS1,EX
GIA1000002,GIA,M1,B1,R1,1.500,2024-02-20,pear,0.300,H,VS2,
""")
    assert findings(quiet, "mass_balance") == []


def test_a_yield_within_the_rounding_of_the_reported_weights_is_not_over_yield(build):
    # 0.32 ct as the lab reports it (two decimals) from 0.527 ct of rough: 60.7% as written, but the
    # stone may weigh 0.315 ct, 59.7% of the rough
    store = build(SALES, OUTCOMES_HEADER + """
GIA1000001,GIA,M1,B1,R1,0.527,2024-02-20,round,0.320,G,VS1,EX
GIA1000002,GIA,M1,B1,R2,0.530,2024-02-20,round,0.32,G,VS1,EX
""")
    assert findings(store, "mass_balance") == []
    beyond = build(SALES, OUTCOMES_HEADER + """
GIA1000001,GIA,M1,B1,R1,0.527,2024-02-20,round,0.330,G,VS1,EX
GIA1000002,GIA,M1,B1,R2,0.527,2024-02-20,round,0.318,G,VS1,EX
""")
    [finding] = findings(beyond, "mass_balance")
    assert finding.severity == "medium" and finding.evidence["rough_stones_over_yield"] == 2


# --- yield against the population ---------------------------------------------------------------

def _population(outlier_carat: str) -> str:
    """Eight boxes of one assortment at 10 ct each, polished at about 45%; M2's box B9 at the given."""
    sales, outcomes = [SALES_HEADER], [OUTCOMES_HEADER]
    for i, carat in enumerate(("4.500", "4.400", "4.600", "4.550", "4.450", "4.350", "4.650", "4.500")):
        sales.append(f"C{i},2024-01,2024-01-08,P1,M1,BW,A-SHAPES,shapes,0.750,2.000,white,high,8,10.000,9000.00,")
        outcomes.append(f"IGI{i},IGI,M1,C{i},,,2024-03-01,round,{carat},G,VS1,EX")
    sales.append("B9,2024-01,2024-01-08,P1,M2,BW,A-SHAPES,shapes,0.750,9.000,white,high,8,10.000,9000.00,")
    outcomes.append(f"IGI9,IGI,M2,B9,,,2024-03-01,round,{outlier_carat},G,VS1,EX")
    return "\n".join(sales), "\n".join(outcomes)


def test_yield_far_above_the_assortment_is_an_outlier(build):
    store = build(*_population("5.900"))
    [finding] = findings(store, "yield_outlier", checks_yield_min_boxes=5)
    assert (finding.box_id, finding.severity) == ("B9", "medium")
    assert float(finding.evidence["robust_z"]) > 5


def test_rough_still_in_process_is_not_a_low_yield(build):
    sales, outcomes = _population("2.250")  # half of B9's rough is polished, the other half declared in process
    in_process = DISPOSITIONS_HEADER + "\nM2,B9,in_process,5.000,2024-03-01,"
    store = build(sales, outcomes, in_process)
    assert findings(store, "yield_outlier", checks_yield_min_boxes=5) == []
    far_above = build(*_population("4.500"), in_process)  # 4.5 ct from the 5 ct left to polish
    [finding] = findings(far_above, "yield_outlier", checks_yield_min_boxes=5)
    assert (finding.box_id, finding.severity) == ("B9", "medium")
    assert finding.evidence["rough_left_to_polish_carats"] == 5


def test_yield_within_the_assortment_spread_is_not(build):
    store = build(*_population("4.480"))
    assert findings(store, "yield_outlier", checks_yield_min_boxes=5) == []


# --- size and timing ----------------------------------------------------------------------------

def test_polished_stone_larger_than_the_largest_rough_stone(build):
    store = build(SALES, OUTCOMES_HEADER + """
GIA1000001,GIA,M1,B1,,,2024-02-20,round,2.010,G,VS1,EX
""")
    [finding] = findings(store, "size_and_timing")
    assert finding.severity == "high" and "larger than the box's largest rough stone" in finding.message


def test_stones_polished_within_days_of_the_sale(build):
    store = build(SALES, OUTCOMES_HEADER + """
GIA1000001,GIA,M1,B1,,,2024-01-08,round,0.510,G,VS1,EX
GIA1000002,GIA,M1,B1,,,2024-01-09,round,0.520,G,VS1,EX
GIA1000003,GIA,M1,B1,,,2024-01-10,round,0.530,G,VS1,EX
""")
    [finding] = findings(store, "size_and_timing")
    assert finding.severity == "high" and finding.evidence["fast_stones"] == 3


def test_size_and_timing_quiet_for_a_stone_that_fits_and_takes_weeks(build):
    store = build(SALES, OUTCOMES_HEADER + """
GIA1000001,GIA,M1,B1,,,2024-02-28,round,1.990,G,VS1,EX
GIA1000002,GIA,M1,B1,,,2024-01-12,round,0.990,G,VS1,EX
""")
    assert [f.severity for f in findings(store, "size_and_timing")] == []


# --- coverage -----------------------------------------------------------------------------------

def test_boxes_with_nothing_reported_after_the_window(build):
    store = build(SALES, "", DISPOSITIONS_HEADER + """
D1,B3,sold_rough,10.000,2024-03-20,T1
""")
    found = findings(store, "coverage", checks_as_of="2024-12-31")
    per_box = sorted((f.sightholder_id, f.box_id, f.severity) for f in found if f.box_id)
    assert per_box == [("M1", "B1", "medium"), ("M2", "B2", "medium")]
    assert not [f for f in found if f.sightholder_id == "D1"]


def test_coverage_waits_for_the_processing_window(build):
    store = build(SALES)
    assert findings(store, "coverage", checks_as_of="2024-03-01") == []


def test_many_silent_boxes_make_a_sightholder_high_risk(build):
    sales = SALES + "\n".join(
        f"B1{i},2024-01,2024-01-08,P1,M1,BW,A-STONES-8GR,stones,0.750,2.000,white,high,8,10.000,9000.00,"
        for i in range(3))
    store = build(sales, OUTCOMES_HEADER + """
GIA1000001,GIA,M1,B1,,,2024-02-20,round,0.950,G,VS1,EX
""")
    wide = [f for f in findings(store, "coverage", checks_as_of="2024-12-31") if f.box_id is None]
    assert [(f.sightholder_id, f.severity) for f in wide] == [("M1", "high")]
    assert wide[0].evidence["uncovered_boxes"] == 3


# --- duplicate claims ---------------------------------------------------------------------------

def test_a_single_clash_that_nothing_decides_is_a_question_for_both(build):
    store = build(SALES, OUTCOMES_HEADER + """
GIA2141000001,GIA,M1,B1,,,2024-02-20,round,0.700,G,VS1,EX
GIA2141000002,GIA,M1,B1,,,2024-02-20,round,0.710,G,VS1,EX
GIA2141000001,GIA,M2,B2,,,2024-02-25,round,0.700,G,VS1,EX
""")
    found = sorted((f.sightholder_id, f.box_id, f.severity) for f in findings(store, "duplicate_claims"))
    assert found == [("M1", "B1", "medium"), ("M2", "B2", "medium")]
    assert {r.sightholder_id: r.level for r in assess(store, settings())}["M1"] != "high"


LATE_SALES = SALES_HEADER + """
B1,2024-01,2024-01-08,P1,M1,BW,A-STONES-8GR,stones,0.750,2.000,white,high,8,10.000,9000.00,BW0001
B2,2024-03,2024-03-11,P1,M2,BW,A-STONES-8GR,stones,0.750,2.000,white,high,8,10.000,9000.00,BW0002
"""
OWNER_ROWS = """
GIA2141000001,GIA,M1,B1,,,2024-02-20,round,0.700,G,VS1,EX
GIA2141000002,GIA,M1,B1,,,2024-02-21,round,0.710,G,VS1,EX
"""
COPIER_ROWS = """
GIA2141000001,GIA,M2,B2,,,2024-04-02,round,0.700,G,VS1,EX
GIA2141000002,GIA,M2,B2,,,2024-04-02,round,0.710,G,VS1,EX
"""


@pytest.mark.parametrize("copier_first", [True, False])
def test_a_copier_is_rated_high_whichever_claim_was_stored_first(build, copier_first):
    rows = (COPIER_ROWS + OWNER_ROWS) if copier_first else (OWNER_ROWS + COPIER_ROWS)
    store = build(LATE_SALES, OUTCOMES_HEADER + rows)
    found = {(f.sightholder_id, f.box_id): f for f in findings(store, "duplicate_claims")}
    assert found[("M2", "B2")].severity == "high" and found[("M1", "B1")].severity == "info"
    assert "before this claim's box was sold" in found[("M2", "B2")].evidence["decided_by"][0]
    risk = {r.sightholder_id: r.level for r in assess(store, settings())}
    assert risk["M2"] == "high" and risk["M1"] == "low"


def _copier_market(copier_first: bool) -> tuple[str, str, str]:
    """A market of 40 sightholders. Three owners polish a box each; C9 claims every stone of all three
    from boxes of its own, dated like the owners' (nothing in any one chain gives it away)."""
    holders = ("O1", "O2", "O3", "C9") + tuple(f"H{i}" for i in range(34))
    parties = PARTIES + "\n".join(f"{h},Cutter {h},sightholder,manufacturer,IN" for h in holders)
    sales, owners, copies = [SALES_HEADER], [], []
    for n, owner in enumerate(("O1", "O2", "O3")):
        sales.append(f"X{n},2024-01,2024-01-08,P1,{owner},BW,A-STONES-8GR,stones,0.750,2.000,white,high,8,10.000,"
                     "9000.00,")
        sales.append(f"Y{n},2024-01,2024-01-08,P1,C9,BW,A-STONES-8GR,stones,0.750,2.000,white,high,8,10.000,"
                     "9000.00,")
        for s in range(3):
            owners.append(f"IGI{n}{s},IGI,{owner},X{n},,,2024-03-0{s + 1},round,0.9{n}{s},G,VS1,EX")
            copies.append(f"IGI{n}{s},IGI,C9,Y{n},,,2024-03-0{3 - s},round,0.9{n}{s},G,VS1,EX")
    rows = copies + owners if copier_first else owners + copies
    return "\n".join(sales), OUTCOMES_HEADER + "\n" + "\n".join(rows), parties


@pytest.mark.parametrize("copier_first", [True, False])
def test_a_copier_of_many_owners_is_found_by_the_conflict_graph(build, copier_first):
    sales, outcomes, parties = _copier_market(copier_first)
    store = build(sales, outcomes, parties=parties)
    found = findings(store, "duplicate_claims")
    assert {f.sightholder_id for f in found if f.severity == "high"} == {"C9"}
    assert {(f.sightholder_id, f.severity) for f in found if f.sightholder_id != "C9"} == {
        ("O1", "info"), ("O2", "info"), ("O3", "info")}
    assert all("conflict graph" in f.evidence["decided_by"][0] for f in found)
    [certainty] = {f.evidence["certainty"][0]["probability_by_accident"] for f in found if f.severity == "high"}
    assert certainty < 0.01


SMALL_BOX_SALES = SALES + """B6,2024-01,2024-01-08,P1,M2,BW,A-SHAPES-SMALL,shapes,0.100,0.200,white,high,6,0.900,900.00,
"""


@pytest.mark.parametrize("copier_first", [True, False])
def test_a_claim_cut_from_rough_its_box_cannot_hold_is_the_copy(build, copier_first):
    owner = """
GIA2141000001,GIA,M1,B1,R1,1.210,2024-02-20,round,0.700,G,VS1,EX
GIA2141000002,GIA,M1,B1,R2,1.330,2024-02-21,round,0.710,G,VS1,EX
"""
    copy = owner.replace(",M1,B1,", ",M2,B6,")  # same dates and weights: only its box's sizes give it away
    store = build(SMALL_BOX_SALES, OUTCOMES_HEADER + (copy + owner if copier_first else owner + copy))
    found = {(f.sightholder_id, f.box_id): f for f in findings(store, "duplicate_claims")}
    assert found[("M2", "B6")].severity == "high" and found[("M1", "B1")].severity == "info"
    assert "outside this box's size range" in found[("M2", "B6")].evidence["decided_by"][0]


@pytest.mark.parametrize("copier_first", [True, False])
def test_a_box_copied_under_the_owners_own_stone_ids_is_a_repeat(build, copier_first):
    owner = """
M1-0001,none,M1,B1,R1,1.210,2024-02-20,round,0.240,G,VS1,EX
M1-0002,none,M1,B1,R2,1.330,2024-02-21,round,0.251,G,VS1,EX
M1-0003,none,M1,B1,R3,1.100,2024-02-21,pear,0.262,H,VS2,
"""
    copy = owner.replace(",M1,B1,", ",M2,B6,")  # no lab report to clash on: the owner's own ids, copied
    store = build(SMALL_BOX_SALES, OUTCOMES_HEADER + (copy + owner if copier_first else owner + copy))
    found = sorted((f.sightholder_id, f.box_id, f.severity) for f in findings(store, "repeated_outcomes"))
    assert found == [("M1", "B1", "info"), ("M2", "B6", "high")]
    assert {r.sightholder_id: r.level for r in assess(store, settings())}["M2"] == "high"


def test_a_box_claiming_more_stones_than_its_rough_holds_is_the_copy(build):
    owner = "\n".join(f"M1-{i:04d},none,M1,B1,,,2024-02-20,round,0.{240 + i:03d},G,VS1,EX" for i in range(14))
    copy = owner.replace(",M1,B1,", ",M2,B7,")  # 14 polished stones from a box of 5 rough stones
    sales = SALES + "B7,2024-01,2024-01-08,P1,M2,BW,A-STONES-8GR,stones,0.750,2.000,white,high,5,10.000,9000.00,\n"
    store = build(sales, OUTCOMES_HEADER + "\n" + owner + "\n" + copy)
    found = {f.box_id: f for f in findings(store, "repeated_outcomes")}
    assert (found["B7"].severity, found["B1"].severity) == ("high", "info")
    assert [k for k, v in found["B7"].evidence["chain_against"].items() if v] == ["stones_beyond_box"]


def test_a_stone_counted_in_two_boxes_of_one_sightholder_is_a_question(build):
    store = build(SALES + "B4,2024-01,2024-01-08,P1,M1,BW,A-STONES-8GR,stones,0.750,2.000,white,high,8,10.000,"
                  "9000.00,\n", OUTCOMES_HEADER + """
GIA2141000001,GIA,M1,B1,,,2024-02-20,round,0.700,G,VS1,EX
GIA2141000001,GIA,M1,B4,,,2024-02-20,round,0.700,G,VS1,EX
""")
    found = findings(store, "duplicate_claims")
    assert [(f.sightholder_id, f.severity, f.evidence["role"]) for f in found] == [("M1", "medium", "same sightholder")]


def test_the_same_claim_stored_twice_is_no_conflict(engine, build):
    store = build(SALES, OUTCOMES_HEADER + """
GIA2141000001,GIA,M1,B1,,,2024-02-20,round,0.700,G,VS1,EX
""")
    if engine == "postgresql":  # the store itself holds a claim once (schema 10)
        with pytest.raises(Exception, match="unique|duplicate key"):
            load(store, "polished_outcomes", OUTCOMES_HEADER + "\nGIA2141000001,GIA,M1,B1,,,2024-02-20,round,0.700,G,VS1,EX\n")
    else:
        load(store, "polished_outcomes", OUTCOMES_HEADER + """
GIA2141000001,GIA,M1,B1,,,2024-02-20,round,0.700,G,VS1,EX
""")
    assert findings(store, "duplicate_claims") == []


def test_the_same_number_at_two_labs_is_two_stones(build):
    store = build(SALES, OUTCOMES_HEADER + """
2141000001,GIA,M1,B1,,,2024-02-20,round,0.700,G,VS1,EX
2141000001,IGI,M2,B2,,,2024-02-25,round,0.700,G,VS1,EX
""")
    assert findings(store, "duplicate_claims") == []


# --- category consistency -----------------------------------------------------------------------

def test_a_manufacturer_selling_its_rough(build):
    dispositions = DISPOSITIONS_HEADER + """
M1,B1,sold_rough,10.000,2024-01-20,T1
D1,B3,sold_rough,10.000,2024-03-20,T1
"""
    store = build(SALES, OUTCOMES_HEADER + """
GIA1000001,GIA,M2,B2,,,2024-02-20,round,0.950,G,VS1,EX
""", dispositions)
    found = findings(store, "category_consistency", checks_as_of="2024-12-31")
    assert [(f.sightholder_id, f.severity) for f in found] == [("M1", "medium")]


# --- signs of fabrication -----------------------------------------------------------------------

def test_outcomes_repeating_across_boxes(build):
    store = build(SALES, OUTCOMES_HEADER + """
IGI1,IGI,M1,B1,,,2024-02-20,round,0.700,G,VS1,EX
IGI2,IGI,M1,B1,,,2024-02-20,round,0.810,G,VS1,EX
IGI3,IGI,M1,B1,,,2024-02-20,round,0.930,G,VS1,EX
IGI4,IGI,M2,B2,,,2024-02-20,round,0.700,H,VS1,EX
IGI5,IGI,M2,B2,,,2024-02-20,round,0.810,G,SI1,EX
IGI6,IGI,M2,B2,,,2024-02-20,round,0.930,G,VS1,EX
""")
    found = sorted((f.box_id, f.severity) for f in findings(store, "repeated_outcomes"))
    assert found == [("B1", "medium"), ("B2", "medium")]


@pytest.mark.parametrize("copy_first", [True, False])
def test_a_repeated_outcome_the_box_cannot_hold_is_the_copy(build, copy_first):
    original = """
IGI1,IGI,M1,B1,,,2024-02-20,round,0.700,G,VS1,EX
IGI2,IGI,M1,B1,,,2024-02-20,round,0.810,G,VS1,EX
IGI3,IGI,M1,B1,,,2024-02-20,round,0.930,G,VS1,EX
"""
    copy = """
IGI4,IGI,M2,B5,,,2024-02-20,round,0.700,H,VS1,EX
IGI5,IGI,M2,B5,,,2024-02-20,round,0.810,G,SI1,EX
IGI6,IGI,M2,B5,,,2024-02-20,round,0.930,G,VS1,EX
"""
    sales = SALES + "B5,2024-01,2024-01-08,P1,M2,BW,A-STONES-8GR,stones,0.100,0.800,white,high,8,4.000,900.00,\n"
    store = build(sales, OUTCOMES_HEADER + (copy + original if copy_first else original + copy))
    found = sorted((f.box_id, f.severity) for f in findings(store, "repeated_outcomes"))
    assert found == [("B1", "info"), ("B5", "high")]


def test_similar_outcomes_are_not_repeats(build):
    store = build(SALES, OUTCOMES_HEADER + """
IGI1,IGI,M1,B1,,,2024-02-20,round,0.700,G,VS1,EX
IGI2,IGI,M1,B1,,,2024-02-20,round,0.810,G,VS1,EX
IGI3,IGI,M1,B1,,,2024-02-20,round,0.930,G,VS1,EX
IGI4,IGI,M2,B2,,,2024-02-20,round,0.700,H,VS1,EX
IGI5,IGI,M2,B2,,,2024-02-20,round,0.810,G,SI1,EX
IGI6,IGI,M2,B2,,,2024-02-20,round,0.931,G,VS1,EX
""")
    assert findings(store, "repeated_outcomes") == []


PARTIES_MANY = "party_id,name,role,category,country\nP1,Producer One,producer,,BW\nT1,Trader,trader,,AE\n" + "\n".join(
    f"M{i},Cutter {i},sightholder,manufacturer,IN" for i in range(1, 9))
COLOURS, CLARITIES = ("F", "G", "H", "I", "J"), ("VS1", "VS2", "SI1", "SI2")
COLOUR_P, CLARITY_P = (0.1, 0.25, 0.3, 0.2, 0.15), (0.2, 0.3, 0.3, 0.2)


def _graded_market(fabricator_quota: bool, fabricator_digits: bool, seed: int = 7) -> tuple[str, str]:
    """Eight manufacturers, twelve boxes of 20 stones each in one assortment. Honest grades are drawn
    at random; M8 (the fabricator) fills its grade mix by quota and/or rounds weights to 0.01 ct."""
    rng = np.random.default_rng(seed)
    sales, outcomes = [SALES_HEADER], [OUTCOMES_HEADER]
    for holder in range(1, 9):
        for b in range(12):
            box = f"B{holder}-{b}"
            sales.append(f"{box},2024-01,2024-01-08,P1,M{holder},BW,A-SMALLS,stones,0.100,0.400,white,high,"
                         f"40,10.000,3000.00,")
            if holder == 8 and fabricator_quota:
                colours = np.repeat(COLOURS, np.rint(np.array(COLOUR_P) * 20).astype(int))
                clarities = np.repeat(CLARITIES, np.rint(np.array(CLARITY_P) * 20).astype(int))
            else:
                colours = rng.choice(COLOURS, 20, p=COLOUR_P)
                clarities = rng.choice(CLARITIES, 20, p=CLARITY_P)
            weights = rng.integers(100, 200, 20)
            if holder == 8 and fabricator_digits:
                weights = weights // 10 * 10
            for s in range(20):
                outcomes.append(f"{box}-{s},none,M{holder},{box},,,2024-03-01,round,0.{weights[s]:03d},"
                                f"{colours[s]},{clarities[s]},EX")
    return "\n".join(sales), "\n".join(outcomes)


def test_grade_mixes_exactly_average_box_after_box(build):
    store = build(*_graded_market(True, False), parties=PARTIES_MANY)
    [finding] = findings(store, "average_grade_mix")
    assert finding.sightholder_id == "M8" and finding.evidence["too_average_boxes"] == 12


def test_grade_mixes_drawn_by_chance_are_not_average(build):
    store = build(*_graded_market(False, False), parties=PARTIES_MANY)
    assert findings(store, "average_grade_mix") == []


def test_weights_with_digit_preference(build):
    store = build(*_graded_market(False, True), parties=PARTIES_MANY)
    [finding] = findings(store, "digit_preference")
    assert (finding.sightholder_id, finding.evidence["preferred_digit"]) == ("M8", 0)


def test_measured_weights_show_no_digit_preference(build):
    store = build(*_graded_market(False, False), parties=PARTIES_MANY)
    assert findings(store, "digit_preference") == []


def _reported_market(seed: int = 11) -> tuple[str, str]:
    """Eight manufacturers, twelve boxes of 20 stones each. Smalls (under 0.30 ct) carry the cutter's
    own id and a weight to the thousandth; goods from 0.30 ct are lab-graded and reported to the
    hundredth. M7 buys mostly larger goods (honest); M6 rounds its smalls to 0.01 ct; M8 rounds its lab
    weights to 0.05 ct."""
    rng = np.random.default_rng(seed)
    sales, outcomes = [SALES_HEADER], [OUTCOMES_HEADER]
    for holder in range(1, 9):
        large_share = {7: 0.9, 8: 0.5}.get(holder, 0.25)
        for b in range(12):
            box = f"B{holder}-{b}"
            sales.append(f"{box},2024-01,2024-01-08,P1,M{holder},BW,A-MIXED,stones,0.100,3.000,white,high,"
                         f"40,30.000,9000.00,")
            for s in range(20):
                if rng.random() < large_share:
                    hundredths = int(rng.integers(30, 160))
                    if holder == 8:
                        hundredths = max(hundredths // 5 * 5, 30)
                    weight, lab, stone = f"{hundredths / 100:.2f}", "GIA", f"GIA{holder}{b:02d}{s:02d}"
                else:
                    thousandths = int(rng.integers(100, 300))
                    if holder == 6:
                        thousandths = thousandths // 10 * 10
                    weight, lab, stone = f"0.{thousandths:03d}", "none", f"{box}-{s}"
                outcomes.append(f"{stone},{lab},M{holder},{box},,,2024-03-01,round,{weight},G,VS1,EX")
    return "\n".join(sales), "\n".join(outcomes)


def test_digits_are_judged_within_the_precision_each_class_is_reported_at(build):
    store = build(*_reported_market(), parties=PARTIES_MANY)
    found = {f.sightholder_id: f for f in findings(store, "digit_preference")}
    assert set(found) == {"M6", "M8"}  # not M7, whose larger goods are reported to the hundredth
    assert (found["M6"].evidence["reported_to"], found["M6"].evidence["preferred_digit"]) == ("thousandth", 0)
    assert found["M8"].evidence["reported_to"] == "hundredth"
    assert found["M8"].evidence["preferred_digit"] in (0, 5) and found["M8"].evidence["probability"] < 1e-6


def _weighed_market(seed: int, boxes: int, per_sight: int, stones: int, rough: str, large_share,
                    written_down) -> tuple[str, str]:
    """Eight manufacturers M1-M8, each buying `boxes` boxes of `stones` polished stones, `per_sight`
    boxes a sight. A stone is lab-graded (reported to the hundredth) with the chance
    `large_share(holder)`, else a small (the cutter's own id, weighed to the thousandth). In the boxes
    `written_down(holder, box)` names, smalls are rounded to 0.01 ct and every other lab weight to
    0.05 ct."""
    rng = np.random.default_rng(seed)
    sales, outcomes = [SALES_HEADER], [OUTCOMES_HEADER]
    for holder in range(1, 9):
        for b in range(boxes):
            box, sight = f"B{holder}-{b}", f"2024-{b // per_sight + 1:02d}"
            sales.append(f"{box},{sight},{sight}-08,P1,M{holder},BW,A-MIXED,stones,0.100,3.000,white,high,"
                         f"{rough},9000.00,")
            rounded = written_down(holder, b)
            for s in range(stones):
                if rng.random() < large_share(holder):
                    hundredths = int(rng.integers(30, 160))
                    if rounded and s % 2 == 0:
                        hundredths = max(hundredths // 5 * 5, 30)
                    weight, lab, stone = f"{hundredths / 100:.2f}", "GIA", f"GIA{holder}{b:02d}{s:02d}"
                else:
                    thousandths = int(rng.integers(100, 300))
                    if rounded:
                        thousandths = thousandths // 10 * 10
                    weight, lab, stone = f"0.{thousandths:03d}", "none", f"{box}-{s}"
                outcomes.append(f"{stone},{lab},M{holder},{box},,,{sight}-28,round,{weight},G,VS1,EX")
    return "\n".join(sales), "\n".join(outcomes)


def _one_sight_rounded_market(seed: int = 5, rounded: bool = True) -> tuple[str, str]:
    """A box at each of twelve sights. M5 buys mostly lab-graded goods and, in its box of sight
    2024-05 only, writes its weights down."""
    return _weighed_market(seed, 12, 1, 40, "40,30.000", lambda holder: 0.85 if holder == 5 else 0.3,
                           lambda holder, box: rounded and holder == 5 and box == 4)


def test_weights_written_down_in_one_sight_are_found_however_few(build):
    store = build(*_one_sight_rounded_market(), parties=PARTIES_MANY)
    assert findings(store, "digit_preference") == []  # too few weights for the chi-square of every digit
    [finding] = findings(store, "rounded_weights")
    assert (finding.sightholder_id, finding.sight, finding.severity) == ("M5", "2024-05", "high")
    assert finding.evidence["probability"] < 1e-6 and finding.evidence["share"] > finding.evidence["market_share"]
    assert {r.sightholder_id: r.level for r in assess(store, settings())}["M5"] == "high"


def _one_box_rounded_market(seed: int = 3, rounded: bool = True) -> tuple[str, str]:
    """Two boxes of 16 stones at each of twelve sights, half of them lab-graded. M5 writes down the
    weights of one box only, its first of sight 2024-05, and cuts and weighs every other box, that
    sight's second among them."""
    return _weighed_market(seed, 24, 2, 16, "20,40.000", lambda holder: 0.5,
                           lambda holder, box: rounded and holder == 5 and box == 8)


def test_one_box_written_down_among_boxes_cut_is_found(build):
    """Its sight's other box and its other sights' boxes dilute the written-down one below what a
    verdict needs over the history or the sight; the box alone shows."""
    store = build(*_one_box_rounded_market(), parties=PARTIES_MANY)
    [finding] = findings(store, "rounded_weights")
    assert (finding.sightholder_id, finding.box_id, finding.sight, finding.severity) == ("M5", "B5-8", "2024-05", "high")
    assert finding.evidence["probability"] < 1e-6 and finding.evidence["box"] == "B5-8"
    assert finding.evidence["share"] - finding.evidence["market_share"] > 0.15
    assert {r.sightholder_id: r.level for r in assess(store, settings())}["M5"] == "high"
    assert [r.sightholder_id for r in assess(store, settings(), sight="2024-05") if r.level == "high"] == ["M5"]
    assert [r.sightholder_id for r in assess(store, settings(), sight="2024-06") if r.level == "high"] == []


@pytest.mark.parametrize("rounded, tail, excess", [(True, "1e-6", "0.15"), (False, "0.05", "0.1"),
                                                  (False, "0.2", "0.0")])
def test_the_grid_boxes_bounds_drop_no_box_the_rule_would_flag(build, rounded, tail, excess):
    """`grid_boxes` returns only the boxes that pass its whole-number bounds; the rule over every box
    (the bounds opened) flags the same boxes, also at settings loose enough to flag honest ones."""
    from roughtrace.analytics.port import InStoreEngine
    from roughtrace.checks import facts as fact_queries
    from roughtrace.checks.rules import Facts, rounded_weights

    store = build(*_one_box_rounded_market(seed=7, rounded=rounded), parties=PARTIES_MANY)
    chosen = settings(checks_pattern_tail=tail, checks_grid_excess=excess)
    gathered = fact_queries.gather(store, ["grid_boxes"], chosen)
    fact = fact_queries.DERIVED_FACTS["grid_boxes"]
    given, _ = fact.inputs(gathered, chosen)
    every_box = InStoreEngine().run(fact.computation, store, given, most_by_chance=-1, excess_millionths=-10**7)
    assert every_box.num_rows == 8 * 24 and gathered["grid_boxes"].num_rows < every_box.num_rows

    def flagged(boxes):
        return [(f.sightholder_id, f.box_id, f.evidence["probability"])
                for f in rounded_weights(Facts({**gathered, "grid_boxes": boxes}, None), chosen)]

    assert flagged(gathered["grid_boxes"]) == flagged(every_box)
    assert any(box for _, box, _ in flagged(every_box))


def test_no_count_on_the_grid_below_the_bound_reaches_the_tail():
    """Weights measured at the market's shares reach any count up to `most_on_grid_by_chance` with a
    probability of at least the tail, however many there are: such a box is never flagged."""
    from hypothesis import given
    from hypothesis import strategies as st
    from scipy import special

    from roughtrace.checks.grid import GridClasses, most_on_grid_by_chance

    @given(shares=st.lists(st.integers(min_value=100_000, max_value=999_999), min_size=1, max_size=6),
           chance=st.sampled_from([1e-9, 1e-6, 1e-4, 0.01, 0.2]), extra=st.integers(min_value=0, max_value=400),
           which=st.integers(min_value=0, max_value=5))
    def check(shares, chance, extra, which):
        classes = GridClasses(*(np.array([]),) * 3, np.array(shares, dtype=np.int64), np.array([]))
        most = most_on_grid_by_chance(classes, chance)
        p = shares[which % len(shares)] / 1e6
        assert special.bdtrc(most - 1, most + extra, p) >= chance * (1 - 1e-9)
        lowest = min(shares) / 1e6
        assert special.bdtrc(most, most + 1, lowest) <= chance * (1 + 1e-9)  # and the tightest of its kind

    check()


def test_measured_weights_are_not_rounded(build):
    store = build(*_one_sight_rounded_market(rounded=False), parties=PARTIES_MANY)
    assert findings(store, "rounded_weights") == []
    store = build(*_one_box_rounded_market(rounded=False), parties=PARTIES_MANY)
    assert findings(store, "rounded_weights") == []
    store = build(*_reported_market(), parties=PARTIES_MANY)  # M7's larger goods reported to the hundredth
    assert {f.sightholder_id for f in findings(store, "rounded_weights")} == {"M6", "M8"}


# --- the registry and risk ----------------------------------------------------------------------

def test_a_check_switched_off_reports_nothing(build):
    store = build(SALES, OUTCOMES_HEADER + """
GIA1000001,GIA,M1,B1,,,2024-02-20,round,2.010,G,VS1,EX
""")
    assert findings(store, "size_and_timing", checks_disabled="size_and_timing, coverage") == []
    with pytest.raises(SettingError, match="no check called"):
        run_checks(store, settings(checks_disabled="flipping"))


def test_risk_ranks_the_sightholder_with_a_high_finding_first(build):
    store = build(SALES, OUTCOMES_HEADER + """
GIA1000001,GIA,M1,B1,,,2024-02-20,round,2.010,G,VS1,EX
GIA1000002,GIA,M2,B2,,,2024-02-20,round,1.010,G,VS1,EX
""")
    risks = assess(store, settings())
    assert risks[0].sightholder_id == "M1" and risks[0].level == "high"
    assert {r.sightholder_id: r.level for r in risks}["M2"] == "low"
    by_sight = assess(store, settings(), sight="2024-03")
    assert [r.sightholder_id for r in by_sight] == ["D1"]
