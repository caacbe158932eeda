"""The composition root: the one place the layers below are told about the areas above them.

The store layer imports no area and the settings registry names none; `wire()` hands each its
part: the areas' migrations to `store.migrations`, the areas' settings to `settings`. It is called
by every entry point before it opens a store or builds `Settings`: `roughtrace.cli.main`, the use
cases (`roughtrace.app`, on import), the test suite (`tests/conftest.py`) and the bench scripts.
Calling it again changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .store.schema import Migration

_wired = False


def wire() -> None:
    """Register every area's parts with the layers below; idempotent."""
    global _wired
    if _wired:
        return
    wire_migrations()
    wire_settings()
    _wired = True


def wire_migrations() -> None:
    """The store's schema: each area's own migrations (`area_migrations`), applied after the core's in
    version order (`store.migrations.all_migrations`)."""
    from .store.migrations import register_area_migrations

    register_area_migrations(area_migrations)


def area_migrations() -> tuple[Migration, ...]:
    """Each area's own migrations; their versions are the areas' own and never change (2-8: prices,
    ledger, checks, valuation, provenance)."""
    from .checks.schema import MIGRATION as checks
    from .ledger.schema import MIGRATIONS as ledger
    from .pricing.schema import MIGRATION as prices
    from .provenance.schema import MIGRATIONS as provenance
    from .valuation.schema import MIGRATION as valuation

    return (prices, *ledger, checks, valuation, *provenance)


def wire_settings() -> None:
    """The settings registry: the core's settings and each area's tuple of its own."""
    from .checks.settings import SETTINGS as checks
    from .ingest.limits import SETTINGS as limits
    from .ledger.settings import SETTINGS as ledger
    from .pricing.settings import SETTINGS as prices
    from .settings import CORE, register
    from .valuation.settings import SETTINGS as valuation

    register(*CORE, *limits, *checks, *ledger, *prices, *valuation)
