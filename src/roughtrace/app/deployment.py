"""The deployment's settings in the store: changed by its operator or an admin, each change a new
version logged in the ledger, and every call's settings read under the newest version."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ..errors import NotAllowed
from . import Context


@dataclass(frozen=True)
class SettingChanged:
    """One change of the deployment's settings: the version it made and its ledger receipt."""

    version: int
    name: str
    value: Any
    actor: str
    receipt: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "name": self.name, "value": self.value, "actor": self.actor,
                "receipt": self.receipt}


def change_setting(context: Context, name: str, text: str | None) -> SettingChanged:
    """Set the deployment's setting `name` to `text` (checked as the setting's own flag would be), or
    remove it with None, as the next settings version; logged in the ledger as a `settings_change`
    decision naming the version, the value and who changed it. Only the command line's operator and
    an admin account change a deployment's settings."""
    from ..deployment.stored import storable, stored_settings
    from ..ledger.decisions import log_decision
    from .access import sees_all

    if not sees_all(context.actor):
        raise NotAllowed(f"a {context.actor.role} account may not change the deployment's settings")
    setting = storable(name)
    value = None if text is None else setting.parse(text)
    stored_text = None if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    store, actor = context.store, context.actor.name
    with store.transaction():
        store.execute("LOCK TABLE deployment_settings IN EXCLUSIVE MODE" if store.engine == "postgresql" else "SELECT 1")
        version = stored_settings(store).version + 1
        settings = context.settings.under({**stored_settings(store).values,
                                           **({} if stored_text is None else {name: stored_text})}, version)
        receipt = log_decision(store, settings, "settings_change",
                               {"version": version, "name": name, "value": stored_text}, actor)
        store.execute("INSERT INTO deployment_settings VALUES (?, ?, ?, ?, ?, ?)",
                      (version, name, stored_text, actor, dt.datetime.now(dt.UTC).replace(tzinfo=None),
                       receipt["entry_index"]))
    return SettingChanged(version, name, value, actor, receipt)


def setting_versions(context: Context) -> list[dict[str, Any]]:
    """Every change of the deployment's settings, oldest first: version, name, value (None when
    removed), who and when, and the ledger entry that logged it."""
    from ..deployment.stored import stored_settings

    if not stored_settings(context.store).version:
        return []
    return context.store.rows("SELECT version, name, value, actor, changed_at, entry_index FROM deployment_settings "
                              "ORDER BY version")


def deployment_settings(context: Context) -> dict[str, Any]:
    """The deployment's settings now: its version and the value of each setting it holds."""
    from ..deployment.stored import stored_settings

    held = stored_settings(context.store)
    return {"version": held.version, "settings": dict(sorted(held.values.items()))}
