"""Storing: the checked file's new rows, its quarantine and its batch row, then the after-store hooks,
all inside the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..domain.kinds import Kind
from ..settings import Settings
from ..store.port import Store
from . import hooks
from .job import ImportJob
from .quarantine import problems_preview, quarantine


@dataclass
class _Stored:
    """What the after-store hooks see of the job (`hooks.StoredBatch`)."""

    job: ImportJob
    batch_id: int

    @property
    def store(self) -> Store:
        return self.job.store

    @property
    def kind(self) -> Kind:
        return self.job.kind

    @property
    def settings(self) -> Settings:
        return self.job.settings

    @property
    def actor(self) -> str:
        return self.job.actor

    @property
    def engine(self) -> Any:
        return self.job.engine

    @property
    def file_name(self) -> str:
        return self.job.source.name

    @property
    def file_sha256(self) -> str:
        return self.job.source.sha256

    @property
    def counts(self) -> dict[str, int]:
        r = self.job.result
        return {"rows_read": r.rows_read, "rows_accepted": r.rows_accepted, "rows_rejected": r.rows_rejected,
                "rows_unchanged": r.rows_unchanged, "rows_new": self.job.new_rows}

    @property
    def accepted(self) -> str:
        assert self.job.accepted is not None
        return self.job.accepted

    @property
    def accepted_beside(self) -> bool:
        return self.job.shared

    def progress(self, step: str, done: int, total: int | None) -> None:
        self.job.progress(step, done, total)

    def give_receipt(self, receipt: dict[str, Any] | None) -> None:
        self.job.result.receipt = receipt

    @property
    def receipt(self) -> dict[str, Any] | None:
        return self.job.result.receipt

    def lap(self, label: str) -> None:
        self.job.clock.lap(label)


def store_batch(job: ImportJob, after: list[hooks.Hook]) -> hooks.StoredBatch:
    """Write the job's new rows, its quarantine and its batch row, then run the `after` hooks (the
    ledger's entry, the box records), inside the caller's transaction; returns the batch as the
    after-commit hooks see it."""
    store, result, progress = job.store, job.result, job.progress
    assert job.accepted is not None
    progress("storing", 0, job.new_rows)
    batch_id = int(store.query("SELECT nextval('batch_id_seq') AS id").column("id")[0].as_py())
    result.batch_id = batch_id
    names = ", ".join(c.name for c in job.kind.columns)
    store.write_from(job.engine, job.kind.name,
                     f"SELECT {names}, {batch_id}::BIGINT AS batch_id, _row AS source_row, extras FROM {job.accepted}", job.new_rows)
    job.clock.lap("store_rows")
    progress("storing", job.new_rows, job.new_rows)
    if result.rows_rejected:
        progress("quarantine", 0, result.rows_rejected)
        quarantine(job, batch_id)
        result.errors, result.errors_not_shown = problems_preview(job)
        progress("quarantine", result.rows_rejected, result.rows_rejected)
    store.execute(
        "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, CURRENT_TIMESTAMP)",
        (batch_id, job.kind.name, job.source.name, job.source.sha256, job.profile.sha256 if job.profile else None,
         result.rows_read, result.rows_accepted, result.rows_rejected, result.rows_unchanged),
    )
    job.clock.lap("quarantine")
    stored = _Stored(job, batch_id)
    with hooks.after_store(after, stored):
        pass
    result.stored = True
    result.ok = True
    return stored


__all__ = ["store_batch"]
