"""KP lines valued as shipments (issue 15, cause 4): a line is its linked boxes, its parcel contents for
the carats the boxes leave, and the exporter's usual mix for the rest, with a parcel's band; lines with
no tracked goods of their class get a low-confidence range from KP statistics; no verdict depends on
the order of rows or imports."""

from __future__ import annotations

import math
import random
import textwrap
from decimal import Decimal

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from roughtrace.ingest import import_file
from roughtrace.valuation.kp import CertificateCheck, CheckRules, check_certificates
from roughtrace.valuation.pricebook import build_price_book
from test_valuation_support import (
    SALES_HEADER,
    GradePricer,
    book_market,
    certificate_rows,
    load,
    new_store,
    settings,
)

A_ST, B_SH = Decimal("382.50"), Decimal("195.84")
"""Book prices of the fixture's assortments (test_valuation_kp)."""
CONTENTS = "certificate_id,hs_code,assortment,carats\n"


def priced(store, spread=0.0):
    book_market(boxes_per_assortment=6, spread=spread, store=store)
    build_price_book(store, settings(), GradePricer())
    return store


def checked(store, certificate_id, hs_code="7102.31", **overrides):
    rows = check_certificates(store, settings(**overrides), [certificate_id]).to_pylist()
    return next(r for r in rows if r["hs_code"] == hs_code)


def linked_boxes(store, *boxes):
    """Boxes without outcomes sold under a certificate: (box_id, assortment, carats, certificate_id)."""
    model = {"A-ST": "stones,0.5,1.5,white,high", "B-SH": "shapes,0.5,1.5,white,medium"}
    load(store, "rough_sales", SALES_HEADER + "\n" + "\n".join(
        f"{box},2026-01,2026-01-12,P1,M1,BW,{code},{model[code].split(',')[0]},0.5,1.5,white,"
        f"{model[code].split(',')[-1]},1,{ct},300.00,{cert}" for box, code, ct, cert in boxes))


def test_a_line_is_its_boxes_and_its_contents_for_the_carats_they_leave(store):
    priced(store)
    linked_boxes(store, ("X1", "A-ST", "1.000", "BW9"), ("X2", "B-SH", "1.000", "BW8"))
    load(store, "kp_certificates", certificate_rows([("BW9", "7102.31", "10.000", "2331.72"),
                                                     ("BW8", "7102.31", "4.000", "1343.34")]))
    load(store, "parcel_contents", CONTENTS + "BW9,7102.31,A-ST,2.000\nBW9,7102.31,B-SH,8.000\nBW8,7102.31,A-ST,4.000")
    with CertificateCheck(store, CheckRules(price_calibration="none")) as check:
        lines = {r["certificate_id"]: r for r in check.lines().to_pylist()}
        parts = check.parts().to_pylist()
    nine = lines["BW9"]
    # the box covers 1 ct of A-ST; the contents give the other 1 ct of A-ST and the 8 ct of B-SH
    assert nine["estimated_usd"] == 2 * A_ST + 8 * B_SH
    assert (nine["basis"], nine["confidence"], nine["coverage"]) == ("parcel_contents", "high", 1)
    assert nine["basis_shares"] == "certificate_boxes=0.100;parcel_contents=0.900"
    assert nine["verdict"] == "reasonable"
    assert sum(p["value_usd"] for p in parts if p["certificate_id"] == "BW9") == nine["estimated_usd"]
    # contents saying more than the boxes leave are scaled to the carats left: 4 ct of A-ST less the
    # 1 ct line share the B-SH box takes
    eight = lines["BW8"]
    assert eight["estimated_usd"] == B_SH + 3 * A_ST


def exporters_market(store, alpha_mix=("B-SH",), beta_mix=("A-ST",), lines=4, spread=0.0):
    """Alpha and Beta export from Botswana; each sends `lines` certificates with contents, every one
    of them split evenly over its mix's assortments (10 ct a line)."""
    priced(store, spread)
    contents = []
    for exporter, mix in (("Alpha", alpha_mix), ("Beta", beta_mix)):
        for i in range(lines):
            cid = f"BW{exporter[0]}{i}"
            load(store, "kp_certificates", certificate_rows([(cid, "7102.31", "10.000", "1000.00")], exporter=exporter))
            contents += [f"{cid},7102.31,{code},{10 / len(mix):.3f}" for code in mix]
    load(store, "parcel_contents", CONTENTS + "\n".join(contents))
    return store


def _centred_mix(lines: int) -> Decimal:
    """Alpha's mix per carat in exporters_market (Alpha's lines B-SH, Beta's A-ST, `lines` each):
    shares shrunk toward the origin's with weight n / (n + 3), centred on the typical line."""
    w = lines / (lines + 3)
    alpha = (w + (1 - w) / 2) * float(B_SH) + (1 - w) / 2 * float(A_ST)
    beta = (w + (1 - w) / 2) * float(A_ST) + (1 - w) / 2 * float(B_SH)
    own = math.log(float(B_SH) / alpha)
    origin = (own + math.log(float(A_ST) / beta)) / 2  # the median of the origin's strays
    return Decimal(alpha * math.exp(w * own + (1 - w) * origin))


def test_without_contents_the_rest_is_valued_at_the_exporters_mix_shrunk_to_the_origins(store):
    exporters_market(store)
    linked_boxes(store, ("T1-X", "A-ST", "1.000", "BWT1"))
    load(store, "kp_certificates", certificate_rows([("BWT1", "7102.31", "10.000", "2500.00")], exporter="Alpha"))
    line = checked(store, "BWT1")
    # Alpha's 4 described lines hold B-SH only; the origin's 8 hold B-SH and A-ST half and half:
    # weight 4 / (4 + 3) on Alpha's own mix, then centred on the typical line (median stray of the
    # described lines from their exporter's mix, Alpha's shrunk toward the origin's the same way)
    mix = _centred_mix(4)
    assert abs(line["estimated_usd"] - (A_ST + 9 * mix)) <= Decimal("0.02")
    assert (line["basis"], line["confidence"], line["exporter_lines"]) == ("exporter_mix", "low", 4)
    assert line["basis_shares"] == "certificate_boxes=0.100;exporter_mix=0.900"
    assert line["coverage"] == Decimal("0.1")
    true_per_carat = (A_ST + 9 * mix) / 10
    for ratio, verdict in (("1.0", "reasonable"), ("0.55", "undervalued"), ("1.6", "overvalued")):
        load(store, "kp_certificates", certificate_rows(
            [(f"BWT{ratio}", "7102.31", "10.000", f"{Decimal(ratio) * true_per_carat * 10:.2f}")], exporter="Alpha"))
        assert checked(store, f"BWT{ratio}")["verdict"] == verdict
    # the mix part is shown with the evidence
    with CertificateCheck(store, CheckRules(price_calibration="none"), ["BWT1"]) as check:
        rest = [p for p in check.parts().to_pylist() if p["assortment"] == "*"]
    assert [(p["source"], p["carats"]) for p in rest] == [("exporter_mix", Decimal("9.000"))]


def test_an_exporter_with_few_lines_leans_on_its_origin(store):
    exporters_market(store, lines=1)
    load(store, "kp_certificates", certificate_rows([("BWT2", "7102.31", "10.000", "2500.00")], exporter="Alpha"))
    line = checked(store, "BWT2")
    assert abs(line["estimated_usd"] - 10 * _centred_mix(1)) <= Decimal("0.02")
    assert (line["basis"], line["confidence"]) == ("origin_mix", "low")


def test_a_parcel_band_is_narrower_than_a_single_box_band_and_narrows_with_its_size(store):
    # every described line of the exporter holds the same mix: a parcel valued at it varies only as
    # its boxes do, so 20% under the estimate is flagged (a single box's P10-P90 would hold it)
    exporters_market(store, alpha_mix=("A-ST", "B-SH"), beta_mix=("A-ST", "B-SH"), spread=0.1)
    mix_per_carat = (A_ST + B_SH) / 2
    load(store, "kp_certificates", certificate_rows([
        ("BWS", "7102.31", "2.000", f"{mix_per_carat * 2 * Decimal('0.8'):.2f}"),
        ("BWL", "7102.31", "200.000", f"{mix_per_carat * 200 * Decimal('0.8'):.2f}")], exporter="Alpha"))
    small, large = checked(store, "BWS", kp_band_floor="0"), checked(store, "BWL", kp_band_floor="0")
    assert small["basis"] == large["basis"] == "exporter_mix"
    assert large["verdict"] == "undervalued"

    def width(line):
        return (line["high_per_carat"] - line["low_per_carat"]) / line["estimated_per_carat"]

    assert width(large) < width(small)
    assert width(large) < Decimal("0.2")


def gem_only_market(store):
    load(store, "rough_sales", SALES_HEADER + "\n" + "\n".join(
        f"A-ST-{i},2026-01,2026-01-12,P1,M1,BW,A-ST,stones,0.5,1.5,white,high,1,1.000,300.00," for i in range(6)))
    load(store, "polished_outcomes", "stone_id,lab,sightholder_id,box_id,polished_date,shape,carat,color,clarity\n"
         + "\n".join(f"SA-{i},GIA,M1,A-ST-{i},2026-03-01,round,0.300,G,VS1" for i in range(6)))
    build_price_book(store, settings(), GradePricer())
    return store


def test_unsorted_and_industrial_lines_get_a_low_confidence_range_from_kp_statistics(store):
    gem_only_market(store)
    load(store, "kp_certificates", certificate_rows([("BW1", "7102.21", "100.000", "5000.00"),
                                                     ("BW1", "7102.10", "100.000", "5000.00"),
                                                     ("BW2", "7102.21", "100.000", "50000.00")]))
    load(store, "kp_certificates", certificate_rows([("GN1", "7102.10", "10.000", "50.00")], origin="GN"))
    industrial, unsorted = checked(store, "BW1", "7102.21"), checked(store, "BW1", "7102.10")
    # Botswana's rough averaged $117/ct; industrial goods 1% to 100% of it, unsorted a quarter to 4 times
    assert (industrial["low_per_carat"], industrial["high_per_carat"]) == (Decimal("1.17"), Decimal("117.00"))
    assert (unsorted["low_per_carat"], unsorted["high_per_carat"]) == (Decimal("29.25"), Decimal("468.00"))
    for line in (industrial, unsorted):
        assert (line["basis"], line["confidence"], line["verdict"]) == ("kp_statistics", "low", "reasonable")
        assert line["book_level"] == "KP statistics BW"
    assert checked(store, "BW2", "7102.21")["verdict"] == "overvalued"  # $500/ct of industrial goods
    guinea = checked(store, "GN1", "7102.10")  # no figure for Guinea: the world's $97/ct
    assert guinea["book_level"] == "KP statistics *" and guinea["verdict"] == "undervalued"
    # the figures are settings
    assert checked(store, "BW1", "7102.21", kp_statistics_usd_per_carat="BW=20;*=97")["verdict"] == "overvalued"


# -- the verdicts do not depend on the order of rows or of imports --------------------------------------

PARTIES = """party_id,name,role,category,country
P1,Producer,producer,,BW
M1,Cutter One,sightholder,manufacturer,IN
M2,Cutter Two,sightholder,manufacturer,BE
"""


def market_files() -> dict[str, list[str]]:
    """A small market as the files a user sends: boxes (some sold under certificates), outcomes, two
    exporters' certificates, some with contents; each kind's header and rows."""
    sales, outcomes, certificates, contents = [], [], [], []
    linked = {0: "BWC0", 1: "BWC1", 2: "BWC2", 3: "BWC3", 4: "BWE0", 5: "BWE0"}
    for i in range(8):
        for code, model, quality, colour in (("A-ST", "stones", "high", "G"), ("B-SH", "shapes", "medium", "J")):
            box, buyer = f"{code}-{i}", "M1" if i % 2 else "M2"
            sales.append(f"{box},2026-01,2026-01-12,P1,{buyer},BW,{code},{model},0.5,1.5,white,{quality},1,1.000,"
                         f"300.00,{linked.get(i, '')}")
            outcomes.append(f"S{box},GIA,{buyer},{box},2026-03-01,round,{0.27 + 0.01 * i:.3f},{colour},VS1")

    def certificate(cid, exporter, hs, ct, usd):
        return (f"{cid},BW,BE,BW,{exporter},Gaborone,Cutter,Antwerp,KP Botswana,2026-01-20,2026-04-20,1,"
                f"{hs},{ct},{usd}")

    for i, (ct, usd) in enumerate((("20.000", "5200.00"), ("12.000", "1500.00"), ("8.000", "3900.00"),
                                   ("30.000", "6100.00"))):
        certificates.append(certificate(f"BWC{i}", "Alpha" if i % 2 else "Beta", "7102.31", ct, usd))
    for i in range(6):
        certificates.append(certificate(f"BWD{i}", "Alpha" if i < 4 else "Beta", "7102.31", "10.000", f"{2400 + 300 * i}.00"))
        contents += [f"BWD{i},7102.31,A-ST,{3 + i % 3}.000", f"BWD{i},7102.31,B-SH,{7 - i % 3}.000"]
    certificates.append(certificate("BWE0", "Beta", "7102.31", "4.500", "1250.00"))
    certificates.append(certificate("BWD9", "Alpha", "7102.10", "5.000", "400.00"))
    contents.append("BWC0,7102.31,B-SH,15.000")
    return {
        "parties": PARTIES.splitlines(),
        "rough_sales": [SALES_HEADER] + sales,
        "polished_outcomes": ["stone_id,lab,sightholder_id,box_id,polished_date,shape,carat,color,clarity"] + outcomes,
        "kp_certificates": [("certificate_id,exporting_country,importing_country,origin,exporter_name,exporter_address,"
                             "importer_name,importer_address,issuing_authority,issue_date,expiry_date,parcels,hs_code,"
                             "carats,value_usd")] + certificates,
        "parcel_contents": ["certificate_id,hs_code,assortment,carats"] + contents,
    }


AFTER = {"rough_sales": {"parties"}, "polished_outcomes": {"rough_sales"}, "kp_certificates": {"parties"},
         "parcel_contents": {"kp_certificates"}}
"""Which kinds must be imported before a kind (its references); any other order is the sender's."""


def verdicts_after_importing(tmp_path, order: list[str], seed: int) -> list[tuple]:
    shuffle = random.Random(seed)
    store = new_store()
    for kind in order:
        header, *rows = market_files()[kind]
        shuffle.shuffle(rows)
        path = tmp_path / f"{kind}-{seed}.csv"
        path.write_text(textwrap.dedent("\n".join([header, *rows])) + "\n")
        assert import_file(store, kind, path, ledger=False).rows_rejected == 0
    build_price_book(store, settings(), GradePricer())
    lines = check_certificates(store, settings())
    return [(r["certificate_id"], r["hs_code"], r["verdict"], r["basis"], r["confidence"], r["basis_shares"],
             r["estimated_per_carat"], r["low_per_carat"], r["high_per_carat"]) for r in lines.to_pylist()]


@st.composite
def import_orders(draw):
    """Any order of the kinds that imports each after the kinds it references."""
    left, order = set(AFTER) | {"parties"}, []
    while left:
        ready = sorted(k for k in left if AFTER.get(k, set()) <= set(order))
        order.append(draw(st.sampled_from(ready)))
        left.remove(order[-1])
    return order


_reference: list[list[tuple]] = []


@hsettings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(order=import_orders(), seed=st.integers(min_value=0, max_value=10_000))
def test_kp_verdicts_do_not_depend_on_the_order_of_rows_or_imports(tmp_path, order, seed):
    if not _reference:
        _reference.append(verdicts_after_importing(tmp_path, ["parties", "rough_sales", "polished_outcomes",
                                                              "kp_certificates", "parcel_contents"], -1))
        bases = {row[3] for row in _reference[0]}
        assert {"certificate_boxes", "parcel_contents", "exporter_mix", "kp_statistics"} <= bases, bases
    assert verdicts_after_importing(tmp_path, order, seed) == _reference[0]


def test_unsorted_and_industrial_lines_are_low_confidence_and_flagged_only_far_outside(store):
    priced(store)
    load(store, "kp_certificates", certificate_rows([("BW5", "7102.21", "2.000", "459.00"),   # 0.6x R-RJ's 382.50
                                                     ("BW5", "7102.31", "2.000", "459.00"),   # 0.6x A-ST's
                                                     ("BW6", "7102.21", "2.000", "229.50")]))  # 0.3x
    load(store, "parcel_contents", CONTENTS + "BW5,7102.21,R-RJ,2.000\nBW5,7102.31,A-ST,2.000\nBW6,7102.21,R-RJ,2.000")
    industrial, gem = checked(store, "BW5", "7102.21"), checked(store, "BW5")
    assert (industrial["basis"], industrial["confidence"], industrial["verdict"]) == ("parcel_contents", "low", "reasonable")
    assert (gem["confidence"], gem["verdict"]) == ("high", "undervalued")
    assert checked(store, "BW6", "7102.21")["verdict"] == "undervalued"
    assert checked(store, "BW5", "7102.21", kp_band_floor_other="0.05")["verdict"] == "undervalued"


def test_the_mix_is_centred_on_the_exporters_typical_line(store):
    # four of each exporter's five described lines hold B-SH, one holds the dearer A-ST: the mix's
    # mean price (0.8 B-SH + 0.2 A-ST) lies above what a typical line is worth; the estimate is
    # centred on the typical line (the median stray of the described lines from the mix)
    priced(store)
    contents = []
    for exporter in ("Alpha", "Beta"):
        for i in range(5):
            cid = f"BW{exporter[0]}{i}"
            load(store, "kp_certificates", certificate_rows([(cid, "7102.31", "10.000", "2000.00")], exporter=exporter))
            contents.append(f"{cid},7102.31,{'A-ST' if i == 0 else 'B-SH'},10.000")
    load(store, "parcel_contents", CONTENTS + "\n".join(contents))
    load(store, "kp_certificates", certificate_rows([("BWT3", "7102.31", "10.000", f"{10 * B_SH:.2f}")],
                                                    exporter="Alpha"))
    line = checked(store, "BWT3")
    assert line["basis"] == "exporter_mix"
    assert abs(line["estimated_per_carat"] / B_SH - 1) < Decimal("0.01")
    assert line["verdict"] == "reasonable"


def test_the_band_widens_to_students_t_at_few_degrees_of_freedom():
    import duckdb

    from roughtrace.valuation.kp import _t_quantile

    con = duckdb.connect()

    def t(df):
        return con.execute(f"SELECT {_t_quantile(1.645, str(df))}").fetchone()[0]

    assert abs(t("NULL") - 1.645) < 1e-6 and abs(t(1e6) - 1.645) < 1e-4
    assert abs(t(3) / 2.353 - 1) < 0.02 and abs(t(10) / 1.812 - 1) < 0.005  # Student's t, 95th percentiles
    assert t(1) > t(2) > t(3) > t(10) > t(100) > 1.645


def test_parts_are_priced_at_what_their_assortment_sold_for(store):
    # every box of the fixture sold at $300/ct, while the book reverse-engineers A-ST at 382.50 and
    # B-SH at 195.84: a declared value is a price, so with `kp_price_calibration` paid each
    # assortment's book price is brought to what its boxes sold for
    priced(store)
    load(store, "kp_certificates", certificate_rows([("BW1", "7102.31", "10.000", "3000.00")]))
    load(store, "parcel_contents", CONTENTS + "BW1,7102.31,A-ST,5.000\nBW1,7102.31,B-SH,5.000")
    book = checked(store, "BW1", kp_price_calibration="none")
    paid = checked(store, "BW1", kp_price_calibration="paid")
    assert book["estimated_usd"] == 5 * A_ST + 5 * B_SH
    assert abs(paid["estimated_usd"] - Decimal("3000.00")) <= Decimal("0.05")
    assert (paid["basis"], paid["confidence"], paid["verdict"]) == ("parcel_contents", "high", "reasonable")


def test_a_basis_is_calibrated_on_the_declarations_of_its_lines(store):
    # 24 lines of parcel contents declared at 0.65x the book: what such goods are declared at says the
    # book sits above them, so a line declared at 0.65x is reasonable once a basis has enough lines,
    # and one declared at 0.40x is still undervalued
    priced(store, spread=0.2)
    load(store, "kp_certificates", certificate_rows([("BWP", "7102.31", "2.000", "700.00")]))
    load(store, "parcel_contents", CONTENTS + "BWP,7102.31,A-ST,2.000")
    book = checked(store, "BWP")["estimated_per_carat"]
    rows = [(f"BWC{i:02d}", "7102.31", "2.000", f"{2 * Decimal('0.65') * book:.2f}") for i in range(24)]
    rows += [("BWU", "7102.31", "2.000", f"{2 * Decimal('0.40') * book:.2f}")]
    load(store, "kp_certificates", certificate_rows(rows))
    load(store, "parcel_contents", CONTENTS + "\n".join(f"{cid},7102.31,A-ST,2.000" for cid, *_ in rows))
    alone = checked(store, "BWC00", kp_calibration_lines="100")  # too few lines: no calibration
    calibrated = checked(store, "BWC00")
    assert alone["estimated_per_carat"] == book and alone["verdict"] == "undervalued"
    assert calibrated["estimated_per_carat"] < book and calibrated["verdict"] == "reasonable"
    # the verdict says what it was calibrated on: 26 contents lines, ln(estimate) moved down
    assert alone["calibration_lines"] is None
    assert calibrated["calibration_lines"] == 26 and calibrated["calibration_shift"] < 0
    assert calibrated["calibration_scale"] == 1
    with CertificateCheck(store, CheckRules.from_settings(settings()), ["BWC00"]) as check:
        parts = sum(p["value_usd"] for p in check.parts().to_pylist())
    shifted = float(parts) * math.exp(float(calibrated["calibration_shift"]))
    assert abs(shifted - float(calibrated["estimated_usd"])) <= 0.001 * float(parts)
    # the band is never narrowed by the calibration: every line strays alike, so the robust spread is 0
    assert (calibrated["high_per_carat"] - calibrated["low_per_carat"]) / calibrated["estimated_per_carat"] >= \
        (alone["high_per_carat"] - alone["low_per_carat"]) / alone["estimated_per_carat"] - Decimal("0.001")
    assert checked(store, "BWU")["verdict"] == "undervalued"


def test_lines_valued_at_the_exporters_mix_are_low_confidence(store):
    # a line whose carats are mostly valued at the exporter's usual mix is a guess at what the
    # shipment holds: whatever its verdict, it says so
    exporters_market(store)
    load(store, "kp_certificates", certificate_rows([("BWT9", "7102.31", "10.000", "900.00")], exporter="Alpha"))
    line = checked(store, "BWT9")
    assert (line["basis"], line["confidence"]) == ("exporter_mix", "low")
