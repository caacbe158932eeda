"""Box records: what the store knows about one sold box, kept ready for provenance lookups.

Tracing a stone needs, beside the stone's own row, its box's sale with the seller and the buyer, the
lines of the KP certificate the sale names, the box's facts for the box-local checks (its row of the
checks' `boxes` facts) and the figures of the stone's rough stone. Gathered from the input tables that
is five tables and a pass over the box's outcome rows, so each sold box's record is kept in
`box_provenance` as one row of two texts (one index lookup, two values fetched), its parts:

- `chain`: the sale with its seller, once per line of the KP certificate it names (by HS code);
- `facts`: the findings of the box-local checks on the box (mass balance, size and timing) under the
  settings it was built with, and what gives them under other settings: the box's rows of the
  `boxes` facts without the settings-dependent columns, and the tracked rough stones cut into
  several polished stones or yielding more than the suspect yield (`domain.rough.SUSPECT_YIELD`).

An import rebuilds, in its transaction, the parts its kind feeds of the records of the boxes its batch
touches (certificates feed the chain, outcomes and dispositions the facts, parties and boxes both);
the schema-8 migration builds every record from the rows already stored. The records are built
set-based, in a few statements over all the boxes at once: one pass over their outcome rows grouped
by box gives the `boxes` facts of every box sold once whose tracked rough stones each gave one
polished stone (its rows are then its rough stones); the checks' own `boxes` query and rough-stone
grouping cover the other boxes (found by sorting a 64-bit key of each row's box and rough stone in
numpy, cheaper than grouping in the engine; for a scope of few boxes, by listing each box's keys in
the pass itself), and the engine renders each part's JSON text. Python runs only the box-local rules
over the boxes' fact rows (vectorised, a finding built for each flagged row) and writes those
findings' text. A record not stored (a box never sold, or rows written around the importer) is
gathered from the input tables at lookup by portable queries, so a lookup always reflects the stored
rows.

Only DuckDB stores keep records (`KEPT_ON`; the refresh is DuckDB SQL). On PostgreSQL the refresh
would cost an import more than the lookups it saves (its grouping of the batch's rows runs before the
new rows have statistics), so a PostgreSQL lookup gathers its box's record each time: the same
answer, more slowly. Figures: docs/performance/checks.md.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from ..checks import facts as fact_queries
from ..checks.facts import half_unit
from ..checks.findings import Finding
from ..checks.verify import FACT_ROW_CHECKS, fact_row_findings, local_box_findings, rule_settings
from ..domain.rough import SUSPECT_YIELD
from ..json_values import tagged_dumps, tagged_loads
from ..store.port import Store

if TYPE_CHECKING:
    from ..ingest.hooks import StoredBatch

TABLE = "box_provenance"
PARTS_OF_KIND: dict[str, tuple[str, ...]] = {
    "kp_certificates": ("chain",),
    "polished_outcomes": ("facts",),
    "rough_dispositions": ("facts",),
}
"""Kinds that feed only some parts of a record; parties and boxes feed every part."""
KEPT_ON: tuple[str, ...] = ("duckdb",)
"""The engines whose stores keep box records; on the others every lookup gathers its box's record."""
PARTS: tuple[str, ...] = ("chain", "facts")
"""The parts of a record, each a text column of `box_provenance` (schema 8)."""

BOXES_OF_BATCH: dict[str, str] = {
    "parties": "IN (SELECT box_id FROM rough_sales WHERE seller_id IN (SELECT party_id FROM parties WHERE batch_id = ?)"
               " OR buyer_id IN (SELECT party_id FROM parties WHERE batch_id = ?))",
    "rough_sales": "IN (SELECT box_id FROM rough_sales WHERE batch_id = ?)",
    "kp_certificates": "IN (SELECT box_id FROM rough_sales WHERE kp_certificate_id IN "
                       "(SELECT certificate_id FROM kp_certificates WHERE batch_id = ?))",
    "polished_outcomes": "IN (SELECT DISTINCT box_id FROM polished_outcomes WHERE batch_id = ?)",
    "rough_dispositions": "IN (SELECT DISTINCT box_id FROM rough_dispositions WHERE batch_id = ?)",
}
"""The kinds records are made from, and the boxes a batch of each touches, as a condition on `box_id`
(every `?` is the batch id). Parties feed the seller's name and role and the buyer's category."""

SETTINGS_DEPENDENT: tuple[str, ...] = ("fast_stones", "rough_stones_over_yield", "example_rough_stone_id",
                                       "example_polished_ct")
"""Columns of the `boxes` facts that depend on settings: not stored, decided at lookup."""

CHAIN_SQL = """
SELECT s.box_id AS sold_box_id, s.sight, s.sale_date, s.seller_id, s.buyer_id, s.origin, s.assortment, s.model,
       s.size_min_ct, s.size_max_ct, s.stones AS rough_stones, s.carats AS rough_carats_of_box, s.kp_certificate_id,
       p.name AS seller_name, p.role AS seller_role,
       c.exporting_country, c.importing_country, c.origin AS certificate_origin, c.issuing_authority, c.issue_date,
       c.hs_code, c.carats AS certificate_carats, c.value_usd AS certificate_value_usd,
       s.batch_id AS sale_batch_id, s.source_row AS sale_row, c.batch_id AS certificate_batch_id,
       c.source_row AS certificate_row
FROM rough_sales s
LEFT JOIN parties p ON p.party_id = s.seller_id
LEFT JOIN kp_certificates c ON c.certificate_id = s.kp_certificate_id
WHERE s.box_id {boxes}
ORDER BY s.box_id, {line_order}
"""
"""A box's sale with its seller and its certificate's lines (the last four columns order them)."""
LINE_ORDER = "hs_code, sale_batch_id, sale_row, certificate_batch_id, certificate_row"
"""The order of a box's chain lines: by HS code, then as stored."""

ROUGH_STONES_SQL = """
SELECT box_id, rough_stone_id, COUNT(*) AS polished_stones, SUM(carat) AS polished_carats,
       MAX(rough_carats) AS rough_carats
FROM polished_outcomes
WHERE box_id {boxes}
GROUP BY box_id, rough_stone_id
HAVING rough_stone_id IS NOT NULL AND (COUNT(*) > 1 OR SUM(carat) > MAX(rough_carats) * ?)
ORDER BY box_id, rough_stone_id
"""
"""Tracked rough stones cut into several polished stones (one with a single polished stone has that
stone's own figures) or yielding more than the suspect yield (the parameter), in the engine's order of
their ids (the order `MIN(rough_stone_id)` follows)."""


@dataclass(frozen=True)
class BoxRecord:
    """One box as provenance sees it."""

    box_id: str
    chain: tuple[Mapping[str, Any], ...]
    """The sale with its seller, once per certificate line by HS code (certificate fields empty
    when the certificate is not stored); empty when no box of this id was sold."""
    boxes: tuple[Mapping[str, Any], ...]
    """The box's rows of the checks' `boxes` facts (one for a box sold once) without the
    settings-dependent columns; empty when no box of this id was sold."""
    rough_stones: Mapping[str, tuple[int, Decimal, Decimal | None]]
    """Tracked rough stones of the box cut into several polished stones or yielding more than the
    suspect yield, by id in the engine's order: polished stones, polished carats, rough carats."""
    findings: tuple[Finding, ...] = ()
    """The box-local findings on the box under `found_under`."""
    found_under: Mapping[str, str] | None = None
    """The settings (`checks.verify.rule_settings`) `findings` were found under; None if not found."""

    def findings_under(self, settings: Mapping[str, Any]) -> list[Finding] | None:
        """The box-local findings under `settings` as stored, or None if stored under others."""
        if self.found_under is None or dict(self.found_under) != rule_settings(settings):
            return None
        return list(self.findings)

    def box_facts(self, settings: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        """The box's rows of the `boxes` facts under `settings`, or None when the record cannot say
        them exactly and the caller must count them from the outcome rows. Two facts depend on
        settings. Stones polished within `checks_min_processing_days` of the sale: none when the
        first was polished that many days after it, else not said. Rough stones yielding more than
        `checks_max_yield`, with the example: none when the highest rough-stone yield is below it;
        else, for a maximum at or above the suspect yield, counted from the rough stones kept."""
        days = int(settings["checks_min_processing_days"])
        rows = []
        for row in self.boxes:
            first = row["first_polished_date"]
            if first is not None and (first - row["sale_date"]).days < days:
                return None
            over = self._over_yield(row["highest_rough_stone_yield"], settings["checks_max_yield"])
            if over is None:
                return None
            rows.append({**row, "fast_stones": 0, **over})
        return rows

    def _over_yield(self, highest: float | None, max_yield: Any) -> dict[str, Any] | None:
        """The `boxes` columns about rough stones yielding more than `max_yield`, or None."""
        if highest is None or highest < float(max_yield) - 1e-9:  # the float decides only with a margin
            return {"rough_stones_over_yield": 0, "example_rough_stone_id": None, "example_polished_ct": None}
        if not isinstance(max_yield, Decimal) or max_yield < SUSPECT_YIELD or highest == float("inf"):
            return None  # stones between this maximum and the suspect yield are not kept
        kept = [(rough_id, stones, polished, rough) for rough_id, (stones, polished, rough) in self.rough_stones.items()
                if rough is not None and polished > rough * max_yield]
        if any(stones > 1 for _, stones, _, _ in kept):
            return None  # the rounding allowance needs each polished stone's weight
        over = [(rough_id, polished) for rough_id, _, polished, rough in kept
                if polished - half_unit(polished) > (rough + half_unit(rough)) * max_yield]
        return {"rough_stones_over_yield": len(over), "example_rough_stone_id": over[0][0] if over else None,
                "example_polished_ct": max(p for _, p in over) if over else None}

    def rough_stone(self, stone: Mapping[str, Any]) -> tuple[Decimal, int, Decimal | None]:
        """Polished carats, polished stones and rough carats of the rough stone `stone` (a polished
        stone of this box with a tracked rough stone) was cut from."""
        several = self.rough_stones.get(stone["rough_stone_id"])
        if several is None:
            return stone["carat"], 1, stone["rough_carats"]
        stones, polished, rough = several
        return polished, stones, rough


def box_findings(store: Store, record: BoxRecord, settings: Mapping[str, Any]) -> list[Finding]:
    """The findings of the box-local checks that need only the box's facts (mass balance, size and
    timing) on the record's box: as stored when found under these settings, else from its stored
    facts when they hold under these settings, else counted from its outcome rows."""
    if not record.boxes:
        return []  # never sold: the checks have no row for it
    found = record.findings_under(settings)
    if found is not None:
        return found
    rows = record.box_facts(settings)
    if rows is None:
        return local_box_findings(store, record.box_id, settings, checks=FACT_ROW_CHECKS)
    return fact_row_findings(pa.Table.from_pylist(rows), settings)


# -- storage ---------------------------------------------------------------------------------------
#
# A stored record is its parts' JSON texts, one column each. Parts hold values only, in fixed column
# orders, with decimals and dates as text: `chain` is [line, ...] in CHAIN_COLUMNS order; `facts` is
# [[row, ...] in FACT_COLUMNS order, [[rough stone id, polished stones, polished carats, rough carats],
# ...], the settings the findings were found under, [finding, ...]], evidence keeping decimals and
# dates as one-key tags. DuckDB renders the texts (`json_array`: its doubles round-trip and an infinite
# yield is written `Infinity`, which Python's JSON reads); Python renders only the findings.

CHAIN_COLUMNS: tuple[str, ...] = (
    "sold_box_id", "sight", "sale_date", "seller_id", "buyer_id", "origin", "assortment", "model", "size_min_ct",
    "size_max_ct", "rough_stones", "rough_carats_of_box", "kp_certificate_id", "seller_name", "seller_role",
    "exporting_country", "importing_country", "certificate_origin", "issuing_authority", "issue_date", "hs_code",
    "certificate_carats", "certificate_value_usd")
FACT_COLUMNS: tuple[str, ...] = (
    "box_id", "sight", "sale_date", "sightholder_id", "category", "assortment", "model", "rough_stones",
    "rough_carats", "size_max_ct", "polished_stones", "polished_carats", "largest_polished_ct",
    "first_polished_date", "last_polished_date", "early_stones", "tracked_rough_stones",
    "rough_stones_over_weight", "highest_rough_stone_yield", "sold_rough_carats", "in_process_carats",
    "lost_carats", "dispositions")
"""The `boxes` facts' columns but the settings-dependent ones."""
ROUGH_STONE_COLUMNS: tuple[str, ...] = ("rough_stone_id", "polished_stones", "polished_carats", "rough_carats")
DECIMALS = frozenset({"size_min_ct", "size_max_ct", "rough_carats_of_box", "certificate_carats",
                      "certificate_value_usd", "rough_carats", "polished_carats", "largest_polished_ct",
                      "sold_rough_carats", "in_process_carats", "lost_carats"})
DATES = frozenset({"sale_date", "issue_date", "first_polished_date", "last_polished_date"})
FACT_ROW_ORDER: tuple[str, ...] = ("box_id", "sale_date", "sight", "sightholder_id")
"""The order of a box's fact rows (more than one only for a box sold twice, around the importer)."""

SCOPE = "rt_box_scope"
"""The sold boxes a refresh rebuilds: their number of sales, their sale date, and whether they are
regular (sold once, no rough-stone id repeated among their outcome rows)."""
REPEATS = "rt_box_repeats"
OUTCOMES = "rt_box_outcomes"
CANDIDATES = "rt_box_candidates"
FACTS = "rt_box_facts"
STONES = "rt_box_stones"
FOUND = "rt_box_found"
TEMPORARY: tuple[str, ...] = (SCOPE, REPEATS, OUTCOMES, CANDIDATES, FACTS, STONES, FOUND)

SCOPE_SQL = f"""
CREATE TEMP TABLE {SCOPE} AS
SELECT box_id, COUNT(*) AS sales, MIN(sale_date) AS sale_date, COUNT(*) = 1 AS regular, hash(box_id) AS box_key
FROM rough_sales WHERE box_id {{boxes}} GROUP BY box_id
"""

STONE_KEYS_SQL = f"""
SELECT xor(sc.box_key, hash(o.rough_stone_id)) AS stone
FROM polished_outcomes o JOIN {SCOPE} sc ON sc.box_id = o.box_id
WHERE sc.regular AND o.rough_stone_id IS NOT NULL
"""
"""A 64-bit key of each tracked outcome row's (box, rough stone) in scope: a key seen twice marks a
rough stone cut into several polished stones (or, rarely, two rough stones whose keys collide)."""

IRREGULAR_SQL = f"""
UPDATE {SCOPE} SET regular = FALSE WHERE box_id IN (
  SELECT o.box_id FROM polished_outcomes o JOIN {SCOPE} sc ON sc.box_id = o.box_id
  WHERE sc.regular AND o.rough_stone_id IS NOT NULL
    AND xor(sc.box_key, hash(o.rough_stone_id)) IN (SELECT stone FROM {REPEATS}))
"""

OUTCOMES_SQL = f"""
CREATE TEMP TABLE {OUTCOMES} AS
SELECT box_id,
       COUNT(*) AS polished_stones,
       SUM(carat) AS polished_carats,
       MAX(carat) AS largest_polished_ct,
       MIN(polished_date) AS first_polished_date,
       MAX(polished_date) AS last_polished_date,
       COUNT(*) FILTER (WHERE polished_date - sale_date < ?) AS fast_stones,
       COUNT(*) FILTER (WHERE polished_date < sale_date) AS early_stones,
       COUNT(rough_stone_id) AS tracked_rough_stones,
       COUNT(*) FILTER (WHERE rough_stone_id IS NOT NULL AND carat > rough_carats) AS rough_stones_over_weight,
       MAX(yield) AS highest_rough_stone_yield,
       list(struct_pack(rough_stone_id := rough_stone_id, carat := carat, rough_carats := rough_carats))
         FILTER (WHERE yield > ?) AS candidates,
       {{repeated}} AS repeated
FROM (
  SELECT o.box_id, o.rough_stone_id, o.rough_carats, o.carat, o.polished_date, sc.sale_date,
         CASE WHEN o.rough_stone_id IS NOT NULL AND o.rough_carats > 0
              THEN CAST(o.carat AS DOUBLE PRECISION) / CAST(o.rough_carats AS DOUBLE PRECISION)
              WHEN o.rough_stone_id IS NOT NULL AND o.rough_carats <= 0 THEN CAST('Infinity' AS DOUBLE PRECISION)
         END AS yield
  FROM polished_outcomes o JOIN {SCOPE} sc ON sc.box_id = o.box_id
  WHERE sc.regular
) t
GROUP BY box_id
"""
"""One pass over the outcome rows of the regular boxes in scope, grouped by box: the `po` and `rs`
columns of the checks' `boxes` facts (checks.facts.BOXES) but those about yields above a maximum, and
the candidates for those: the rows whose yield (a double; infinite for a rough weight of nought or
less) exceeds the lower of the maximum and the suspect yield less a margin far above the double's
rounding. In a regular box every tracked outcome row is its own rough stone, so the rough-stone
figures are the rows' own. `{repeated}` is REPEATED for a small scope (whether a box repeats a
rough-stone id), else FALSE (the keys sorted in numpy found them). Parameters: the minimum
processing days, the candidates' lowest yield."""

REPEATED = """COUNT(rough_stone_id) > COALESCE(len(list_distinct(
    list(hash(rough_stone_id)) FILTER (WHERE rough_stone_id IS NOT NULL))), 0)"""
KEYS_FROM_BOXES = 2_000
"""From this many boxes in scope, the boxes repeating a rough-stone id are found by sorting keys in
numpy (a pass of its own over the rows); below it by listing each box's keys in the pass over the
rows, which is cheap for few boxes and spares a second scan of the table. The sort holds 16 bytes a
row for a moment, below the import's peak in its ledger step, and is quicker than grouping the keys
in DuckDB (docs/performance.md)."""

CANDIDATES_SQL = f"""
CREATE TEMP TABLE {CANDIDATES} AS
SELECT box_id,
       COUNT(*) FILTER (WHERE over_yield) AS rough_stones_over_yield,
       MIN(rough_stone_id) FILTER (WHERE over_yield) AS example_rough_stone_id,
       CAST(MAX(carat) FILTER (WHERE over_yield) AS DECIMAL(38, 3)) AS example_polished_ct,
       string_agg(CASE WHEN over_suspect_yield THEN CAST(json_array(
                    rough_stone_id, 1, CAST(carat AS VARCHAR), CAST(rough_carats AS VARCHAR)) AS VARCHAR) END,
                  ',' ORDER BY rough_stone_id) FILTER (WHERE over_suspect_yield) AS kept_stones
FROM (
  SELECT box_id, c.rough_stone_id, c.carat, c.rough_carats,
         {fact_queries.over_yield("c.carat", fact_queries.rounding("c.carat"), "c.rough_carats")} AS over_yield,
         c.carat > c.rough_carats * ? AS over_suspect_yield
  FROM (SELECT box_id, unnest(candidates) AS c FROM {OUTCOMES} WHERE candidates IS NOT NULL AND NOT repeated) t
) t
GROUP BY box_id
"""
"""The candidates of the regular boxes in scope judged exactly, in decimals: those yielding more than
the maximum yield beyond the rounding of both weights (checks.facts.over_yield; counted, the smallest id and the largest polished weight, as checks.facts.BOXES
has them) and those yielding more than the suspect yield (kept, as record text in ROUGH_STONE_COLUMNS
order: id, one polished stone, its carats, the rough carats). Parameters: the maximum yield, the
suspect yield."""

FACTS_SQL = f"""
{fact_queries.box_columns(rough_stones="po", over_yield="y")}
FROM rough_sales s
JOIN {SCOPE} sc ON sc.box_id = s.box_id
LEFT JOIN parties p ON p.party_id = s.buyer_id
LEFT JOIN {OUTCOMES} po ON po.box_id = s.box_id
LEFT JOIN {CANDIDATES} y ON y.box_id = s.box_id
LEFT JOIN (
  SELECT box_id,
         SUM(CASE WHEN disposition = 'sold_rough' THEN carats ELSE 0 END) AS sold_rough_carats,
         SUM(CASE WHEN disposition = 'in_process' THEN carats ELSE 0 END) AS in_process_carats,
         SUM(CASE WHEN disposition IN ('rejected', 'lost') THEN carats ELSE 0 END) AS lost_carats,
         COUNT(*) AS dispositions
  FROM rough_dispositions
  WHERE box_id IN (SELECT box_id FROM {SCOPE} WHERE regular)
  GROUP BY box_id
) rd ON rd.box_id = s.box_id
WHERE sc.regular
"""
"""The `boxes` facts of the regular boxes in scope, column for column as checks.facts.BOXES gives them
(tests/test_provenance_records.py holds the two to the same answers)."""

YIELD_MARGIN = 1e-9
"""How far below a yield limit a box's highest rough-stone yield (a double) may sit and still be checked
exactly: polished and rough weights have three decimals, so a double's relative error (1e-16) is far
smaller."""

IRREGULAR = f"IN (SELECT box_id FROM {SCOPE} WHERE NOT regular)"
"""The boxes in scope whose facts come from the checks' own query and rough-stone grouping."""


def record(store: Store, box_id: str, settings: Mapping[str, Any] | None = None) -> BoxRecord:
    """The record of box `box_id`: as stored, else gathered from the input tables (always, on an
    engine that keeps none)."""
    stored = store.rows(f"SELECT chain, facts FROM {TABLE} WHERE box_id = ?", (box_id,)) if store.engine in KEPT_ON else []
    if not stored:
        return _gathered(store, box_id, _settings(settings))
    rows, stones, under, found = tagged_loads(stored[0]["facts"])
    return BoxRecord(box_id, tuple(_typed(CHAIN_COLUMNS, line) for line in json.loads(stored[0]["chain"])),
                     tuple(_typed(FACT_COLUMNS, row) for row in rows),
                     {rough_id: (n, _decimal(polished), _decimal(rough)) for rough_id, n, polished, rough in stones},
                     tuple(Finding(**f) for f in found), under)


def _gathered(store: Store, box_id: str, settings: Mapping[str, Any]) -> BoxRecord:
    """The record of box `box_id` made from the input tables by portable queries (any engine)."""
    sql, params = fact_queries.render(fact_queries.BOXES, settings, box_id=box_id)
    chain, facts, stones = store.query_many((  # one round trip where the engine pipelines
        (CHAIN_SQL.format(boxes="= ?", line_order=LINE_ORDER), (box_id,), False),
        (sql, params, True),
        (ROUGH_STONES_SQL.format(boxes="= ?"), (box_id, SUSPECT_YIELD), False)))
    facts = facts.sort_by([(c, "ascending") for c in FACT_ROW_ORDER])
    sold = facts.num_rows > 0
    return BoxRecord(box_id, tuple({c: line[c] for c in CHAIN_COLUMNS} for line in chain),
                     tuple({c: row[c] for c in FACT_COLUMNS} for row in facts.to_pylist()),
                     {s["rough_stone_id"]: (s["polished_stones"], s["polished_carats"], s["rough_carats"])
                      for s in stones},
                     tuple(fact_row_findings(facts, settings)) if sold else (),
                     rule_settings(settings) if sold else None)


def refresh(store: Store, kind: str, batch_id: int, settings: Mapping[str, Any] | None = None) -> int:
    """Rebuild the records of the boxes batch `batch_id` of `kind` touches, when records are made
    from that kind (in the caller's transaction); returns the number of records written."""
    condition = BOXES_OF_BATCH.get(kind)
    if condition is None or store.engine not in KEPT_ON:
        return 0
    return _write(store, (condition, (batch_id,) * condition.count("?")), PARTS_OF_KIND.get(kind, PARTS), settings)


def after_store(batch: StoredBatch) -> Iterator[None]:
    """The import hook: bring the records of the boxes the batch touches up to date, in the
    import's transaction."""
    batch.progress("box records", 0, None)
    refresh(batch.store, batch.kind.name, batch.batch_id, batch.settings)
    batch.lap("box_records")
    batch.progress("box records", 0, 0)
    yield


def rebuild(store: Store, settings: Mapping[str, Any] | None = None) -> int:
    """Rebuild every box's record from the input tables; returns the number of records written."""
    if store.engine not in KEPT_ON:
        return 0
    return _write(store, ("IN (SELECT box_id FROM rough_sales)", ()), PARTS, settings)


def _write(store: Store, boxes: fact_queries.BoxScope, parts: tuple[str, ...],
           settings: Mapping[str, Any] | None) -> int:
    """Rebuild the records of the sold boxes `boxes` names with `parts` made afresh and any other part
    kept as stored (all made when a box has no stored record), in a few statements over all of them
    at once: the stored records replaced (all parts) or their columns updated (some)."""
    condition, params = boxes
    for table in TEMPORARY:
        store.execute(f"DROP TABLE IF EXISTS {table}")
    store.execute(SCOPE_SQL.format(boxes=condition), params)
    sold = store.rows(f"SELECT COUNT(*) AS n FROM {SCOPE}")[0]["n"]
    if len(parts) < len(PARTS) and store.rows(
            f"SELECT COUNT(*) AS n FROM {SCOPE} WHERE box_id NOT IN (SELECT box_id FROM {TABLE})")[0]["n"]:
        parts = PARTS  # a box with no record yet: made whole
    joins, texts, made_params = [], [], []
    if "chain" in parts:
        joins.append(f"""LEFT JOIN (
  SELECT sold_box_id AS box_id, '[' || string_agg({_json(CHAIN_COLUMNS)}, ',' ORDER BY {LINE_ORDER}) || ']' AS chain
  FROM ({CHAIN_SQL.format(boxes=f"IN (SELECT box_id FROM {SCOPE})", line_order=LINE_ORDER)}) lines
  GROUP BY sold_box_id
) ch ON ch.box_id = sc.box_id""")
        texts.append("ch.chain AS chain")
    if "facts" in parts:
        settings = _settings(settings)
        _make_facts(store, settings)
        joins.append(f"""LEFT JOIN {FACTS} f ON f.box_id = sc.box_id AND sc.sales = 1
LEFT JOIN (
  SELECT box_id, string_agg(fact_json, ',' ORDER BY {', '.join(FACT_ROW_ORDER[1:])}) AS fact_rows
  FROM {FACTS} WHERE box_id IN (SELECT box_id FROM {SCOPE} WHERE sales > 1) GROUP BY box_id
) twice ON twice.box_id = sc.box_id
LEFT JOIN {STONES} st ON st.box_id = sc.box_id
LEFT JOIN {FOUND} fd ON fd.box_id = sc.box_id""")
        texts.append("concat('[[', COALESCE(twice.fact_rows, f.fact_json), '],[', st.kept_stones, "
                     "'],', ?, ',', COALESCE(fd.findings, '[]'), ']') AS facts")
        made_params.append(json.dumps(rule_settings(settings), separators=(",", ":")))
    made = f"SELECT sc.box_id, {', '.join(texts)} FROM {SCOPE} sc\n" + "\n".join(joins)
    if len(parts) == len(PARTS):
        store.execute(f"DELETE FROM {TABLE} WHERE box_id IN (SELECT box_id FROM {SCOPE})")
        store.execute(f"INSERT INTO {TABLE} (box_id, {', '.join(PARTS)}) {made}", tuple(made_params))
    else:
        store.execute(f"UPDATE {TABLE} SET {', '.join(f'{p} = m.{p}' for p in parts)} FROM ({made}) m "
                      f"WHERE {TABLE}.box_id = m.box_id", tuple(made_params))
    for table in TEMPORARY:
        store.execute(f"DROP TABLE IF EXISTS {table}")
    return int(sold)


def _make_facts(store: Store, settings: Mapping[str, Any]) -> None:
    """Fill the temporary tables of the facts part for the boxes in scope: their `boxes` facts, the
    rough stones they keep (as record text) and their findings (as record text)."""
    few = store.rows(f"SELECT COUNT(*) AS n FROM {SCOPE}")[0]["n"] < KEYS_FROM_BOXES
    if not few:
        keys = np.sort(store.query(STONE_KEYS_SQL).column("stone").to_numpy())
        repeated = np.unique(keys[1:][keys[1:] == keys[:-1]])
        if len(repeated):
            store.execute(f"CREATE TEMP TABLE {REPEATS} (stone UBIGINT)")
            store.append(REPEATS, pa.table({"stone": pa.array(repeated, pa.uint64())}))
            store.execute(IRREGULAR_SQL)
    max_yield = settings["checks_max_yield"]
    lowest = float(min(Decimal(max_yield), SUSPECT_YIELD)) - YIELD_MARGIN
    store.execute(OUTCOMES_SQL.format(repeated=REPEATED if few else "FALSE"),
                  (int(settings["checks_min_processing_days"]), lowest))
    if few:
        store.execute(f"UPDATE {SCOPE} SET regular = FALSE WHERE box_id IN (SELECT box_id FROM {OUTCOMES} WHERE repeated)")
    store.execute(CANDIDATES_SQL, (max_yield, SUSPECT_YIELD))
    store.execute(f"CREATE TEMP TABLE {FACTS} AS SELECT *, {_json(FACT_COLUMNS)} AS fact_json FROM ({FACTS_SQL}) facts")
    store.execute(f"CREATE TEMP TABLE {STONES} AS SELECT box_id, kept_stones FROM {CANDIDATES}")
    if store.rows(f"SELECT COUNT(*) AS n FROM {SCOPE} WHERE NOT regular")[0]["n"]:
        sql, params = fact_queries.render(fact_queries.BOXES, settings, boxes=(IRREGULAR, ()))
        store.execute(f"INSERT INTO {FACTS} BY NAME SELECT *, {_json(FACT_COLUMNS)} AS fact_json FROM ({sql}) facts",
                      params)
        store.execute(f"""INSERT INTO {STONES}
SELECT box_id, string_agg({_json(ROUGH_STONE_COLUMNS)}, ',' ORDER BY rough_stone_id)
FROM ({ROUGH_STONES_SQL.format(boxes=IRREGULAR)}) stones GROUP BY box_id""", (SUSPECT_YIELD,))
    facts = store.query(f"SELECT * EXCLUDE (fact_json) FROM {FACTS} ORDER BY {', '.join(FACT_ROW_ORDER)}")
    found: dict[str, list[dict[str, Any]]] = {}
    for f in fact_row_findings(facts, settings):
        found.setdefault(f.box_id, []).append({
            "check": f.check, "severity": f.severity, "sightholder_id": f.sightholder_id, "message": f.message,
            "evidence": dict(f.evidence), "box_id": f.box_id, "sight": f.sight})
    store.execute(f"CREATE TEMP TABLE {FOUND} (box_id VARCHAR, findings VARCHAR)")
    if found:
        store.append(FOUND, pa.table({"box_id": pa.array(list(found), pa.string()),
                                      "findings": pa.array([tagged_dumps(v) for v in found.values()], pa.string())}))


def _json(columns: tuple[str, ...], prefix: str = "") -> str:
    """SQL for a JSON array of the columns' values, decimals and dates as text."""
    values = (f"CAST({prefix}{c} AS VARCHAR)" if c in DECIMALS | DATES else f"{prefix}{c}" for c in columns)
    return f"CAST(json_array({', '.join(values)}) AS VARCHAR)"


def _typed(columns: tuple[str, ...], values: list[Any]) -> dict[str, Any]:
    return {c: v if v is None else _decimal(v) if c in DECIMALS else dt.date.fromisoformat(v) if c in DATES else v
            for c, v in zip(columns, values, strict=True)}


def _settings(settings: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if settings is not None:
        return settings
    from ..settings import Settings

    return Settings()


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)
