"""`status` and `migrate`: what a store holds, and its schema brought up to date."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..domain.kinds import KINDS
from ..settings import redacted
from . import Context


@dataclass(frozen=True)
class StoreStatus:
    """A store's address (password hidden), engine, schema version and row counts."""

    db: str
    engine: str
    schema_version: int
    rows: dict[str, int]
    """Stored records per input kind, in the contract's order."""
    batches: int
    quarantined: int

    def as_dict(self) -> dict[str, Any]:
        return {"db": self.db, "engine": self.engine, "schema_version": self.schema_version, "rows": self.rows,
                "batches": self.batches, "quarantined": self.quarantined}


def _count(context: Context, table: str) -> int:
    return int(context.store.query(f"SELECT count(*) AS n FROM {table}").column("n")[0].as_py())


def store_status(context: Context) -> StoreStatus:
    """How many records of each kind, import batches and quarantined rows the store holds."""
    store = context.store
    return StoreStatus(redacted(store.url), store.engine, store.schema_version(),
                       {kind: _count(context, kind) for kind in KINDS}, _count(context, "batches"),
                       _count(context, "quarantine"))


@dataclass(frozen=True)
class SchemaCurrent:
    """A store whose schema is at the newest version: its address (password hidden) and that version."""

    db: str
    schema_version: int


def migrate_store(context: Context) -> SchemaCurrent:
    """Bring the store's schema to the newest version (applying each missing migration in order)."""
    store = context.store
    return SchemaCurrent(redacted(store.url), store.migrate())


def readiness(context: Context) -> int:
    """The store's schema version when the store answers and its schema is the one this roughtrace
    needs; `StoreError` (store_not_initialised, schema_behind) otherwise. Runs no DDL."""
    from ..store.migrations import require_current

    return require_current(context.store)
