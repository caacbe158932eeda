"""The ground truth holds: honest parties conserve carats, every behaviour shows in the data in the
proportions asked, certificates are misdeclared as asked, asking prices sit above transactions."""

from __future__ import annotations

import math

import duckdb
import pytest

from roughtrace.sim import generate_market, market_params

PARAMS = {"flip_share": 0.6, "misdeclared_share": 0.2, "asking_share": 0.3, "polished_rows": 40_000}


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    return generate_market(tmp_path_factory.mktemp("market"), seed=5, size="small", **PARAMS)


@pytest.fixture(scope="module")
def db(market):
    con = duckdb.connect()
    for f in market.files + market.truth:
        con.execute(f"CREATE VIEW {f.kind} AS SELECT * FROM read_csv('{f.path}', header=true)")
    con.execute("""CREATE VIEW box_report AS
        SELECT r.box_id, r.buyer_id, r.carats, r.stones, r.sale_date, r.model, r.size_max_ct,
               s.behaviour, t.fate, t.true_yield, t.in_process_carats,
               coalesce(o.polished, 0) AS polished, coalesce(o.n, 0) AS n_polished, o.first_day, o.largest,
               coalesce(d.declared, 0) AS declared
        FROM rough_sales r
        JOIN sightholders s ON s.sightholder_id = r.buyer_id
        JOIN boxes t USING (box_id)
        LEFT JOIN (SELECT box_id, sum(carat) AS polished, count(*) AS n, min(polished_date) AS first_day,
                          max(carat) AS largest, max(polished_date) AS last_day
                   FROM polished_outcomes GROUP BY box_id) o USING (box_id)
        LEFT JOIN (SELECT box_id, sum(carats) AS declared FROM rough_dispositions GROUP BY box_id) d USING (box_id)""")
    return con


def rows(db, sql: str) -> list[tuple]:
    return db.execute(sql).fetchall()


def one(db, sql: str):
    return db.execute(sql).fetchone()[0]


def test_honest_parties_conserve_carats(db):
    boxes = one(db, "SELECT count(*) FROM box_report WHERE behaviour IN ('honest', 'dealer_declared')")
    broken = rows(db, """SELECT box_id, carats, polished, declared FROM box_report
        WHERE behaviour IN ('honest', 'dealer_declared') AND polished + declared > carats""")
    assert boxes > 100 and broken == []
    assert one(db, """SELECT max(polished / carats) FROM box_report
        WHERE behaviour IN ('honest', 'dealer_declared') AND fate = 'polished'""") <= 0.60


def test_every_honest_box_is_accounted_for(db):
    """An honest box is polished (some stones reported) or its whole rough is declared."""
    unaccounted = one(db, """SELECT count(*) FROM box_report WHERE behaviour = 'honest'
        AND n_polished = 0 AND abs(declared - carats) > 0.0005""")
    assert unaccounted == 0
    assert one(db, "SELECT count(*) FROM box_report WHERE fate = 'in_process' AND n_polished > 0") == 0


def test_behaviours_are_dealt_as_asked(db, market):
    counts = dict(rows(db, "SELECT behaviour, count(*) FROM sightholders GROUP BY ALL"))
    for name, asked in market.params.behaviour_counts.items():
        assert counts.get(name, 0) == asked
    flippers = dict(rows(db, "SELECT behaviour, any_value(category) FROM sightholders WHERE behaviour LIKE 'flipper%' GROUP BY ALL"))
    assert set(flippers.values()) == {"manufacturer"}
    n = one(db, "SELECT count(*) FROM sightholders")
    dealers = one(db, "SELECT count(*) FROM sightholders WHERE category = 'dealer'")
    assert dealers == round(n * market.params.dealer_share)
    assert one(db, "SELECT count(*) FROM sightholders WHERE category = 'dealer' AND behaviour <> 'dealer_declared'") == 0


def test_flippers_flip_the_share_asked(db):
    flipped, total = db.execute("""SELECT count(*) FILTER (WHERE fate = 'flipped_undeclared'), count(*)
        FROM box_report WHERE behaviour LIKE 'flipper%'""").fetchone()
    share = PARAMS["flip_share"]
    assert abs(flipped / total - share) < 4 * math.sqrt(share * (1 - share) / total)
    assert one(db, "SELECT count(*) FROM box_report WHERE behaviour NOT LIKE 'flipper%' AND fate = 'flipped_undeclared'") == 0


def test_flipper_silent_reports_nothing_for_flipped_boxes(db):
    assert one(db, "SELECT count(*) FROM box_report WHERE behaviour = 'flipper_silent' AND fate = 'flipped_undeclared'") > 0
    assert one(db, """SELECT count(*) FROM box_report WHERE behaviour = 'flipper_silent'
        AND fate = 'flipped_undeclared' AND (n_polished > 0 OR declared > 0)""") == 0


def test_flipper_copy_claims_stones_reported_by_another(db):
    copied = rows(db, """SELECT p.box_id, count(*) AS n, count(q.box_id) AS claimed_elsewhere
        FROM polished_outcomes p JOIN box_report b USING (box_id)
        LEFT JOIN polished_outcomes q ON q.lab = p.lab AND q.stone_id = p.stone_id AND q.sightholder_id <> p.sightholder_id
        WHERE b.behaviour = 'flipper_copy' AND b.fate = 'flipped_undeclared' GROUP BY p.box_id""")
    assert copied and all(n == elsewhere for _, n, elsewhere in copied)
    claims = rows(db, """SELECT lab, stone_id, count(*) AS n, count(*) FILTER (WHERE b.behaviour = 'flipper_copy') AS copies
        FROM polished_outcomes JOIN box_report b USING (box_id) GROUP BY lab, stone_id HAVING count(*) > 1""")
    assert claims and all(copies == n - 1 for _, _, n, copies in claims)  # report numbers are unique but for copies


def test_flipper_invent_breaks_physics_in_every_reported_box(db):
    boxes = rows(db, """SELECT box_id, polished / carats > 0.60 AS high_yield, largest > size_max_ct AS oversize,
               date_diff('day', sale_date, first_day) <= 2 AS soon
        FROM box_report WHERE behaviour = 'flipper_invent' AND fate = 'flipped_undeclared' AND n_polished > 0""")
    assert boxes and all(any(flags) for _, *flags in boxes)
    kinds = {i for _, *flags in boxes for i, f in enumerate(flags) if f}
    assert kinds == {0, 1, 2}


def test_flipper_subtle_reports_typical_yields(db, market):
    yields = rows(db, """SELECT model, polished / carats FROM box_report
        WHERE behaviour = 'flipper_subtle' AND fate = 'flipped_undeclared' AND n_polished > 0""")
    assert yields
    for model, box_yield in yields:
        assert abs(float(box_yield) / market.params.model_yields[model] - 1) < 0.08
    honest = rows(db, """SELECT model, polished / carats FROM box_report
        WHERE behaviour = 'honest' AND fate = 'polished' AND n_polished > 0""")

    def spread(pairs):
        ratios = [float(y) / market.params.model_yields[m] for m, y in pairs]
        mean = sum(ratios) / len(ratios)
        return math.sqrt(sum((r - mean) ** 2 for r in ratios) / len(ratios))

    assert spread(yields) < spread(honest) / 2  # too regular: the tell-tale a careful check finds


def test_flipper_subtle_weights_show_digit_preference(db):
    """Within the weights reported to three decimals (internal ids, or under 0.30 ct): lab-graded
    stones of 0.30 ct and more are reported to two decimals by every sender alike."""
    three = "(p.lab = 'none' OR p.carat < 0.30)"
    share_round = one(db, f"""SELECT avg(CASE WHEN round(carat * 1000) % 10 = 0 THEN 1 ELSE 0 END)
        FROM polished_outcomes p JOIN box_report b USING (box_id)
        WHERE b.behaviour = 'flipper_subtle' AND b.fate = 'flipped_undeclared' AND {three}""")
    honest_round = one(db, f"""SELECT avg(CASE WHEN round(carat * 1000) % 10 = 0 THEN 1 ELSE 0 END)
        FROM polished_outcomes p JOIN box_report b USING (box_id) WHERE b.behaviour = 'honest' AND {three}""")
    assert share_round == 1.0 and honest_round < 0.3


def test_launderers_report_more_polished_than_their_rough_gives(db):
    boxes = rows(db, """SELECT polished, true_yield * (carats - in_process_carats) FROM box_report
        WHERE behaviour = 'launderer' AND fate = 'polished'""")
    assert boxes and all(polished > 1.15 * potential for polished, potential in boxes)


def test_dealers_declare_their_rough_resales(db):
    boxes = rows(db, """SELECT b.carats, d.carats, d.counterparty_id FROM box_report b
        LEFT JOIN rough_dispositions d ON d.box_id = b.box_id AND d.disposition = 'sold_rough'
        WHERE b.fate = 'sold_rough_declared'""")
    assert boxes and all(carats == sold and party is not None for carats, sold, party in boxes)
    assert one(db, "SELECT count(*) FROM box_report WHERE fate = 'sold_rough_declared' AND behaviour <> 'dealer_declared'") == 0


def test_certificate_lines_are_misdeclared_as_asked(db):
    by_kind = dict(rows(db, "SELECT misdeclaration, count(*) FROM certificate_lines GROUP BY ALL"))
    total = sum(by_kind.values())
    share = PARAMS["misdeclared_share"]
    off = by_kind.get("under", 0) + by_kind.get("over", 0)
    assert abs(off / total - share) < 4 * math.sqrt(share * (1 - share) / total)
    assert by_kind.get("under", 0) > 0 and by_kind.get("over", 0) > 0
    low, high = market_params().misdeclared_range
    assert one(db, f"SELECT count(*) FROM certificate_lines WHERE misdeclaration = 'under' AND NOT ratio BETWEEN {1 - high - 0.001} AND {1 - low + 0.001}") == 0
    assert one(db, f"SELECT count(*) FROM certificate_lines WHERE misdeclaration = 'over' AND NOT ratio BETWEEN {1 + low - 0.001} AND {1 + high + 0.001}") == 0
    assert one(db, "SELECT max(abs(ratio - 1)) FROM certificate_lines WHERE misdeclaration = 'none'") < 0.001
    assert one(db, """SELECT count(*) FROM certificate_lines t JOIN kp_certificates k USING (certificate_id, hs_code)
        WHERE t.declared_value_usd <> k.value_usd OR t.carats <> k.carats""") == 0


def test_certificate_lines_carry_the_boxes_they_ship_and_other_goods(db):
    """certificate_make_up shipment (the default): a line holds its linked boxes and more, a small share."""
    shipped = rows(db, """SELECT s.shipped, t.linked, t.line FROM (
        SELECT kp_certificate_id AS certificate_id, sum(carats) AS shipped FROM rough_sales
        WHERE kp_certificate_id IS NOT NULL GROUP BY ALL) s
        JOIN (SELECT certificate_id, sum(linked_carats) AS linked, sum(carats) AS line FROM certificate_lines
              GROUP BY ALL) t USING (certificate_id)""")
    assert shipped and all(abs(s - linked) < 0.0005 and line >= linked for s, linked, line in shipped)
    share = one(db, "SELECT median(linked_carats / carats) FROM certificate_lines WHERE linked_carats > 0")
    assert 0.03 < share < 0.15
    assert one(db, "SELECT count(*) FROM certificate_lines WHERE hs_code IN ('7102.10', '7102.21')") > 0


def test_certificate_lines_made_of_boxes_carry_exactly_them(tmp_path):
    market = generate_market(tmp_path, seed=5, polished_rows=3_000, n_transactions=100, certificate_make_up="boxes")
    con = duckdb.connect()
    for f in market.files + market.truth:
        con.execute(f"CREATE VIEW {f.kind} AS SELECT * FROM read_csv('{f.path}', header=true)")
    assert one(con, """SELECT count(*) FROM (
        SELECT kp_certificate_id AS certificate_id, sum(carats) AS shipped FROM rough_sales
        WHERE kp_certificate_id IS NOT NULL GROUP BY ALL) s
        JOIN (SELECT certificate_id, sum(carats) AS declared FROM kp_certificates GROUP BY ALL) k USING (certificate_id)
        WHERE abs(shipped - declared) > 0.0005""") == 0
    assert one(con, "SELECT count(*) FROM certificate_lines WHERE linked_carats <> carats") == 0


def test_asking_prices_sit_above_transactions(db, market):
    share = one(db, "SELECT avg(CASE WHEN price_type = 'asking' THEN 1 ELSE 0 END) FROM transactions")
    assert abs(share - PARAMS["asking_share"]) < 0.02
    premium = one(db, """SELECT exp(avg(ln(price_usd / carat)) FILTER (WHERE price_type = 'asking')
                                - avg(ln(price_usd / carat)) FILTER (WHERE price_type = 'transaction')) FROM transactions""")
    assert abs(premium - (1 + market.params.asking_premium)) < 0.08


def test_polished_rows_reach_the_target(market):
    target = PARAMS["polished_rows"]
    assert abs(market.file("polished_outcomes").rows - target) < 0.1 * target
