"""Stage 2: the checks that look beyond one record, per kind, each with its rules' messages
beside the SQL that finds the records breaking them.

A check names its rules (each one bit of a record's problem mask) and finds, by joins in the
import engine against the file's other records and the store, the records that break them: a
list of SELECTs of (_row, bit, unchanged), `unchanged` marking a record already stored as it
is (a no-op, not a problem). `CHECKS` lists every kind's checks in order; the rule book numbers
their rules in that order after the stage-1 rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ..domain import kinds
from ..domain.kinds import KINDS, Kind
from ..errors import Problem
from ..store.schema import SQL_TYPES
from .job import ImportJob
from .rules import ALREADY_STORED, DUPLICATE_IN_FILE, Rule

Finder = Callable[[ImportJob], list[str]]
"""SELECTs of (_row, bit, unchanged) over the job's staged records, one per finding."""


@dataclass(frozen=True)
class Check:
    """One stage-2 check of a kind: its rules, the SQL finding the records that break them, and
    the warnings it gives about records it stores all the same."""

    rules: tuple[Rule, ...]
    find: Finder
    warnings: Callable[[ImportJob], list[Problem]] | None = None


def _typed_columns(kind_name: str, names: tuple[str, ...]) -> dict[str, str]:
    kind = KINDS[kind_name]
    return {n: SQL_TYPES[kind.column(n).type] for n in names}


def _bit(job: ImportJob, code: str, column: str) -> int:
    return 1 << job.book.bit(code, column)


def _flagged(bit: int, select_rows: str) -> str:
    """(_row, bit, unchanged) of the records `select_rows` lists, each with `bit`."""
    return f"SELECT _row, {bit}::HUGEINT AS bit, false AS unchanged FROM ({select_rows})"


def _bits_sql(source: str, findings: list[tuple[str, int]]) -> str:
    """(_row, bit, unchanged) of the records of `source` (aliased `s`) meeting any finding's
    condition, the bits of every condition met or-ed into one."""
    bits = " | ".join(f"CASE WHEN {condition} THEN {bit}::HUGEINT ELSE 0::HUGEINT END" for condition, bit in findings)
    met = " OR ".join(f"coalesce({condition}, false)" for condition, _ in findings)
    return f"SELECT s._row, {bits} AS bit, false AS unchanged FROM {source} WHERE {met}"


# -- references ----------------------------------------------------------------------------------------
def known_parties(**messages: str) -> Check:
    """Every party a record names (its columns, each with its message) is a stored party."""
    columns = tuple(messages)

    def find(job: ImportJob) -> list[str]:
        staged = job.names.staged
        union = " UNION ".join(f"SELECT {c} AS party_id FROM {staged}" for c in columns)
        job.engine.execute(f"CREATE OR REPLACE TEMP VIEW {job.names.party_keys} AS {union}")
        parties = job.store.reference(job.engine, "parties", {"party_id": "VARCHAR"}, ("party_id",), job.names.party_keys)
        # one pass over the file, one left join per party column against the (small) parties
        joins = " ".join(f"LEFT JOIN {parties} p{i} ON p{i}.party_id = s.{c}" for i, c in enumerate(columns))
        unknown = [(f"s.{c} IS NOT NULL AND p{i}.party_id IS NULL", _bit(job, "unknown_party", c)) for i, c in enumerate(columns)]
        return [_bits_sql(f"{staged} s {joins}", unknown)]

    return Check(tuple(Rule("unknown_party", c, "", message, 2) for c, message in messages.items()), find)


def box_bought(date_column: str, not_bought: str, before_sale: str) -> Check:
    """The box a record names is a stored sale, bought by the record's sightholder before the
    record's `date_column`."""

    def find(job: ImportJob) -> list[str]:
        boxes = job.store.reference(job.engine, "rough_sales", _typed_columns("rough_sales", ("box_id", "buyer_id", "sale_date")),
                                    ("box_id",), job.names.staged)
        # box_id is the key of the sales: one left join finds all three problems in one pass
        return [_bits_sql(f"{job.names.staged} s LEFT JOIN {boxes} b ON b.box_id = s.box_id", [
            ("s.box_id IS NOT NULL AND b.box_id IS NULL", _bit(job, "unknown_box", "box_id")),
            ("s.sightholder_id <> b.buyer_id", _bit(job, "box_not_bought", "sightholder_id")),
            (f"s.{date_column} < b.sale_date", _bit(job, "before_sale", date_column)),
        ])]

    return Check((
        Rule("unknown_box", "box_id", "", "box '{box_id}' is not a known rough sale: load it in rough_sales first", 2),
        Rule("box_not_bought", "sightholder_id", "", not_bought, 2),
        Rule("before_sale", date_column, "", before_sale, 2),
    ), find)


def certificate_header_agrees() -> Check:
    """Every line of a certificate, in the file and stored, gives the same header fields."""

    def find(job: ImportJob) -> list[str]:
        staged = job.names.staged
        header = [c.name for c in job.kind.columns if c.name not in kinds.CERTIFICATE_LINE_COLUMNS]
        header_hash = f"hash({', '.join(header)})"
        stored = job.store.reference(job.engine, "kp_certificates", _typed_columns("kp_certificates", tuple(header)),
                                     ("certificate_id",), staged)
        return [_flagged(_bit(job, "header_mismatch", "certificate_id"), f"""
            SELECT _row FROM {staged} WHERE certificate_id IN (
                SELECT certificate_id FROM (
                    SELECT certificate_id, {header_hash} AS h FROM {staged} WHERE NOT bad
                    UNION ALL SELECT certificate_id, {header_hash} AS h FROM {stored})
                GROUP BY certificate_id HAVING count(DISTINCT h) > 1)""")]

    return Check((Rule("header_mismatch", "certificate_id", "",
                       "the lines of certificate '{certificate_id}' disagree on its header fields (every column but hs_code, "
                       "carats and value_usd must be the same on every line)", 2),), find)


def line_capacity() -> Check:
    """Parcel contents name a stored certificate line and, counted in file order, stay within its
    carats: a row that would take its line over is rejected and does not count toward the total."""

    def find(job: ImportJob) -> list[str]:
        staged, engine, names = job.names.staged, job.engine, job.kind.column_names
        lines = job.store.reference(engine, "kp_certificates", _typed_columns("kp_certificates", ("certificate_id", "hs_code", "carats")),
                                    ("certificate_id",), staged)
        unknown = _flagged(_bit(job, "unknown_certificate_line", "hs_code"), f"""
            SELECT _row FROM {staged} s WHERE s.certificate_id IS NOT NULL AND s.hs_code IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM {lines} l WHERE l.certificate_id = s.certificate_id AND l.hs_code = s.hs_code)""")
        stored = job.store.reference(engine, "parcel_contents", _typed_columns("parcel_contents", names), ("certificate_id",), staged)
        candidates = engine.sql(f"""
            WITH repeats AS (SELECT _row FROM (SELECT _row, row_number() OVER (PARTITION BY hash({', '.join(names)}) ORDER BY _row) AS n
                                               FROM {staged} WHERE NOT bad) WHERE n > 1),
                 already AS (SELECT b._row FROM {staged} b JOIN {stored} a ON {' AND '.join(f'a.{c} IS NOT DISTINCT FROM b.{c}' for c in names)}),
                 used AS (SELECT certificate_id, hs_code, sum(carats) AS used FROM {stored} GROUP BY ALL)
            SELECT s._row, dense_rank() OVER (ORDER BY s.certificate_id, s.hs_code) AS grp, s.carats::DOUBLE * 1000 AS mct,
                   (l.carats - coalesce(u.used, 0))::DOUBLE * 1000 AS room
            FROM {staged} s JOIN {lines} l ON l.certificate_id = s.certificate_id AND l.hs_code = s.hs_code
            LEFT JOIN used u ON u.certificate_id = s.certificate_id AND u.hs_code = s.hs_code
            WHERE NOT s.bad AND s._row NOT IN (SELECT _row FROM repeats) AND s._row NOT IN (SELECT _row FROM already)
            ORDER BY grp, s._row""").to_arrow_table()
        arrow = job.names.arrow("over")
        engine.register(arrow, pa.table({"_row": pa.array(over_capacity(candidates), pa.int64())}))
        engine.execute(f"CREATE OR REPLACE TEMP TABLE {job.names.over} AS SELECT * FROM {arrow}")
        engine.unregister(arrow)
        return [unknown, _flagged(_bit(job, "over_line_carats", "carats"), f"SELECT _row FROM {job.names.over}")]

    return Check((
        Rule("unknown_certificate_line", "hs_code", "", "certificate '{certificate_id}' has no line with HS code {hs_code}: load the certificate first", 2),
        Rule("over_line_carats", "carats", "", "{carats} ct would take the contents of certificate '{certificate_id}' line {hs_code} over the line's carats", 2),
    ), find)


def over_capacity(candidates: pa.Table) -> np.ndarray:
    """Greedy in file order within each line, vectorised across lines: at each position a row is
    taken when it fits the room left. Weights are whole milli-carats, so the sums are exact."""
    if candidates.num_rows == 0:
        return np.array([], dtype=np.int64)
    rows = candidates.column("_row").to_numpy()
    group = candidates.column("grp").to_numpy()
    weight = np.rint(candidates.column("mct").to_numpy()).astype(np.int64)
    room = np.rint(candidates.column("room").to_numpy()).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    lengths = np.diff(np.r_[starts, len(group)])
    left = room[starts].copy()
    rejected = np.zeros(len(rows), dtype=bool)
    for position in range(int(lengths.max())):
        active = lengths > position
        index = starts[active] + position
        fits = weight[index] <= left[active]
        left[active] = left[active] - np.where(fits, weight[index], 0)
        rejected[index[~fits]] = True
    return rows[rejected]


# -- identity ------------------------------------------------------------------------------------------
def repeated(job: ImportJob, hashed: str) -> str:
    """A condition on the staged records: the 64-bit hash `hashed` of this record is shared by another
    valid record of the file; the caller decides among the few candidates. The hashes are sorted in
    numpy, in place, and neighbours compared: quicker than the engine's group-by of as many distinct
    keys, and less memory than its hash table (docs/performance.md). The repeated hashes, if any, go
    to a table the condition reads; a file with none gets FALSE."""
    engine = job.engine
    hashes = np.asarray(engine.sql(f"SELECT {hashed} AS h FROM {job.names.staged} WHERE NOT bad").fetchnumpy()["h"], dtype=np.uint64)
    hashes.sort()
    found = np.unique(hashes[1:][hashes[1:] == hashes[:-1]])
    del hashes
    if not len(found):
        return "false"
    arrow = job.names.arrow("repeated")
    engine.register(arrow, pa.table({"h": pa.array(found, pa.uint64())}))
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {job.names.repeats} AS SELECT h FROM {arrow}")
    engine.unregister(arrow)
    return f"{hashed} IN (SELECT h FROM {job.names.repeats})"


def identity_by_key(column: str, again_in_file: str, already_stored: str, claim: tuple[str, ...] | None = None,
                    lookup: tuple[str, ...] | None = None) -> Check:
    """Same key, same values: a no-op. Same key, other values: the later record is rejected
    (reported on `column`). Records sharing a claim (the key, unless `claim` says what one record
    claims) with another record of the file are found by one hash per record and kept in the
    job's `members`, few in any real file; the stored records sharing a claim with a record of
    the file (looked up by `lookup`, the key unless given) are joined once into its `twins`."""

    def find(job: ImportJob) -> list[str]:
        kind, names, staged, engine = job.kind, job.kind.column_names, job.names.staged, job.engine
        key = kind.key
        claimed = claim or key
        on = " AND ".join(f"a.{k} = b.{k}" for k in key)
        dup_bit, stored_bit = _bit(job, DUPLICATE_IN_FILE, column), _bit(job, ALREADY_STORED, column)
        members, twins = job.names.members, job.names.twins
        engine.execute(f"""CREATE OR REPLACE TEMP TABLE {members} AS
            SELECT *, hash({', '.join(names)}) AS content FROM {staged}
            WHERE NOT bad AND {repeated(job, f"hash({', '.join(claimed)})")}""")
        in_file = f"""
            WITH firsts AS (SELECT {', '.join(key)}, min(_row) AS first_row, arg_min(content, _row) AS first_content
                            FROM {members} GROUP BY ALL)
            SELECT b._row, CASE WHEN b.content = a.first_content THEN 0 ELSE {dup_bit} END::HUGEINT AS bit,
                   b.content = a.first_content AS unchanged
            FROM {members} b JOIN firsts a ON {on} WHERE b._row > a.first_row"""
        stored = job.store.reference(engine, kind.name, _typed_columns(kind.name, names), lookup or key, staged)
        same_key = " AND ".join(f"a.{k} = b.{k}" for k in key if k not in claimed) or "true"
        same = " AND ".join(f"a.{c} IS NOT DISTINCT FROM b.{c}" for c in names)
        engine.execute(f"""CREATE OR REPLACE TEMP TABLE {twins} AS
            SELECT b._row, {', '.join('b.' + c for c in claimed)}, {same_key} AS same_key, {same} AS same_values
            FROM {staged} b JOIN {stored} a ON {' AND '.join(f'a.{c} = b.{c}' for c in claimed)} WHERE NOT b.bad""")
        against_store = f"""SELECT _row, CASE WHEN same_values THEN 0 ELSE {stored_bit} END::HUGEINT AS bit, same_values AS unchanged
                            FROM {twins} WHERE same_key"""
        return [in_file, against_store]

    return Check((Rule(DUPLICATE_IN_FILE, column, "", again_in_file, 2), Rule(ALREADY_STORED, column, "", already_stored, 2)), find)


def identity_by_content(lookup: tuple[str, ...]) -> Check:
    """Kinds without a key are identified by their whole content: a repeat is a no-op. The store
    is searched for stored twins by `lookup`."""

    def find(job: ImportJob) -> list[str]:
        names, staged = job.kind.column_names, job.names.staged
        content = f"hash({', '.join(names)})"
        in_file = f"""
            WITH members AS (SELECT _row, {content} AS h FROM {staged} WHERE NOT bad AND {repeated(job, content)})
            SELECT _row, 0::HUGEINT AS bit, true AS unchanged FROM (SELECT _row, min(_row) OVER (PARTITION BY h) AS first_row FROM members)
            WHERE _row > first_row"""
        stored = job.store.reference(job.engine, job.kind.name, _typed_columns(job.kind.name, names), lookup, staged)
        same = " AND ".join(f"a.{c} IS NOT DISTINCT FROM b.{c}" for c in names)
        against_store = f"SELECT b._row, 0::HUGEINT AS bit, true AS unchanged FROM {staged} b JOIN {stored} a ON {same} WHERE NOT b.bad"
        return [in_file, against_store]

    return Check((), find)


def conflicting_claims() -> Check:
    """A stone claimed from another box or by another sightholder is stored and flagged (reads the
    `members` and `twins` of `identity_by_key`, listed before it)."""

    def warnings(job: ImportJob) -> list[Problem]:
        rows = job.engine.sql(f"""
            WITH in_file AS (SELECT lab, stone_id FROM {job.names.members} GROUP BY lab, stone_id
                             HAVING count(DISTINCT (sightholder_id, box_id)) > 1),
                 with_store AS (SELECT lab, stone_id FROM {job.names.twins} WHERE NOT same_key),
                 contested AS (SELECT * FROM in_file UNION SELECT * FROM with_store)
            SELECT count(*) AS n, list(stone_id ORDER BY stone_id)[1:5] AS sample FROM contested""").fetchall()
        n, sample = rows[0]
        if not n:
            return []
        return [Problem("conflicting_claim",
                        f"{n} stone(s) are also claimed from another box or by another sightholder (e.g. {', '.join(sample)}); "
                        "they are stored and flagged as conflicting claims", file=job.source.name)]

    return Check((), lambda job: [], warnings)


# -- the registry ----------------------------------------------------------------------------------------
def _party(role: str, column: str) -> str:
    return f"{role} '{{{column}}}' is not a known party: load it in parties first"


CHECKS: dict[str, tuple[Check, ...]] = {
    "parties": (
        identity_by_key("party_id", "party '{party_id}' appears again in this file with other values (the first is kept)",
                        "party '{party_id}' is already stored with other values"),
    ),
    "rough_sales": (
        known_parties(seller_id=_party("seller", "seller_id"), buyer_id=_party("buyer", "buyer_id")),
        identity_by_key("box_id", "box '{box_id}' appears again in this file with other values (the first is kept)",
                        "box '{box_id}' is already stored with other values"),
    ),
    "polished_outcomes": (
        known_parties(sightholder_id=_party("sightholder", "sightholder_id")),
        box_bought("polished_date", "'{sightholder_id}' did not buy box '{box_id}': only the box's buyer reports its outcome",
                   "polished on {polished_date}, before box '{box_id}' was sold"),
        # a stone (its lab and report number) is claimed whichever box and sightholder report it; its
        # report number finds every stored claim on it, conflicting ones included, in one look-up
        identity_by_key("stone_id", "stone '{stone_id}' ({lab}) from box '{box_id}' appears again in this file with other values (the first is kept)",
                        "stone '{stone_id}' ({lab}) from box '{box_id}' is already stored with other values",
                        claim=("lab", "stone_id"), lookup=("stone_id",)),
        conflicting_claims(),
    ),
    "rough_dispositions": (
        known_parties(sightholder_id=_party("sightholder", "sightholder_id"), counterparty_id=_party("counterparty", "counterparty_id")),
        box_bought("date", "'{sightholder_id}' did not buy box '{box_id}': only the box's buyer declares what became of it",
                   "dated {date}, before box '{box_id}' was sold"),
        identity_by_content(("box_id",)),
    ),
    "transactions": (
        identity_by_key("tx_id", "transaction '{tx_id}' appears again in this file with other values (the first is kept)",
                        "transaction '{tx_id}' is already stored with other values"),
    ),
    "kp_certificates": (
        certificate_header_agrees(),
        identity_by_key("hs_code", "HS code {hs_code} appears again on certificate '{certificate_id}' with other values: a certificate carries each code once",
                        "certificate '{certificate_id}' line {hs_code} is already stored with other values"),
    ),
    "parcel_contents": (
        line_capacity(),
        identity_by_content(("certificate_id",)),
    ),
}
"""Every kind's stage-2 checks, in the order their rules are numbered."""


def stage2_rules(kind: Kind) -> list[Rule]:
    """The rules of `kind`'s stage-2 checks, in order."""
    return [rule for check in CHECKS[kind.name] for rule in check.rules]


def findings_sql(job: ImportJob) -> str:
    """SQL producing (_row, bit, unchanged) for every stage-2 finding of the job's staged records."""
    parts = ["SELECT NULL::BIGINT AS _row, 0::HUGEINT AS bit, false AS unchanged WHERE false"]
    for check in CHECKS[job.kind.name]:
        parts += check.find(job)
    return " UNION ALL ".join(f"SELECT _row, bit, unchanged FROM ({part})" for part in parts)


def warnings(job: ImportJob) -> list[Problem]:
    """What the checks say about records they store all the same."""
    return [p for check in CHECKS[job.kind.name] if check.warnings is not None for p in check.warnings(job)]


__all__ = ["CHECKS", "Check", "findings_sql", "stage2_rules", "warnings"]
