"""Box records: what the store knows about one sold box, kept ready for provenance lookups.

Tracing a stone needs, beside the stone's own row, its box's sale with the seller and the buyer, the
lines of the KP certificate the sale names, the box's facts for the box-local checks (its row of the
checks' `boxes` facts) and the figures of the stone's rough stone. Gathered from the input tables that
is five tables and a pass over the box's outcome rows: tens of milliseconds at 10 M outcome rows on
DuckDB, which plans every joined table and fetches an indexed row column by column. So each sold box's
record is kept in `box_provenance` as one text (one index lookup, one value fetched) of two parts:

- `chain`: the sale with its seller, once per line of the KP certificate it names (by HS code);
- `facts`: the findings of the box-local checks on the box (mass balance, size and timing) under the
  settings it was built with, and what gives them under other settings: the box's rows of the
  `boxes` facts without the settings-dependent columns, and the tracked rough stones cut into
  several polished stones or yielding more than the suspect yield (`domain.rough.SUSPECT_YIELD`).

An import rebuilds, in its transaction, the parts its kind feeds of the records of the boxes its batch
touches (certificates feed the chain, outcomes and dispositions the facts, parties and boxes both);
the schema-7 migration builds every record from the rows already stored. A record not stored (a box
never sold, or rows written around the importer) is gathered from the input tables at lookup, the
same way, so a lookup always reflects the stored rows.

Only DuckDB stores keep records (`KEPT_ON`). On PostgreSQL the refresh doubled a 200k-row import (its
grouping of the batch's rows runs before the new rows have statistics), so a PostgreSQL lookup
gathers its box's record each time: the same answer, more slowly.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..checks import facts as fact_queries
from ..checks.findings import Finding
from ..checks.verify import FACT_ROW_CHECKS, fact_row_findings, local_box_findings, rule_settings
from ..domain.rough import SUSPECT_YIELD
from ..store.port import Store

TABLE = "box_provenance"
SEPARATOR = "\x1e"
"""Between the parts of a stored record (JSON escapes it, so it never occurs inside a part)."""
PARTS_OF_KIND: dict[str, tuple[str, ...]] = {
    "kp_certificates": ("chain",),
    "polished_outcomes": ("facts",),
    "rough_dispositions": ("facts",),
}
"""Kinds that feed only some parts of a record; parties and boxes feed every part."""
KEPT_ON: tuple[str, ...] = ("duckdb",)
"""The engines whose stores keep box records; on the others every lookup gathers its box's record."""
PARTS: tuple[str, ...] = ("chain", "facts")

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
       c.hs_code, c.carats AS certificate_carats, c.value_usd AS certificate_value_usd
FROM rough_sales s
LEFT JOIN parties p ON p.party_id = s.seller_id
LEFT JOIN kp_certificates c ON c.certificate_id = s.kp_certificate_id
WHERE s.box_id {boxes}
ORDER BY s.box_id, c.hs_code, s.batch_id, s.source_row
"""
"""A box's sale with its seller and its certificate's lines."""

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
        over = [(rough_id, polished) for rough_id, (_, polished, rough) in self.rough_stones.items()
                if rough is not None and polished > rough * max_yield]
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
# A stored record is LAYOUT, then its parts' JSON texts in PARTS order, joined by SEPARATOR. Parts hold
# values only, in fixed column orders, with decimals and dates as text (cast in Arrow: exact, and fast
# at a million rows): `chain` is [line, ...] in CHAIN_COLUMNS order; `facts` is [[row, ...] in
# FACT_COLUMNS order, [[rough stone id, polished stones, polished carats, rough carats], ...], the
# settings the findings were found under, [finding, ...]], evidence keeping decimals and dates as
# one-key tags. A record of another layout is gathered afresh.

LAYOUT = "1"
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
ROUGH_STONE_COLUMNS: tuple[str, ...] = ("box_id", "rough_stone_id", "polished_stones", "polished_carats",
                                        "rough_carats")
DECIMALS = frozenset({"size_min_ct", "size_max_ct", "rough_carats_of_box", "certificate_carats",
                      "certificate_value_usd", "rough_carats", "polished_carats", "largest_polished_ct",
                      "sold_rough_carats", "in_process_carats", "lost_carats"})
DATES = frozenset({"sale_date", "issue_date", "first_polished_date", "last_polished_date"})
CHUNK_BOXES = 10_000
"""Records made and written at a time."""
SCOPE = "rt_box_scope"
"""The temporary table of the boxes a refresh rebuilds."""


def record(store: Store, box_id: str, settings: Mapping[str, Any] | None = None) -> BoxRecord:
    """The record of box `box_id`: as stored, else gathered from the input tables."""
    stored = store.rows(f"SELECT record FROM {TABLE} WHERE box_id = ?", (box_id,))
    texts = _parts(stored[0]["record"]) if stored else None
    if texts is None:
        texts = _records(store, ("= ?", (box_id,)), PARTS, settings).get(box_id)
    if texts is not None:
        chain = json.loads(texts["chain"])
        rows, stones, under, found = _loads(texts["facts"])
    else:  # never sold, yet its rough stones may have been cut
        chain, rows, under, found = [], [], None, []
        stones = [s[1:] for s in _values(store.query(ROUGH_STONES_SQL.format(boxes="= ?"), (box_id, SUSPECT_YIELD)),
                                         ROUGH_STONE_COLUMNS).get(box_id, [])]
    return BoxRecord(box_id, tuple(_typed(CHAIN_COLUMNS, line) for line in chain),
                     tuple(_typed(FACT_COLUMNS, row) for row in rows),
                     {rough_id: (n, _decimal(polished), _decimal(rough)) for rough_id, n, polished, rough in stones},
                     tuple(Finding(**f) for f in found), under)


def refresh(store: Store, kind: str, batch_id: int, settings: Mapping[str, Any] | None = None) -> int:
    """Rebuild the records of the boxes batch `batch_id` of `kind` touches, when records are made
    from that kind (in the caller's transaction); returns the number of records written."""
    condition = BOXES_OF_BATCH.get(kind)
    if condition is None or store.engine not in KEPT_ON:
        return 0
    return _write(store, (condition, (batch_id,) * condition.count("?")), PARTS_OF_KIND.get(kind, PARTS), settings)


def rebuild(store: Store, settings: Mapping[str, Any] | None = None) -> int:
    """Rebuild every box's record from the input tables; returns the number of records written."""
    if store.engine not in KEPT_ON:
        return 0
    return _write(store, ("IN (SELECT box_id FROM rough_sales)", ()), PARTS, settings)


def _write(store: Store, boxes: fact_queries.BoxScope, parts: tuple[str, ...],
           settings: Mapping[str, Any] | None) -> int:
    """Rebuild the records of the sold boxes `boxes` names with `parts` made afresh and any other part
    kept as stored, CHUNK_BOXES boxes at a time by ranges of box ids: each query then reads only those
    boxes' row groups, and what is held in memory stays bounded at any batch size."""
    condition, params = boxes
    store.execute(f"DROP TABLE IF EXISTS {SCOPE}")
    store.execute(f"CREATE TEMP TABLE {SCOPE} AS SELECT DISTINCT box_id FROM rough_sales WHERE box_id {condition}",
                  params)
    sold = [r["box_id"] for r in store.rows(f"SELECT box_id FROM {SCOPE} ORDER BY box_id")]
    for start in range(0, len(sold), CHUNK_BOXES):
        chunk = (f"BETWEEN ? AND ? AND box_id IN (SELECT box_id FROM {SCOPE})",
                 (sold[start], sold[min(start + CHUNK_BOXES, len(sold)) - 1]))
        made = _records(store, chunk, parts, settings)
        if len(parts) < len(PARTS):
            stored = {r["box_id"]: _parts(r["record"])
                      for r in store.rows(f"SELECT box_id, record FROM {TABLE} WHERE box_id {chunk[0]}", chunk[1])}
            if all(stored.get(box_id) is not None for box_id in made):
                made = {box_id: {**stored[box_id], **texts} for box_id, texts in made.items()}
            else:  # a box with no record yet, or one of another layout: made whole
                made = _records(store, chunk, PARTS, settings)
        store.execute(f"DELETE FROM {TABLE} WHERE box_id {chunk[0]}", chunk[1])
        if made:
            box_ids = sorted(made)
            store.append(TABLE, pa.table({
                "box_id": pa.array(box_ids, pa.string()),
                "record": pa.array([SEPARATOR.join((LAYOUT, *(made[b][p] for p in PARTS))) for b in box_ids],
                                   pa.string())}))
    store.execute(f"DROP TABLE {SCOPE}")
    return len(sold)


def _parts(text: str) -> dict[str, str] | None:
    """A stored record's part texts by name, or None for a record of another layout."""
    layout, *texts = text.split(SEPARATOR)
    return dict(zip(PARTS, texts, strict=True)) if layout == LAYOUT else None


def _records(store: Store, boxes: fact_queries.BoxScope, parts: tuple[str, ...],
             settings: Mapping[str, Any] | None) -> dict[str, dict[str, str]]:
    """The named parts (JSON texts) of the records of the sold boxes `boxes` names, made from the
    input tables, by box id."""
    condition, params = boxes
    made: dict[str, dict[str, str]] = {}
    if "chain" in parts:
        for box_id, lines in _values(store.query(CHAIN_SQL.format(boxes=condition), params), CHAIN_COLUMNS).items():
            made.setdefault(box_id, {})["chain"] = json.dumps(lines, separators=(",", ":"))
    if "facts" in parts:
        settings = _settings(settings)
        sql, query_params = fact_queries.render(fact_queries.BOXES, settings, boxes=boxes)
        facts = store.query(sql, query_params)
        found: dict[str, list[dict[str, Any]]] = {}
        for f in fact_row_findings(facts, settings):
            found.setdefault(f.box_id, []).append({
                "check": f.check, "severity": f.severity, "sightholder_id": f.sightholder_id, "message": f.message,
                "evidence": dict(f.evidence), "box_id": f.box_id, "sight": f.sight})
        under = rule_settings(settings)
        stones = _values(store.query(ROUGH_STONES_SQL.format(boxes=condition), (*params, SUSPECT_YIELD)),
                         ROUGH_STONE_COLUMNS)
        for box_id, rows in _values(facts.drop_columns(list(SETTINGS_DEPENDENT)), FACT_COLUMNS).items():
            made.setdefault(box_id, {})["facts"] = _dumps(
                [rows, [s[1:] for s in stones.get(box_id, [])], under, found.get(box_id, [])])
    return made


def _values(table: pa.Table, columns: tuple[str, ...]) -> dict[str, list[tuple[Any, ...]]]:
    """The table's rows as value tuples in `columns` order (decimals and dates as text), by the box id
    in the first column."""
    if tuple(table.column_names) != columns:
        raise RuntimeError(f"box records expect the columns {columns}, the query gave {table.column_names}")
    values = []
    for field, column in zip(table.schema, table.columns, strict=True):
        typed = pa.types.is_decimal(field.type) or pa.types.is_date(field.type)
        if typed != (field.name in DECIMALS | DATES) and not pa.types.is_null(field.type):
            raise RuntimeError(f"box records do not expect {field.name} as {field.type}")
        values.append((pc.cast(column, pa.string()) if typed else column).to_pylist())
    by_box: dict[str, list[tuple[Any, ...]]] = {}
    for row in zip(*values, strict=True):
        by_box.setdefault(row[0], []).append(row)
    return by_box


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


def _tagged(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    raise TypeError(f"no JSON form for {type(value).__name__}")


def _untagged(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if "$decimal" in obj:
            return Decimal(obj["$decimal"])
        if "$date" in obj:
            return dt.date.fromisoformat(obj["$date"])
    return obj


def _dumps(content: Any) -> str:
    return json.dumps(content, default=_tagged, separators=(",", ":"))


def _loads(text: str) -> Any:
    return json.loads(text, object_hook=_untagged)
