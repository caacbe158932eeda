"""Row-level security on PostgreSQL: the service's reader, set as one party, is handed only that
party's rows by PostgreSQL itself, whatever the query asks, so a route that skipped its check
still leaks nothing of another sightholder."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import load
from roughtrace.accounts.security import seen_as
from roughtrace.app import Actor, Context
from roughtrace.app.boxes import box_view
from roughtrace.errors import NotFound
from roughtrace.settings import Settings

PARTIES = """
    party_id,name,role,category,country
    P1,Producer One,producer,miner,BW
    P2,Producer Two,producer,miner,ZA
    SHA,Cutter A,sightholder,manufacturer,IN
    SHB,Cutter B,sightholder,manufacturer,BE
    """
SALES = """
    box_id,sight,sale_date,seller_id,buyer_id,origin,assortment,model,size_min_ct,size_max_ct,colour,quality,stones,carats,price_usd,kp_certificate_id
    BX-A,S1,2026-01-10,P1,SHA,BW,A1,stones,2.00,3.00,white,high,10,100.00,50000.00,BW-1
    BX-B,S1,2026-01-10,P2,SHB,ZA,A1,stones,2.00,3.00,white,high,10,100.00,50000.00,ZA-2
    """
OUTCOMES = """
    stone_id,lab,sightholder_id,box_id,rough_stone_id,rough_carats,polished_date,shape,carat,color,clarity,cut
    GIA-A1,GIA,SHA,BX-A,R1,2.00,2026-03-01,round,1.00,G,VS1,EX
    GIA-A2,GIA,SHA,BX-A,R2,2.00,2026-03-01,round,1.00,G,VS1,EX
    GIA-B1,GIA,SHB,BX-B,R3,2.00,2026-03-01,round,1.00,G,VS1,EX
    """
CERTIFICATES = """
    certificate_id,exporting_country,importing_country,origin,exporter_name,exporter_address,importer_name,importer_address,issuing_authority,issue_date,expiry_date,parcels,hs_code,carats,value_usd
    BW-1,BW,IN,BW,P1,Gaborone,Cutter A,Surat,BW KP,2026-01-01,2026-03-01,1,7102.10,100.00,50000.00
    ZA-2,ZA,BE,ZA,P2,Kimberley,Cutter B,Antwerp,ZA KP,2026-01-01,2026-03-01,1,7102.10,100.00,50000.00
    """

A = Actor("a", "sightholder", party="SHA", account_id="acc-a")
B = Actor("b", "sightholder", party="SHB", account_id="acc-b")


@pytest.fixture
def market(tmp_path: Any) -> Any:
    from conftest import _pg_store

    for store in _pg_store():
        store.migrate()
        load(store, "parties", PARTIES)
        load(store, "rough_sales", SALES)
        load(store, "polished_outcomes", OUTCOMES)
        load(store, "kp_certificates", CERTIFICATES)
        yield store


def _ids(store: Any, sql: str) -> list[str]:
    return sorted(r["id"] for r in store.rows(sql))


def test_a_sightholder_reads_only_its_own_outcomes(market: Any) -> None:
    everything = "SELECT stone_id AS id FROM polished_outcomes"
    assert _ids(market, everything) == ["GIA-A1", "GIA-A2", "GIA-B1"]  # the owner: every row
    with seen_as(market, A):
        assert _ids(market, everything) == ["GIA-A1", "GIA-A2"]
        assert _ids(market, "SELECT box_id AS id FROM rough_sales") == ["BX-A"]
        assert _ids(market, "SELECT certificate_id AS id FROM kp_certificates") == ["BW-1"]
    with seen_as(market, B):
        assert _ids(market, everything) == ["GIA-B1"]
        assert _ids(market, "SELECT box_id AS id FROM rough_sales") == ["BX-B"]
    assert _ids(market, everything) == ["GIA-A1", "GIA-A2", "GIA-B1"]  # reset: the owner again


def test_producers_authorities_retailers_and_admins_see_what_the_app_rules_say(market: Any) -> None:
    outcomes = "SELECT stone_id AS id FROM polished_outcomes"
    certificates = "SELECT certificate_id AS id FROM kp_certificates"
    with seen_as(market, Actor("p", "producer", party="P1")):
        assert _ids(market, "SELECT box_id AS id FROM rough_sales") == ["BX-A"]
        assert _ids(market, outcomes) == ["GIA-A1", "GIA-A2"]
        assert _ids(market, certificates) == ["BW-1"]
    with seen_as(market, Actor("kp", "kp_authority", country="BE")):
        assert _ids(market, certificates) == ["ZA-2"]
        assert _ids(market, outcomes) == []
    with seen_as(market, Actor("r", "retailer")):
        assert _ids(market, outcomes) == []
    with seen_as(market, Actor("r", "retailer"), stone=("GIA", "GIA-B1")):
        assert _ids(market, outcomes) == ["GIA-B1"]
        assert _ids(market, "SELECT box_id AS id FROM rough_sales") == ["BX-B"]
        assert _ids(market, certificates) == ["ZA-2"]
    with seen_as(market, Actor("root", "admin")):
        assert _ids(market, outcomes) == ["GIA-A1", "GIA-A2", "GIA-B1"]


def test_a_use_case_whose_app_check_were_skipped_still_cannot_read_another_party(market: Any,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from roughtrace.app import boxes

    monkeypatch.setattr(boxes, "box_visible", lambda *_: True)  # a route's check gone wrong
    context = Context(market, Settings({}), A)
    assert box_view(context, "BX-B")  # without the store's rules, A reads B's box
    with seen_as(market, A), pytest.raises(NotFound):
        box_view(context, "BX-B")
    with seen_as(market, A):
        assert box_view(context, "BX-A")


def test_the_reader_reads_no_account(market: Any) -> None:
    import psycopg

    with seen_as(market, A), pytest.raises(psycopg.errors.InsufficientPrivilege):
        market.rows("SELECT * FROM accounts")


def test_a_kp_check_learnt_from_the_whole_market_answers_alike_under_the_rules(market: Any) -> None:
    from roughtrace.app.kp import certificate_verdict

    authority = Context(market, Settings({}), Actor("kp", "kp_authority", country="BE"))
    whole = certificate_verdict(Context(market, Settings({})), "ZA-2")
    with seen_as(market, authority.actor):
        assert certificate_verdict(authority, "ZA-2") == whole
        with pytest.raises(NotFound):
            certificate_verdict(authority, "BW-1")
        assert _ids(market, "SELECT box_id AS id FROM rough_sales") == []  # back under the rules after the check


def test_a_failed_first_statement_leaves_the_caller_seen_as_itself(market: Any) -> None:
    """The caller's settings go in the round trip of the block's first statement: when that
    statement fails, they are taken again before the next one, never left undone."""
    import psycopg

    from roughtrace.accounts.security import READER

    everything = "SELECT stone_id AS id FROM polished_outcomes"
    with seen_as(market, B):
        assert _ids(market, everything) == ["GIA-B1"]
    with seen_as(market, A):
        with pytest.raises(psycopg.errors.DivisionByZero):
            market.rows("SELECT 1 / 0 AS id")
        assert _ids(market, everything) == ["GIA-A1", "GIA-A2"]
        assert market.rows("SELECT current_user AS who")[0]["who"] == READER
    assert _ids(market, everything) == ["GIA-A1", "GIA-A2", "GIA-B1"]
    assert market.rows("SELECT current_user AS who")[0]["who"] != READER


def test_queries_in_one_round_trip_read_as_the_caller(market: Any) -> None:
    with seen_as(market, A):
        outcomes, boxes = market.query_many((("SELECT stone_id AS id FROM polished_outcomes ORDER BY 1", (), True),
                                             ("SELECT box_id AS id FROM rough_sales WHERE box_id LIKE ?", ("BX-%",),
                                              False)))
    assert outcomes.column("id").to_pylist() == ["GIA-A1", "GIA-A2"]
    assert boxes == [{"id": "BX-A"}]
