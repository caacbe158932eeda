"""Decisions into the log: a check run, a price book build, a set of certificate verdicts.

A decision's entry carries what was decided in a form a reader can check: small results whole,
large ones as counts plus the SHA-256 of their canonical JSON, so the full result (printed by the
command with `--json`) can be shown later to be the one that was logged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ..json_values import dumps
from ..settings import Settings
from ..store.port import Store
from . import witness
from .canonical import canonical_json
from .keys import load_signer
from .log import record_decision

WHOLE_LIMIT = 200
"""Results with more items than this are logged as a digest and a count."""


def exact(value: Any) -> Any:
    """A result made loggable: binary floats become their shortest decimal text (the log holds no
    floats), Decimals and dates strings."""
    return json.loads(dumps(value), parse_float=str)


def digest(items: list[Any]) -> str:
    """SHA-256 (hex) of the RFC 8785 canonical JSON of {"items": items}."""
    return hashlib.sha256(canonical_json({"items": items}).encode("utf-8")).hexdigest()


def summarised(items: list[Any], name: str) -> dict[str, Any]:
    """`{name: items}` when small, else `{name + '_count', name + '_sha256'}`."""
    items = exact(items)
    if len(items) <= WHOLE_LIMIT:
        return {name: items, f"{name}_sha256": digest(items)}
    return {f"{name}_count": len(items), f"{name}_sha256": digest(items)}


def log_decision(store: Store, settings: Settings | None, decision_kind: str, payload: Mapping[str, Any],
                 actor: str | None = None) -> dict[str, Any]:
    """Append the decision to the log in its own transaction; returns the receipt as JSON. The
    entry names who decided (`actor`) and the deployment's settings version it was decided under
    (`Settings.version`, 0 when the store holds no settings), so the verdict can be re-made."""
    stamped = {**payload, "settings_version": getattr(settings, "version", 0), "actor": actor or "cli"}
    receipt = record_decision(store, decision_kind, exact(stamped), load_signer(store, settings))
    witness.note(store, receipt.head, settings)
    if not store.in_transaction():  # its own transaction committed; inside a caller's, the next signing confirms
        witness.committed(store, settings)
    return receipt.to_json()
