"""Every row the simulator writes keeps the interchange contract (formats.md), checked here rule by
rule with DuckDB over the files read as text, independently of the importer."""

from __future__ import annotations

import duckdb
import pytest

from roughtrace.domain import kinds
from roughtrace.domain.countries import ALPHA2
from roughtrace.sim import generate_market

PATTERNS = {
    kinds.CARATS: r"^[0-9]+(\.[0-9]{1,3})?$",
    kinds.USD: r"^[0-9]+(\.[0-9]{1,2})?$",
    kinds.INTEGER: r"^[0-9]+$",
    kinds.DATE: r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
}


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    return generate_market(tmp_path_factory.mktemp("market"), seed=11, size="small")


@pytest.fixture(scope="module")
def db(market):
    con = duckdb.connect()
    for f in market.files:
        con.execute(f"CREATE VIEW {f.kind} AS SELECT * FROM read_csv('{f.path}', all_varchar=true, header=true)")
    return con


def count(db, sql: str) -> int:
    return db.execute(sql).fetchone()[0]


def test_manifest_lists_every_kind_in_load_order(market):
    assert [f.kind for f in market.files] == list(kinds.KINDS)
    for f in market.files:
        lines = f.path.read_text().splitlines()
        assert lines[0] == ",".join(kinds.KINDS[f.kind].column_names)
        assert len(lines) - 1 == f.rows > 0


@pytest.mark.parametrize("kind", list(kinds.KINDS))
def test_every_value_has_its_type(db, kind):
    for column in kinds.KINDS[kind].columns:
        c = column.name
        missing = count(db, f"SELECT count(*) FROM {kind} WHERE {c} IS NULL OR trim({c}) = ''")
        if column.required:
            assert missing == 0, f"{kind}.{c} has empty required cells"
        where = f"{c} IS NOT NULL AND {c} <> ''"
        if column.type in PATTERNS:
            bad = count(db, f"SELECT count(*) FROM {kind} WHERE {where} AND NOT regexp_matches({c}, '{PATTERNS[column.type]}')")
            assert bad == 0, f"{kind}.{c} has values not written as {column.type}"
        if column.type == kinds.DATE:
            assert count(db, f"SELECT count(*) FROM {kind} WHERE {where} AND try_cast({c} AS DATE) IS NULL") == 0
        if column.type in (kinds.CARATS, kinds.USD, kinds.INTEGER) and c != "size_min_ct":
            assert count(db, f"SELECT count(*) FROM {kind} WHERE {where} AND CAST({c} AS DECIMAL(18,3)) <= 0") == 0
        if column.type == kinds.ENUM:
            allowed = ", ".join(f"'{v}'" for v in column.values)
            assert count(db, f"SELECT count(*) FROM {kind} WHERE {where} AND {c} NOT IN ({allowed})") == 0
        if column.type in (kinds.COUNTRY, kinds.ORIGIN):
            allowed = ", ".join(f"'{v}'" for v in sorted(ALPHA2) + (["mixed"] if column.type == kinds.ORIGIN else []))
            assert count(db, f"SELECT count(*) FROM {kind} WHERE {c} NOT IN ({allowed})") == 0
        if column.type == kinds.PARTY:
            assert count(db, f"SELECT count(*) FROM {kind} WHERE {where} AND {c} NOT IN (SELECT party_id FROM parties)") == 0


@pytest.mark.parametrize("kind", [k.name for k in kinds.KINDS.values() if len(k.key) == 1])
def test_primary_ids_are_unique(db, kind):
    key = kinds.KINDS[kind].key[0]
    assert count(db, f"SELECT count(*) - count(DISTINCT {key}) FROM {kind}") == 0


def test_parties_have_a_category_only_when_sightholders(db):
    assert count(db, "SELECT count(*) FROM parties WHERE role = 'sightholder' AND category IS NULL") == 0
    assert count(db, "SELECT count(*) FROM parties WHERE role <> 'sightholder' AND category IS NOT NULL") == 0
    assert 60 <= count(db, "SELECT count(*) FROM parties WHERE role = 'sightholder'") <= 70


def test_boxes_fit_their_size_range(db):
    assert count(db, """SELECT count(*) FROM rough_sales WHERE
        CAST(size_min_ct AS DECIMAL(18,3)) <= 0 OR CAST(size_max_ct AS DECIMAL(18,3)) < CAST(size_min_ct AS DECIMAL(18,3))
        OR CAST(carats AS DECIMAL(18,3)) / CAST(stones AS BIGINT) < CAST(size_min_ct AS DECIMAL(18,3))
        OR CAST(carats AS DECIMAL(18,3)) / CAST(stones AS BIGINT) > CAST(size_max_ct AS DECIMAL(18,3))""") == 0


def test_polished_outcomes_name_bought_boxes_and_keep_physics_rules(db):
    joined = "polished_outcomes p LEFT JOIN rough_sales r ON p.box_id = r.box_id"
    assert count(db, f"SELECT count(*) FROM {joined} WHERE r.box_id IS NULL OR r.buyer_id <> p.sightholder_id") == 0
    assert count(db, f"SELECT count(*) FROM {joined} WHERE CAST(p.polished_date AS DATE) < CAST(r.sale_date AS DATE)") == 0
    assert count(db, """SELECT count(*) FROM polished_outcomes WHERE rough_carats IS NOT NULL
        AND CAST(carat AS DECIMAL(18,3)) > CAST(rough_carats AS DECIMAL(18,3))""") == 0
    assert count(db, """SELECT count(*) - count(DISTINCT (lab, stone_id, sightholder_id, box_id))
        FROM polished_outcomes""") == 0


def test_dispositions_name_bought_boxes_and_counterparties(db):
    assert count(db, """SELECT count(*) FROM rough_dispositions d LEFT JOIN rough_sales r ON d.box_id = r.box_id
        WHERE r.box_id IS NULL OR r.buyer_id <> d.sightholder_id""") == 0
    assert count(db, "SELECT count(*) FROM rough_dispositions WHERE disposition = 'sold_rough' AND counterparty_id IS NULL") == 0
    assert count(db, "SELECT count(*) FROM rough_dispositions WHERE disposition = 'sold_rough'") > 0


def test_certificates_keep_the_kp_rules(db):
    assert count(db, "SELECT count(*) FROM kp_certificates WHERE NOT starts_with(certificate_id, exporting_country)") == 0
    assert count(db, "SELECT count(*) FROM kp_certificates WHERE importing_country = exporting_country") == 0
    assert count(db, "SELECT count(*) FROM kp_certificates WHERE CAST(expiry_date AS DATE) <= CAST(issue_date AS DATE)") == 0
    header = [c for c in kinds.KP_CERTIFICATES.column_names if c not in kinds.CERTIFICATE_LINE_COLUMNS]
    assert count(db, f"SELECT count(*) FROM (SELECT DISTINCT {', '.join(header)} FROM kp_certificates)") == count(
        db, "SELECT count(DISTINCT certificate_id) FROM kp_certificates")
    assert count(db, "SELECT count(*) - count(DISTINCT (certificate_id, hs_code)) FROM kp_certificates") == 0


def test_parcel_contents_fit_their_certificate_lines(db):
    assert count(db, """SELECT count(*) FROM (
        SELECT p.certificate_id, p.hs_code, sum(CAST(p.carats AS DECIMAL(18,3))) AS held, any_value(k.carats) AS line
        FROM parcel_contents p LEFT JOIN kp_certificates k USING (certificate_id, hs_code)
        GROUP BY ALL) WHERE line IS NULL OR held > CAST(line AS DECIMAL(18,3))""") == 0


def test_rough_sales_certificates_exist(db):
    assert count(db, """SELECT count(*) FROM rough_sales WHERE kp_certificate_id IS NOT NULL
        AND kp_certificate_id NOT IN (SELECT certificate_id FROM kp_certificates)""") == 0
    assert count(db, "SELECT count(*) FROM rough_sales WHERE kp_certificate_id IS NOT NULL") > 0
