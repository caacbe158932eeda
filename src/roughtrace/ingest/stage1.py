"""Stage 1: one streaming pass types every value and flags each record breaking a stage-1 rule.

The reader's stream goes into the engine as it is read; every contract column comes out typed
(exact DECIMAL, real dates, canonical enumerations) beside the cheap flag `bad`. The precise
codes are worked out later, for the rejected records only (`quarantine.py`).
"""

from __future__ import annotations

from .job import ImportJob
from .mapping import mapped_sql
from .rules import typed_sql


def typed_select(job: ImportJob, relation: str, record_header: list[str] | None = None) -> str:
    """The records of `relation` (a reader's stream) with their texts `v_<col>` and typed columns."""
    typed = ", ".join(f"{typed_sql(c, job.book.notation)} AS {c.name}" for c in job.kind.columns)
    return f"SELECT m.*, {typed} FROM ({mapped_sql(job.kind, job.columns, job.profile, relation, record_header)}) m"


def stage_records(job: ImportJob) -> int:
    """Stream the file into the job's `staged` table, typed and flagged; returns the records staged."""
    raw = job.names.raw
    job.engine.register(raw, job.source.reader(job.columns.trimmed_positions()))
    try:
        job.work_table(job.names.staged, f"""
            SELECT _row, {', '.join(c.name for c in job.kind.columns)}, extras,
                   {job.book.any_broken_sql(int(job.settings["max_text_length"]))} AS bad
            FROM ({typed_select(job, raw)})""")
    finally:
        job.engine.unregister(raw)
    return job.scalar(f"SELECT count(*) FROM {job.names.staged}")


__all__ = ["stage_records", "typed_select"]
