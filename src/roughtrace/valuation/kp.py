"""KP certificate checks: each line's declared price per carat against an estimate with a band.

A certificate line is a shipment: it carries every parcel of its HS code, often from many boxes,
sellers and sights, and the boxes a producer can link to it (rough_sales kp_certificate_id) may be a
small share of its carats. A line's estimate is therefore built from three kinds of parts, each
valuing the carats the ones before it leave:

1. `certificate_boxes`: the linked boxes of the line's HS class, each valued at the price book's
   entry for its assortment in the certificate's period (the fitted assortment, period and
   typical-cutter entry of pricebook.fit_assortment_period, else an observed entry resting on at
   least `valuation_min_boxes` boxes: same origin and period, then any origin, then any period,
   then both). A box with a reported outcome in the book has that outcome (brought to the typical
   cutter by its sightholder's cutter level) blended in with weight `kp_outcome_weight` (`fitted`:
   the tracked boxes' least-squares slope of price paid on outcome value, `_outcome_fit`), unless it
   lies farther than OUTCOME_GATE box spreads from its assortment's price (a claim, not evidence).
2. `parcel_contents`: the exporter's breakdown of the line by assortment, less what the linked
   boxes of each assortment already cover, scaled down when it says more than the carats the boxes
   leave; each remaining assortment valued at the book as above.
3. The rest of the carats, which neither boxes nor contents value, at a parcel mix:
   - `exporter_mix` / `origin_mix`: the exporter's usual mix of assortments for that HS code, learnt
     from its certificate lines that boxes and contents describe (at least `kp_described_share` of
     their carats), shrunk toward the origin's mix (weight n / (n + kp_mix_prior_lines), n the
     exporter's described lines); `exporter_mix` when the exporter's own lines carry at least half
     the weight, `origin_mix` otherwise;
   - with no mix to learn from, the average of the line's own parts when they value at least
     `kp_described_share` of it (widened by `kp_mix_band`), else `hs_class_mix`: the median
     tracked box of the line's HS class for that origin and period (then any period, any origin).

Every part is priced at what its assortment's boxes sold for (`kp_price_calibration` paid): the
book's reverse-engineered price times exp(offset), the offset the median stray of the prices paid from
the book, shrunk toward the whole market's by empirical Bayes (`_price_offsets`).

A line nothing in the store describes (no tracked goods of its class at all) gets `kp_statistics`:
a plausibility range from its origin's average value per carat in KP statistics
(`kp_statistics_usd_per_carat`, `*` the world) times the HS code's range (`kp_statistics_range`).
Industrial (7102.21) and unsorted (7102.10) lines are valued only against goods of their own class
(valuation.hs), never at gem prices.

The band is a parcel's, not a box's: each part's relative error is sqrt(box_error^2 / k + price_se^2)
(k its boxes: known for linked boxes, else its carats over the entry's median box; box_error the
larger of the entry's box_spread and how far tracked boxes' prices paid stray from their book price,
`_paid_error`); the mix part's is sqrt(composition^2 + box_error^2 / k + price_se^2). The mix is
centred on the exporter's typical line: its price (the described lines' mean value per carat, which
a dear parcel lifts) times exp(the median of ln(described line's value per carat / mix price) over
its lines), and `composition` is the robust spread (1.4826 x MAD) of those strays, both shrunk toward
the origin's like the mix. Parts combine as independent errors: the band narrows with the number of
boxes and assortments. Half-width = max(kp_band_floor, t x error), t the Student quantile of
kp_band_z at the error's Welch-Satterthwaite degrees of freedom (each entry's standard error rests
on its boxes, the composition on the exporter's described lines, the per-box error on the book):
an estimate resting on few boxes or lines gets a wider band.

Per basis valued from a line's own goods (linked boxes, contents, HS class mix) and HS code, the
store's declarations calibrate the estimate and band (`_calibration`): the median ln(declared /
estimate) shifts the estimate and the robust spread of that ratio in units of the predicted error
widens the band, once a basis has `kp_calibration_lines` lines and shrunk as if that many showed none.

Verdict: undervalued when declared < low x (1 - kp_tolerance), overvalued when declared > high x
(1 + kp_tolerance), otherwise reasonable; cannot_value (with the reason) when no estimate can be made.
Every line says its `basis` (the kind of part valuing most of its carats), `basis_shares` (every
kind's share of the carats) and `confidence`: high (boxes and contents value 90% or more, from fitted
or origin-and-period entries), medium (boxes or contents with broader entries or less coverage), low
(the exporter's or origin's mix: what a shipment holds beyond its described goods is a guess; HS class
mix, KP statistics, and every unsorted or industrial line: their goods are rarely tracked to polished,
so their band is at least `kp_band_floor_other` wide and only values far outside it are flagged).

The mix is learnt from every certificate in the store whatever set is checked, and everything is a
set computation, so neither the order of rows nor of imports changes a verdict: the passes over the
store's tables (CHECK_INPUTS: certificate lines, parcel contents, linked and paid boxes, sales, the
book's entries) are analytics computations, the store engine's plan beside a portable form
(portable_kp.py) the engine the settings choose runs (`analytics_engine`), and the rest are joins and
sums over whole columns of their results in an in-process DuckDB.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa

from ..analytics.port import AnalyticsEngine, Computation, InStoreEngine, engine_for
from ..domain import periods
from ..domain.kp import HS_GEM
from ..settings import SettingError
from .hs import hs_class_sql
from .pricebook import FITTED

VERDICTS: tuple[str, ...] = ("reasonable", "undervalued", "overvalued", "cannot_value")
BASES: tuple[str, ...] = ("certificate_boxes", "parcel_contents", "exporter_mix", "origin_mix", "hs_class_mix",
                          "kp_statistics", "none")
"""What valued most of a line's carats, most specific first."""
LINE_FIELDS: tuple[str, ...] = (
    "certificate_id", "hs_code", "carats", "declared_usd", "declared_per_carat", "estimated_per_carat",
    "low_per_carat", "high_per_carat", "verdict", "basis", "confidence", "reason", "estimated_usd",
    "coverage", "evidence_boxes", "book_level", "origin", "period", "issue_date", "basis_shares", "exporter_lines",
    "calibration_lines", "calibration_shift", "calibration_scale",
)
"""A checked line's fields; the first ten are the issue's JSON contract. `coverage` is the share of the
carats the line's own boxes and contents value; `basis_shares` each basis's share of the carats
(`certificate_boxes=0.070;exporter_mix=0.930`); `exporter_lines` the described lines of the exporter
its mix was learnt from; `calibration_lines`, `calibration_shift` and `calibration_scale` the lines of the
same basis and HS code the estimate and band were calibrated on, the shift applied to ln(estimate) and
the factor applied to the band's error (none when the basis had too few lines or is a mix)."""

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
"""The error of a box's own outcome value when its assortment has no book entry to say how much box
values scatter (natural log)."""
OUTCOME_GATE = 3.0
"""A box's own outcome farther than this many box spreads from its assortment's book price is
treated as a claim, not evidence (invented or copied outcomes), and the book price is used."""
MIN_OFFSET_SPREAD = 0.02
"""The least spread (natural log) assumed between assortments' offsets from the book to prices paid."""
MEDIAN_EFFICIENCY = 1.2533
"""The standard error of a median is about 1.2533 times that of a mean (normal data)."""
Z_P10_P90 = 1.2816
"""Standard normal quantile of 0.90: a P10-P90 range spans 2 x 1.2816 standard deviations."""
MIX_SOURCES: tuple[str, ...] = ("exporter_mix", "origin_mix", "hs_class_mix")
"""The sources that value the carats a line's own parts leave."""


@dataclass(frozen=True)
class CheckRules:
    """The verdict's settings (valuation area)."""

    tolerance: float = 0.075
    band_floor: float = 0.05
    band_floor_other: float = 0.5
    """The narrowest half-width for unsorted (7102.10) and industrial (7102.21) lines."""
    band_z: float = 1.645
    mix_band: float = 0.50
    min_boxes: int = 5
    period: str = "month"
    outcome_weight: float | None = None
    """A fixed weight of a box's own outcome; None fits it to the tracked boxes (`_outcome_fit`)."""
    mix_prior_lines: int = 3
    described_share: float = 0.5
    calibration_lines: int = 20
    """Lines of a basis the calibration of declarations against estimates needs, and counts as
    showing no stray."""
    price_calibration: str = "paid"
    """`paid`: each assortment's book price brought to what its boxes were sold for (price_offsets);
    `none`: the book's reverse-engineered prices as they are."""
    statistics: tuple[tuple[str, float], ...] = (
        ("AO", 101.0), ("BW", 117.0), ("CA", 81.0), ("CD", 8.0), ("LS", 333.0), ("NA", 417.0), ("RU", 89.0),
        ("ZA", 135.0), ("ZW", 62.0), ("*", 97.0))
    """(origin, average USD per carat) from KP statistics; `*` is the world."""
    statistics_range: tuple[tuple[str, float, float], ...] = (
        ("7102.10", 0.25, 4.0), ("7102.21", 0.01, 1.0), ("7102.31", 0.25, 10.0))
    """(HS code, low, high) multiples of the origin's average for a line valued from KP statistics."""

    @classmethod
    def from_settings(cls, settings: Any) -> CheckRules:
        return cls(
            tolerance=float(settings["kp_tolerance"]), band_floor=float(settings["kp_band_floor"]),
            band_floor_other=float(settings["kp_band_floor_other"]),
            band_z=float(settings["kp_band_z"]), mix_band=float(settings["kp_mix_band"]),
            min_boxes=int(settings["valuation_min_boxes"]), period=settings["pricebook_period"],
            outcome_weight=None if str(settings["kp_outcome_weight"]) == "fitted"
            else float(settings["kp_outcome_weight"]),
            mix_prior_lines=int(settings["kp_mix_prior_lines"]),
            described_share=float(settings["kp_described_share"]),
            price_calibration=str(settings["kp_price_calibration"]),
            calibration_lines=int(settings["kp_calibration_lines"]),
            statistics=parse_statistics(settings["kp_statistics_usd_per_carat"]),
            statistics_range=parse_statistics_range(settings["kp_statistics_range"]),
        )


def parse_statistics(text: str) -> tuple[tuple[str, float], ...]:
    """Read `CC=USD;...` (the kp_statistics_usd_per_carat setting): origin codes upper-cased, `*` the world."""
    rows = []
    for item in text.replace(",", ";").split(";"):
        if not item.strip():
            continue
        code, sep, value = item.partition("=")
        try:
            usd = Decimal(value.strip())
        except ArithmeticError:
            usd = Decimal(-1)
        if not sep or not code.strip() or not usd.is_finite() or usd <= 0:
            raise SettingError(f"kp_statistics_usd_per_carat entry {item.strip()!r} is not CC=USD with USD above 0")
        rows.append((code.strip().upper(), float(usd)))
    return tuple(sorted(rows))


def parse_statistics_range(text: str) -> tuple[tuple[str, float, float], ...]:
    """Read `HS=LOW-HIGH;...` (the kp_statistics_range setting)."""
    rows = []
    for item in text.split(";"):
        if not item.strip():
            continue
        code, sep, span = item.partition("=")
        low, dash, high = span.partition("-")
        try:
            bounds = (Decimal(low.strip()), Decimal(high.strip()))
        except ArithmeticError:
            bounds = (Decimal(-1), Decimal(-1))
        if not sep or not dash or not all(b.is_finite() for b in bounds) or not 0 < bounds[0] <= bounds[1]:
            raise SettingError(f"kp_statistics_range entry {item.strip()!r} is not HS=LOW-HIGH with 0 < LOW <= HIGH")
        rows.append((code.strip(), float(bounds[0]), float(bounds[1])))
    return tuple(sorted(rows))


EXPORTER_SQL = "exporting_country || ' ' || exporter_name"
"""Who exports a certificate's goods: its exporter's name within its exporting country."""


def _native_certificate_lines(store: Any, given: dict[str, pa.Table], *,
                              certificate_ids: tuple[str, ...] | None) -> pa.Table:
    """`CERTIFICATE_LINES` in the store's engine."""
    checked_sql = "TRUE" if certificate_ids is None else f"certificate_id IN ({', '.join('?' for _ in certificate_ids)})"
    return store.query(
        f"SELECT certificate_id, hs_code, carats, value_usd, origin, issue_date, {EXPORTER_SQL} AS exporter, "
        f"{checked_sql} AS checked FROM kp_certificates", () if certificate_ids is None else certificate_ids)


def _native_parcel_contents(store: Any, given: dict[str, pa.Table]) -> pa.Table:
    """`PARCEL_CONTENTS` in the store's engine."""
    return store.query("SELECT certificate_id, hs_code, assortment, carats FROM parcel_contents")


def _native_linked_boxes(store: Any, given: dict[str, pa.Table]) -> pa.Table:
    """`LINKED_BOXES` in the store's engine."""
    return store.query(
        f"SELECT r.kp_certificate_id AS certificate_id, {hs_class_sql('r.model', 'r.quality')} AS hs_code, "
        "r.assortment, r.box_id, r.carats, CAST(v.rough_price_per_carat AS DOUBLE PRECISION) AS own_per_carat, "
        "COALESCE(CAST(c.level AS DOUBLE PRECISION), 0) AS cutter_level FROM rough_sales r "
        "LEFT JOIN box_valuations v ON v.box_id = r.box_id AND v.in_book "
        "LEFT JOIN valuation_cutter_levels c ON c.sightholder_id = r.buyer_id "
        "WHERE r.kp_certificate_id IS NOT NULL")


BOOK_COLUMNS = ("level", "assortment", "hs_code", "origin", "period", "boxes", "price_per_carat",
                "mean_price_per_carat", "p10_per_carat", "p90_per_carat", "box_spread", "price_se",
                "median_box_carats")
"""The price book's columns the check prices with."""


def _native_book_entries(store: Any, given: dict[str, pa.Table], *, fitted: str, min_boxes: int) -> pa.Table:
    """`BOOK_ENTRIES` in the store's engine."""
    return store.query(f"SELECT {', '.join(BOOK_COLUMNS)} FROM rough_price_book WHERE level = ? OR boxes >= ?",
                       (fitted, min_boxes))


def _native_paid_boxes(store: Any, given: dict[str, pa.Table]) -> pa.Table:
    """`PAID_BOXES` in the store's engine."""
    return store.query(
        "SELECT v.assortment, v.period, CAST(v.paid_per_carat AS DOUBLE PRECISION) AS paid, "
        "CAST(v.rough_price_per_carat AS DOUBLE PRECISION) AS own, "
        "COALESCE(CAST(c.level AS DOUBLE PRECISION), 0) AS cutter_level FROM box_valuations v "
        "JOIN rough_sales r ON r.box_id = v.box_id "
        "LEFT JOIN valuation_cutter_levels c ON c.sightholder_id = r.buyer_id "
        "WHERE v.in_book AND v.paid_per_carat > 0")


def _native_box_sales(store: Any, given: dict[str, pa.Table]) -> pa.Table:
    """`BOX_SALES` in the store's engine."""
    return store.query("SELECT assortment, sale_date, CAST(price_usd AS DOUBLE PRECISION) AS price_usd, "
                       "CAST(carats AS DOUBLE PRECISION) AS carats FROM rough_sales WHERE price_usd > 0 AND carats > 0")


_PORTABLE = "roughtrace.valuation.portable_kp"
_CUTTERS = ("sightholder_id", "level")
CERTIFICATE_LINES = Computation(
    "KP certificate lines", f"{_PORTABLE}:certificate_lines", _native_certificate_lines,
    {"kp_certificates": ("certificate_id", "hs_code", "carats", "value_usd", "origin", "issue_date",
                         "exporting_country", "exporter_name")})
"""Every certificate line (certificate_id, hs_code, carats, value_usd, origin, issue_date, exporter)
and whether it is checked (`certificate_ids`, all when None)."""
PARCEL_CONTENTS = Computation(
    "KP parcel contents", f"{_PORTABLE}:parcel_contents", _native_parcel_contents,
    {"parcel_contents": ("certificate_id", "hs_code", "assortment", "carats")})
"""Every line's contents by assortment, as declared."""
LINKED_BOXES = Computation(
    "KP linked boxes", f"{_PORTABLE}:linked_boxes", _native_linked_boxes,
    {"rough_sales": ("kp_certificate_id", "model", "quality", "assortment", "box_id", "carats", "buyer_id"),
     "box_valuations": ("box_id", "in_book", "rough_price_per_carat"), "valuation_cutter_levels": _CUTTERS})
"""Every box linked to a certificate: certificate_id, HS class, assortment, box_id, carats, its own
outcome value per carat when in the book (double) and its buyer's cutter level (double, 0 when none)."""
BOOK_ENTRIES = Computation(
    "KP price book entries", f"{_PORTABLE}:book_entries", _native_book_entries,
    {"rough_price_book": BOOK_COLUMNS})
"""The book's entries the check prices at (BOOK_COLUMNS): the `fitted` level's, and every other
resting on at least `min_boxes` boxes."""
PAID_BOXES = Computation(
    "KP paid boxes", f"{_PORTABLE}:paid_boxes", _native_paid_boxes,
    {"box_valuations": ("box_id", "assortment", "period", "paid_per_carat", "rough_price_per_carat", "in_book"),
     "rough_sales": ("box_id", "buyer_id"), "valuation_cutter_levels": _CUTTERS})
"""Every box in the book paid for: assortment, period, paid and own (outcome value) per carat and the
buyer's cutter level, as doubles."""
BOX_SALES = Computation(
    "KP box sales", f"{_PORTABLE}:box_sales", _native_box_sales,
    {"rough_sales": ("assortment", "sale_date", "price_usd", "carats")})
"""Every box sold at a price: assortment, sale_date, price_usd and carats (doubles)."""
CHECK_INPUTS: tuple[Computation, ...] = (CERTIFICATE_LINES, PARCEL_CONTENTS, LINKED_BOXES, BOOK_ENTRIES, PAID_BOXES,
                                         BOX_SALES)
"""The check's passes over the store's tables, run on the analytics engine; the rest of the check is
arithmetic over their rows in an in-process DuckDB."""


class CertificateCheck:
    """The check of a set of certificates (all when `certificate_ids` is None) over every certificate
    line in the store (the mixes are learnt from them all): the passes over the store's tables
    (CHECK_INPUTS) on `engine` (the store's own unless given), the rest in an in-process DuckDB over
    their results. `lines()` gives the verdicts, `parts()` the evidence."""

    def __init__(self, store: Any, rules: CheckRules, certificate_ids: list[str] | None = None,
                 engine: AnalyticsEngine | None = None) -> None:
        self.rules = rules
        ids = None if certificate_ids is None else sorted(set(certificate_ids))
        # every line is read, whatever is checked: the mixes are learnt from all of them, so a
        # certificate gets the same verdict checked alone or with the whole store
        engine = engine or InStoreEngine()
        engine.prepare(CHECK_INPUTS, store)  # (a table several passes read is copied to the engine once)
        run = engine.run
        lines = run(CERTIFICATE_LINES, store, certificate_ids=None if ids is None else tuple(ids))
        contents = run(PARCEL_CONTENTS, store)
        boxes = run(LINKED_BOXES, store)
        book = run(BOOK_ENTRIES, store, fitted=FITTED, min_boxes=rules.min_boxes)
        paid = run(PAID_BOXES, store)
        sales = run(BOX_SALES, store)
        checked = lines.filter(lines["checked"]) if lines.num_rows else lines
        self.certificates_found = set(checked["certificate_id"].to_pylist()) if ids is not None else None
        statistics = pa.table({"origin": [o for o, _ in rules.statistics], "usd": [u for _, u in rules.statistics]})
        ranges = pa.table({"hs_code": [h for h, _, _ in rules.statistics_range],
                           "low": [lo for _, lo, _ in rules.statistics_range],
                           "high": [hi for _, _, hi in rules.statistics_range]})
        self.con = duckdb.connect()
        for name, table in (("lines_in", lines), ("contents_in", contents), ("boxes_in", boxes), ("book_in", book), ("paid_in", paid), ("sales_in", sales),
                            ("statistics_in", statistics), ("ranges_in", ranges)):
            self.con.register(name, table)
        self._prepare()

    @classmethod
    def by_settings(cls, store: Any, settings: Any, certificate_ids: list[str] | None = None) -> CertificateCheck:
        """The check with the settings' rules, its passes over the store on the analytics engine the
        settings choose (closed once they have run)."""
        engine = engine_for(settings)
        try:
            return cls(store, CheckRules.from_settings(settings), certificate_ids, engine)
        finally:
            engine.close()

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> CertificateCheck:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _price(self, source: str, target: str, passthrough: str) -> None:
        """Price every row of `source` (assortment, origin, period, fit_period and the `passthrough`
        columns) at the first rung of ASSORTMENT_LADDER that has an entry: `target` gets the entry's
        level, rank, price (e), p10, p90, spread, se, boxes (entry_boxes) and median box carats."""
        con = self.con

        def on(i: int, keys: tuple[str, ...]) -> str:
            return " AND ".join([f"a{i}.assortment = p.assortment"] + [f"a{i}.{k.removeprefix('fit_')} = p.{k}" for k in keys])

        joins = " ".join(f"LEFT JOIN a{i} ON {on(i, keys)}" for i, (_, keys) in enumerate(ASSORTMENT_LADDER))
        rungs = range(len(ASSORTMENT_LADDER))
        rank = "CASE " + " ".join(f"WHEN a{i}.e IS NOT NULL THEN {i}" for i in rungs) + " END"
        level = "CASE " + " ".join(f"WHEN a{i}.e IS NOT NULL THEN '{ASSORTMENT_LADDER[i][0]}'" for i in rungs) + " END"

        def pick(column: str) -> str:
            return "COALESCE(" + ", ".join(f"a{i}.{column}" for i in rungs) + ")"

        first = on(0, ASSORTMENT_LADDER[0][1])
        # most rows find the first rung (the fitted entry): the other rungs are joined only for the rest
        con.execute(f"""CREATE TEMP TABLE {target} AS
            SELECT {passthrough}, '{ASSORTMENT_LADDER[0][0]}' AS level, 0 AS rank, a0.e, a0.p10, a0.p90,
                   COALESCE(a0.spread, {OWN_OUTCOME_SPREAD}) AS spread, a0.se, a0.boxes AS entry_boxes,
                   a0.box_carats
            FROM {source} p JOIN a0 ON {first}
            UNION ALL
            SELECT {passthrough}, {level} AS level, {rank} AS rank, {pick('e')}, {pick('p10')}, {pick('p90')},
                   COALESCE({pick('spread')}, {OWN_OUTCOME_SPREAD}), {pick('se')}, {pick('boxes')},
                   {pick('box_carats')}
            FROM {source} p {joins}
            WHERE NOT EXISTS (SELECT 1 FROM a0 WHERE {first})""")
        # every rung is a reverse-engineered price: brought to what the assortment's boxes sold for
        # (price_offsets), whose posterior error replaces the entry's own standard error
        if self.rules.price_calibration == "paid":
            con.execute(f"""CREATE OR REPLACE TEMP TABLE {target} AS
                SELECT t.* REPLACE (t.e * EXP(COALESCE(o.paid_offset, 0)) AS e, t.p10 * EXP(COALESCE(o.paid_offset, 0)) AS p10,
                                    t.p90 * EXP(COALESCE(o.paid_offset, 0)) AS p90, COALESCE(SQRT(o.paid_offset_var), t.se) AS se),
                       COALESCE(o.paid_offset, 0) AS paid_offset,
                       COALESCE(o.paid_offset_df, GREATEST(COALESCE(t.entry_boxes, 2) - 1, 1)) AS se_df
                FROM {target} t LEFT JOIN price_offsets o ON o.assortment = t.assortment""")
        else:
            con.execute(f"""CREATE OR REPLACE TEMP TABLE {target} AS
                SELECT *, CAST(0 AS DOUBLE) AS paid_offset, GREATEST(COALESCE(entry_boxes, 2) - 1, 1) AS se_df
                FROM {target}""")

    def _prepare(self) -> None:
        r = self.rules
        con = self.con
        con.execute("""CREATE TEMP TABLE b AS SELECT level, assortment, hs_code, origin, period, boxes,
            CAST(price_per_carat AS DOUBLE) AS e, CAST(mean_price_per_carat AS DOUBLE) AS m,
            CAST(p10_per_carat AS DOUBLE) AS p10, CAST(p90_per_carat AS DOUBLE) AS p90,
            COALESCE(CAST(box_spread AS DOUBLE), 0) AS spread, COALESCE(CAST(price_se AS DOUBLE), 0) AS se,
            CAST(median_box_carats AS DOUBLE) AS box_carats FROM book_in""")
        for i, (level, _) in enumerate(ASSORTMENT_LADDER):
            con.execute(f"CREATE TEMP TABLE a{i} AS SELECT * FROM b WHERE level = '{level}'")
        self._paid_error()
        self._price_offsets()
        self._outcome_fit()
        con.execute(f"""CREATE TEMP TABLE l AS SELECT certificate_id, hs_code, carats AS carats_exact,
            value_usd AS declared_exact, CAST(carats AS DOUBLE) AS carats, CAST(value_usd AS DOUBLE) AS declared,
            origin, issue_date, exporter, checked, {periods.label_sql('issue_date', r.period)} AS period FROM lines_in""")
        # a certificate issued before the first or after the last fitted period takes the nearest one
        con.execute("ALTER TABLE l ADD COLUMN fit_period VARCHAR")
        con.execute(f"""UPDATE l SET fit_period = LEAST(GREATEST(period,
            (SELECT MIN(period) FROM b WHERE level = '{FITTED}')), (SELECT MAX(period) FROM b WHERE level = '{FITTED}'))""")

        # 1. linked boxes; 2. contents less what the boxes of each assortment cover, within the carats
        # the boxes leave
        con.execute("""CREATE TEMP TABLE linked AS
            SELECT x.certificate_id, x.hs_code, x.assortment, x.box_id, CAST(x.carats AS DOUBLE) AS carats,
                   x.own_per_carat / EXP(x.cutter_level) AS own_per_carat
            FROM boxes_in x JOIN l ON l.certificate_id = x.certificate_id AND l.hs_code = x.hs_code""")
        con.execute("""CREATE TEMP TABLE remaining AS
            WITH box_assortments AS (
              SELECT certificate_id, hs_code, assortment, SUM(carats) AS carats FROM linked GROUP BY ALL
            ), box_lines AS (
              SELECT certificate_id, hs_code, SUM(carats) AS carats FROM linked GROUP BY ALL
            ), rest AS (
              SELECT c.certificate_id, c.hs_code, c.assortment, l.carats AS line_carats,
                     GREATEST(CAST(c.carats AS DOUBLE) - COALESCE(ba.carats, 0), 0) AS carats
              FROM contents_in c JOIN l ON l.certificate_id = c.certificate_id AND l.hs_code = c.hs_code
              LEFT JOIN box_assortments ba ON ba.certificate_id = c.certificate_id AND ba.hs_code = c.hs_code
                AND ba.assortment = c.assortment
            ), shares AS (
              SELECT *, SUM(carats) OVER (PARTITION BY certificate_id, hs_code) AS rest_carats FROM rest
            )
            SELECT t.certificate_id, t.hs_code, t.assortment,
                   t.carats * LEAST(1.0, GREATEST(t.line_carats - COALESCE(bl.carats, 0), 0) / t.rest_carats) AS carats
            FROM shares t LEFT JOIN box_lines bl ON bl.certificate_id = t.certificate_id AND bl.hs_code = t.hs_code
            WHERE t.carats > 0""")
        con.execute("""CREATE TEMP TABLE placed AS
            SELECT x.certificate_id, x.hs_code, x.assortment, x.box_id, x.carats, CAST(1 AS DOUBLE) AS boxes,
                   x.own_per_carat, 'certificate_boxes' AS source, l.origin, l.period, l.fit_period
            FROM linked x JOIN l USING (certificate_id, hs_code)
            UNION ALL
            SELECT c.certificate_id, c.hs_code, c.assortment, CAST(NULL AS VARCHAR), c.carats, CAST(NULL AS DOUBLE),
                   CAST(NULL AS DOUBLE), 'parcel_contents', l.origin, l.period, l.fit_period
            FROM remaining c JOIN l USING (certificate_id, hs_code) WHERE c.carats > 0""")
        self._price("placed", "matched", "p.certificate_id, p.hs_code, p.assortment, p.box_id, p.carats, p.source, "
                                         "p.boxes, p.own_per_carat")
        # a box's own outcome counts when it is plausible for its assortment (within OUTCOME_GATE
        # spreads of the book), blended with the book by kp_outcome_weight
        w = "f.weight"
        own = (f"COALESCE(own_per_carat > 0 AND {w} > 0 AND (e IS NULL OR "
               f"ABS(LN(own_per_carat / e)) <= {OUTCOME_GATE} * GREATEST(spread, 0.01)), FALSE)")
        # a box's own outcome is a reverse-engineered value too: brought to prices by its assortment's offset
        con.execute(f"""CREATE TEMP TABLE parts AS
            WITH calibrated AS (
              SELECT m.* REPLACE (m.own_per_carat * EXP(m.paid_offset) AS own_per_carat), f.weight, f.resid2
              FROM matched m CROSS JOIN outcome_fit f
            ), priced AS (
              SELECT *, {own} AS by_outcome,
                CASE WHEN NOT {own} THEN e WHEN e IS NULL THEN own_per_carat
                     ELSE EXP((1 - weight) * LN(e) + weight * LN(own_per_carat)) END AS price
              FROM calibrated f)
            SELECT certificate_id, hs_code, assortment, box_id, carats, source,
                   CASE WHEN by_outcome THEN '{OWN_OUTCOME}' ELSE level END AS book_level,
                   CASE WHEN by_outcome THEN -1 ELSE rank END AS book_rank,
                   price AS price_per_carat, p10 AS p10_per_carat, p90 AS p90_per_carat, spread,
                   CASE WHEN by_outcome THEN (1 - weight) * COALESCE(se, 0) ELSE se END AS se,
                   CASE WHEN by_outcome AND resid2 IS NOT NULL THEN resid2 END AS outcome_box2,
                   CASE WHEN by_outcome THEN 1 ELSE entry_boxes END AS book_boxes, entry_boxes, se_df,
                   COALESCE(boxes, GREATEST(carats / NULLIF(box_carats, 0), 1)) AS parcel_boxes,
                   carats * price AS value_usd
            FROM priced""")
        con.execute("""CREATE TEMP TABLE line_parts AS
            SELECT certificate_id, hs_code,
                   SUM(CASE WHEN price_per_carat IS NOT NULL AND source = 'certificate_boxes' THEN carats ELSE 0 END) AS box_carats,
                   SUM(CASE WHEN price_per_carat IS NOT NULL AND source = 'parcel_contents' THEN carats ELSE 0 END) AS content_carats,
                   SUM(CASE WHEN price_per_carat IS NOT NULL THEN carats END) AS valued_carats,
                   COUNT(price_per_carat) AS valued_parts, COUNT(*) AS parts,
                   SUM(value_usd) AS value_usd,
                   SUM(POWER(value_usd, 2) * (COALESCE(outcome_box2, GREATEST(POWER(spread, 2), q.box2)) / parcel_boxes
                       + POWER(se, 2))) AS variance,
                   -- sum of (variance component)^2 / its degrees of freedom, for the line's effective
                   -- degrees of freedom: the per-box error rests on the whole book's boxes, the
                   -- entry's standard error on the entry's own boxes
                   SUM(POWER(POWER(value_usd, 2) * COALESCE(outcome_box2, GREATEST(POWER(spread, 2), q.box2))
                             / parcel_boxes, 2) / q.box_df
                       + POWER(POWER(value_usd * se, 2), 2) / se_df) AS df_terms,
                   SUM(book_boxes) AS evidence_boxes, MAX(book_rank) AS worst_rank
            FROM parts CROSS JOIN paid_error q GROUP BY certificate_id, hs_code""")
        self._mixes()
        self._verdicts()

    def _paid_error(self) -> None:
        """How well the book predicts what one box of rough traded at, from the tracked boxes
        themselves: `box2`, the robust variance of r = ln(price paid per carat / the fitted price of the
        box's assortment and period) around its assortment's median r. A box's price strays from its
        assortment's book price by more than its outcome's value does (the sale, the sorting), and a
        declared value is a price: each part's per-box error is the larger of the two. `box_df` is
        the degrees of freedom that error rests on."""
        self.con.execute("""CREATE TEMP TABLE paid_error AS
            WITH r AS (
              SELECT p.assortment, LN(p.paid / a.e) AS r FROM paid_in p
              JOIN a0 a ON a.assortment = p.assortment AND a.period = p.period WHERE a.e > 0
            ), centred AS (
              SELECT r, MEDIAN(r) OVER (PARTITION BY assortment) AS m,
                     COUNT(*) OVER (PARTITION BY assortment) AS n FROM r
            )
            SELECT COALESCE(POWER(1.4826 * MEDIAN(ABS(r - m)) FILTER (WHERE n > 1), 2), 0) AS box2,
                   GREATEST(COUNT(*) FILTER (WHERE n > 1) - 1, 1) AS box_df FROM centred""")

    def _price_offsets(self) -> None:
        """How far what each assortment's boxes were sold for strays from its book price, shrunk by
        empirical Bayes: `paid_offset` = g + (d - g) x n / (n + (pi/2) s^2 / tau^2), d the median of
        r = ln(price paid per carat / fitted price of the assortment in the sale's period) over its n
        boxes sold, g the median r of every box sold (the book against the market as a whole), s^2 the
        robust variance of r within assortments, tau^2 how far assortments' medians stray from g beyond
        what their boxes' noise explains. `paid_offset_var` is the offset's posterior variance (tau^2 for an
        assortment never sold, which takes g), `paid_offset_df` the boxes it rests on. One row per assortment
        the book or the sales know."""
        r, con = self.rules, self.con
        con.execute(f"""CREATE TEMP TABLE price_offsets AS
            WITH span AS (SELECT MIN(period) AS lo, MAX(period) AS hi FROM a0),
            sold AS (
              SELECT s.assortment, LN(s.price_usd / s.carats / a.e) AS r
              FROM sales_in s CROSS JOIN span
              JOIN a0 a ON a.assortment = s.assortment
                AND a.period = LEAST(GREATEST({periods.label_sql('s.sale_date', r.period)}, span.lo), span.hi)
              WHERE a.e > 0
            ), centred AS (
              SELECT assortment, r, r - MEDIAN(r) OVER (PARTITION BY assortment) AS dev,
                     COUNT(*) OVER (PARTITION BY assortment) AS n FROM sold
            ), pooled AS (
              SELECT MEDIAN(r) AS g,
                     GREATEST(COALESCE(POWER(1.4826 * MEDIAN(ABS(dev)) FILTER (WHERE n > 1), 2), 0), 1e-6) AS s2,
                     COUNT(*) AS boxes FROM centred
            ), by_assortment AS (
              SELECT assortment, MEDIAN(r) AS d, COUNT(*) AS n FROM sold GROUP BY assortment
            ), between_ AS (
              SELECT GREATEST(COALESCE(AVG(POWER(b.d - p.g, 2) - {MEDIAN_EFFICIENCY ** 2} * p.s2 / b.n), 0),
                              {MIN_OFFSET_SPREAD ** 2}) AS tau2, COUNT(*) AS assortments
              FROM by_assortment b CROSS JOIN pooled p
            ), known AS (
              SELECT assortment FROM a0 UNION SELECT assortment FROM by_assortment
            )
            SELECT k.assortment, COALESCE(b.n, 0) AS sold_boxes,
                   COALESCE(p.g, 0) + CASE WHEN b.n IS NULL THEN 0 ELSE (b.d - p.g) * b.n
                        / (b.n + {MEDIAN_EFFICIENCY ** 2} * p.s2 / t.tau2) END AS paid_offset,
                   1.0 / (COALESCE(b.n, 0) / ({MEDIAN_EFFICIENCY ** 2} * COALESCE(p.s2, 1)) + 1.0 / t.tau2) AS paid_offset_var,
                   CASE WHEN b.n IS NULL THEN GREATEST(t.assortments - 1, 1) ELSE GREATEST(b.n - 1, 1) END AS paid_offset_df
            FROM known k LEFT JOIN by_assortment b USING (assortment) CROSS JOIN pooled p CROSS JOIN between_ t""")

    def _outcome_fit(self) -> None:
        """How much a box's own outcome says about its price, from the tracked boxes: `weight`, the
        least-squares slope of y = ln(price paid per carat / calibrated book price) on x = ln(outcome
        value per carat, typical cutter / calibrated book price), within 0 and 1, over the boxes whose
        outcome passes OUTCOME_GATE (or the `kp_outcome_weight` setting when it is a number), and
        `resid2`, the robust variance of y - weight x: the error of a box valued by the blend (NULL when
        no box says; the book's per-box error is used then)."""
        fixed = self.rules.outcome_weight
        self.con.execute(f"""CREATE TEMP TABLE outcome_fit AS
            WITH b AS (
              SELECT LN(p.paid / a.e) - o.paid_offset AS y, LN(p.own / EXP(p.cutter_level) / a.e) AS x, a.spread
              FROM paid_in p JOIN a0 a ON a.assortment = p.assortment AND a.period = p.period
              JOIN price_offsets o ON o.assortment = p.assortment
              WHERE a.e > 0 AND p.own > 0
            ), g AS (
              SELECT y, x FROM b WHERE ABS(x) <= {OUTCOME_GATE} * GREATEST(spread, 0.01)
            ), w AS (
              SELECT {'LEAST(GREATEST(COALESCE(REGR_SLOPE(y, x), 0), 0), 1)' if fixed is None else fixed} AS weight,
                     COUNT(*) AS boxes FROM g
            ), r AS (
              SELECT y - w.weight * x AS r FROM g CROSS JOIN w
            )
            SELECT w.weight, CASE WHEN w.boxes > 2
                   THEN POWER(1.4826 * (SELECT MEDIAN(ABS(r - (SELECT MEDIAN(r) FROM r))) FROM r), 2) END AS resid2
            FROM w""")

    def _mixes(self) -> None:
        """Each (exporter, HS code, origin)'s usual parcel mix, priced in every period a line of it
        needs, with how far described lines stray from it (`composition`, natural log)."""
        r, con = self.rules, self.con
        k = max(r.mix_prior_lines, 0)
        # lines whose boxes and contents describe enough of their carats teach the mixes
        con.execute(f"""CREATE TEMP TABLE described AS
            SELECT l.certificate_id, l.hs_code, l.exporter, l.origin, l.period, l.fit_period, lp.value_usd,
                   lp.valued_carats
            FROM l JOIN line_parts lp USING (certificate_id, hs_code)
            WHERE lp.valued_carats >= {r.described_share} * l.carats AND lp.value_usd > 0""")
        con.execute("""CREATE TEMP TABLE composition AS
            SELECT d.certificate_id, d.hs_code, d.exporter, d.origin, p.assortment,
                   SUM(p.carats) / ANY_VALUE(d.valued_carats) AS share
            FROM described d JOIN parts p USING (certificate_id, hs_code)
            WHERE p.price_per_carat IS NOT NULL GROUP BY ALL""")
        con.execute("""CREATE TEMP TABLE exporter_count AS
            SELECT exporter, hs_code, COUNT(*) AS n FROM described GROUP BY ALL""")
        con.execute("""CREATE TEMP TABLE origin_count AS
            SELECT origin, hs_code, COUNT(*) AS n FROM described GROUP BY ALL""")
        # the weight of the exporter's own mix: n / (n + k), all of it when its origin has no other
        con.execute(f"""CREATE TEMP TABLE mix_keys AS
            SELECT DISTINCT l.exporter, l.hs_code, l.origin, COALESCE(e.n, 0) AS exporter_lines,
                   COALESCE(o.n, 0) AS origin_lines,
                   CASE WHEN COALESCE(e.n, 0) = 0 THEN 0.0 WHEN o.n IS NULL THEN 1.0
                        ELSE e.n / (e.n + {k}.0) END AS weight
            FROM l LEFT JOIN exporter_count e USING (exporter, hs_code)
            LEFT JOIN origin_count o USING (origin, hs_code)
            WHERE e.n IS NOT NULL OR o.n IS NOT NULL""")
        con.execute("""CREATE TEMP TABLE mix_shares AS
            WITH exporter_mix AS (
              SELECT c.exporter, c.hs_code, c.assortment, SUM(c.share) / ANY_VALUE(e.n) AS share
              FROM composition c JOIN exporter_count e USING (exporter, hs_code) GROUP BY ALL
            ), origin_mix AS (
              SELECT c.origin, c.hs_code, c.assortment, SUM(c.share) / ANY_VALUE(o.n) AS share
              FROM composition c JOIN origin_count o USING (origin, hs_code) GROUP BY ALL
            ), assortments AS (
              SELECT k.exporter, k.hs_code, k.origin, x.assortment FROM mix_keys k
                JOIN exporter_mix x ON x.exporter = k.exporter AND x.hs_code = k.hs_code
              UNION
              SELECT k.exporter, k.hs_code, k.origin, o.assortment FROM mix_keys k
                JOIN origin_mix o ON o.origin = k.origin AND o.hs_code = k.hs_code
            )
            SELECT a.exporter, a.hs_code, a.origin, a.assortment,
                   k.weight * COALESCE(x.share, 0) + (1 - k.weight) * COALESCE(o.share, 0) AS share
            FROM assortments a JOIN mix_keys k USING (exporter, hs_code, origin)
            LEFT JOIN exporter_mix x ON x.exporter = a.exporter AND x.hs_code = a.hs_code AND x.assortment = a.assortment
            LEFT JOIN origin_mix o ON o.origin = a.origin AND o.hs_code = a.hs_code AND o.assortment = a.assortment""")
        con.execute("""CREATE TEMP TABLE mix_placed AS
            SELECT s.exporter, s.hs_code, s.origin, p.period, p.fit_period, s.assortment, s.share
            FROM mix_shares s JOIN (SELECT DISTINCT exporter, hs_code, origin, period, fit_period FROM l) p
              USING (exporter, hs_code, origin) WHERE s.share > 0""")
        self._price("mix_placed", "mix_matched", "p.exporter, p.hs_code, p.origin, p.period, p.fit_period, "
                                                  "p.assortment, p.share")
        con.execute("""CREATE TEMP TABLE mix_priced AS
            SELECT exporter, hs_code, origin, period, fit_period,
                   SUM(share * e) / SUM(share) AS price,
                   SUM(share * POWER(spread, 2)) / SUM(share) AS spread2,
                   SUM(share * POWER(COALESCE(se, 0), 2)) / SUM(share) AS se2,
                   SUM(share * box_carats) / SUM(CASE WHEN box_carats IS NOT NULL THEN share END) AS box_carats,
                   SUM(share * entry_boxes) / SUM(share) AS entry_boxes,
                   SUM(share * se_df) / SUM(share) AS se_df
            FROM mix_matched WHERE e > 0 GROUP BY ALL""")
        # how far each described line's own value per carat strays from its mix's, in the same period:
        # the mix's price is the mean of its lines' values per carat, a line's value per carat is
        # skewed (a dear parcel lifts the mean), so the mix is centred on the typical line
        # (`centre`, the mean log stray) and `composition2` is the strays' variance around it
        con.execute(f"""CREATE TEMP TABLE mix_composition AS
            WITH strays AS (
              SELECT d.exporter, d.hs_code, d.origin, LN(d.value_usd / d.valued_carats / m.price) AS r
              FROM described d JOIN mix_priced m ON m.exporter = d.exporter AND m.hs_code = d.hs_code
                AND m.origin = d.origin AND m.period = d.period AND m.fit_period IS NOT DISTINCT FROM d.fit_period
            ), by_exporter AS (
              SELECT exporter, hs_code, MEDIAN(r) AS c, POWER(1.4826 * MAD(r), 2) AS v, COUNT(*) AS n
              FROM strays GROUP BY ALL
            ), by_origin AS (
              SELECT origin, hs_code, MEDIAN(r) AS c, POWER(1.4826 * MAD(r), 2) AS v, COUNT(*) AS n
              FROM strays GROUP BY ALL
            )
            SELECT k.exporter, k.hs_code, k.origin,
                   CASE WHEN e.n IS NULL THEN o.c
                        ELSE (e.n * e.c + {k} * COALESCE(o.c, e.c)) / (e.n + {k}) END AS centre,
                   CASE WHEN e.n IS NULL THEN o.v
                        ELSE (e.n * e.v + {k} * COALESCE(o.v, e.v)) / (e.n + {k}) END AS composition2,
                   COALESCE(e.n, o.n) AS composition_lines
            FROM mix_keys k LEFT JOIN by_exporter e USING (exporter, hs_code)
            LEFT JOIN by_origin o USING (origin, hs_code)""")

    def _verdicts(self) -> None:
        r, con = self.rules, self.con
        class_joins = []
        for i, (lvl, keys) in enumerate(CLASS_LADDER):
            con.execute(f"CREATE TEMP TABLE h{i} AS SELECT * FROM b WHERE level = '{lvl}'")
            on = " AND ".join([f"h{i}.hs_code = l.hs_code"] + [f"h{i}.{k} = l.{k}" for k in keys])
            class_joins.append(f"LEFT JOIN h{i} ON {on}")
        con.execute("CREATE TEMP TABLE book_state AS SELECT COUNT(*) > 0 AS built FROM b")

        def class_pick(column: str) -> str:
            return "COALESCE(" + ", ".join(f"h{i}.{column}" for i in range(len(CLASS_LADDER))) + ")"

        class_level = "CASE " + " ".join(
            f"WHEN h{i}.e IS NOT NULL THEN '{lvl}'" for i, (lvl, _) in enumerate(CLASS_LADDER)) + " END"
        z, floor, mix, tol, share = r.band_z, r.band_floor, r.mix_band, r.tolerance, r.described_share
        other_floor = r.band_floor_other
        rest = "GREATEST(l.carats - COALESCE(lp.valued_carats, 0), 0)"
        parcel_boxes = f"GREATEST({rest} / NULLIF(m.box_carats, 0), 1)"
        parcel_var = f"COALESCE(mc.composition2, 0) + GREATEST(m.spread2, q.box2) / {parcel_boxes} + m.se2"
        # (component)^2 / degrees of freedom of the mix's relative variance: its composition rests on
        # the described lines it was learnt from, its per-box error on the book, its price on the entries
        parcel_df = (f"POWER(COALESCE(mc.composition2, 0), 2) / GREATEST(COALESCE(mc.composition_lines, 2) - 1, 1)"
                     f" + POWER(GREATEST(m.spread2, q.box2) / {parcel_boxes}, 2) / q.box_df"
                     " + POWER(m.se2, 2) / GREATEST(m.se_df, 1)")
        class_var = f"POWER(LN(GREATEST(class_p90, 0.01) / GREATEST(class_p10, 0.01)) / (2 * {Z_P10_P90}), 2)"
        # every line of the store is estimated (the calibration learns from them all), the checked ones judged
        con.execute(f"""CREATE TEMP TABLE estimated_lines AS
            WITH j AS (
              SELECT l.*, COALESCE(lp.box_carats, 0) AS box_carats, COALESCE(lp.content_carats, 0) AS content_carats,
                     COALESCE(lp.valued_carats, 0) AS valued_carats, COALESCE(lp.value_usd, 0) AS parts_usd,
                     COALESCE(lp.variance, 0) AS parts_variance, COALESCE(lp.df_terms, 0) AS parts_df_terms,
                     q.box_df, {parcel_df} AS mix_df_terms, lp.parts, lp.valued_parts,
                     lp.evidence_boxes AS part_boxes, lp.worst_rank,
                     {rest} AS rest, m.price * EXP(COALESCE(mc.centre, 0)) AS mix_price, {parcel_var} AS mix_var,
                     m.entry_boxes AS mix_boxes, mk.weight AS mix_weight, mk.exporter_lines,
                     {class_pick('e')} AS class_e, {class_pick('p10')} AS class_p10, {class_pick('p90')} AS class_p90,
                     {class_pick('boxes')} AS class_n, {class_level} AS class_level,
                     COALESCE(s.usd, w.usd) AS stat_usd, CASE WHEN s.usd IS NULL THEN '*' ELSE l.origin END AS stat_origin,
                     rg.low AS stat_low, rg.high AS stat_high, book_state.built
              FROM l CROSS JOIN book_state CROSS JOIN paid_error q LEFT JOIN line_parts lp ON lp.certificate_id = l.certificate_id AND lp.hs_code = l.hs_code
              LEFT JOIN mix_priced m ON m.exporter = l.exporter AND m.hs_code = l.hs_code AND m.origin = l.origin
                AND m.period = l.period AND m.fit_period IS NOT DISTINCT FROM l.fit_period
              LEFT JOIN mix_keys mk ON mk.exporter = l.exporter AND mk.hs_code = l.hs_code AND mk.origin = l.origin
              LEFT JOIN mix_composition mc ON mc.exporter = l.exporter AND mc.hs_code = l.hs_code AND mc.origin = l.origin
              LEFT JOIN statistics_in s ON s.origin = l.origin
              LEFT JOIN statistics_in w ON w.origin = '*'
              LEFT JOIN ranges_in rg ON rg.hs_code = l.hs_code
              {' '.join(class_joins)}
            ), sourced AS (
              SELECT *,
                CASE WHEN rest <= 1e-9 * carats THEN 'none'
                     WHEN mix_price > 0 THEN CASE WHEN mix_weight >= 0.5 THEN 'exporter_mix' ELSE 'origin_mix' END
                     WHEN valued_carats >= {share} * carats AND parts_usd > 0 THEN 'own_parts'
                     WHEN class_e > 0 THEN 'hs_class_mix' END AS rest_source
              FROM j
            ), estimated AS (
              SELECT *,
                CASE WHEN NOT built THEN NULL
                     WHEN rest_source IS NOT NULL AND parts_usd + rest > 0 THEN 'parts'
                     WHEN stat_usd IS NOT NULL AND stat_low IS NOT NULL THEN 'kp_statistics' END AS method,
                CASE rest_source WHEN 'none' THEN 0 WHEN 'own_parts' THEN parts_usd / valued_carats
                     WHEN 'hs_class_mix' THEN class_e ELSE mix_price END AS rest_price,
                CASE rest_source WHEN 'none' THEN 0 WHEN 'own_parts' THEN POWER({mix} / {z}, 2)
                     WHEN 'hs_class_mix' THEN {class_var} ELSE mix_var END AS rest_var,
                CASE rest_source WHEN 'none' THEN 0 WHEN 'own_parts' THEN POWER({mix} / {z}, 4) / box_df
                     WHEN 'hs_class_mix' THEN POWER({class_var}, 2) / GREATEST(COALESCE(class_n, 2) - 1, 1)
                     ELSE mix_df_terms END AS rest_df_terms
              FROM sourced
            ), valued AS (
              SELECT *,
                CASE method WHEN 'parts' THEN parts_usd + rest * rest_price END AS estimate_usd,
                CASE method WHEN 'parts' THEN parts_variance + POWER(rest * rest_price, 2) * rest_var END AS variance,
                CASE method WHEN 'parts' THEN parts_df_terms + POWER(rest * rest_price, 4) * rest_df_terms
                     END AS df_terms,
                CASE WHEN method = 'kp_statistics' THEN 'kp_statistics' WHEN method IS NULL THEN 'none'
                     WHEN box_carats >= content_carats AND box_carats >= rest THEN 'certificate_boxes'
                     WHEN content_carats >= rest THEN 'parcel_contents'
                     WHEN rest_source = 'own_parts' THEN
                          CASE WHEN box_carats >= content_carats THEN 'certificate_boxes' ELSE 'parcel_contents' END
                     ELSE rest_source END AS basis
              FROM estimated
            ), widened AS (
              -- Welch-Satterthwaite degrees of freedom of the line's variance, and the band's
              -- multiplier widened from kp_band_z to Student's t at them (Cornish-Fisher expansion)
              SELECT *, POWER(variance, 2) / NULLIF(df_terms, 0) AS df FROM valued
            )
            SELECT *,
              CASE method WHEN 'parts' THEN estimate_usd / GREATEST(carats, valued_carats)
                          WHEN 'kp_statistics' THEN stat_usd END AS e_book,
              CASE method WHEN 'parts' THEN SQRT(variance) / NULLIF(estimate_usd, 0) END AS rel_se,
              CASE WHEN basis IN ('exporter_mix', 'origin_mix') THEN 'mix' ELSE basis END AS calibration_group
            FROM widened""")
        self._calibration()
        con.execute(f"""CREATE TEMP TABLE checked AS
            WITH banded AS (
              SELECT x.*, x.e_book * EXP(COALESCE(c.shift, 0)) AS e,
                CASE x.method WHEN 'parts' THEN GREATEST(CASE WHEN x.hs_code = '{HS_GEM}' THEN {floor} ELSE {other_floor} END,
                                                         {_t_quantile(z, 'x.df')} * COALESCE(c.scale, 1) * x.rel_se) END AS w,
                c.shift AS calibration_shift, c.scale AS calibration_scale, c.lines AS calibration_lines
              FROM estimated_lines x LEFT JOIN line_calibration c USING (calibration_group, hs_code)
              WHERE x.checked
            )
            SELECT certificate_id, hs_code, carats_exact, declared_exact, carats, declared, origin, period, issue_date,
              basis, declared / carats AS declared_ppc, e,
              CASE method WHEN 'kp_statistics' THEN stat_usd * stat_low ELSE e * GREATEST(1 - w, 0) END AS low,
              CASE method WHEN 'kp_statistics' THEN stat_usd * stat_high ELSE e * (1 + w) END AS high,
              CASE WHEN method IS NULL THEN NULL ELSE LEAST(valued_carats / carats, 1.0) END AS coverage,
              CASE WHEN method IS NULL OR method = 'kp_statistics' THEN NULL
                   ELSE COALESCE(part_boxes, 0) + CASE rest_source WHEN 'hs_class_mix' THEN class_n
                        WHEN 'exporter_mix' THEN COALESCE(mix_boxes, 0) WHEN 'origin_mix' THEN COALESCE(mix_boxes, 0)
                        ELSE 0 END END AS evidence_boxes,
              CASE WHEN method IS NULL THEN NULL
                   WHEN method = 'kp_statistics' THEN 'KP statistics ' || stat_origin
                   WHEN basis = 'hs_class_mix' THEN class_level
                   WHEN basis IN ('exporter_mix', 'origin_mix') THEN basis || ' of ' || CAST(exporter_lines AS VARCHAR)
                        || ' exporter lines'
                   ELSE {_rank_to_level('worst_rank')} END AS book_level,
              CASE WHEN method IS NULL THEN NULL
                   WHEN basis IN ('kp_statistics', 'hs_class_mix', 'origin_mix', 'exporter_mix')
                        OR hs_code <> '{HS_GEM}' THEN 'low'
                   WHEN valued_carats >= 0.9 * carats AND worst_rank <= 2 THEN 'high'
                   ELSE 'medium' END AS confidence,
              CASE WHEN method IS NULL THEN 'cannot_value'
                   WHEN declared / carats < (CASE method WHEN 'kp_statistics' THEN stat_usd * stat_low
                        ELSE e * GREATEST(1 - w, 0) END) * (1 - {tol}) THEN 'undervalued'
                   WHEN declared / carats > (CASE method WHEN 'kp_statistics' THEN stat_usd * stat_high
                        ELSE e * (1 + w) END) * (1 + {tol}) THEN 'overvalued'
                   ELSE 'reasonable' END AS verdict,
              CASE WHEN method IS NOT NULL THEN NULL
                   WHEN NOT built THEN 'no rough price book: run `roughtrace pricebook build`'
                   ELSE 'no tracked goods of HS ' || hs_code || ' to value it by, and no KP statistics for origin '
                        || origin || ' or the world (kp_statistics_usd_per_carat, kp_statistics_range)' END AS reason,
              CASE WHEN method = 'parts' THEN
                   concat_ws(';',
                     CASE WHEN box_carats > 0 THEN 'certificate_boxes=' || printf('%.3f', LEAST(box_carats / carats, 1)) END,
                     CASE WHEN content_carats > 0 THEN 'parcel_contents=' || printf('%.3f', LEAST(content_carats / carats, 1)) END,
                     CASE WHEN rest_source NOT IN ('none', 'own_parts')
                          THEN rest_source || '=' || printf('%.3f', rest / carats) END,
                     CASE WHEN rest_source = 'own_parts' THEN 'extended=' || printf('%.3f', rest / carats) END)
                   WHEN method = 'kp_statistics' THEN 'kp_statistics=1.000' END AS basis_shares,
              CASE WHEN rest_source IN ('exporter_mix', 'origin_mix') THEN exporter_lines END AS exporter_lines,
              CASE WHEN method = 'parts' AND rest_source NOT IN ('none', 'own_parts') THEN rest END AS rest_carats,
              rest_source, rest_price, rest_var, df, calibration_shift, calibration_scale, calibration_lines
            FROM banded""")

    def _calibration(self) -> None:
        """How the store's own declarations sit against the estimates, per basis (linked boxes, parcel
        contents, the HS class mix) and HS code: `shift`, the median of ln(declared per carat /
        estimate), and `scale`, the robust spread (1.4826 x MAD) of the same ratio around it in units of
        each line's predicted error. Most declarations are honest, so the median says how far the
        estimate sits from what such goods are declared at and the robust spread how far honest lines
        stray, whatever a few misdeclared lines say. A basis needs `kp_calibration_lines` lines; its
        figures are shrunk toward no calibration (0 and 1) as if that many more had shown no stray, and
        the scale only widens a band: a
        robust spread ignores the tails, so it may say a band is too narrow, never that it is too wide.
        Lines valued at a mix are left out: their centre and spread are already learnt from the
        exporter's described lines (`_mixes`), and their errors are too heavy-tailed for a robust
        spread to describe."""
        k = max(self.rules.calibration_lines, 1)
        self.con.execute(f"""CREATE TEMP TABLE line_calibration AS
            WITH r AS (
              SELECT calibration_group, hs_code, LN(declared / carats / e_book) AS r, rel_se
              FROM estimated_lines WHERE method = 'parts' AND e_book > 0 AND rel_se > 0 AND declared > 0
                AND calibration_group <> 'mix'
            ), centred AS (
              SELECT *, MEDIAN(r) OVER (PARTITION BY calibration_group, hs_code) AS centre FROM r
            ), groups AS (
              SELECT calibration_group, hs_code, ANY_VALUE(centre) AS centre,
                     1.4826 * MEDIAN(ABS(r - centre) / rel_se) AS scale, COUNT(*) AS n
              FROM centred GROUP BY ALL
            )
            SELECT calibration_group, hs_code, n AS lines, n * centre / (n + {k}) AS shift,
                   GREATEST(SQRT((n * POWER(scale, 2) + {k}) / (n + {k})), 1) AS scale
            FROM groups WHERE n >= {k}""")

    def lines(self) -> pa.Table:
        """One row per certificate line checked, with its verdict (LINE_FIELDS), money to the cent."""
        return self.con.sql("""SELECT certificate_id, hs_code, carats_exact AS carats, declared_exact AS declared_usd,
            CAST(ROUND(declared_ppc, 2) AS DECIMAL(18,2)) AS declared_per_carat,
            CAST(ROUND(e, 2) AS DECIMAL(18,2)) AS estimated_per_carat,
            CAST(ROUND(low, 2) AS DECIMAL(18,2)) AS low_per_carat,
            CAST(ROUND(high, 2) AS DECIMAL(18,2)) AS high_per_carat,
            verdict, basis, confidence, reason,
            CAST(ROUND(e * carats, 2) AS DECIMAL(18,2)) AS estimated_usd,
            CAST(ROUND(coverage, 4) AS DECIMAL(18,4)) AS coverage,
            CAST(evidence_boxes AS BIGINT) AS evidence_boxes, book_level, origin, period, issue_date,
            basis_shares, CAST(exporter_lines AS BIGINT) AS exporter_lines,
            CAST(calibration_lines AS BIGINT) AS calibration_lines,
            CAST(ROUND(calibration_shift, 4) AS DECIMAL(18,4)) AS calibration_shift,
            CAST(ROUND(calibration_scale, 4) AS DECIMAL(18,4)) AS calibration_scale
            FROM checked ORDER BY certificate_id, hs_code""").to_arrow_table()

    def parts(self) -> pa.Table:
        """The evidence behind each line checked: one row per box and per assortment of its contents
        with the book entry that priced it, and one row (assortment `*`) for the carats valued at a mix."""
        return self.con.sql(f"""SELECT * FROM (
            SELECT p.certificate_id, p.hs_code, p.assortment, p.box_id, CAST(ROUND(p.carats, 3) AS DECIMAL(18,3)) AS carats,
              p.source, p.book_level, CAST(p.book_boxes AS BIGINT) AS book_boxes,
              CAST(ROUND(p.price_per_carat, 2) AS DECIMAL(18,2)) AS price_per_carat,
              CAST(ROUND(p.p10_per_carat, 2) AS DECIMAL(18,2)) AS p10_per_carat,
              CAST(ROUND(p.p90_per_carat, 2) AS DECIMAL(18,2)) AS p90_per_carat,
              CAST(ROUND(p.value_usd, 2) AS DECIMAL(18,2)) AS value_usd
            FROM parts p JOIN l ON l.certificate_id = p.certificate_id AND l.hs_code = p.hs_code WHERE l.checked
            UNION ALL
            SELECT certificate_id, hs_code, '*', CAST(NULL AS VARCHAR), CAST(ROUND(rest_carats, 3) AS DECIMAL(18,3)),
              rest_source, rest_source, CAST(NULL AS BIGINT), CAST(ROUND(rest_price, 2) AS DECIMAL(18,2)),
              CAST(ROUND(rest_price * EXP(-{Z_P10_P90} * SQRT(rest_var)), 2) AS DECIMAL(18,2)),
              CAST(ROUND(rest_price * EXP({Z_P10_P90} * SQRT(rest_var)), 2) AS DECIMAL(18,2)),
              CAST(ROUND(rest_carats * rest_price, 2) AS DECIMAL(18,2))
            FROM checked WHERE rest_carats > 0)
            ORDER BY certificate_id, hs_code, assortment, box_id""").to_arrow_table()


def _t_quantile(z: float, df: str) -> str:
    """SQL for Student's t quantile at `df` degrees of freedom (a column; NULL reads as many) whose
    normal quantile is `z`: the Cornish-Fisher expansion to second order in 1/df (within 2% of the
    exact quantile from 3 degrees of freedom at z = 1.645; below it at 1 and 2)."""
    a = (z ** 3 + z) / 4
    b = (5 * z ** 5 + 16 * z ** 3 + 3 * z) / 96
    return f"({z} + {a} / GREATEST(COALESCE({df}, 1e9), 1) + {b} / POWER(GREATEST(COALESCE({df}, 1e9), 1), 2))"


def _rank_to_level(column: str) -> str:
    return (f"CASE WHEN {column} = -1 THEN '{OWN_OUTCOME}' "
            + " ".join(f"WHEN {column} = {i} THEN '{lvl}'" for i, (lvl, _) in enumerate(ASSORTMENT_LADDER)) + " END")


def check_certificates(store: Any, settings: Any, certificate_ids: list[str] | None = None) -> pa.Table:
    """Verdicts for every line of the certificates named (all when None): LINE_FIELDS columns, the
    passes over the store run on the analytics engine the settings choose."""
    with CertificateCheck.by_settings(store, settings, certificate_ids) as check:
        return check.lines()


def verdict_counts(lines: pa.Table) -> dict[str, int]:
    """How many lines got each verdict (every verdict listed, zeros included)."""
    counts = dict.fromkeys(VERDICTS, 0)
    for verdict in lines["verdict"].to_pylist():
        counts[verdict] += 1
    return counts
