"""Invariants of any simulated market, for any seed and a range of parameters (Hypothesis)."""

from __future__ import annotations

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roughtrace.sim import generate_market


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), flip_share=st.floats(0, 1), polish_share=st.floats(0.5, 1),
       skill_sd=st.floats(0, 0.2), stones_scale=st.floats(0.05, 1.0))
def test_physics_holds_for_honest_parties_and_every_row(tmp_path_factory, seed, flip_share, polish_share, skill_sd,
                                                        stones_scale):
    market = generate_market(tmp_path_factory.mktemp("m"), seed=seed, polished_rows=2_000, n_transactions=200,
                             flip_share=flip_share, polish_share=polish_share, skill_sd=skill_sd,
                             stones_scale=stones_scale)
    con = duckdb.connect()
    for f in market.files + market.truth:
        con.execute(f"CREATE VIEW {f.kind} AS SELECT * FROM read_csv('{f.path}', header=true, all_varchar=true)")
    one = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
    ct = "CAST({} AS DECIMAL(18,3))".format
    assert one(f"""SELECT count(*) FROM rough_sales WHERE {ct('carats')} / CAST(stones AS BIGINT) NOT BETWEEN
        {ct('size_min_ct')} AND {ct('size_max_ct')}""") == 0
    assert one(f"SELECT count(*) FROM polished_outcomes WHERE {ct('carat')} > {ct('rough_carats')}") == 0
    assert one("""SELECT count(*) FROM polished_outcomes p JOIN rough_sales r USING (box_id)
        WHERE CAST(p.polished_date AS DATE) < CAST(r.sale_date AS DATE) OR p.sightholder_id <> r.buyer_id""") == 0
    assert one(f"""SELECT count(*) FROM rough_sales r JOIN sightholders s ON s.sightholder_id = r.buyer_id
        LEFT JOIN (SELECT box_id, sum({ct('carat')}) AS c FROM polished_outcomes GROUP BY ALL) p USING (box_id)
        LEFT JOIN (SELECT box_id, sum({ct('carats')}) AS c FROM rough_dispositions GROUP BY ALL) d USING (box_id)
        WHERE s.behaviour IN ('honest', 'dealer_declared')
          AND coalesce(p.c, 0) + coalesce(d.c, 0) > {ct('r.carats')}""") == 0
    assert one("""SELECT count(*) FROM (SELECT p.box_id, p.rough_stone_id FROM polished_outcomes p
        JOIN sightholders s ON s.sightholder_id = p.sightholder_id
        WHERE s.behaviour = 'honest' AND p.rough_stone_id IS NOT NULL GROUP BY ALL HAVING count(*) > 1)""") == 0
