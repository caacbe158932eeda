"""Provenance of a polished stone: each link verified, unverified or conflicting."""

from __future__ import annotations

import json

import pytest

from conftest import CommandLine
from roughtrace.errors import NotFound
from roughtrace.provenance import trace
from roughtrace.provenance.cli import app
from test_checks_support import OUTCOMES_HEADER, SALES_HEADER, builder, load, settings


@pytest.fixture
def build(engine, tmp_path):
    """Markets in the trade's words, on each engine in turn."""
    yield from builder(engine, tmp_path)


CERTIFICATES = """
certificate_id,exporting_country,importing_country,origin,exporter_name,exporter_address,importer_name,importer_address,issuing_authority,issue_date,expiry_date,parcels,hs_code,carats,value_usd
BW0001,BW,BE,BW,Producer One,Gaborone,Cutter One,Antwerp,Botswana KP Authority,2024-01-10,2024-04-10,2,7102.31,30.000,27000.00
BW0002,BW,IN,RU,Producer One,Gaborone,Cutter Two,Mumbai,Botswana KP Authority,2024-01-10,2024-04-10,1,7102.31,5.000,4500.00
"""
SALES = SALES_HEADER + """
B1,2024-01,2024-01-08,P1,M1,BW,A-STONES-8GR,stones,0.750,2.000,white,high,8,10.000,9000.00,BW0001
B2,2024-01,2024-01-08,P1,M2,BW,A-STONES-8GR,stones,0.750,2.000,white,high,8,10.000,9000.00,BW0002
B3,2024-01,2024-01-08,P1,M1,BW,A-STONES-8GR,stones,0.750,2.000,white,high,8,10.000,9000.00,
"""
OUTCOMES = OUTCOMES_HEADER + """
2141000001,GIA,M1,B1,R1,1.800,2024-02-20,round,0.810,G,VS1,EX
2141000002,GIA,M1,B1,R2,1.500,2024-02-20,round,0.700,H,VS2,EX
M1-0001,none,M1,B3,,,2024-02-20,pear,0.500,H,SI1,
2141000003,GIA,M2,B2,,,2024-02-22,oval,0.700,G,VS1,
"""


@pytest.fixture()
def store(build):
    s = build(SALES, OUTCOMES)
    load(s, "kp_certificates", CERTIFICATES)
    return s


def statuses(provenance):
    return {link.name: link.status for link in provenance.links}


def test_a_stone_whose_every_link_holds(store):
    p = trace(store, "2141000001", settings=settings())
    assert statuses(p) == {"lab report": "verified", "rough stone": "verified", "box": "verified",
                           "sight and seller": "verified", "origin": "verified", "KP certificate": "verified"}
    assert p.status == "verified" and p.stone["box_id"] == "B1"


def test_a_stone_with_no_lab_report_and_no_certificate(store):
    p = trace(store, "M1-0001", settings=settings())
    s = statuses(p)
    assert (s["lab report"], s["rough stone"], s["KP certificate"], s["origin"]) == (
        "unverified", "unverified", "unverified", "unverified")
    assert p.status == "unverified"


def test_origin_the_certificate_contradicts(store):
    p = trace(store, "2141000003", settings=settings())
    assert statuses(p)["origin"] == "conflicting"
    assert statuses(p)["KP certificate"] == "conflicting"  # 5 ct on the certificate, 10 ct in the box


def test_a_second_claim_makes_the_lab_link_conflicting(store):
    load(store, "polished_outcomes", OUTCOMES_HEADER + """
2141000001,GIA,M2,B2,,,2024-03-01,round,0.810,G,VS1,EX
""")
    p = trace(store, "2141000001", settings=settings())
    lab = p.links[0]
    assert lab.status == "conflicting" and p.status == "conflicting"
    assert sorted((f.sightholder_id, f.severity) for f in lab.findings) == [("M1", "medium"), ("M2", "medium")]
    assert [(c["box_id"], c["role"]) for c in p.claims] == [("B1", "undecided"), ("B2", "undecided")]


@pytest.mark.parametrize("copy_first", [True, False])
def test_the_claim_the_evidence_supports_is_traced_whichever_was_stored_first(build, copy_first):
    late = SALES + "B7,2024-04,2024-04-08,P1,M2,BW,A-STONES-8GR,stones,0.750,2.000,white,high,8,10.000,9000.00,\n"
    copy = "2141000001,GIA,M2,B7,,,2024-05-01,round,0.810,G,VS1,EX"
    rows = OUTCOMES.split("\n", 1)[1]
    store = build(late, OUTCOMES_HEADER + "\n" + (copy + "\n" + rows if copy_first else rows + copy + "\n"))
    p = trace(store, "2141000001", settings=settings())
    assert p.stone["box_id"] == "B1"
    assert [(c["box_id"], c["role"]) for c in p.claims] == [("B1", "likely owner"), ("B7", "likely copier")]
    assert [(f.sightholder_id, f.severity) for f in p.links[0].findings] == [("M2", "high")]
    assert "the claim the evidence supports" in p.links[0].reason


def test_a_box_that_breaks_mass_balance_conflicts(store):
    load(store, "polished_outcomes", OUTCOMES_HEADER + """
2141000010,GIA,M1,B1,,,2024-02-25,round,1.990,G,VS1,EX
2141000011,GIA,M1,B1,,,2024-02-25,round,1.990,G,VS1,EX
2141000012,GIA,M1,B1,,,2024-02-25,round,1.990,G,VS1,EX
""")
    box = next(link for link in trace(store, "2141000001", settings=settings()).links if link.name == "box")
    assert box.status == "conflicting" and box.findings[0].check == "mass_balance"


def test_a_rough_stone_giving_more_than_it_can(store):
    load(store, "polished_outcomes", OUTCOMES_HEADER + """
2141000020,GIA,M1,B1,R2,1.500,2024-02-25,round,0.400,G,VS1,EX
""")
    rough = trace(store, "2141000002", settings=settings()).links[1]
    assert rough.status == "conflicting" and "1.100 ct polished from a 1.500 ct rough stone" in rough.reason


def test_an_unknown_stone_is_not_found(store):
    with pytest.raises(NotFound):
        trace(store, "999", settings=settings())
    with pytest.raises(NotFound):
        trace(store, "2141000001", lab="IGI", settings=settings())


class Context:
    def __init__(self, store):
        self._store = store
        self.settings = settings()

    def store(self):
        return self._store


def test_cli_prints_one_json_object(store):
    result = CommandLine().invoke(app, ["2141000001", "--json"], obj=Context(store))
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["ok"] is True and body["status"] == "verified" and len(body["links"]) == 6


def test_cli_error_has_the_one_error_shape(store):
    result = CommandLine().invoke(app, ["404", "--json"], obj=Context(store))
    assert result.exit_code == 1
    body = json.loads(result.output)
    assert body["ok"] is False and body["errors"][0]["code"] == "stone_not_found"
    assert set(body["errors"][0]["source"]) == {"file", "row", "column"}


@pytest.fixture(scope="module")
def conflicted_market(tmp_path_factory):
    """A small simulated market with conflicts of every kind (`test_checks_order`): a copier of three
    owners' boxes (the conflict graph decides), a single copied stone, and whatever the seed drew."""
    sim = pytest.importorskip("roughtrace.sim")
    from test_checks_order import _add_copies

    directory = tmp_path_factory.mktemp("conflicts")
    sim.generate_market(directory, seed=7, size="small", polished_rows=8_000, row_order="generated",
                        weight_precision="reported")
    _add_copies(directory)
    return directory


def _roles_from_the_whole_market(store, s):
    """Each conflicting stone's claimant roles and reasons as the market's every conflict weighs them."""
    from roughtrace.checks import facts
    from roughtrace.checks.rules import attribute_claims

    conflicts = attribute_claims(facts.gather(store, ["claims"], s)["claims"], s)
    roles: dict[str, dict[tuple[str, str], tuple[str, str]]] = {}
    for k in range(len(conflicts.copier)):
        a = (str(conflicts.holder_a[k]), str(conflicts.box_a[k]))
        b = (str(conflicts.holder_b[k]), str(conflicts.box_b[k]))
        for stone in conflicts.stones[k]:
            held = roles.setdefault(stone, {})
            for c in (a, b):
                held.setdefault(c, ("undecided", ""))
            if a[0] == b[0]:
                for c in (a, b):
                    if held[c][0] == "undecided":
                        held[c] = ("same sightholder", "")
                continue
            if conflicts.copier[k]:
                copier, owner = (a, b) if conflicts.copier[k] == "a" else (b, a)
                held[copier] = ("likely copier", conflicts.decided_by[k])
                if held[owner][0] != "likely copier":
                    held[owner] = ("likely owner", conflicts.decided_by[k])
    return roles, {c.get("basis") for c in conflicts.certainty}


def test_a_conflicts_roles_are_those_the_whole_markets_conflicts_give(engine, tmp_path, conflicted_market):
    from conftest import make_store
    from test_checks_support import load_market_directory

    s = settings()
    for store in make_store(engine, tmp_path):
        store.migrate()
        load_market_directory(store, conflicted_market)
        expected, bases = _roles_from_the_whole_market(store, s)
        assert len(expected) > 3 and {"chain", None} <= bases, "the market should hold several kinds of conflict"
        for stone, roles in sorted(expected.items()):
            lab, stone_id = stone.split(" ", 1)
            p = trace(store, stone_id, lab, settings=s)
            got = {(c["sightholder_id"], c["box_id"]): c["role"] for c in p.claims}
            assert got == {c: role for c, (role, _) in roles.items()}, stone
            traced = roles[(p.stone["sightholder_id"], p.stone["box_id"])]
            assert p.links[0].details["traced_claim_role"] == traced[0]
            assert traced[1] in p.links[0].reason, stone


def _graph_market():
    """Twelve sightholders: MC claims one stone of each of four others' boxes from boxes of its own,
    each of those four clashing with no one else (the conflict graph makes MC the likely copier,
    nothing in the chain or the dates decides), and M5 and M6 clash once over a fifth (undecided)."""
    parties = "party_id,name,role,category,country\nP1,Producer One,producer,,BW\n" + "".join(
        f"{h},Cutter {h},sightholder,manufacturer,BE\n" for h in [f"M{i}" for i in range(1, 12)] + ["MC"])
    sale = "{box},2024-01,2024-01-08,P1,{holder},BW,A-STONES-8GR,stones,0.750,2.000,white,high,8,10.000,9000.00,\n"
    stone = "{stone},GIA,{holder},{box},,,{date},round,0.810,G,VS1,EX\n"
    sales, outcomes = SALES_HEADER + "\n", OUTCOMES_HEADER + "\n"
    for i in range(1, 5):
        sales += sale.format(box=f"B{i}", holder=f"M{i}") + sale.format(box=f"C{i}", holder="MC")
        outcomes += (stone.format(stone=f"21410000{i}0", holder=f"M{i}", box=f"B{i}", date="2024-02-20")
                     + stone.format(stone=f"21410000{i}0", holder="MC", box=f"C{i}", date="2024-02-20"))
    sales += sale.format(box="B5", holder="M5") + sale.format(box="B6", holder="M6")
    outcomes += (stone.format(stone="2141000050", holder="M5", box="B5", date="2024-02-20")
                 + stone.format(stone="2141000050", holder="M6", box="B6", date="2024-02-20"))
    return sales, outcomes, parties


def test_a_conflict_the_graph_decides_is_judged_on_the_whole_markets_graph(build):
    s = settings()
    sales, outcomes, parties = _graph_market()
    store = build(sales, outcomes, parties=parties)
    expected, bases = _roles_from_the_whole_market(store, s)
    assert "conflict graph" in bases
    p = trace(store, "2141000010", "GIA", settings=s)
    assert [(c["box_id"], c["role"]) for c in p.claims] == [("B1", "likely owner"), ("C1", "likely copier")]
    assert "the conflict graph: MC clashes with 4 sightholders" in p.links[0].reason
    for stone_id in ("2141000010", "2141000040", "2141000050"):
        got = {(c["sightholder_id"], c["box_id"]): c["role"] for c in trace(store, stone_id, "GIA", settings=s).claims}
        assert got == {c: role for c, (role, _) in expected[f"GIA {stone_id}"].items()}, stone_id
    assert {c["role"] for c in trace(store, "2141000050", "GIA", settings=s).claims} == {"undecided"}
