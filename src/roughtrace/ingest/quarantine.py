"""The rejected records: re-read verbatim with every rule they break, for the quarantine and the user.

Only the rejected records are worked out precisely: the file is read again, the records flagged
in stage 1 or 2 kept, each rule's predicate evaluated on them, and their problems written as
JSON with the line a user finds each record on.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from ..errors import Problem
from .job import ImportJob
from .rules import message_sql, q
from .stage1 import typed_select


def _problems_table(job: ImportJob, limit: int | None = None) -> None:
    """Re-read the file for the rejected records only: their verbatim record, and every rule they
    break (stage-1 rules evaluated precisely here, stage-2 bits from the verdicts)."""
    engine, names, book = job.engine, job.names, job.book
    engine.execute(f"""CREATE OR REPLACE TEMP TABLE {names.rejects} AS
        SELECT s._row, coalesce(v.mask, 0::HUGEINT) AS stage2 FROM {names.staged} s LEFT JOIN {names.verdicts} v USING (_row)
        WHERE s.bad OR coalesce(v.mask, 0) <> 0 ORDER BY _row {'' if limit is None else f'LIMIT {int(limit)}'}""")
    problems = ", ".join(
        f"CASE WHEN r.mask & {1 << i}::HUGEINT <> 0 THEN struct_pack(code := {q(rule.code)}, \"column\" := {q(rule.column)}, message := {message_sql(rule.message)}) END"
        for i, rule in enumerate(book.rules))
    engine.register(names.raw, job.source.reader(job.columns.trimmed_positions(), verbatim=True))
    try:
        engine.execute(f"""CREATE OR REPLACE TEMP TABLE {names.quarantine} AS
            SELECT r._row, r.record, to_json(list_filter([{problems}], lambda p: p IS NOT NULL))::VARCHAR AS problems
            FROM (SELECT m.*, ({book.mask_sql(1)}) | j.stage2 AS mask
                  FROM {names.rejects} j JOIN ({typed_select(job, names.raw, job.source.header)}) m USING (_row)) r
            ORDER BY r._row""")
    finally:
        engine.unregister(names.raw)


def _ragged_problems(job: ImportJob) -> pa.Table:
    ragged = job.ragged
    return pa.table({
        "_row": pa.array([r.row for r in ragged], pa.int64()),
        "record": pa.array([json.dumps({"_text": r.text}, ensure_ascii=False) for r in ragged], pa.string()),
        "problems": pa.array([json.dumps([{"code": r.code, "column": None, "message": r.problem()}]) for r in ragged], pa.string()),
    })


def _add_ragged(job: ImportJob) -> None:
    if job.ragged:
        arrow = job.names.arrow("ragged")
        job.engine.register(arrow, _ragged_problems(job))
        job.engine.execute(f"INSERT INTO {job.names.quarantine} SELECT _row, record, problems FROM {arrow}")
        job.engine.unregister(arrow)


def _add_lines(job: ImportJob) -> None:
    """Each rejected record's problems name the line a user finds it on (`line`), worked out for
    the rejected records only."""
    if job.source.line_of is None:
        return
    engine, table = job.engine, job.names.quarantine
    rows = np.asarray(engine.sql(f"SELECT _row FROM {table}").fetchnumpy()["_row"], dtype=np.int64)
    if not len(rows):
        return
    arrow = job.names.arrow("lines")
    engine.register(arrow, pa.table({"_row": pa.array(rows), "line": pa.array(job.source.line_of(rows), pa.int64())}))
    engine.execute(f"""UPDATE {table} q
        SET problems = to_json(list_transform(q.problems::JSON[], lambda p: json_merge_patch(p, json_object('line', l.line))))::VARCHAR
        FROM {arrow} l WHERE l._row = q._row""")
    engine.unregister(arrow)


def list_problems(job: ImportJob) -> None:
    """Every rejected record with its problems, unreadable ones included, in the job's `quarantine` table."""
    _problems_table(job)
    _add_ragged(job)
    _add_lines(job)


def quarantine(job: ImportJob, batch_id: int) -> None:
    """Write every rejected record of the job to the store's quarantine under `batch_id`."""
    list_problems(job)
    job.store.write_from(job.engine, "quarantine", f"""SELECT {int(batch_id)}::BIGINT AS batch_id, {q(job.kind.name)} AS kind,
        {q(job.source.name)} AS file_name, _row AS source_row, record, problems FROM {job.names.quarantine} ORDER BY _row""")


def problems_preview(job: ImportJob) -> tuple[list[Problem], int]:
    """The problems to show the user now, up to a setting's limit, and how many more there are;
    every one is in the quarantine."""
    limit = int(job.settings["max_reported_errors"])
    engine, table = job.engine, job.names.quarantine
    if not job.scalar(f"SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = {q(table)}"):
        _problems_table(job, limit)
        _add_ragged(job)
        _add_lines(job)
    rows = engine.execute(f"SELECT _row, problems FROM {table} ORDER BY _row LIMIT {limit}").fetchall()
    found = [Problem(p["code"], p["message"], file=job.source.name, row=int(row), column=p["column"], line=p.get("line"))
             for row, problems in rows for p in json.loads(problems)]
    total = job.scalar(f"SELECT sum(json_array_length(problems)) FROM {table}") if len(rows) >= limit else len(found)
    return found[:limit], max(0, total - min(limit, len(found)))


__all__ = ["list_problems", "problems_preview", "quarantine"]
