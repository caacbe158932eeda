"""The import of one file: read, map, validate in the engine, store accepted rows, quarantine the rest.

Every step works on whole columns in the import engine (DuckDB): stage 1 types every value and
runs the per-record rules in one streaming pass; stage 2 checks references and identity with
joins; accepted rows move to the store by the engine's bulk path. The whole import is one store
transaction: it commits entirely or leaves the store as it was. Invariant, checked before commit:
rows read = rows accepted + rows rejected.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..domain import kinds
from ..domain.kinds import KINDS, Kind
from ..errors import FileRejected, Problem, RoughtraceError, UsageError
from ..settings import Settings
from ..store.port import Store
from ..store.schema import SQL_TYPES
from . import read as readers
from .limits import ReadLimits
from .profile import MappingProfile
from .rules import ALREADY_STORED, DUPLICATE_IN_FILE, PLAIN, RuleBook, message_sql, q, rule_book, typed_sql

STAGED, VERDICTS, RAW = "rt_staged", "rt_verdicts", "rt_raw"
WORK = "rt_import"
"""An in-memory database attached to the import engine. Made `shared`, the staged records and their
verdicts are its tables, which a second connection to the engine can read (a temporary table is
seen by its own connection only), and this one reads them through temporary views of the same
names. A DuckDB store's connection writes them only outside a transaction: one transaction may
write one database besides the temporary one."""
MEMBERS, TWINS, REPEATS = "rt_members", "rt_twins", "rt_repeats"
"""Records sharing a claim with another record of the file; stored records sharing one with it; the
64-bit hashes of the claims (or contents) repeated in the file."""
ProgressFn = Callable[[str, int, int | None], None]
"""progress(step, done, total), in order: 'reading' (bytes of the file), 'checking' (rows),
'storing' (new rows), 'quarantine' (rejected rows), 'box records', 'hashing' (the new rows, for
the ledger), 'committing'. A step is over when done reaches total; 'box records' and
'committing' count nothing (total None) and end with (step, 0, 0)."""


@dataclass
class ImportResult:
    """What an import did, in the shape `--json` prints."""

    kind: str
    file: str
    ok: bool = True
    batch_id: int | None = None
    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    rows_unchanged: int = 0
    duplicate_of: int | None = None
    stored: bool = False
    errors: list[Problem] = field(default_factory=list)
    errors_not_shown: int = 0
    warnings: list[Problem] = field(default_factory=list)
    receipt: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per step (opening, reading and typing, checking, storing, quarantine, ledger, box
    records, commit), for benchmarks."""

    def as_dict(self) -> dict[str, Any]:
        def flat(p: Problem) -> dict[str, Any]:
            return {"row": p.row, "column": p.column, **p.as_dict()}

        body = {
            "ok": self.ok, "batch_id": self.batch_id, "kind": self.kind, "file": self.file,
            "rows_read": self.rows_read, "rows_accepted": self.rows_accepted, "rows_rejected": self.rows_rejected,
            "rows_unchanged": self.rows_unchanged, "duplicate_of": self.duplicate_of, "stored": self.stored,
            "errors": [flat(p) for p in self.errors], "errors_not_shown": self.errors_not_shown,
            "warnings": [flat(p) for p in self.warnings],
        }
        if self.receipt is not None:
            body["receipt"] = self.receipt
        return body


@dataclass(frozen=True)
class ColumnMap:
    """Which file column (by position) feeds each contract column; the rest are extras."""

    positions: dict[str, int]
    extras: dict[str, int]


def map_columns(kind: Kind, source: readers.SourceFile, profile: MappingProfile | None) -> tuple[ColumnMap, list[Problem]]:
    """Match the file's header to the kind's columns (case-insensitive, spaces trimmed, through
    the profile). A missing required column or two headers for one column reject the file."""
    renames = profile.columns if profile else {}
    known = set(kind.column_names)
    positions: dict[str, int] = {}
    extras: dict[str, int] = {}
    problems: list[Problem] = []
    for i, name in enumerate(source.header):
        normal = name.strip().lower()
        target = renames.get(normal, normal)
        if target in known:
            if target in positions:
                problems.append(Problem("duplicate_column", f"two columns, '{source.header[positions[target]]}' and '{name}', both give {target}", file=source.name, column=target))
            positions[target] = i
        else:
            extras[name] = i
    missing = [c.name for c in kind.columns if c.required and c.name not in positions]
    for name in missing:
        problems.append(Problem("missing_column", f"the required column {name} is missing; the file has {', '.join(source.header) or 'no columns'}", file=source.name, column=name))
    if problems:
        raise FileRejected(problems)
    warnings = [Problem("extra_column", f"column '{name}' is not part of {kind.name}; its values are kept with each row", file=source.name, column=name)
                for name in extras]
    return ColumnMap(positions, extras), warnings


def import_file(store: Store, kind: str, path: str | Path, *, profile: MappingProfile | None = None, strict: bool = False,
                file_format: str | None = None, encoding: str | None = None, settings: Settings | None = None,
                progress: ProgressFn | None = None, ledger: bool = True) -> ImportResult:
    """Import one file of `kind` into `store`. Returns what was accepted, rejected and why; raises
    `FileRejected` (nothing stored) when the file cannot be read as its format."""
    settings = settings or Settings()
    if kind not in KINDS:
        raise UsageError(Problem("unknown_kind", f"{kind!r} is not a kind roughtrace imports; use one of {', '.join(KINDS)}"))
    spec = KINDS[kind]
    if profile is not None:
        profile.check_against(spec)
    path = Path(path)
    reading = (lambda done, total: progress("reading", done, total)) if progress else None
    opened = time.perf_counter()
    source = readers.open_source(
        path, file_format, encoding or (profile.encoding if profile else None),
        profile.delimiter if profile else None, profile.sheet if profile else None, reading, profile.decimal if profile else ".",
        ReadLimits.from_settings(settings))
    scanned = round(time.perf_counter() - opened, 3)
    try:
        columns, warnings = map_columns(spec, source, profile)
        notation = profile.notation(spec) if profile else PLAIN
        book = rule_book(spec, int(settings["max_text_length"]), notation)
        # one import of a kind at a time in a store, from its checks to its commit and the clearing of
        # its work tables: a racing import of the same records then finds them stored (unchanged, or
        # another version, quarantined)
        with store.exclusive(spec.name):
            engine = store.import_engine()
            try:
                # the checks only read the store; the writes are one transaction, committed whole or not at all.
                # Outside a caller's transaction, the checked records are committed in the engine's work
                # database, where a second connection can read them (a DuckDB store's ledger does)
                outermost = not store.in_transaction()
                beside = ledger and store.engine == "duckdb" and outermost
                checked = _check(store, engine, spec, book, source, columns, profile, settings, progress, beside)
                result = checked.result
                result.warnings = warnings + result.warnings
                if strict and result.rows_rejected:
                    if checked.accepted is not None:  # every problem, as the quarantine would have held them
                        _list_problems(engine, book, spec, source, columns, profile, checked.ragged)
                        result.errors, result.errors_not_shown = _problems_preview(engine, book, spec, source, columns, profile,
                                                                                   checked.ragged, settings)
                    result.ok, result.stored, result.batch_id, result.receipt = False, False, None, None
                elif checked.accepted is not None:
                    with store.transaction():
                        _store(store, engine, spec, book, source, columns, profile, settings, progress, ledger, checked, beside)
                        if progress:
                            progress("committing", 0, None)
                        committing = time.perf_counter()
                    result.timings["commit"] = round(time.perf_counter() - committing, 3)
                    if result.receipt is not None and outermost:
                        from ..ledger import witness

                        # only now, after the commit: a head whose import rolled back is never confirmed
                        witness.committed(store, settings)
                    if progress:
                        progress("committing", 0, 0)
                result.timings = {"open_and_hash_file": scanned, **result.timings}
            except Exception as exc:
                if source.failure is not None:  # the file turned out unreadable part-way through
                    raise source.failure from None
                if _out_of_memory(exc):
                    raise RoughtraceError(Problem(
                        "out_of_memory", f"importing {source.name} needed more memory than the import may use (the setting "
                        "import_memory_limit); nothing was stored. Raise it, e.g. --set import_memory_limit=2GB, or send the file "
                        "in parts", file=source.name)) from None
                raise
            finally:
                _drop_temp(engine)
                store.release_import_engine(engine)
    finally:
        readers.close_source(source)
    return result


def _out_of_memory(exc: BaseException) -> bool:
    """Whether the engine gave up for want of memory (at a step, or at commit: DuckDB keeps a
    table's indexes in memory whole)."""
    text = str(exc)
    return type(exc).__name__ == "OutOfMemoryException" or "failed to pin block" in text or "Out of Memory Error" in text


def _drop_temp(engine: Any) -> None:
    """Drop this import's work tables and views. Only what exists is dropped, by its kind: inside a
    caller's transaction a failed statement would abort it."""
    names = (STAGED, VERDICTS, MEMBERS, TWINS, REPEATS, "rt_party_keys", "rt_rejects", "rt_quarantine", "rt_over")
    listed = ", ".join(q(name) for name in names)
    try:
        found = engine.execute(f"""
            SELECT 'VIEW', view_name FROM duckdb_views() WHERE temporary AND view_name IN ({listed})
            UNION ALL SELECT 'TABLE', table_name FROM duckdb_tables() WHERE temporary AND table_name IN ({listed})
            UNION ALL SELECT 'TABLE', {q(WORK)} || '.' || table_name FROM duckdb_tables()
                      WHERE database_name = {q(WORK)} AND table_name IN ({listed})""").fetchall()
        for kind, name in found:
            engine.execute(f"DROP {kind} IF EXISTS {name}")
    except Exception:  # noqa: BLE001 - the engine may already be closed by a failed transaction
        pass


# -- the load --------------------------------------------------------------------------------------
def _mapped_sql(spec: Kind, columns: ColumnMap, profile: MappingProfile | None, relation: str,
                record_header: list[str] | None = None) -> str:
    """Text `v_<col>` of every contract column (NULL when empty), spellings mapped, from a stream
    whose contract columns come trimmed (`_trimmed_positions`); with `record_header`, also the
    record verbatim (the stream's `r<i>` columns) as a JSON object of the file's own names."""
    selects = ["_row"]
    for column in spec.columns:
        if column.name not in columns.positions:
            selects.append(f"NULL::VARCHAR AS v_{column.name}")
            continue
        text = f"NULLIF(c{columns.positions[column.name]}, '')"
        spellings = (profile.values.get(column.name) if profile else None) or {}
        if spellings:
            cases = " ".join(f"WHEN {q(k)} THEN {q(v)}" for k, v in spellings.items())
            text = f"CASE upper({text}) {cases} ELSE {text} END"
        selects.append(f"{text} AS v_{column.name}")
    if columns.extras:
        pairs = ", ".join(f"{q(name)}, c{i}" for name, i in columns.extras.items())
        selects.append(f"json_object({pairs})::VARCHAR AS extras")
    else:
        selects.append("NULL::VARCHAR AS extras")
    if record_header is not None:
        pairs = ", ".join(f"{q(name)}, r{i}" for i, name in enumerate(record_header))
        selects.append(f"json_object({pairs})::VARCHAR AS record")
    return f"SELECT {', '.join(selects)} FROM {relation}"


def _trimmed_positions(columns: ColumnMap) -> frozenset[int]:
    """The file columns read with surrounding whitespace removed: those feeding the contract
    (extra columns are kept as written)."""
    return frozenset(columns.positions.values())


@dataclass
class _Checked:
    """A file read and checked, not yet stored: `accepted` names the engine's relation of the new
    rows to store (None when there are none to store: nothing new, or the same file again)."""

    result: ImportResult
    clock: _Clock
    ragged: list[readers.Ragged]
    new_rows: int = 0
    accepted: str | None = None


def _check(store: Store, engine: Any, spec: Kind, book: RuleBook, source: readers.SourceFile, columns: ColumnMap,
           profile: MappingProfile | None, settings: Settings, progress: ProgressFn | None, shared: bool) -> _Checked:
    """Stages 1 and 2 and the counts, in the engine; reads the store, writes nothing to it. With
    `shared`, the staged records and verdicts are made readable from a second connection (`WORK`)."""
    result = ImportResult(kind=spec.name, file=source.name)
    clock = _Clock(result.timings)
    if shared:
        engine.execute(f"ATTACH IF NOT EXISTS ':memory:' AS {WORK}")

    # Stage 1: one streaming pass types every value and runs the per-record rules.
    size = source.path.stat().st_size
    if progress:
        progress("reading", 0, size)
    engine.register(RAW, source.reader(_trimmed_positions(columns)))
    typed = ", ".join(f"{typed_sql(c, book.notation)} AS {c.name}" for c in spec.columns)
    _work_table(engine, STAGED, f"""
        SELECT _row, {', '.join(c.name for c in spec.columns)}, extras, {book.any_broken_sql(int(settings["max_text_length"]))} AS bad
        FROM (SELECT m.*, {typed} FROM ({_mapped_sql(spec, columns, profile, RAW)}) m)""", shared)
    engine.unregister(RAW)
    clock.lap("read_and_type")
    if progress:
        progress("reading", size, size)
    ragged = list(source.ragged)
    checked = _Checked(result, clock, ragged)
    staged_rows = _scalar(engine, f"SELECT count(*) FROM {STAGED}")
    result.rows_read = staged_rows + len(ragged)
    if progress:
        progress("checking", 0, result.rows_read)

    # Stage 2: references and identity, as (row, bit) verdicts; 'unchanged' rows are no-ops.
    stage2 = _stage2(store, engine, spec, book)
    _work_table(engine, VERDICTS, f"""
        SELECT _row, bit_or(bit) AS mask, bool_or(unchanged) AS unchanged
        FROM ({stage2}) GROUP BY _row""", shared)
    clock.lap("check_references_and_identity")
    rejected = _scalar(engine, f"""SELECT (SELECT count(*) FROM {STAGED} WHERE bad)
        + (SELECT count(*) FROM {VERDICTS} v JOIN {STAGED} s USING (_row) WHERE v.mask <> 0 AND NOT s.bad)""")
    unchanged = _scalar(engine, f"""SELECT count(*) FROM {VERDICTS} v JOIN {STAGED} s USING (_row)
                                    WHERE v.unchanged AND v.mask = 0 AND NOT s.bad""")
    result.rows_rejected = rejected + len(ragged)
    result.rows_unchanged = unchanged
    result.rows_accepted = staged_rows - rejected
    checked.new_rows = result.rows_accepted - unchanged
    if result.rows_read != result.rows_accepted + result.rows_rejected:
        raise RoughtraceError(Problem("count_mismatch", "rows read differ from rows accepted plus rows rejected; nothing was stored", file=source.name))
    if spec.name == "polished_outcomes":
        result.warnings += _conflicting_claims(engine, source.name)
    if progress:
        progress("checking", result.rows_read, result.rows_read)

    clock.lap("count_and_flag")
    previous = _previous_batch(store, spec.name, source.sha256, profile.sha256 if profile else None)
    if checked.new_rows == 0 and (result.rows_rejected == 0 or previous is not None):
        result.duplicate_of = previous
        result.ok = True
        result.errors, result.errors_not_shown = _problems_preview(engine, book, spec, source, columns, profile, ragged, settings) if result.rows_rejected else ([], 0)
        return checked
    where = f"{WORK}." if shared else ""
    checked.accepted = f"(SELECT * FROM {where}{STAGED} s WHERE NOT s.bad AND s._row NOT IN (SELECT _row FROM {where}{VERDICTS})) AS accepted"
    return checked


def _work_table(engine: Any, name: str, select_sql: str, shared: bool) -> None:
    """Make the engine's work table `name` from `select_sql`: temporary, or `shared` (`WORK`)."""
    if shared:
        engine.execute(f"CREATE OR REPLACE TABLE {WORK}.{name} AS {select_sql}")
        engine.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {WORK}.{name}")
    else:
        engine.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {select_sql}")


def _store(store: Store, engine: Any, spec: Kind, book: RuleBook, source: readers.SourceFile, columns: ColumnMap,
           profile: MappingProfile | None, settings: Settings, progress: ProgressFn | None, ledger: bool,
           checked: _Checked, hash_beside: bool) -> None:
    """Write the checked file's new rows, its quarantine, its batch, its ledger entry and the box
    records it changes, inside the caller's transaction."""
    result, clock, ragged, accepted = checked.result, checked.clock, checked.ragged, checked.accepted
    if progress:
        progress("storing", 0, checked.new_rows)
    batch_id = int(store.query("SELECT nextval('batch_id_seq') AS id").column("id")[0].as_py())
    result.batch_id = batch_id
    names = ", ".join(c.name for c in spec.columns)
    store.write_from(engine, spec.name, f"SELECT {names}, {batch_id}::BIGINT AS batch_id, _row AS source_row, extras FROM {accepted}",
                     checked.new_rows)
    clock.lap("store_rows")
    if progress:
        progress("storing", checked.new_rows, checked.new_rows)
    if result.rows_rejected:
        if progress:
            progress("quarantine", 0, result.rows_rejected)
        _quarantine(store, engine, book, spec, source, columns, profile, ragged, batch_id)
        result.errors, result.errors_not_shown = _problems_preview(engine, book, spec, source, columns, profile, ragged, settings)
        if progress:
            progress("quarantine", result.rows_rejected, result.rows_rejected)
    store.execute(
        "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, CURRENT_TIMESTAMP)",
        (batch_id, spec.name, source.name, source.sha256, profile.sha256 if profile else None,
         result.rows_read, result.rows_accepted, result.rows_rejected, result.rows_unchanged),
    )
    clock.lap("quarantine")
    from ..ledger import imports as ledger_imports

    # A DuckDB store has written the rows by now and the checked records are committed in the
    # engine's work database: a second connection hashes them for the ledger while this one makes
    # the box records, each using the core the other leaves idle (docs/performance.md).
    # PostgreSQL keeps no box records and writes its rows behind; its ledger
    # hashes beside that write.
    beside = ledger_imports.HashingBeside(engine, spec, accepted) if hash_beside else None
    try:
        if progress:
            progress("box records", 0, None)
        _refresh_box_records(store, spec, batch_id, settings)
        clock.lap("box_records")
        if progress:
            progress("box records", 0, 0)
        if ledger:
            if progress:
                progress("hashing", 0, checked.new_rows)
            result.receipt = ledger_imports.record_import(store, engine, spec, source, batch_id, result, accepted, settings,
                                                          beside.chunks() if beside is not None else None)
            clock.lap("ledger")
            if progress:
                progress("hashing", checked.new_rows, checked.new_rows)
    finally:
        if beside is not None:
            beside.close()
    result.stored = True
    result.ok = True


def _refresh_box_records(store: Store, spec: Kind, batch_id: int, settings: Settings) -> None:
    """Bring the provenance records of the boxes the batch touches up to date, in this transaction."""
    from ..provenance import boxes

    boxes.refresh(store, spec.name, batch_id, settings)


class _Clock:
    def __init__(self, laps: dict[str, float]) -> None:
        self.laps, self.last = laps, time.perf_counter()

    def lap(self, label: str) -> None:
        now = time.perf_counter()
        self.laps[label] = round(now - self.last, 3)
        self.last = now


def _scalar(engine: Any, sql: str) -> int:
    return int(engine.execute(sql).fetchall()[0][0] or 0)


# -- stage 2 -----------------------------------------------------------------------------------------
def _typed_columns(spec_name: str, names: tuple[str, ...]) -> dict[str, str]:
    spec = KINDS[spec_name]
    return {n: SQL_TYPES[spec.column(n).type] for n in names}


def _stage2(store: Store, engine: Any, spec: Kind, book: RuleBook) -> str:
    """SQL producing (_row, bit, unchanged) for every stage-2 finding of the staged file."""
    parts: list[str] = ["SELECT NULL::BIGINT AS _row, 0::HUGEINT AS bit, false AS unchanged WHERE false"]

    def flag(code: str, column: str, select_rows: str) -> None:
        parts.append(f"SELECT _row, {1 << book.bit(code, column)}::HUGEINT AS bit, false AS unchanged FROM ({select_rows})")

    party_columns = [c.name for c in spec.columns if c.type == kinds.PARTY]
    if party_columns:
        union = " UNION ".join(f"SELECT {c} AS party_id FROM {STAGED}" for c in party_columns)
        engine.execute(f"CREATE OR REPLACE TEMP VIEW rt_party_keys AS {union}")
        parties = store.reference(engine, "parties", {"party_id": "VARCHAR"}, ("party_id",), "rt_party_keys")
        # one pass over the file, one left join per party column against the (small) parties
        joins = " ".join(f"LEFT JOIN {parties} p{i} ON p{i}.party_id = s.{c}" for i, c in enumerate(party_columns))
        unknown = [(f"s.{c} IS NOT NULL AND p{i}.party_id IS NULL", 1 << book.bit("unknown_party", c))
                   for i, c in enumerate(party_columns)]
        parts.append(_bits_sql(f"{STAGED} s {joins}", unknown))

    if spec.name in ("polished_outcomes", "rough_dispositions"):
        date_column = "polished_date" if spec.name == "polished_outcomes" else "date"
        boxes = store.reference(engine, "rough_sales", _typed_columns("rough_sales", ("box_id", "buyer_id", "sale_date")), ("box_id",), STAGED)
        # box_id is the key of the sales: one left join finds all three problems in one pass
        parts.append(_bits_sql(f"{STAGED} s LEFT JOIN {boxes} b ON b.box_id = s.box_id", [
            ("s.box_id IS NOT NULL AND b.box_id IS NULL", 1 << book.bit("unknown_box", "box_id")),
            ("s.sightholder_id <> b.buyer_id", 1 << book.bit("box_not_bought", "sightholder_id")),
            (f"s.{date_column} < b.sale_date", 1 << book.bit("before_sale", date_column)),
        ]))

    if spec.name == "kp_certificates":
        header = [c.name for c in spec.columns if c.name not in kinds.CERTIFICATE_LINE_COLUMNS]
        header_hash = f"hash({', '.join(header)})"
        stored = store.reference(engine, "kp_certificates", _typed_columns("kp_certificates", tuple(header)), ("certificate_id",), STAGED)
        flag("header_mismatch", "certificate_id", f"""
            SELECT _row FROM {STAGED} WHERE certificate_id IN (
                SELECT certificate_id FROM (
                    SELECT certificate_id, {header_hash} AS h FROM {STAGED} WHERE NOT bad
                    UNION ALL SELECT certificate_id, {header_hash} AS h FROM {stored})
                GROUP BY certificate_id HAVING count(DISTINCT h) > 1)""")

    if spec.key:
        parts += _identity_by_key(store, engine, spec, book)
    else:
        parts += _identity_by_content(store, engine, spec)

    if spec.name == "parcel_contents":
        parts += _parcel_capacity(store, engine, spec, book, flag)
    return " UNION ALL ".join(f"SELECT _row, bit, unchanged FROM ({part})" for part in parts)


def _bits_sql(source: str, findings: list[tuple[str, int]]) -> str:
    """(_row, bit, unchanged) of the records of `source` (aliased `s`) meeting any finding's
    condition, the bits of every condition met or-ed into one."""
    bits = " | ".join(f"CASE WHEN {condition} THEN {bit}::HUGEINT ELSE 0::HUGEINT END" for condition, bit in findings)
    met = " OR ".join(f"coalesce({condition}, false)" for condition, _ in findings)
    return f"SELECT s._row, {bits} AS bit, false AS unchanged FROM {source} WHERE {met}"


def _identity_by_key(store: Store, engine: Any, spec: Kind, book: RuleBook) -> list[str]:
    """Same key, same values: a no-op. Same key, other values: the later record is rejected.
    Records sharing a claim (the key; a stone's lab and number for outcomes) with another record of
    the file are found by one hash per record and kept in MEMBERS, few in any real file; the
    stored records sharing a claim with a record of the file are joined once into TWINS."""
    key, claim, names = spec.key, _claim(spec), spec.column_names
    on = " AND ".join(f"a.{k} = b.{k}" for k in key)
    dup_bit = 1 << book.bit(DUPLICATE_IN_FILE, _dup_column(spec))
    stored_bit = 1 << book.bit(ALREADY_STORED, _dup_column(spec))
    engine.execute(f"""CREATE OR REPLACE TEMP TABLE {MEMBERS} AS
        SELECT *, hash({', '.join(names)}) AS content FROM {STAGED}
        WHERE NOT bad AND {_repeated(engine, f"hash({', '.join(claim)})")}""")
    in_file = f"""
        WITH firsts AS (SELECT {', '.join(key)}, min(_row) AS first_row, arg_min(content, _row) AS first_content
                        FROM {MEMBERS} GROUP BY ALL)
        SELECT b._row, CASE WHEN b.content = a.first_content THEN 0 ELSE {dup_bit} END::HUGEINT AS bit,
               b.content = a.first_content AS unchanged
        FROM {MEMBERS} b JOIN firsts a ON {on} WHERE b._row > a.first_row"""
    stored = store.reference(engine, spec.name, _typed_columns(spec.name, names), _lookup_key(spec), STAGED)
    same_key = " AND ".join(f"a.{k} = b.{k}" for k in key if k not in claim) or "true"
    same = " AND ".join(f"a.{c} IS NOT DISTINCT FROM b.{c}" for c in names)
    engine.execute(f"""CREATE OR REPLACE TEMP TABLE {TWINS} AS
        SELECT b._row, {', '.join('b.' + c for c in claim)}, {same_key} AS same_key, {same} AS same_values
        FROM {STAGED} b JOIN {stored} a ON {' AND '.join(f'a.{c} = b.{c}' for c in claim)} WHERE NOT b.bad""")
    against_store = f"""SELECT _row, CASE WHEN same_values THEN 0 ELSE {stored_bit} END::HUGEINT AS bit, same_values AS unchanged
                        FROM {TWINS} WHERE same_key"""
    return [in_file, against_store]


def _repeated(engine: Any, hashed: str) -> str:
    """A condition on the staged records: the 64-bit hash `hashed` of this record is shared by another
    valid record of the file; the caller decides among the few candidates. The hashes are sorted in
    numpy, in place, and neighbours compared: quicker than the engine's group-by of as many distinct
    keys, and less memory than its hash table (docs/performance.md). The repeated hashes, if any, go to a table the condition reads; a file with none gets FALSE."""
    hashes = np.asarray(engine.sql(f"SELECT {hashed} AS h FROM {STAGED} WHERE NOT bad").fetchnumpy()["h"], dtype=np.uint64)
    hashes.sort()
    repeated = np.unique(hashes[1:][hashes[1:] == hashes[:-1]])
    del hashes
    if not len(repeated):
        return "false"
    engine.register("rt_repeated_hashes", pa.table({"h": pa.array(repeated, pa.uint64())}))
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {REPEATS} AS SELECT h FROM rt_repeated_hashes")
    engine.unregister("rt_repeated_hashes")
    return f"{hashed} IN (SELECT h FROM {REPEATS})"


def _claim(spec: Kind) -> tuple[str, ...]:
    """What one record claims: a stone (its lab and report number) for outcomes, whichever box
    and sightholder report it; the key for other kinds."""
    return ("lab", "stone_id") if spec.name == "polished_outcomes" else spec.key


def _lookup_key(spec: Kind) -> tuple[str, ...]:
    """The columns the store is searched by for a kind's stored twins: a stone's report number
    finds every claim on it (conflicting claims included), in one look-up."""
    return ("stone_id",) if spec.name == "polished_outcomes" else spec.key


def _dup_column(spec: Kind) -> str:
    from .rules import DUPLICATES

    return DUPLICATES[spec.name][0]


def _identity_by_content(store: Store, engine: Any, spec: Kind) -> list[str]:
    """Kinds without a key are identified by their whole content: a repeat is a no-op."""
    names = spec.column_names
    content = f"hash({', '.join(names)})"
    in_file = f"""
        WITH members AS (SELECT _row, {content} AS h FROM {STAGED} WHERE NOT bad AND {_repeated(engine, content)})
        SELECT _row, 0::HUGEINT AS bit, true AS unchanged FROM (SELECT _row, min(_row) OVER (PARTITION BY h) AS first_row FROM members)
        WHERE _row > first_row"""
    stored = store.reference(engine, spec.name, _typed_columns(spec.name, names), ("box_id",) if "box_id" in names else ("certificate_id",), STAGED)
    same = " AND ".join(f"a.{c} IS NOT DISTINCT FROM b.{c}" for c in names)
    against_store = f"SELECT b._row, 0::HUGEINT AS bit, true AS unchanged FROM {STAGED} b JOIN {stored} a ON {same} WHERE NOT b.bad"
    return [in_file, against_store]


def _parcel_capacity(store: Store, engine: Any, spec: Kind, book: RuleBook, flag: Callable[[str, str, str], None]) -> list[str]:
    """Contents count in file order: a row that would take its certificate line over the line's
    carats is rejected and does not count toward the total."""
    lines = store.reference(engine, "kp_certificates", _typed_columns("kp_certificates", ("certificate_id", "hs_code", "carats")), ("certificate_id",), STAGED)
    flag("unknown_certificate_line", "hs_code", f"""SELECT _row FROM {STAGED} s WHERE s.certificate_id IS NOT NULL AND s.hs_code IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM {lines} l WHERE l.certificate_id = s.certificate_id AND l.hs_code = s.hs_code)""")
    stored = store.reference(engine, "parcel_contents", _typed_columns("parcel_contents", spec.column_names), ("certificate_id",), STAGED)
    candidates = engine.sql(f"""
        WITH repeats AS (SELECT _row FROM (SELECT _row, row_number() OVER (PARTITION BY hash({', '.join(spec.column_names)}) ORDER BY _row) AS n
                                           FROM {STAGED} WHERE NOT bad) WHERE n > 1),
             already AS (SELECT b._row FROM {STAGED} b JOIN {stored} a ON {' AND '.join(f'a.{c} IS NOT DISTINCT FROM b.{c}' for c in spec.column_names)}),
             used AS (SELECT certificate_id, hs_code, sum(carats) AS used FROM {stored} GROUP BY ALL)
        SELECT s._row, dense_rank() OVER (ORDER BY s.certificate_id, s.hs_code) AS grp, s.carats::DOUBLE * 1000 AS mct,
               (l.carats - coalesce(u.used, 0))::DOUBLE * 1000 AS room
        FROM {STAGED} s JOIN {lines} l ON l.certificate_id = s.certificate_id AND l.hs_code = s.hs_code
        LEFT JOIN used u ON u.certificate_id = s.certificate_id AND u.hs_code = s.hs_code
        WHERE NOT s.bad AND s._row NOT IN (SELECT _row FROM repeats) AND s._row NOT IN (SELECT _row FROM already)
        ORDER BY grp, s._row""").to_arrow_table()
    over = _over_capacity(candidates)
    engine.register("rt_over_capacity", pa.table({"_row": pa.array(over, pa.int64())}))
    engine.execute("CREATE OR REPLACE TEMP TABLE rt_over AS SELECT * FROM rt_over_capacity")
    engine.unregister("rt_over_capacity")
    flag("over_line_carats", "carats", "SELECT _row FROM rt_over")
    return []


def _over_capacity(candidates: pa.Table) -> np.ndarray:
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


def _conflicting_claims(engine: Any, file_name: str) -> list[Problem]:
    """A stone claimed from another box or by another sightholder is stored and flagged."""
    rows = engine.sql(f"""
        WITH in_file AS (SELECT lab, stone_id FROM {MEMBERS} GROUP BY lab, stone_id
                         HAVING count(DISTINCT (sightholder_id, box_id)) > 1),
             with_store AS (SELECT lab, stone_id FROM {TWINS} WHERE NOT same_key),
             contested AS (SELECT * FROM in_file UNION SELECT * FROM with_store)
        SELECT count(*) AS n, list(stone_id ORDER BY stone_id)[1:5] AS sample FROM contested""").fetchall()
    n, sample = rows[0]
    if not n:
        return []
    return [Problem("conflicting_claim",
                    f"{n} stone(s) are also claimed from another box or by another sightholder (e.g. {', '.join(sample)}); "
                    "they are stored and flagged as conflicting claims", file=file_name)]


def _previous_batch(store: Store, kind: str, sha256: str, profile_sha256: str | None) -> int | None:
    found = store.query(
        "SELECT min(batch_id) AS b FROM batches WHERE kind = ? AND file_sha256 = ? AND coalesce(profile_sha256, '') = ?",
        (kind, sha256, profile_sha256 or ""))
    value = found.column("b")[0].as_py()
    return int(value) if value is not None else None


# -- quarantine ----------------------------------------------------------------------------------------
def _rejects_sql(book: RuleBook) -> str:
    """Rejected records: broken by a stage-1 rule, or flagged in stage 2 (with its bits)."""
    return f"""SELECT s._row, coalesce(v.mask, 0::HUGEINT) AS stage2 FROM {STAGED} s LEFT JOIN {VERDICTS} v USING (_row)
               WHERE s.bad OR coalesce(v.mask, 0) <> 0"""


def _problems_table(engine: Any, book: RuleBook, spec: Kind, source: readers.SourceFile, columns: ColumnMap,
                    profile: MappingProfile | None, limit: int | None = None) -> None:
    """Re-read the file for the rejected records only: their verbatim record, and every rule they
    break (stage-1 rules evaluated precisely here, stage-2 bits from the verdicts)."""
    engine.execute(f"CREATE OR REPLACE TEMP TABLE rt_rejects AS {_rejects_sql(book)} ORDER BY _row {'' if limit is None else f'LIMIT {int(limit)}'}")
    problems = ", ".join(
        f"CASE WHEN r.mask & {1 << i}::HUGEINT <> 0 THEN struct_pack(code := {q(rule.code)}, \"column\" := {q(rule.column)}, message := {message_sql(rule.message)}) END"
        for i, rule in enumerate(book.rules))
    typed = ", ".join(f"{typed_sql(c, book.notation)} AS {c.name}" for c in spec.columns)
    engine.register(RAW, source.reader(_trimmed_positions(columns), verbatim=True))
    mapped = _mapped_sql(spec, columns, profile, RAW, source.header)
    engine.execute(f"""CREATE OR REPLACE TEMP TABLE rt_quarantine AS
        SELECT r._row, r.record, to_json(list_filter([{problems}], lambda p: p IS NOT NULL))::VARCHAR AS problems
        FROM (SELECT m.*, ({book.mask_sql(1)}) | j.stage2 AS mask
              FROM rt_rejects j JOIN (SELECT x.*, {typed} FROM ({mapped}) x) m USING (_row)) r
        ORDER BY r._row""")
    engine.unregister(RAW)


def _ragged_problems(ragged: list[readers.Ragged], source: readers.SourceFile) -> pa.Table:
    return pa.table({
        "_row": pa.array([r.row for r in ragged], pa.int64()),
        "record": pa.array([json.dumps({"_text": r.text}, ensure_ascii=False) for r in ragged], pa.string()),
        "problems": pa.array([json.dumps([{"code": r.code, "column": None, "message": r.problem()}]) for r in ragged], pa.string()),
    })


def _list_problems(engine: Any, book: RuleBook, spec: Kind, source: readers.SourceFile, columns: ColumnMap,
                   profile: MappingProfile | None, ragged: list[readers.Ragged]) -> None:
    """Every rejected record with its problems, ragged ones included, in the engine (`rt_quarantine`)."""
    _problems_table(engine, book, spec, source, columns, profile)
    _add_ragged(engine, ragged, source)
    _add_lines(engine, source)


def _quarantine(store: Store, engine: Any, book: RuleBook, spec: Kind, source: readers.SourceFile, columns: ColumnMap,
                profile: MappingProfile | None, ragged: list[readers.Ragged], batch_id: int) -> None:
    _list_problems(engine, book, spec, source, columns, profile, ragged)
    store.write_from(engine, "quarantine", f"""SELECT {batch_id}::BIGINT AS batch_id, {q(spec.name)} AS kind, {q(source.name)} AS file_name,
        _row AS source_row, record, problems FROM rt_quarantine ORDER BY _row""")


def _problems_preview(engine: Any, book: RuleBook, spec: Kind, source: readers.SourceFile, columns: ColumnMap,
                      profile: MappingProfile | None, ragged: list[readers.Ragged], settings: Settings) -> tuple[list[Problem], int]:
    """The problems to show the user now, up to a setting's limit; every one is in the quarantine."""
    limit = int(settings["max_reported_errors"])
    if not engine.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'rt_quarantine'").fetchall()[0][0]:
        _problems_table(engine, book, spec, source, columns, profile, limit)
        _add_ragged(engine, ragged, source)
        _add_lines(engine, source)
    rows = engine.execute(f"SELECT _row, problems FROM rt_quarantine ORDER BY _row LIMIT {limit}").fetchall()
    found = [Problem(p["code"], p["message"], file=source.name, row=int(row), column=p["column"], line=p.get("line"))
             for row, problems in rows for p in json.loads(problems)]
    total = _scalar(engine, "SELECT sum(json_array_length(problems)) FROM rt_quarantine") if len(rows) >= limit else len(found)
    return found[:limit], max(0, total - min(limit, len(found)))


def _add_lines(engine: Any, source: readers.SourceFile) -> None:
    """Each rejected record's problems name the line a user finds it on (`line`), worked out for
    the rejected records only."""
    if source.line_of is None:
        return
    rows = np.asarray(engine.sql("SELECT _row FROM rt_quarantine").fetchnumpy()["_row"], dtype=np.int64)
    if not len(rows):
        return
    engine.register("rt_lines", pa.table({"_row": pa.array(rows), "line": pa.array(source.line_of(rows), pa.int64())}))
    engine.execute("""UPDATE rt_quarantine q
        SET problems = to_json(list_transform(q.problems::JSON[], lambda p: json_merge_patch(p, json_object('line', l.line))))::VARCHAR
        FROM rt_lines l WHERE l._row = q._row""")
    engine.unregister("rt_lines")


def _add_ragged(engine: Any, ragged: list[readers.Ragged], source: readers.SourceFile) -> None:
    if ragged:
        engine.register("rt_ragged", _ragged_problems(ragged, source))
        engine.execute("INSERT INTO rt_quarantine SELECT _row, record, problems FROM rt_ragged")
        engine.unregister("rt_ragged")


__all__ = ["ImportResult", "ColumnMap", "import_file", "map_columns"]
