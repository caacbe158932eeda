"""Applying the versioned schema through the port, the same way on every engine."""

from __future__ import annotations

from ..errors import StoreError
from .port import Store
from .schema import MIGRATIONS, Migration

LEDGER_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  description VARCHAR NOT NULL,
  applied_at TIMESTAMP NOT NULL
)"""


def all_migrations() -> tuple[Migration, ...]:
    """The core schema and each area's own migration, in version order."""
    from ..accounts.schema import MIGRATION as accounts
    from ..checks.schema import MIGRATION as checks
    from ..ledger.schema import MIGRATIONS as ledger
    from ..pricing.schema import MIGRATION as prices
    from ..provenance.schema import MIGRATIONS as provenance
    from ..valuation.schema import MIGRATION as valuation

    ordered = sorted((*MIGRATIONS, prices, *ledger, checks, valuation, *provenance, accounts), key=lambda m: m.version)
    versions = [m.version for m in ordered]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a version: {versions}")
    return tuple(ordered)


def applied_version(store: Store) -> int:
    """The newest applied migration, 0 for a database roughtrace has never touched."""
    try:
        result = store.query("SELECT max(version) AS v FROM schema_migrations")
    except Exception:  # the table does not exist yet: a new database
        return 0
    value = result.column("v")[0].as_py()
    return int(value or 0)


def require_current(store: Store) -> int:
    """The store's schema version, when it is the one this roughtrace needs; otherwise a
    `StoreError` telling to run `roughtrace init` or `roughtrace migrate`. Runs no DDL, so a
    read-only role can ask."""
    version = applied_version(store)
    latest = max(m.version for m in all_migrations())
    if version == 0:
        raise StoreError("the store holds no roughtrace schema yet: `roughtrace init` creates it",
                         code="store_not_initialised")
    if version < latest:
        raise StoreError(f"the store is at schema version {version}, this roughtrace needs {latest}: run "
                         "`roughtrace migrate` (as a role that may change the schema), or import a file, which migrates too",
                         code="schema_behind")
    return version


def apply_migrations(store: Store) -> int:
    """Apply every migration not yet applied, each in its own transaction; returns the version."""
    store.execute(LEDGER_TABLE)
    done = {int(v) for v in store.query("SELECT version FROM schema_migrations").column("version").to_pylist()}
    for migration in all_migrations():
        if migration.version in done:
            continue
        engine_specific = migration.postgres_only if store.engine == "postgresql" else migration.duckdb_only
        with store.transaction():
            for statement in migration.statements + engine_specific:
                store.execute(statement)
            if migration.fill is not None:
                migration.fill(store)
            store.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, CURRENT_TIMESTAMP)",
                (migration.version, migration.description),
            )
    return applied_version(store)
