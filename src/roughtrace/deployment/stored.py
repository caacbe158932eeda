"""The deployment's settings as the store holds them, and the `Settings` of a call under them.

A deployment's settings are those that decide a verdict or a receipt: the checks', the prices',
the valuation's and the import's rules. The settings of one machine (`MACHINE_AREAS`,
`MACHINE_SETTINGS`: where the store and the key are, the engine's memory and threads, the
service's own) stay each client's. A stored value wins over a client's flags and environment, so
two analysts on one store get the same verdicts; each verdict names the version it was made under.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..settings import Setting, SettingError, Settings, registry

MACHINE_AREAS = frozenset({"store", "ledger", "service", "sim"})
"""Areas whose settings describe one machine or client, never the deployment's."""

MACHINE_SETTINGS = frozenset({"import_memory_limit", "import_threads"})
"""Settings of other areas that are one machine's resources, not a rule."""


@dataclass(frozen=True)
class StoredSettings:
    """The deployment's settings at one version: the text of each setting it holds."""

    version: int
    values: Mapping[str, str]


NONE_STORED = StoredSettings(0, {})


def storable(name: str) -> Setting:
    """The setting called `name`, when a deployment may hold it; a SettingError otherwise."""
    found = registry().get(name)
    if found is None:
        raise SettingError(f"there is no setting called {name!r}; `roughtrace settings` lists them")
    if found.area in MACHINE_AREAS or name in MACHINE_SETTINGS:
        raise SettingError(f"{name} is each machine's own ({found.area}); set it with --set or "
                           f"{found.env_var}, not in the store")
    return found


def stored_settings(store: Any, version: int | None = None) -> StoredSettings:
    """The deployment's settings at `version` (the newest when None): for each name, the value of
    its last change up to that version, names whose last change removed them left out. A store
    without the table yet (an older schema read by a reader) holds none."""
    if not _holds_settings(store):
        return NONE_STORED
    changes = store.rows("SELECT version, name, value FROM deployment_settings" +
                         ("" if version is None else " WHERE version <= ?") + " ORDER BY version",
                         () if version is None else (version,))
    values: dict[str, str | None] = {}
    for change in changes:
        values[change["name"]] = change["value"]
    newest = int(changes[-1]["version"]) if changes else 0
    return StoredSettings(newest, {name: text for name, text in values.items() if text is not None})


def under_deployment(settings: Settings, store: Any) -> Settings:
    """`settings` with the store's deployment settings over them (`Settings.under`)."""
    held = stored_settings(store)
    return settings.under(held.values, held.version) if held.version else settings


def _holds_settings(store: Any) -> bool:
    return bool(store.rows("SELECT count(*) AS n FROM schema_migrations WHERE version = 13")[0]["n"])
