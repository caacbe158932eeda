"""Identity by content: duplicates in a file and against the store, records sent again,
conflicting claims on a stone, certificate headers, HS codes and parcel contents in file order."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from conftest import write
from roughtrace.store import Store
from test_import_support import CERTIFICATES, imported, problems, stored, trade_fixture  # noqa: F401

OUTCOMES_HEADER = "stone_id,lab,sightholder_id,box_id,polished_date,shape,carat,color,clarity,cut"


def test_a_party_repeated_with_other_values_rejects_the_second(store: Store, tmp_path: Path) -> None:
    result = imported(store, "parties", write(tmp_path, "parties.csv", """
        party_id,name,role,category,country
        SH1,Cutter One,sightholder,manufacturer,IN
        SH1,Cutter One Pvt,sightholder,manufacturer,IN
        TR1,Trader,trader,,AE
        """))
    assert problems(result) == {(2, "party_id", "duplicate_id")}
    assert (result.rows_accepted, result.rows_rejected) == (2, 1)
    assert [r["name"] for r in stored(store, "parties")] == ["Cutter One", "Trader"]


def test_the_same_record_twice_in_a_file_is_accepted_and_stored_once(store: Store, tmp_path: Path) -> None:
    result = imported(store, "parties", write(tmp_path, "parties.csv", """
        party_id,name,role,category,country
        SH1,Cutter One,sightholder,manufacturer,IN
        SH1,Cutter One,Sightholder,Manufacturer,in
        """))
    assert (result.rows_read, result.rows_accepted, result.rows_rejected, result.rows_unchanged) == (2, 2, 0, 1)
    assert len(stored(store, "parties")) == 1


def test_a_box_already_stored_with_other_values_is_rejected(market: Store, tmp_path: Path) -> None:
    result = imported(market, "rough_sales", write(tmp_path, "again.csv", """
        box_id,sight,sale_date,seller_id,buyer_id,origin,assortment,model,size_min_ct,size_max_ct,colour,quality,stones,carats,price_usd
        B1,2026-01,2026-01-20,DB,SH1,BW,A-100,stones,0.75,2.00,white,high,10,12.500,26000.00
        B3,2026-01,2026-01-20,DB,SH2,BW,A-300,stones,0.75,2.00,white,high,10,12.500,24000.00
        """))
    assert problems(result) == {(1, "box_id", "already_stored")}
    prices = {r["box_id"]: r["price_usd"] for r in stored(market, "rough_sales")}
    assert prices == {"B1": Decimal("25000.00"), "B2": Decimal("9000.00"), "B3": Decimal("24000.00")}


def test_the_same_rows_in_another_file_change_nothing(market: Store, tmp_path: Path) -> None:
    text = f"""
        {OUTCOMES_HEADER}
        2231456789,GIA,SH1,B1,2026-03-02,round,0.702,G,VS1,EX
        2231456790,GIA,SH1,B1,2026-03-02,oval,1.010,H,SI1,
        """
    first = imported(market, "polished_outcomes", write(tmp_path, "march.csv", text))
    assert first.stored and first.rows_accepted == 2
    resent = imported(market, "polished_outcomes", write(tmp_path, "march-resent.csv", text.replace("GIA", "gia")))
    assert (resent.rows_accepted, resent.rows_rejected, resent.rows_unchanged) == (2, 0, 2)
    assert not resent.stored and resent.batch_id is None
    assert len(stored(market, "polished_outcomes")) == 2


def test_the_same_file_again_says_it_was_already_imported(market: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "outcomes.csv", f"""
        {OUTCOMES_HEADER}
        2231456789,GIA,SH1,B1,2026-03-02,round,0.702,G,VS1,EX
        2231456790,GIA,SH2,B1,2026-03-02,round,0.702,G,VS1,EX
        """)
    first = imported(market, "polished_outcomes", path)
    assert first.stored and first.rows_rejected == 1
    again = imported(market, "polished_outcomes", path)
    assert again.duplicate_of == first.batch_id
    assert not again.stored
    assert market.query("SELECT count(*) AS n FROM quarantine").column("n")[0].as_py() == 1
    assert len(stored(market, "polished_outcomes")) == 1


def test_rows_without_a_key_sent_again_are_no_ops(market: Store, tmp_path: Path) -> None:
    text = """
        sightholder_id,box_id,disposition,carats,date,counterparty_id
        SH1,B1,sold_rough,2.000,2026-02-10,TR1
        SH1,B1,sold_rough,2.000,2026-02-10,TR1
        SH1,B1,lost,0.250,2026-02-11,
        """
    first = imported(market, "rough_dispositions", write(tmp_path, "dispositions.csv", text))
    assert (first.rows_accepted, first.rows_unchanged) == (3, 1)
    second = imported(market, "rough_dispositions", write(tmp_path, "dispositions-2.csv", text + "    SH1,B1,in_process,5.000,2026-02-12,\n"))
    assert (second.rows_accepted, second.rows_unchanged, second.rows_rejected) == (4, 3, 0)
    assert [r["disposition"] for r in stored(market, "rough_dispositions")] == ["sold_rough", "lost", "in_process"]


def test_a_stone_claimed_from_another_box_is_stored_and_flagged(market: Store, tmp_path: Path) -> None:
    imported(market, "polished_outcomes", write(tmp_path, "sh1.csv", f"""
        {OUTCOMES_HEADER}
        2231456789,GIA,SH1,B1,2026-03-02,round,0.702,G,VS1,EX
        """))
    second = imported(market, "polished_outcomes", write(tmp_path, "sh2.csv", f"""
        {OUTCOMES_HEADER}
        2231456789,GIA,SH2,B2,2026-03-04,round,0.702,G,VS1,EX
        2231456791,GIA,SH2,B2,2026-03-04,round,0.300,H,VS2,VG
        """))
    assert second.rows_rejected == 0 and second.rows_accepted == 2
    assert [w.code for w in second.warnings] == ["conflicting_claim"]
    assert "2231456789" in second.warnings[0].message
    claims = stored(market, "polished_outcomes", "sightholder_id, box_id", "WHERE stone_id = '2231456789'")
    assert claims == [{"sightholder_id": "SH1", "box_id": "B1"}, {"sightholder_id": "SH2", "box_id": "B2"}]


def test_the_same_report_number_from_another_lab_is_no_conflict(market: Store, tmp_path: Path) -> None:
    result = imported(market, "polished_outcomes", write(tmp_path, "labs.csv", f"""
        {OUTCOMES_HEADER}
        1000001,GIA,SH1,B1,2026-03-02,round,0.702,G,VS1,EX
        1000001,IGI,SH2,B2,2026-03-02,round,0.500,G,VS1,EX
        """))
    assert result.rows_accepted == 2 and result.warnings == []


# -- certificates ------------------------------------------------------------------------------------
CERT_HEADER = ("certificate_id,exporting_country,importing_country,origin,exporter_name,exporter_address,importer_name,"
               "importer_address,issuing_authority,issue_date,expiry_date,parcels,hs_code,carats,value_usd")


def test_lines_that_disagree_on_the_header_reject_the_whole_certificate(store: Store, tmp_path: Path) -> None:
    result = imported(store, "kp_certificates", write(tmp_path, "certs.csv", f"""
        {CERT_HEADER}
        BW0001,BW,BE,BW,Okavango,Gaborone,Antwerp Rough NV,Antwerp,Ministry,2026-01-05,2026-03-05,2,7102.31,100.000,60000.00
        BW0001,BW,BE,BW,Okavango,Gaborone,Antwerp Rough BV,Antwerp,Ministry,2026-01-05,2026-03-05,2,7102.21,20.000,1500.00
        BW0001,BW,BE,BW,Okavango,Gaborone,Antwerp Rough NV,Antwerp,Ministry,2026-01-05,2026-03-05,2,7102.10,5.000,100.00
        ZA0002,ZA,AE,ZA,Kimberley Mines,Kimberley,Dubai Rough,Dubai,SADPMR,2026-01-06,2026-03-06,1,7102.31,10.000,9000.00
        """))
    assert problems(result) == {(1, "certificate_id", "header_mismatch"), (2, "certificate_id", "header_mismatch"),
                                (3, "certificate_id", "header_mismatch")}
    assert [r["certificate_id"] for r in stored(store, "kp_certificates")] == ["ZA0002"]


def test_a_new_line_must_agree_with_the_stored_header(trade: Store, tmp_path: Path) -> None:
    result = imported(trade, "kp_certificates", write(tmp_path, "late-line.csv", f"""
        {CERT_HEADER}
        BW0001,BW,BE,BW,Okavango Diamond Co,Gaborone,Antwerp Rough NV,Antwerp,Ministry of Minerals,2026-01-05,2026-03-05,3,7102.10,1.000,10.00
        """))
    assert problems(result) == {(1, "certificate_id", "header_mismatch")}
    agreeing = imported(trade, "kp_certificates", write(tmp_path, "late-line-2.csv", f"""
        {CERT_HEADER}
        BW0001,BW,BE,BW,Okavango Diamond Co,Gaborone,Antwerp Rough NV,Antwerp,Ministry of Minerals,2026-01-05,2026-03-05,2,7102.10,1.000,10.00
        """))
    assert agreeing.rows_rejected == 0 and agreeing.stored


def test_an_hs_code_repeated_on_a_certificate_is_rejected_from_its_second_line(store: Store, tmp_path: Path) -> None:
    result = imported(store, "kp_certificates", write(tmp_path, "certs.csv", f"""
        {CERT_HEADER}
        BW0001,BW,BE,BW,Okavango,Gaborone,Antwerp Rough NV,Antwerp,Ministry,2026-01-05,2026-03-05,2,7102.31,100.000,60000.00
        BW0001,BW,BE,BW,Okavango,Gaborone,Antwerp Rough NV,Antwerp,Ministry,2026-01-05,2026-03-05,2,7102.31,80.000,50000.00
        BW0001,BW,BE,BW,Okavango,Gaborone,Antwerp Rough NV,Antwerp,Ministry,2026-01-05,2026-03-05,2,7102.21,20.000,1500.00
        """))
    assert problems(result) == {(2, "hs_code", "duplicate_id")}
    assert [(r["hs_code"], r["carats"]) for r in stored(store, "kp_certificates")] == [
        ("7102.31", Decimal("100.000")), ("7102.21", Decimal("20.000"))]


def test_parcel_contents_count_in_file_order(trade: Store, tmp_path: Path) -> None:
    # Line 7102.31 of BW0001 holds 100 ct; 7102.21 holds 20 ct.
    result = imported(trade, "parcel_contents", write(tmp_path, "contents.csv", """
        certificate_id,hs_code,assortment,carats
        BW0001,7102.31,A-100,60.000
        BW0001,7102.31,A-200,50.000
        BW0001,7102.31,A-300,40.000
        BW0001,7102.21,I-1,20.000
        BW0001,7102.31,A-400,0.001
        """))
    assert problems(result) == {(2, "carats", "over_line_carats"), (5, "carats", "over_line_carats")}
    assert [r["assortment"] for r in stored(trade, "parcel_contents")] == ["A-100", "A-300", "I-1"]
    later = imported(trade, "parcel_contents", write(tmp_path, "contents-2.csv", """
        certificate_id,hs_code,assortment,carats
        BW0001,7102.21,I-2,0.001
        BW0001,7102.31,A-100,60.000
        """))
    assert problems(later) == {(1, "carats", "over_line_carats")}
    assert later.rows_unchanged == 1


def test_a_rejected_parcel_row_does_not_use_up_the_line(trade: Store, tmp_path: Path) -> None:
    result = imported(trade, "parcel_contents", write(tmp_path, "contents.csv", """
        certificate_id,hs_code,assortment,carats
        BW0001,7102.21,I-1,15.000
        BW0001,7102.21,I-2,6.000
        BW0001,7102.21,I-3,5.000
        """))
    assert problems(result) == {(2, "carats", "over_line_carats")}
    assert sum(r["carats"] for r in stored(trade, "parcel_contents")) == Decimal("20.000")
