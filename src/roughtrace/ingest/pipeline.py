"""The import of one file: read, map, type (stage 1), check (stage 2), store or quarantine.

Every stage works on whole columns in the import engine (DuckDB) over one `ImportJob`: stage 1
(`stage1.py`) types every value and runs the per-record rules in one streaming pass; stage 2
(`stage2.py`) checks references and identity with joins, per kind; the accepted rows move to the
store by the engine's bulk path and the rejected ones to the quarantine (`storing.py`,
`quarantine.py`); then the hooks the areas registered (`hooks.py`: the ledger's entry, the box
records) run in the same transaction. The whole import commits entirely or leaves the store as
it was. Invariant, checked before commit: rows read = rows accepted + rows rejected.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..domain.kinds import KINDS
from ..errors import Problem, RoughtraceError, UsageError, out_of_memory
from ..settings import Settings
from ..store.port import Store
from . import hooks, read, stage2
from .job import WORK, ImportJob, ImportResult, ProgressFn, new_work_names
from .limits import ReadLimits
from .mapping import ColumnMap, map_columns
from .profile import MappingProfile
from .quarantine import list_problems, problems_preview
from .rules import PLAIN, q, rule_book
from .stage1 import stage_records
from .storing import store_batch


def import_file(store: Store, kind: str, path: str | Path, *, profile: MappingProfile | None = None, strict: bool = False,
                file_format: str | None = None, encoding: str | None = None, settings: Settings | None = None,
                progress: ProgressFn | None = None, ledger: bool = True, actor: str = "cli") -> ImportResult:
    """Import one file of `kind` into `store`. Returns what was accepted, rejected and why; raises
    `FileRejected` (nothing stored) when the file cannot be read as its format. `ledger=False`
    leaves out the ledger's after-store hook. `actor` names who sends the file (its batch entry
    names it, with the settings version of `settings`)."""
    settings = settings or Settings()
    if kind not in KINDS:
        raise UsageError(Problem("unknown_kind", f"{kind!r} is not a kind roughtrace imports; use one of {', '.join(KINDS)}"))
    spec = KINDS[kind]
    if profile is not None:
        profile.check_against(spec)
    after = hooks.REGISTRY.hooks(skip=frozenset() if ledger else frozenset({"ledger"}))
    path = Path(path)
    reading = (lambda done, total: progress("reading", done, total)) if progress else None
    opened = time.perf_counter()
    source = read.open_source(
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
            # the checks only read the store; the writes are one transaction, committed whole or not at all.
            # Outside a caller's transaction on a DuckDB store, the checked records are committed in the
            # engine's work database, where a second connection (a hook's, such as the ledger's) can read them
            outermost = not store.in_transaction()
            job = ImportJob(store, engine, spec, book, source, columns, profile, settings, ImportResult(kind=spec.name, file=source.name),
                            new_work_names(), shared=any(h.reads_beside for h in after) and store.import_engine_is_store and outermost)
            job.actor = actor
            if progress is not None:
                job.progress = progress
            try:
                _check(job)
                result = job.result
                result.warnings = warnings + result.warnings
                if strict and result.rows_rejected:
                    if job.accepted is not None:  # every problem, as the quarantine would have held them
                        list_problems(job)
                        result.errors, result.errors_not_shown = problems_preview(job)
                    result.ok, result.stored, result.batch_id, result.receipt = False, False, None, None
                elif job.accepted is not None:
                    with store.transaction():
                        stored = store_batch(job, after)
                        job.progress("committing", 0, None)
                        committing = time.perf_counter()
                    result.timings["commit"] = round(time.perf_counter() - committing, 3)
                    if outermost:  # only now, after the commit: a head whose import rolled back is never confirmed
                        hooks.after_commit(after, stored)
                    job.progress("committing", 0, 0)
                result.timings = {"open_and_hash_file": scanned, **result.timings}
            except Exception as exc:
                if source.failure is not None:  # the file turned out unreadable part-way through
                    raise source.failure from None
                if out_of_memory(exc):
                    raise RoughtraceError(Problem(
                        "out_of_memory", f"importing {source.name} needed more memory than the import may use (the setting "
                        "import_memory_limit); nothing was stored. Raise it, e.g. --set import_memory_limit=2GB, or send the file "
                        "in parts", file=source.name)) from None
                raise
            finally:
                _drop_work(job)
                store.release_import_engine(engine)
    finally:
        read.close_source(source)
    return result


def _drop_work(job: ImportJob) -> None:
    """Drop the job's work tables and views. Only what exists is dropped, by its kind: inside a
    caller's transaction a failed statement would abort it."""
    listed = ", ".join(q(name) for name in job.names.all())
    try:
        found = job.engine.execute(f"""
            SELECT 'VIEW', view_name FROM duckdb_views() WHERE temporary AND view_name IN ({listed})
            UNION ALL SELECT 'TABLE', table_name FROM duckdb_tables() WHERE temporary AND table_name IN ({listed})
            UNION ALL SELECT 'VIEW', {q(WORK)} || '.' || view_name FROM duckdb_views()
                      WHERE database_name = {q(WORK)} AND view_name IN ({listed})
            UNION ALL SELECT 'TABLE', {q(WORK)} || '.' || table_name FROM duckdb_tables()
                      WHERE database_name = {q(WORK)} AND table_name IN ({listed})""").fetchall()
        for kind, name in found:
            job.engine.execute(f"DROP {kind} IF EXISTS {name}")
    except Exception:  # noqa: BLE001 - the engine may already be closed by a failed transaction
        pass


def _check(job: ImportJob) -> None:
    """Stages 1 and 2 and the counts, in the engine; reads the store, writes nothing to it. Sets
    `job.accepted` to the relation of the rows to store, unless there are none (nothing new, or
    the same file again)."""
    engine, result, names, progress = job.engine, job.result, job.names, job.progress
    if job.shared:
        engine.execute(f"ATTACH IF NOT EXISTS ':memory:' AS {WORK}")

    size = job.source.path.stat().st_size
    progress("reading", 0, size)
    staged_rows = stage_records(job)
    job.clock.lap("read_and_type")
    progress("reading", size, size)
    job.ragged = list(job.source.ragged)
    result.rows_read = staged_rows + len(job.ragged)
    progress("checking", 0, result.rows_read)

    # Stage 2: references and identity, as (row, bit) verdicts; 'unchanged' rows are no-ops.
    job.work_table(names.verdicts, f"""
        SELECT _row, bit_or(bit) AS mask, bool_or(unchanged) AS unchanged
        FROM ({stage2.findings_sql(job)}) GROUP BY _row""")
    job.clock.lap("check_references_and_identity")
    rejected = job.scalar(f"""SELECT (SELECT count(*) FROM {names.staged} WHERE bad)
        + (SELECT count(*) FROM {names.verdicts} v JOIN {names.staged} s USING (_row) WHERE v.mask <> 0 AND NOT s.bad)""")
    unchanged = job.scalar(f"""SELECT count(*) FROM {names.verdicts} v JOIN {names.staged} s USING (_row)
                               WHERE v.unchanged AND v.mask = 0 AND NOT s.bad""")
    result.rows_rejected = rejected + len(job.ragged)
    result.rows_unchanged = unchanged
    result.rows_accepted = staged_rows - rejected
    job.new_rows = result.rows_accepted - unchanged
    if result.rows_read != result.rows_accepted + result.rows_rejected:
        raise RoughtraceError(Problem("count_mismatch", "rows read differ from rows accepted plus rows rejected; nothing was stored",
                                      file=job.source.name))
    result.warnings += stage2.warnings(job)
    progress("checking", result.rows_read, result.rows_read)

    job.clock.lap("count_and_flag")
    previous = _previous_batch(job.store, job.kind.name, job.source.sha256, job.profile.sha256 if job.profile else None)
    if job.new_rows == 0 and (result.rows_rejected == 0 or previous is not None):
        result.duplicate_of = previous
        result.ok = True
        result.errors, result.errors_not_shown = problems_preview(job) if result.rows_rejected else ([], 0)
        return
    staged, verdicts = job.work_name(names.staged), job.work_name(names.verdicts)
    accepted = job.work_name(names.accepted)
    engine.execute(f"""CREATE OR REPLACE {'' if job.shared else 'TEMP '}VIEW {accepted} AS
        SELECT * FROM {staged} s WHERE NOT s.bad AND s._row NOT IN (SELECT _row FROM {verdicts})""")
    job.accepted = accepted


def _previous_batch(store: Store, kind: str, sha256: str, profile_sha256: str | None) -> int | None:
    found = store.query(
        "SELECT min(batch_id) AS b FROM batches WHERE kind = ? AND file_sha256 = ? AND coalesce(profile_sha256, '') = ?",
        (kind, sha256, profile_sha256 or ""))
    value = found.column("b")[0].as_py()
    return int(value) if value is not None else None


__all__ = ["ImportResult", "ColumnMap", "import_file", "map_columns"]
