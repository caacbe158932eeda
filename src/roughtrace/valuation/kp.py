"""KP certificate checks: each line's declared price per carat against an estimate with a band.

Where the estimate comes from, best first (the line's `basis`):

1. `certificate_boxes`: the store holds the boxes sold under this certificate (rough_sales
   kp_certificate_id) of this line's HS class. Each box is a part, valued at the price book's fitted
   entry for its assortment in the certificate's period (the assortment, period and typical-cutter
   fit of pricebook.fit_assortment_period), else at an observed entry resting on at least
   `valuation_min_boxes` boxes (same origin and period, then any origin, then any period, then both).
   When the box has a reported outcome in the book, that outcome (brought to the typical cutter by its
   sightholder's cutter level) is blended in with weight `kp_outcome_weight`: it is evidence about
   these very goods, not just their assortment. An outcome farther than OUTCOME_GATE box spreads from
   the assortment's price is a claim, not evidence, and is left out.
2. `parcel_contents`: no boxes, but the exporter said which assortments the parcel holds; each
   part is valued at the book as above.
   Either way the line's estimate is the sum of its parts.
3. `hs_class_mix`: nothing says what the parcel holds; the estimate is the median rough price per
   carat of the tracked boxes of the line's own HS class for that origin and period (then any period,
   then any origin), and the band is their P10-P90: a parcel may hold any part of the range, so
   only a declared value outside what most boxes of that class are worth is flagged.

Industrial (7102.21) and unsorted (7102.10) lines are valued on their own basis: only against
assortments and boxes of their own class (valuation.hs), never at gem prices, and the same way
otherwise.

The band: each part's book entry gives the robust spread of box prices (`box_spread`, natural log)
and the standard error of its price (`price_se`). A part of k boxes (known for certificate boxes,
else its carats over the entry's median box) has a relative standard error of
sqrt(box_spread^2 / k + price_se^2) (box-to-box variation of the parcel, and the book price's own
error); the parts combine as independent errors; the line's half-width is
max(kp_band_floor, kp_band_z x that error),
plus kp_mix_band times the share of the line's carats no part could value (the estimate's price
per carat is then the valued parts' average, applied to all the line's carats).

Verdict: undervalued when declared < low x (1 - kp_tolerance), overvalued when declared > high x
(1 + kp_tolerance), otherwise reasonable; cannot_value (with the reason) when no estimate can be made.

Every step runs as a few joins in an in-process DuckDB over Arrow columns read from the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from .hs import hs_class_sql
from .pricebook import FITTED

VERDICTS: tuple[str, ...] = ("reasonable", "undervalued", "overvalued", "cannot_value")
BASES: tuple[str, ...] = ("parcel_contents", "certificate_boxes", "hs_class_mix", "none")
LINE_FIELDS: tuple[str, ...] = (
    "certificate_id", "hs_code", "carats", "declared_usd", "declared_per_carat", "estimated_per_carat",
    "low_per_carat", "high_per_carat", "verdict", "basis", "confidence", "reason", "estimated_usd",
    "coverage", "evidence_boxes", "book_level", "origin", "period", "issue_date",
)
"""A checked line's fields; the first ten are the issue's JSON contract."""

ASSORTMENT_LADDER: tuple[tuple[str, tuple[str, ...]], ...] = (
    (FITTED, ("fit_period",)),
    ("assortment/origin/period", ("origin", "period")),
    ("assortment/period", ("period",)),
    ("assortment/origin", ("origin",)),
    ("assortment", ()),
)
CLASS_LADDER: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("hs_code/origin/period", ("origin", "period")),
    ("hs_code/origin", ("origin",)),
    ("hs_code", ()),
)
OWN_OUTCOME = "box outcome"
"""The book level a part carries when a certificate's box is valued by its own reported outcome."""
OWN_OUTCOME_SPREAD = 0.10
OUTCOME_GATE = 3.0
"""A box's own outcome farther than this many box spreads from its assortment's book price is
treated as a claim, not evidence (invented or copied outcomes), and the book price is used."""
"""The error of a box's own outcome value when its assortment has no book entry to say how much box
values scatter (natural log)."""
Z_P10_P90 = 1.2816
"""Standard normal quantile of 0.90: a P10-P90 range spans 2 x 1.2816 standard deviations."""
MIN_COVERAGE = 0.5
"""A line is valued from its parts only when the parts value at least half its carats."""


@dataclass(frozen=True)
class CheckRules:
    """The verdict's settings (valuation area)."""

    tolerance: float = 0.075
    band_floor: float = 0.05
    band_z: float = 1.645
    mix_band: float = 0.50
    min_boxes: int = 5
    period: str = "month"
    outcome_weight: float = 0.5

    @classmethod
    def from_settings(cls, settings: Any) -> CheckRules:
        return cls(
            tolerance=float(settings["kp_tolerance"]), band_floor=float(settings["kp_band_floor"]),
            band_z=float(settings["kp_band_z"]), mix_band=float(settings["kp_mix_band"]),
            min_boxes=int(settings["valuation_min_boxes"]), period=settings["pricebook_period"],
            outcome_weight=float(settings["kp_outcome_weight"]),
        )


def _in_clause(column: str, ids: list[str] | None) -> tuple[str, tuple[Any, ...]]:
    if ids is None:
        return "", ()
    return f" WHERE {column} IN ({', '.join('?' for _ in ids)})", tuple(ids)


def _period_sql(column: str, period: str) -> str:
    if period == "month":
        return f"strftime({column}, '%Y-%m')"
    if period == "quarter":
        return f"strftime({column}, '%Y') || '-Q' || CAST(quarter({column}) AS VARCHAR)"
    if period == "year":
        return f"strftime({column}, '%Y')"
    raise ValueError(f"a price book period is month, quarter or year, not {period!r}")


class CertificateCheck:
    """The check of a set of certificates (all when `certificate_ids` is None): read once from the
    store, evaluated in an in-process DuckDB. `lines()` gives the verdicts, `parts()` the evidence."""

    def __init__(self, store: Any, rules: CheckRules, certificate_ids: list[str] | None = None) -> None:
        self.rules = rules
        ids = None if certificate_ids is None else sorted(set(certificate_ids))
        where, params = _in_clause("certificate_id", ids)
        lines = store.query(
            "SELECT certificate_id, hs_code, carats, value_usd, origin, issue_date FROM kp_certificates" + where, params
        )
        contents = store.query("SELECT certificate_id, hs_code, assortment, carats FROM parcel_contents" + where, params)
        boxes_where, _ = _in_clause("kp_certificate_id", ids)
        boxes = store.query(
            f"SELECT r.kp_certificate_id AS certificate_id, {hs_class_sql('r.model', 'r.quality')} AS hs_code, "
            "r.assortment, r.box_id, r.carats, CAST(v.rough_price_per_carat AS DOUBLE PRECISION) AS own_per_carat, "
            "COALESCE(CAST(c.level AS DOUBLE PRECISION), 0) AS cutter_level FROM rough_sales r "
            "LEFT JOIN box_valuations v ON v.box_id = r.box_id AND v.in_book "
            "LEFT JOIN valuation_cutter_levels c ON c.sightholder_id = r.buyer_id"
            + boxes_where.replace("kp_certificate_id", "r.kp_certificate_id")
            + (" AND" if boxes_where else " WHERE") + " r.kp_certificate_id IS NOT NULL", params
        )
        book = store.query("SELECT * FROM rough_price_book WHERE level = ? OR boxes >= ?", (FITTED, rules.min_boxes))
        self.certificates_found = set(lines["certificate_id"].to_pylist()) if ids is not None else None
        self.con = duckdb.connect()
        for name, table in (("lines_in", lines), ("contents_in", contents), ("boxes_in", boxes), ("book_in", book)):
            self.con.register(name, table)
        self._prepare()

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> CertificateCheck:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _prepare(self) -> None:
        r = self.rules
        con = self.con
        con.execute("""CREATE TEMP TABLE b AS SELECT level, assortment, hs_code, origin, period, boxes,
            CAST(price_per_carat AS DOUBLE) AS e, CAST(mean_price_per_carat AS DOUBLE) AS m,
            CAST(p10_per_carat AS DOUBLE) AS p10, CAST(p90_per_carat AS DOUBLE) AS p90,
            COALESCE(CAST(box_spread AS DOUBLE), 0) AS spread, COALESCE(CAST(price_se AS DOUBLE), 0) AS se,
            CAST(median_box_carats AS DOUBLE) AS box_carats FROM book_in""")
        con.execute(f"""CREATE TEMP TABLE l AS SELECT certificate_id, hs_code, carats AS carats_exact,
            value_usd AS declared_exact, CAST(carats AS DOUBLE) AS carats, CAST(value_usd AS DOUBLE) AS declared,
            origin, issue_date, {_period_sql('issue_date', r.period)} AS period FROM lines_in""")
        # a certificate issued before the first or after the last fitted period takes the nearest one
        con.execute("ALTER TABLE l ADD COLUMN fit_period VARCHAR")
        con.execute(f"""UPDATE l SET fit_period = LEAST(GREATEST(period,
            (SELECT MIN(period) FROM b WHERE level = '{FITTED}')), (SELECT MAX(period) FROM b WHERE level = '{FITTED}'))""")
        con.execute("""CREATE TEMP TABLE parts_raw AS
            SELECT x.certificate_id, x.hs_code, x.assortment, x.box_id, CAST(x.carats AS DOUBLE) AS carats,
                   CAST(1 AS DOUBLE) AS boxes, x.own_per_carat / EXP(x.cutter_level) AS own_per_carat,
                   'certificate_boxes' AS source FROM boxes_in x
            UNION ALL
            SELECT c.certificate_id, c.hs_code, c.assortment, CAST(NULL AS VARCHAR), CAST(c.carats AS DOUBLE),
                   CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), 'parcel_contents' FROM contents_in c
            WHERE NOT EXISTS (SELECT 1 FROM boxes_in x
                              WHERE x.certificate_id = c.certificate_id AND x.hs_code = c.hs_code)""")
        joins, chosen = [], []
        for i, (level, keys) in enumerate(ASSORTMENT_LADDER):
            con.execute(f"CREATE TEMP TABLE a{i} AS SELECT * FROM b WHERE level = '{level}'")
            on = " AND ".join([f"a{i}.assortment = p.assortment"] + [f"a{i}.{k.removeprefix('fit_')} = l.{k}" for k in keys])
            joins.append(f"LEFT JOIN a{i} ON {on}")
            chosen.append(i)
        rank = "CASE " + " ".join(f"WHEN a{i}.e IS NOT NULL THEN {i}" for i in chosen) + " END"
        level = "CASE " + " ".join(f"WHEN a{i}.e IS NOT NULL THEN '{ASSORTMENT_LADDER[i][0]}'" for i in chosen) + " END"

        def pick(column: str) -> str:
            return "COALESCE(" + ", ".join(f"a{i}.{column}" for i in chosen) + ")"

        # most parts find the first rung (the fitted entry): join the others only for the rest
        first_on = " AND ".join(["a0.assortment = p.assortment"]
                                + [f"a0.{k.removeprefix('fit_')} = l.{k}" for k in ASSORTMENT_LADDER[0][1]])
        con.execute("""CREATE TEMP TABLE placed AS
            SELECT p.*, l.origin, l.period, l.fit_period FROM parts_raw p
            JOIN l ON l.certificate_id = p.certificate_id AND l.hs_code = p.hs_code""")
        columns = ("p.certificate_id, p.hs_code, p.assortment, p.box_id, p.carats, p.source, p.boxes, "
                   "p.own_per_carat")
        con.execute(f"""CREATE TEMP TABLE matched AS
            SELECT {columns}, '{ASSORTMENT_LADDER[0][0]}' AS level, 0 AS rank, a0.e, a0.p10, a0.p90,
                   COALESCE(a0.spread, {OWN_OUTCOME_SPREAD}) AS spread, a0.se, a0.boxes AS entry_boxes,
                   a0.box_carats
            FROM placed p JOIN a0 ON {first_on.replace('l.', 'p.')}
            UNION ALL
            SELECT {columns}, {level} AS level, {rank} AS rank, {pick('e')}, {pick('p10')}, {pick('p90')},
                   COALESCE({pick('spread')}, {OWN_OUTCOME_SPREAD}), {pick('se')}, {pick('boxes')},
                   {pick('box_carats')}
            FROM placed p {' '.join(j.replace('l.', 'p.') for j in joins)}
            WHERE NOT EXISTS (SELECT 1 FROM a0 WHERE {first_on.replace('l.', 'p.')})""")
        # a box's own outcome counts when it is plausible for its assortment (within
        # OUTCOME_GATE spreads of the book), blended with the book by kp_outcome_weight
        w = self.rules.outcome_weight
        own = (f"COALESCE(own_per_carat > 0 AND {w} > 0 AND (e IS NULL OR "
               f"ABS(LN(own_per_carat / e)) <= {OUTCOME_GATE} * GREATEST(spread, 0.01)), FALSE)")
        con.execute(f"""CREATE TEMP TABLE parts AS
            WITH priced AS (
              SELECT *, {own} AS by_outcome,
                CASE WHEN NOT {own} THEN e WHEN e IS NULL THEN own_per_carat
                     ELSE EXP((1 - {w}) * LN(e) + {w} * LN(own_per_carat)) END AS price
              FROM matched)
            SELECT certificate_id, hs_code, assortment, box_id, carats, source,
                   CASE WHEN by_outcome THEN '{OWN_OUTCOME}' ELSE level END AS book_level,
                   CASE WHEN by_outcome THEN -1 ELSE rank END AS book_rank,
                   price AS price_per_carat, p10 AS p10_per_carat, p90 AS p90_per_carat, spread,
                   CASE WHEN by_outcome THEN (1 - {w}) * COALESCE(se, 0) ELSE se END AS se,
                   CASE WHEN by_outcome THEN 1 ELSE entry_boxes END AS book_boxes,
                   COALESCE(boxes, GREATEST(carats / NULLIF(box_carats, 0), 1)) AS parcel_boxes,
                   carats * price AS value_usd
            FROM priced""")
        class_joins = []
        for i, (lvl, keys) in enumerate(CLASS_LADDER):
            on = " AND ".join([f"h{i}.level = '{lvl}'", f"h{i}.hs_code = l.hs_code"] + [f"h{i}.{k} = l.{k}" for k in keys])
            class_joins.append(f"LEFT JOIN b h{i} ON {on}")
        def class_pick(column: str) -> str:
            return "COALESCE(" + ", ".join(f"h{i}.{column}" for i in range(len(CLASS_LADDER))) + ")"

        class_level = "CASE " + " ".join(
            f"WHEN h{i}.e IS NOT NULL THEN '{lvl}'" for i, (lvl, _) in enumerate(CLASS_LADDER)) + " END"
        con.execute("""CREATE TEMP TABLE line_parts AS
            SELECT certificate_id, hs_code, ANY_VALUE(source) AS source, COUNT(*) AS parts,
                   COUNT(price_per_carat) AS valued_parts, SUM(carats) AS part_carats,
                   SUM(CASE WHEN price_per_carat IS NOT NULL THEN carats END) AS valued_carats,
                   SUM(value_usd) AS value_usd,
                   SUM(POWER(value_usd, 2) * (POWER(spread, 2) / parcel_boxes + POWER(se, 2))) AS variance,
                   SUM(book_boxes) AS evidence_boxes, MAX(book_rank) AS worst_rank
            FROM parts GROUP BY certificate_id, hs_code""")
        z, floor, mix, tol = r.band_z, r.band_floor, r.mix_band, r.tolerance
        con.execute(f"""CREATE TEMP TABLE checked AS
            WITH j AS (
              SELECT l.*, lp.source, lp.parts, lp.valued_parts, lp.valued_carats, lp.value_usd, lp.variance,
                     lp.evidence_boxes AS part_boxes, lp.worst_rank,
                     LEAST(COALESCE(lp.valued_carats, 0) / l.carats, 1.0) AS part_coverage,
                     {class_pick('e')} AS class_e, {class_pick('p10')} AS class_p10, {class_pick('p90')} AS class_p90,
                     {class_pick('boxes')} AS class_n, {class_level} AS class_level
              FROM l LEFT JOIN line_parts lp ON lp.certificate_id = l.certificate_id AND lp.hs_code = l.hs_code
              {' '.join(class_joins)}
            ), est AS (
              SELECT *,
                CASE WHEN part_coverage >= {MIN_COVERAGE} AND value_usd > 0 THEN source
                     WHEN class_e IS NOT NULL THEN 'hs_class_mix' ELSE 'none' END AS basis
              FROM j
            ), estimated AS (
              SELECT *,
                CASE basis WHEN 'hs_class_mix' THEN class_e
                           WHEN 'none' THEN NULL ELSE value_usd / valued_carats END AS e,
                CASE WHEN basis IN ('parcel_contents', 'certificate_boxes')
                     THEN GREATEST({floor}, {z} * SQRT(variance) / value_usd) + (1 - part_coverage) * {mix} END AS w
              FROM est
            ), banded AS (
              SELECT *,
                CASE WHEN basis = 'hs_class_mix' THEN LEAST(class_p10, e * (1 - {floor}))
                     ELSE e * GREATEST(1 - w, 0) END AS low,
                CASE WHEN basis = 'hs_class_mix' THEN GREATEST(class_p90, e * (1 + {floor}))
                     ELSE e * (1 + w) END AS high
              FROM estimated
            )
            SELECT certificate_id, hs_code, carats_exact, declared_exact, carats, declared, origin, period, issue_date,
              basis, declared / carats AS declared_ppc, e, low, high,
              CASE WHEN basis = 'hs_class_mix' THEN 1.0 WHEN basis = 'none' THEN NULL ELSE part_coverage END AS coverage,
              CASE WHEN basis = 'hs_class_mix' THEN class_n WHEN basis = 'none' THEN NULL ELSE part_boxes END AS evidence_boxes,
              CASE WHEN basis = 'hs_class_mix' THEN class_level WHEN basis = 'none' THEN NULL
                   ELSE {_rank_to_level('worst_rank')} END AS book_level,
              CASE WHEN basis = 'none' THEN NULL
                   WHEN basis = 'hs_class_mix' THEN 'low'
                   WHEN part_coverage >= 0.9 AND worst_rank <= 2 THEN 'high'
                   ELSE 'medium' END AS confidence,
              CASE WHEN basis = 'none' THEN 'cannot_value'
                   WHEN declared / carats < low * (1 - {tol}) THEN 'undervalued'
                   WHEN declared / carats > high * (1 + {tol}) THEN 'overvalued'
                   ELSE 'reasonable' END AS verdict,
              CASE WHEN basis <> 'none' THEN NULL
                   WHEN NOT EXISTS (SELECT 1 FROM b) THEN 'no rough price book: run `roughtrace pricebook build`'
                   WHEN parts IS NOT NULL AND valued_parts = 0
                     THEN 'no price book entry for any assortment of the parcel, and no tracked boxes of HS '
                          || hs_code || ' to value it by'
                   ELSE 'no tracked boxes of HS ' || hs_code || ' with at least {r.min_boxes} boxes, for origin '
                        || origin || ' or any other' END AS reason
            FROM banded""")

    def lines(self) -> pa.Table:
        """One row per certificate line with its verdict (LINE_FIELDS), money to the cent."""
        return self.con.sql("""SELECT certificate_id, hs_code, carats_exact AS carats, declared_exact AS declared_usd,
            CAST(ROUND(declared_ppc, 2) AS DECIMAL(18,2)) AS declared_per_carat,
            CAST(ROUND(e, 2) AS DECIMAL(18,2)) AS estimated_per_carat,
            CAST(ROUND(low, 2) AS DECIMAL(18,2)) AS low_per_carat,
            CAST(ROUND(high, 2) AS DECIMAL(18,2)) AS high_per_carat,
            verdict, basis, confidence, reason,
            CAST(ROUND(e * carats, 2) AS DECIMAL(18,2)) AS estimated_usd,
            CAST(ROUND(coverage, 4) AS DECIMAL(18,4)) AS coverage,
            CAST(evidence_boxes AS BIGINT) AS evidence_boxes, book_level, origin, period, issue_date
            FROM checked ORDER BY certificate_id, hs_code""").to_arrow_table()

    def parts(self) -> pa.Table:
        """The evidence behind each line valued from its parts: one row per assortment, with the book
        entry that priced it."""
        return self.con.sql("""SELECT certificate_id, hs_code, assortment, box_id, CAST(ROUND(carats, 3) AS DECIMAL(18,3)) AS carats,
            source, book_level, CAST(book_boxes AS BIGINT) AS book_boxes,
            CAST(ROUND(price_per_carat, 2) AS DECIMAL(18,2)) AS price_per_carat,
            CAST(ROUND(p10_per_carat, 2) AS DECIMAL(18,2)) AS p10_per_carat,
            CAST(ROUND(p90_per_carat, 2) AS DECIMAL(18,2)) AS p90_per_carat,
            CAST(ROUND(value_usd, 2) AS DECIMAL(18,2)) AS value_usd
            FROM parts ORDER BY certificate_id, hs_code, assortment, box_id""").to_arrow_table()


def _rank_to_level(column: str) -> str:
    return (f"CASE WHEN {column} = -1 THEN '{OWN_OUTCOME}' "
            + " ".join(f"WHEN {column} = {i} THEN '{lvl}'" for i, (lvl, _) in enumerate(ASSORTMENT_LADDER)) + " END")


def check_certificates(store: Any, settings: Any, certificate_ids: list[str] | None = None) -> pa.Table:
    """Verdicts for every line of the certificates named (all when None): LINE_FIELDS columns."""
    with CertificateCheck(store, CheckRules.from_settings(settings), certificate_ids) as check:
        return check.lines()


def verdict_counts(lines: pa.Table) -> dict[str, int]:
    """How many lines got each verdict (every verdict listed, zeros included)."""
    counts = dict.fromkeys(VERDICTS, 0)
    for verdict in lines["verdict"].to_pylist():
        counts[verdict] += 1
    return counts
