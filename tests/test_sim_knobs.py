"""Each simulator knob does what it names: row order, weight precision, certificate make-up,
producers, rough in process, flippers of a single sight, exporters' usual goods (docs/simulator.md)."""

from __future__ import annotations

import duckdb
import pytest

from roughtrace.sim import generate_market
from roughtrace.sim.params import ParameterError

TINY = {"polished_rows": 4_000, "n_transactions": 100, "years": 2}


def views(market, typed: bool = False) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for f in market.files + market.truth:
        con.execute(f"CREATE VIEW {f.kind} AS SELECT * FROM read_csv('{f.path}', header=true"
                    f"{'' if typed else ', all_varchar=true'})")
    return con


def one(con, sql: str):
    return con.execute(sql).fetchone()[0]


@pytest.fixture(scope="module")
def orders(tmp_path_factory):
    root = tmp_path_factory.mktemp("orders")
    return {order: generate_market(root / order, seed=6, row_order=order, **TINY)
            for order in ("generated", "shuffled", "by_sightholder", "copier_first")}


@pytest.mark.parametrize("kind", ["rough_sales", "polished_outcomes", "rough_dispositions"])
def test_row_orders_hold_the_same_rows(orders, kind):
    texts = {order: m.file(kind).path.read_text().splitlines() for order, m in orders.items()}
    generated = texts["generated"]
    for order, lines in texts.items():
        assert lines[0] == generated[0] and sorted(lines[1:]) == sorted(generated[1:]), order
    assert texts["shuffled"][1:] != generated[1:]


def test_by_sightholder_sorts_by_the_sightholder_and_copier_first_files_copies_first(orders):
    lines = orders["by_sightholder"].file("polished_outcomes").path.read_text().splitlines()[1:]
    holders = [line.split(",")[2] for line in lines]
    assert holders == sorted(holders)
    market = orders["copier_first"]
    con = views(market)
    copiers = {r[0] for r in con.execute(
        "SELECT sightholder_id FROM sightholders WHERE behaviour = 'flipper_copy'").fetchall()}
    holders = [line.split(",")[2] for line in market.file("polished_outcomes").path.read_text().splitlines()[1:]]
    first_other = next(i for i, h in enumerate(holders) if h not in copiers)
    assert first_other > 0 and not copiers & set(holders[first_other:])


def test_same_seed_same_order_whatever_the_threads(tmp_path):
    one_ = generate_market(tmp_path / "a", seed=3, workers=1, row_order="shuffled", **TINY)
    two = generate_market(tmp_path / "b", seed=3, workers=3, row_order="shuffled", **TINY)
    for kind in ("rough_sales", "polished_outcomes", "rough_dispositions"):
        assert one_.file(kind).path.read_bytes() == two.file(kind).path.read_bytes()


def test_reported_precision_writes_lab_weights_to_two_decimals(tmp_path):
    market = generate_market(tmp_path / "r", seed=2, **TINY)
    con = views(market)
    classes = dict(con.execute("""SELECT lab <> 'none' AND CAST(carat AS DECIMAL(18,3)) >= 0.30 AS lab_large,
        max(length(split_part(carat, '.', 2))) FROM polished_outcomes GROUP BY ALL""").fetchall())
    assert classes[True] == 2 and classes[False] == 3
    assert one(con, "SELECT min(length(split_part(carat, '.', 2))) FROM polished_outcomes "
                    "WHERE lab <> 'none' AND CAST(carat AS DECIMAL(18,3)) >= 0.30") == 2
    senders = con.execute("""SELECT sightholder_id, max(length(split_part(rough_carats, '.', 2))) AS d
        FROM polished_outcomes WHERE rough_carats IS NOT NULL GROUP BY ALL""").fetchall()
    assert {d for _, d in senders} == {2, 3}  # some senders round rough to 0.01 ct, most do not
    assert one(con, """SELECT count(*) FROM polished_outcomes WHERE rough_carats IS NOT NULL
        AND CAST(carat AS DECIMAL(18,3)) > CAST(rough_carats AS DECIMAL(18,3))""") == 0
    three = views(generate_market(tmp_path / "t", seed=2, weight_precision="three", **TINY))
    assert one(three, """SELECT count(*) FROM polished_outcomes WHERE length(split_part(carat, '.', 2)) <> 3
        OR length(split_part(rough_carats, '.', 2)) <> 3""") == 0


def test_two_producers_sell_and_a_single_sight_flipper_flips_in_one_sight(tmp_path):
    market = generate_market(tmp_path, seed=4, producers=2, flipper_periods="single", **TINY)
    con = views(market)
    assert one(con, "SELECT count(DISTINCT seller_id) FROM rough_sales") == 2
    sights = con.execute("""SELECT b.buyer_id, count(DISTINCT r.sight) FROM boxes b JOIN rough_sales r USING (box_id)
        WHERE b.fate = 'flipped_undeclared' GROUP BY ALL""").fetchall()
    flippers = one(con, """SELECT count(DISTINCT s.sightholder_id) FROM sightholders s
        JOIN rough_sales r ON r.buyer_id = s.sightholder_id WHERE s.behaviour LIKE 'flipper%'""")
    assert len(sights) == flippers and all(n == 1 for _, n in sights)
    polished = one(con, """SELECT count(*) FROM boxes b JOIN sightholders s ON s.sightholder_id = b.buyer_id
        WHERE s.behaviour LIKE 'flipper%' AND b.fate = 'polished'""")
    assert polished > 0


def test_partly_polished_boxes_declare_the_rest_in_process(tmp_path):
    market = generate_market(tmp_path, seed=9, in_process_share=0.3, **TINY)
    con = views(market, typed=True)
    partial = con.execute("""SELECT b.box_id, r.carats, b.in_process_carats, coalesce(p.n, 0), d.carats
        FROM boxes b JOIN rough_sales r USING (box_id)
        LEFT JOIN (SELECT box_id, count(*) AS n FROM polished_outcomes GROUP BY ALL) p USING (box_id)
        LEFT JOIN (SELECT box_id, sum(carats) AS carats FROM rough_dispositions WHERE disposition = 'in_process'
                   GROUP BY ALL) d USING (box_id)
        WHERE b.fate = 'polished' AND b.in_process_carats > 0""").fetchall()
    boxes = one(con, "SELECT count(*) FROM boxes WHERE fate = 'polished'")
    assert 0.2 < len(partial) / boxes < 0.4
    assert all(n > 0 and declared == waiting and waiting < carats for _, carats, waiting, n, declared in partial)
    none = generate_market(tmp_path / "none", seed=9, in_process_share=0.0, **TINY)
    assert one(views(none, typed=True), "SELECT count(*) FROM boxes WHERE fate = 'polished' AND in_process_carats > 0") == 0


def test_bad_knob_values_are_refused():
    from roughtrace.sim import market_params

    for name, value in (("row_order", "random"), ("weight_precision", "two"), ("certificate_make_up", "lines"),
                        ("producers", 0), ("producers", 6), ("flipper_periods", "some"), ("in_process_share", 1.5),
                        ("exporter_mix_persistence", -0.1)):
        with pytest.raises(ParameterError, match=name):
            market_params("small", **{name: value})


@pytest.mark.parametrize(("name", "value"), [("in_process_share", 0.3), ("weight_precision", "three"),
                                             ("certificate_make_up", "boxes"), ("row_order", "shuffled")])
def test_a_knob_leaves_the_boxes_sold_as_they_were(tmp_path, name, value):
    """The box plan does not depend on these knobs, so a benchmark row differs from the defaults by
    the knob alone."""
    base = generate_market(tmp_path / "base", seed=7, polished_rows=3_000, n_transactions=100)
    other = generate_market(tmp_path / "other", seed=7, polished_rows=3_000, n_transactions=100, **{name: value})
    assert base.file("rough_sales").path.read_bytes() == other.file("rough_sales").path.read_bytes()
    assert base.file("sightholders").path.read_bytes() == other.file("sightholders").path.read_bytes()


def _goods(persistence: float, profile_seed: int | None):
    """Other goods of 400 one-line certificates of 4 exporters over a 60-assortment catalogue."""
    import numpy as np

    from roughtrace.sim import market_params
    from roughtrace.sim.certificates import ShipmentBook, other_goods

    catalogue = np.random.default_rng(0)
    hs = np.repeat(np.arange(3), 20)
    book = np.exp(catalogue.normal(5, 1, (60, 1))) * np.ones((1, 3))
    shipment = ShipmentBook(hs, catalogue.gamma(1.0, 1.0, 60), book, np.array([0, 31, 62]))
    n = 400
    params = market_params("small", exporter_mix_persistence=persistence, extra_line_share=0.0)
    goods = other_goods(np.random.default_rng(5), params, shipment, np.arange(n), np.full(n, 2), np.full(n, 1_000),
                        np.full(n, 1_000), np.full(n, 40), np.arange(n) % 4,
                        None if profile_seed is None else np.random.default_rng(profile_seed))
    line_cert = np.concatenate([np.arange(n), goods.added_cert])
    return goods, (line_cert % 4)[goods.parcel_line]


def test_an_exporters_other_goods_persist_across_its_certificates():
    import numpy as np

    from roughtrace.sim.certificates import PROFILE_ASSORTMENTS

    goods, exporter = _goods(1.0, 3)
    parcel_exporter = exporter
    usual = [set(goods.parcel_assortment[parcel_exporter == e].tolist()) for e in range(4)]
    assert all(0 < len(u) <= PROFILE_ASSORTMENTS for u in usual)
    assert len(set().union(*usual)) > PROFILE_ASSORTMENTS  # exporters differ
    catalogue, catalogue_exporter = _goods(0.0, 3)
    assert len(set(catalogue.parcel_assortment[catalogue_exporter == 0].tolist())) > PROFILE_ASSORTMENTS
    again, _ = _goods(1.0, 3)
    assert np.array_equal(again.parcel_assortment, goods.parcel_assortment)


def test_no_persistence_reproduces_draws_from_the_whole_catalogue():
    import numpy as np

    plain, _ = _goods(0.0, None)
    for seed in (3, 4):
        goods, _ = _goods(0.0, seed)
        for field in ("parcel_line", "parcel_assortment", "parcel_mct", "parcel_cents"):
            assert np.array_equal(getattr(goods, field), getattr(plain, field)), field
