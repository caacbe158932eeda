"""Box records kept for provenance lookups: the importer keeps them as a rebuild would make them, and
a trace answers from them exactly as from the input tables, under any settings."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from conftest import make_store
from roughtrace.checks.verify import FACT_ROW_CHECKS, local_box_findings
from roughtrace.provenance import boxes, trace
from test_checks_support import (
    DISPOSITIONS_HEADER,
    OUTCOMES_HEADER,
    SALES_HEADER,
    builder,
    load,
    load_market_directory,
    settings,
)

sim = pytest.importorskip("roughtrace.sim")

VARIANTS = {
    "defaults": {},
    "a lower maximum yield than the suspect one": {"checks_max_yield": "0.5"},
    "a higher maximum yield": {"checks_max_yield": "0.65"},
    "a long processing time": {"checks_min_processing_days": "40"},
    "one fast stone is enough": {"checks_fast_stones": "1"},
    "mass balance switched off": {"checks_disabled": "mass_balance"},
}


@pytest.fixture(scope="module")
def market_files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("market")
    sim.generate_market(directory, seed=7, size="small", polished_rows=4_000, n_transactions=100)
    return directory


@pytest.fixture
def market(engine, tmp_path, market_files):
    """A simulated market imported file by file through the importer."""
    for store in make_store(engine, tmp_path):
        store.migrate()
        load_market_directory(store, market_files)
        yield store


def stored(store) -> dict[str, list[object]]:
    return {r["box_id"]: [json.loads(r[part]) for part in boxes.PARTS]
            for r in store.rows("SELECT * FROM box_provenance")}


def test_imports_keep_the_records_a_rebuild_makes(market):
    kept = stored(market)
    if market.engine not in boxes.KEPT_ON:
        assert kept == {}  # every lookup gathers its box's record
        return
    assert len(kept) == market.rows("SELECT COUNT(*) AS n FROM rough_sales")[0]["n"]
    with market.transaction():
        boxes.rebuild(market)
    assert stored(market) == kept


def test_box_findings_from_records_are_those_of_the_outcome_rows(market):
    box_ids = [r["box_id"] for r in market.rows("SELECT box_id FROM rough_sales ORDER BY box_id")][::4]
    paths = set()
    for name, overrides in VARIANTS.items():
        s = settings(**overrides)
        for box_id in box_ids:
            record = boxes.record(market, box_id, s)
            paths.add("stored" if record.findings_under(s) is not None
                      else "facts" if record.box_facts(s) is not None else "outcome rows")
            assert boxes.box_findings(market, record, s) == local_box_findings(market, box_id, s, FACT_ROW_CHECKS), (
                name, box_id)
    if market.engine in boxes.KEPT_ON:
        assert paths == {"stored", "facts", "outcome rows"}  # every way of answering was taken


class Rollback(Exception):
    pass


def test_a_trace_answers_from_records_as_from_the_input_tables(market):
    stones = [r["stone_id"] for r in market.rows(
        "SELECT stone_id FROM polished_outcomes WHERE lab <> 'none' ORDER BY box_id, stone_id")][::80]
    answers = {name: {stone: trace(market, stone, settings=settings(**o)).as_dict() for stone in stones}
               for name, o in VARIANTS.items()}
    try:
        with market.transaction():
            market.execute("DELETE FROM box_provenance")  # every record gathered from the input tables
            for name, o in VARIANTS.items():
                assert {stone: trace(market, stone, settings=settings(**o)).as_dict() for stone in stones} == \
                    answers[name], name
            raise Rollback
    except Rollback:
        pass


@pytest.fixture
def build(engine, tmp_path):
    yield from builder(engine, tmp_path)


SALES = SALES_HEADER + """
B1,2024-01,2024-01-08,P1,M1,BW,A-STONES-8GR,stones,0.750,2.000,white,high,8,10.000,9000.00,
"""
OUTCOMES = OUTCOMES_HEADER + """
2141000001,GIA,M1,B1,R1,1.800,2024-02-20,round,0.510,G,VS1,EX
2141000002,GIA,M1,B1,R1,1.800,2024-02-21,pear,0.420,H,VS2,EX
2141000003,GIA,M1,B1,R2,1.000,2024-02-20,round,0.640,G,VS1,EX
O'NEIL-7,none,M1,B1,,,2024-02-22,oval,0.300,G,VS1,
"""


def test_a_rough_stone_cut_into_several_polished_stones(build):
    store = build(SALES, OUTCOMES)
    rough = trace(store, "2141000002", settings=settings()).links[1]
    assert (str(rough.details["polished_carats_from_it"]), rough.details["polished_stones_from_it"]) == ("0.930", 2)
    assert rough.status == "verified" and rough.reason == "0.930 ct polished from a 1.800 ct rough stone (52%)"


def test_a_rough_stone_over_the_maximum_yield_under_any_maximum(build):
    store = build(SALES, OUTCOMES)
    for maximum, status, found in (("0.60", "conflicting", 1), ("0.63", "conflicting", 1), ("0.65", "verified", 0)):
        s = settings(checks_max_yield=maximum)
        rough = trace(store, "2141000003", settings=s).links[1]
        record = boxes.record(store, "B1", s)
        over = [f for f in boxes.box_findings(store, record, s) if "rough stone" in f.message]
        assert (rough.status, len(over)) == (status, found), maximum
        assert over == [f for f in local_box_findings(store, "B1", s, FACT_ROW_CHECKS) if "rough stone" in f.message]


def test_an_own_id_with_a_quote_is_found(build):
    store = build(SALES, OUTCOMES)
    p = trace(store, "O'NEIL-7", settings=settings())
    assert (p.stone_id, p.lab) == ("O'NEIL-7", "none")


def test_a_stone_from_a_box_never_sold_is_traced_from_its_rows(build):
    store = build(SALES, OUTCOMES)
    load(store, "polished_outcomes", OUTCOMES_HEADER + """
2141000099,GIA,M1,B404,R9,1.000,2024-02-20,round,0.300,G,VS1,EX
2141000098,GIA,M1,B404,R9,1.000,2024-02-20,round,0.200,G,VS1,EX
""")
    p = trace(store, "2141000099", settings=settings())
    links = {link.name: link for link in p.links}
    assert links["box"].status == "conflicting" and links["box"].findings == ()
    assert links["rough stone"].details["polished_stones_from_it"] == 2


def test_both_engines_trace_a_market_alike(tmp_path, market_files):
    """DuckDB answers from the records it keeps, PostgreSQL gathers each record: the same answers."""
    answers = []
    for engine in ("duckdb", "postgresql"):
        for store in make_store(engine, tmp_path):
            store.migrate()
            load_market_directory(store, market_files)
            stones = [r["stone_id"] for r in store.rows(
                "SELECT stone_id FROM polished_outcomes WHERE lab <> 'none' ORDER BY box_id, stone_id")][::80]
            answers.append({stone: trace(store, stone, settings=settings()).as_dict() for stone in stones})
    assert answers[0] == answers[1]


CERTIFICATES = """
certificate_id,exporting_country,importing_country,origin,exporter_name,exporter_address,importer_name,importer_address,issuing_authority,issue_date,expiry_date,parcels,hs_code,carats,value_usd
BW0001,BW,BE,BW,Producer One,Gaborone,Cutter One,Antwerp,Botswana KP Authority,2024-01-10,2024-04-10,2,7102.31,30.000,27000.00
"""


def test_a_certificate_loaded_later_reaches_the_records(build):
    store = build(SALES.replace("9000.00,", "9000.00,BW0001"), OUTCOMES)
    assert trace(store, "2141000001", settings=settings()).links[5].status == "unverified"  # not loaded yet
    store.execute("DELETE FROM box_provenance WHERE box_id = 'B1'")  # and one box with no record at all
    load(store, "kp_certificates", CERTIFICATES)
    assert trace(store, "2141000001", settings=settings()).links[5].status == "verified"
    kept = stored(store)
    with store.transaction():
        boxes.rebuild(store)
    assert stored(store) == kept


def records_both_ways(store, box_ids, s):
    """Each box's record as the engine keeps it (rebuilt under `s`) and as gathered from the input
    tables by the portable queries."""
    with store.transaction():
        boxes.rebuild(store, s)
    kept = {box_id: boxes.record(store, box_id, s) for box_id in box_ids}
    try:
        with store.transaction():
            store.execute("DELETE FROM box_provenance")
            gathered = {box_id: boxes.record(store, box_id, s) for box_id in box_ids}
            raise Rollback
    except Rollback:
        pass
    assert {box_id: list(r.rough_stones) for box_id, r in kept.items()} == \
        {box_id: list(r.rough_stones) for box_id, r in gathered.items()}  # in the engine's order of ids
    return kept, gathered


@pytest.fixture(params=["few boxes", "many boxes"])
def repeats_found(request, monkeypatch):
    """Both ways a refresh finds the boxes that repeat a rough-stone id: listed in the pass over the
    rows (a scope of few boxes) or keys sorted in numpy (many)."""
    if request.param == "many boxes":
        monkeypatch.setattr(boxes, "KEYS_FROM_BOXES", 0)
    return request.param


def test_records_kept_are_the_records_gathered(market, repeats_found):
    """The engine's set-based records (one pass over the outcome rows) equal, box for box and under
    every settings, those the checks' own `boxes` query and the rough-stone grouping give."""
    if market.engine not in boxes.KEPT_ON:
        return
    box_ids = [r["box_id"] for r in market.rows("SELECT box_id FROM rough_sales ORDER BY box_id")]
    for name, overrides in VARIANTS.items():
        kept, gathered = records_both_ways(market, box_ids, settings(**overrides))
        assert kept == gathered, name


ODD_SALES = SALES_HEADER + """
B1,2024-01,2024-01-08,P1,M1,BW,A-STONES-8GR,stones,0.750,2.000,white,high,8,10.000,9000.00,
B2,2024-01,2024-01-08,P1,M1,BW,A-STONES-8GR,stones,0.750,2.000,white,high,8,10.000,9000.00,
B2,2024-02,2024-02-05,P1,M2,BW,A-STONES-8GR,stones,0.750,2.000,white,high,8,10.000,9100.00,
B3,2024-01,2024-01-08,P1,M1,BW,A-STONES-8GR,stones,0.750,2.000,white,high,8,10.000,9000.00,
B4,2024-01,2024-01-08,P1,M1,BW,A-STONES-8GR,stones,0.750,2.000,white,high,8,10.000,9000.00,
B5,2024-01,2024-01-08,P1,M1,BW,A-STONES-8GR,stones,0.750,2.000,white,high,8,10.000,9000.00,
B6,2024-01,2024-01-08,P1,M1,BW,A-STONES-8GR,stones,0.750,2.000,white,high,8,10.000,9000.00,
"""
ODD_OUTCOMES = OUTCOMES_HEADER + """
3141000001,GIA,M1,B1,R1,1.000,2024-02-20,round,0.600,G,VS1,EX
3141000002,GIA,M1,B1,R2,1.000,2024-01-09,round,0.601,G,VS1,EX
3141000003,GIA,M1,B1,R3,1.000,2024-02-20,round,0.650,G,VS1,EX
3141000004,GIA,M1,B1,R3!,1.000,2024-02-20,round,0.650,G,VS1,EX
3141000005,GIA,M1,B1,,1.000,2024-02-20,round,0.900,G,VS1,EX
3141000006,GIA,M1,B1,R4,,2024-02-20,round,0.900,G,VS1,EX
3141000011,GIA,M1,B2,R1,1.000,2024-02-20,round,0.610,G,VS1,EX
3141000012,GIA,M1,B2,R2,2.000,2024-01-20,round,0.700,G,VS1,EX
3141000021,GIA,M1,B3,R1,1.000,2024-02-20,round,0.400,G,VS1,EX
3141000022,GIA,M1,B3,R1,1.000,2024-02-21,round,0.300,G,VS1,EX
3141000023,GIA,M1,B3,R2,1.000,2024-02-20,round,0.300,G,VS1,EX
3141000031,GIA,M1,B4,R1,0.000,2024-02-20,round,0.300,G,VS1,EX
3141000032,GIA,M1,B4,R2,1.000,2024-02-20,round,2.100,G,VS1,EX
3141000041,GIA,M1,B6,,,2024-02-20,round,0.300,G,VS1,
3141000051,GIA,M1,B7,R1,1.000,2024-02-20,round,0.700,G,VS1,EX
3141000052,GIA,M1,B7,R1,1.000,2024-02-20,round,0.100,G,VS1,EX
"""
ODD_DISPOSITIONS = DISPOSITIONS_HEADER + """
M1,B1,sold_rough,1.000,2024-03-01,T1
M1,B3,lost,9.500,2024-03-01,
"""


def test_records_kept_are_the_records_gathered_for_odd_boxes(engine, build, repeats_found):
    """Boxes the one pass cannot take (a rough stone cut in two, a box sold twice) and rows at its
    edges (a yield exactly at the maximum, a rough weight of nought or missing, an untracked stone
    with a rough weight, ids that sort apart from their JSON text): kept as gathered. (A store that
    keeps no records, PostgreSQL, also refuses a box stored twice.)"""
    if engine not in boxes.KEPT_ON:
        return
    store = build(ODD_SALES, ODD_OUTCOMES, ODD_DISPOSITIONS)
    box_ids = ["B1", "B2", "B3", "B4", "B5", "B6", "B7"]
    for name, overrides in {**VARIANTS, "the maximum yield at a stone's own": {"checks_max_yield": "0.6"}}.items():
        kept, gathered = records_both_ways(store, box_ids, settings(**overrides))
        assert kept == gathered, name
    record = boxes.record(store, "B3", settings())
    assert record.rough_stones["R1"] == (2, Decimal("0.700"), Decimal("1.000"))
    assert len(boxes.record(store, "B2", settings()).boxes) == 2
