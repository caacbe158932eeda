"""One import job: what its stages share, and the names of the work tables it makes.

Every stage (typing, the stage-2 checks, the quarantine, the store) takes the `ImportJob`. Its
work tables and views are named from the job's own id, so two imports can run side by side on
one engine or one server without meeting: a DuckDB file opened twice in one process shares
one database, and the engine's work database (`WORK`) is seen by every connection to it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..domain.kinds import Kind
from ..errors import Problem
from ..settings import Settings
from ..store.port import Store
from .mapping import ColumnMap
from .profile import MappingProfile
from .read import Ragged, SourceFile
from .rules import RuleBook

WORK = "rt_import"
"""An in-memory database attached to the import engine. Made `shared`, a job's staged records and
their verdicts are its tables, which a second connection to the engine can read (a temporary table
is seen by its own connection only), and the job reads them through temporary views of the same
names. A DuckDB store's connection writes them only outside a transaction: one transaction may
write one database besides the temporary one."""

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

        body: dict[str, Any] = {
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
class WorkNames:
    """The engine relations one job makes, each `rt_<role>_<job id>`."""

    job_id: str

    def _named(self, role: str) -> str:
        return f"rt_{role}_{self.job_id}"

    @property
    def raw(self) -> str:
        """The file's records as the reader streams them (an Arrow stream registered in the engine)."""
        return self._named("raw")

    @property
    def staged(self) -> str:
        """Every readable record, typed, with its stage-1 flag `bad`."""
        return self._named("staged")

    @property
    def verdicts(self) -> str:
        """The stage-2 findings per record: its problem bits, and whether it is already stored."""
        return self._named("verdicts")

    @property
    def accepted(self) -> str:
        """The view of exactly the rows to store."""
        return self._named("accepted")

    @property
    def members(self) -> str:
        """Records sharing a claim with another record of the file."""
        return self._named("members")

    @property
    def twins(self) -> str:
        """Stored records sharing a claim with a record of the file."""
        return self._named("twins")

    @property
    def repeats(self) -> str:
        """The 64-bit hashes of the claims (or contents) repeated in the file."""
        return self._named("repeats")

    @property
    def party_keys(self) -> str:
        return self._named("party_keys")

    @property
    def over(self) -> str:
        """Parcel contents that would take a certificate line over its carats."""
        return self._named("over")

    @property
    def rejects(self) -> str:
        return self._named("rejects")

    @property
    def quarantine(self) -> str:
        """Every rejected record with its problems, as the quarantine holds them."""
        return self._named("quarantine")

    def arrow(self, role: str) -> str:
        """A name for an Arrow table the job registers in the engine for a moment."""
        return self._named(f"arrow_{role}")

    def all(self) -> tuple[str, ...]:
        """The tables and views the job may leave in the engine until it ends."""
        return (self.staged, self.verdicts, self.accepted, self.members, self.twins, self.repeats, self.party_keys,
                self.over, self.rejects, self.quarantine)


def new_work_names() -> WorkNames:
    return WorkNames(secrets.token_hex(4))


class Clock:
    """The seconds each step took, into `laps`."""

    def __init__(self, laps: dict[str, float]) -> None:
        self.laps, self.last = laps, time.perf_counter()

    def lap(self, label: str) -> None:
        now = time.perf_counter()
        self.laps[label] = round(now - self.last, 3)
        self.last = now


def _no_progress(step: str, done: int, total: int | None) -> None:
    """Progress nobody watches."""


@dataclass
class ImportJob:
    """What the stages of one import share."""

    store: Store
    engine: Any
    """The import engine: a DuckDB connection (the store's own, or a private one)."""
    kind: Kind
    book: RuleBook
    source: SourceFile
    columns: ColumnMap
    profile: MappingProfile | None
    settings: Settings
    result: ImportResult
    names: WorkNames
    shared: bool = False
    """Whether the staged records and verdicts go to the work database (`WORK`), readable from a
    second connection to the engine."""
    progress: ProgressFn = _no_progress
    actor: str = "cli"
    """Who sends the file: the command line, or the service's account; its batch entry names it."""
    clock: Clock = field(init=False)
    ragged: list[Ragged] = field(default_factory=list)
    new_rows: int = 0
    """Accepted rows not already stored: the rows the store takes."""
    accepted: str | None = None
    """The engine's relation of the rows to store, once checked (None when nothing is to be stored)."""

    def __post_init__(self) -> None:
        self.clock = Clock(self.result.timings)

    def scalar(self, sql: str) -> int:
        """An integer the engine answers (0 for NULL)."""
        return int(self.engine.execute(sql).fetchall()[0][0] or 0)

    def work_table(self, name: str, select_sql: str) -> None:
        """Make the work table `name` from `select_sql`: temporary, or in the work database when the
        job is `shared` (with a temporary view of the same name, so the stages read it alike)."""
        if self.shared:
            self.engine.execute(f"CREATE OR REPLACE TABLE {WORK}.{name} AS {select_sql}")
            self.engine.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {WORK}.{name}")
        else:
            self.engine.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {select_sql}")

    def work_name(self, name: str) -> str:
        """`name` as a second connection reaches it: in the work database when shared."""
        return f"{WORK}.{name}" if self.shared else name


__all__ = ["ImportJob", "ImportResult", "ProgressFn", "WORK", "WorkNames", "new_work_names"]
