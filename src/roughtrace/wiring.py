"""The composition root: the one place the layers below are told about the areas above them.

The store layer and the import import no area, and the settings registry names none; `wire()`
hands each its part: the areas' migrations to `store.migrations`, the areas' settings to
`settings`, the import's after-store hooks to `ingest.hooks`. Every entry point calls it before it
opens a store or builds `Settings`: `roughtrace.cli.main`, the use cases (`roughtrace.app`, on
import), the test suite (`tests/conftest.py`) and the bench scripts. Calling it again changes
nothing. Registration loads no area's libraries: each hook imports its area when it first runs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .ingest.hooks import StoredBatch
    from .store.schema import Migration

_LOCK = threading.Lock()
_wired = False


def wire() -> None:
    """Register every area's parts with the layers below, once per process."""
    global _wired
    with _LOCK:
        if _wired:
            return
        wire_migrations()
        wire_settings()
        wire_import_hooks()
        _wired = True


def wire_migrations() -> None:
    """The store's schema: each area's own migrations (`area_migrations`), applied after the core's in
    version order (`store.migrations.all_migrations`)."""
    from .store.migrations import register_area_migrations

    register_area_migrations(area_migrations)


def area_migrations() -> tuple[Migration, ...]:
    """Each area's own migrations; their versions are the areas' own and never change (2-8: prices,
    ledger, checks, valuation, provenance; 11: accounts and the service's jobs; 12: row-level security on PostgreSQL; 13: the deployment's settings;
    14: market intelligence's published record;
    15: provenance's box index on PostgreSQL; 16: the price book's build index on PostgreSQL; 17: a
    party's boxes by index on PostgreSQL)."""
    from .accounts.schema import MIGRATION as accounts
    from .accounts.security import MIGRATIONS as security
    from .checks.schema import MIGRATION as checks
    from .deployment.schema import MIGRATION as deployment
    from .intelligence.schema import MIGRATION as intelligence
    from .ledger.schema import MIGRATIONS as ledger
    from .pricing.schema import MIGRATION as prices
    from .provenance.schema import MIGRATIONS as provenance
    from .valuation.schema import MIGRATIONS as valuation

    return (prices, *ledger, checks, *valuation, *provenance, accounts, *security, deployment, intelligence)


def wire_settings() -> None:
    """The settings registry: the core's settings and each area's tuple of its own."""
    from .analytics.settings import SETTINGS as analytics
    from .checks.settings import SETTINGS as checks
    from .ingest.limits import SETTINGS as limits
    from .intelligence.settings import SETTINGS as intelligence
    from .ledger.settings import SETTINGS as ledger
    from .pricing.settings import SETTINGS as prices
    from .service.settings import SETTINGS as service
    from .settings import CORE, register
    from .valuation.settings import SETTINGS as valuation

    register(*CORE, *limits, *checks, *ledger, *prices, *valuation, *intelligence, *service, *analytics)


# -- the import's after-store hooks -------------------------------------------------------------------
def _ledger_after_store(batch: StoredBatch) -> Iterator[None]:
    from .ledger import imports

    return imports.after_store(batch)


def _ledger_after_commit(batch: StoredBatch) -> None:
    from .ledger import imports

    imports.after_commit(batch)


def _provenance_after_store(batch: StoredBatch) -> Iterator[None]:
    from .provenance import boxes

    return boxes.after_store(batch)


def wire_import_hooks() -> None:
    """What follows an import's store, in this order: the ledger begins hashing the batch's rows
    (beside the rest, where it can), provenance rebuilds the records of the boxes the batch
    touches, then the ledger logs the batch; once committed, the ledger confirms its head in the
    witness. `import_file(..., ledger=False)` leaves out the hook named "ledger"."""
    from .ingest import hooks

    hooks.register("ledger", _ledger_after_store, _ledger_after_commit, reads_beside=True)
    hooks.register("provenance", _provenance_after_store)
    hooks.REGISTRY.mark_wired()


__all__ = ["area_migrations", "wire", "wire_import_hooks", "wire_migrations", "wire_settings"]
