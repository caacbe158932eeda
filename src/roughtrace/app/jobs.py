"""Imports sent to the service: each upload is a job, queued on disk, run by the one writer.

A job row is written when an upload is accepted (state queued) and its file is spooled, so an
accepted upload outlives a restart: `pending_jobs` gives back the queued ones, and those a stopped
server left running (an import is one transaction, so a stop part-way leaves the store unchanged
and the job is run again; a file already stored is then found unchanged, by its content).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import Problem, RoughtraceError, UsageError, problems_from
from . import Context
from .access import hidden, own_upload, require, require_upload

if TYPE_CHECKING:
    from ..store import Store

STATES = ("queued", "running", "done", "failed")

COLUMNS = ("job_id, kind, file_name, file_format, spool_path, bytes, account_id, role, party_id, state, batch_id, result, "
           "submitted_at, started_at, finished_at")


@dataclass(frozen=True)
class Job:
    """One upload: what it holds, who sent it, where it stands and, once run, the import's result."""

    job_id: str
    kind: str
    file_name: str
    file_format: str | None
    spool_path: str
    bytes: int
    account_id: str
    role: str
    party_id: str | None
    state: str
    batch_id: int | None
    result: dict[str, Any] | None
    submitted_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    def as_dict(self) -> dict[str, Any]:
        """The job as its sender sees it: state, counts, problems and the receipt (never the spool path)."""
        result = self.result or {}
        return {"job_id": self.job_id, "kind": self.kind, "file_name": self.file_name, "bytes": self.bytes,
                "state": self.state, "batch_id": self.batch_id, "account_id": self.account_id, "party_id": self.party_id,
                "submitted_at": self.submitted_at, "started_at": self.started_at, "finished_at": self.finished_at,
                "rows_read": result.get("rows_read"), "rows_accepted": result.get("rows_accepted"),
                "rows_quarantined": result.get("rows_rejected"), "rows_unchanged": result.get("rows_unchanged"),
                "duplicate_of": result.get("duplicate_of"), "errors": result.get("errors", []),
                "warnings": result.get("warnings", []), "receipt": result.get("receipt")}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _job(row: dict[str, Any]) -> Job:
    return Job(row["job_id"], row["kind"], row["file_name"], row["file_format"], row["spool_path"], int(row["bytes"]),
               row["account_id"], row["role"], row["party_id"], row["state"], row["batch_id"],
               json.loads(row["result"]) if row["result"] else None, row["submitted_at"], row["started_at"],
               row["finished_at"])


def _load(context: Context, job_id: str) -> Job | None:
    rows = context.store.rows(f"SELECT {COLUMNS} FROM service_jobs WHERE job_id = ?", (job_id,))
    return _job(rows[0]) if rows else None


def may_send(context: Context, kind: str) -> None:
    """Refuse an upload before its body is read: `UsageError` (unknown_kind) for a kind roughtrace
    does not import, `NotAllowed` when the caller's role may not send it."""
    from ..domain.kinds import KINDS

    if kind not in KINDS:
        raise UsageError(Problem("unknown_kind", f"{kind!r} is not a kind roughtrace imports; use one of {', '.join(KINDS)}"))
    require_upload(context.actor, kind)


def new_job_id() -> str:
    return "job_" + uuid.uuid4().hex[:20]


def submit_import(context: Context, job_id: str, kind: str, file_name: str, spool_path: Path, size: int,
                  file_format: str | None = None) -> Job:
    """Queue a spooled upload as a job of the caller's account and party."""
    may_send(context, kind)
    actor = context.actor
    context.store.execute(
        f"INSERT INTO service_jobs ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', NULL, NULL, ?, NULL, NULL)",
        (job_id, kind, file_name, file_format, str(spool_path), size, actor.account_id or actor.name, actor.role,
         actor.party, _now()))
    job = _load(context, job_id)
    assert job is not None
    return job


def job_status(context: Context, job_id: str) -> Job:
    """A job for its sender, its party's other accounts or an admin; any other caller is answered as
    for a job that does not exist (job_not_found)."""
    require(context.actor, "imports")
    job = _load(context, job_id)
    if job is None or not own_upload(context.actor, job.account_id, job.party_id):
        raise hidden("import job", job_id, "job_not_found")
    return job


def _finish(context: Context, job_id: str, state: str, batch_id: int | None, result: dict[str, Any]) -> None:
    from ..json_values import dumps

    context.store.execute("UPDATE service_jobs SET state = ?, batch_id = ?, result = ?, finished_at = ? WHERE job_id = ?",
                          (state, batch_id, dumps(result), _now(), job_id))


def foreign_records(path: Path, kind: str, role: str, party: str | None, file_format: str | None,
                    settings: Any) -> list[Problem]:
    """The problem of a file naming another party where its sender's role must name its own
    (`access.OWN_COLUMNS`): one problem counting such records, with an example; none when every
    record is the sender's, or when the file cannot be read (the import then says why)."""
    import pyarrow.compute as pc

    from ..domain.kinds import KINDS
    from ..ingest import read as readers
    from ..ingest.limits import ReadLimits
    from ..ingest.mapping import map_columns
    from .access import OWN_COLUMNS

    column = OWN_COLUMNS.get((role, kind))
    if column is None:
        return []
    try:
        source = readers.open_source(path, file_format, limits=ReadLimits.from_settings(settings))
    except RoughtraceError:
        return []
    try:
        at = map_columns(KINDS[kind], source, None)[0].positions.get(column)
        if at is None:
            return []
        foreign, example = 0, None
        for batch in source.reader(trim=frozenset({at})):
            values = batch.column(at)
            others = pc.fill_null(pc.not_equal(values, pa_scalar(party or "")), True)
            count = int(pc.sum(pc.cast(others, "int64")).as_py() or 0)
            if count and example is None:
                example = pc.filter(values, others)[0].as_py()
            foreign += count
    except RoughtraceError:
        return []
    finally:
        readers.close_source(source)
    if not foreign:
        return []
    return [Problem("not_your_records", f"{foreign:,} records give {column} {example!r} or another party, not {party}: "
                                        f"a {role} sends only its own {kind}; nothing was stored", file=path.name,
                    column=column)]


def pa_scalar(text: str) -> Any:
    import pyarrow as pa

    return pa.scalar(text, pa.string())


def run_job(context: Context, job_id: str, importer: Store) -> Job:
    """Run a queued job: its file imported into `importer` (the service's one writing store), the
    job's state, counts, problems and receipt recorded through `context.store`, the spooled file
    removed once the job is done or failed."""
    from ..ingest import import_file

    job = _load(context, job_id)
    if job is None or job.state not in ("queued", "running"):
        raise hidden("import job", job_id, "job_not_found")
    context.store.execute("UPDATE service_jobs SET state = 'running', started_at = ? WHERE job_id = ?", (_now(), job_id))
    refused = foreign_records(Path(job.spool_path), job.kind, job.role, job.party_id, job.file_format, context.settings)
    if refused:
        _finish(context, job_id, "failed", None, {"ok": False, "errors": [p.as_dict() for p in refused]})
        _unspool(Path(job.spool_path))
        return _load(context, job_id)  # type: ignore[return-value]
    try:
        result = import_file(importer, job.kind, Path(job.spool_path), file_format=job.file_format,
                             settings=context.settings, actor=_sender(context, job.account_id))
    except Exception as exc:  # noqa: BLE001 - a job's failure is its answer, in the one error shape
        if not isinstance(exc, RoughtraceError | ImportError):
            import logging

            logging.getLogger("roughtrace.service").exception("import job %s failed", job_id)
        problems = [p.as_dict() for p in problems_from(exc)]
        _finish(context, job_id, "failed", None, {"ok": False, "errors": problems})
    else:
        body = result.as_dict()
        _finish(context, job_id, "done" if result.ok else "failed", result.batch_id or result.duplicate_of, body)
    _unspool(Path(job.spool_path))
    finished = _load(context, job_id)
    assert finished is not None
    return finished


def _sender(context: Context, account_id: str) -> str:
    """Who sent a job, as every verdict and receipt names its actor: the account's name (a job
    sent by an actor without an account holds that actor's name already)."""
    rows = context.store.rows("SELECT name FROM accounts WHERE account_id = ?", (account_id,))
    return str(rows[0]["name"]) if rows else account_id


def _unspool(path: Path) -> None:
    """Remove a job's spooled file and the folder of its own it sits in."""
    path.unlink(missing_ok=True)
    try:
        path.parent.rmdir()
    except OSError:
        pass


def pending_jobs(context: Context) -> list[str]:
    """The jobs to run, oldest first: those queued, and those a stopped server left running. A job
    whose spooled file is gone is marked failed (spool_lost) instead."""
    rows = context.store.rows("SELECT job_id, spool_path FROM service_jobs WHERE state IN ('queued', 'running') "
                              "ORDER BY submitted_at, job_id")
    pending = []
    for row in rows:
        if Path(row["spool_path"]).is_file():
            pending.append(row["job_id"])
        else:
            lost = Problem("spool_lost", "the uploaded file was not found when the service started again; send it again")
            _finish(context, row["job_id"], "failed", None, {"ok": False, "errors": [lost.as_dict()]})
    return pending
