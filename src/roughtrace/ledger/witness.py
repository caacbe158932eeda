"""The witness: the newest signed head kept outside the store, so a shortened log is seen.

Whoever can write the store can delete its newest entries together with their heads, tiles and
batch records; nothing left inside the store then shows that they were there. The witness is a
small JSON file per store beside the signing key (`ledger-witness-<store name>.json`) holding two
heads: `pending`, the head an import or decision has just signed (its transaction may still roll
back), and `confirmed`, a head the store was seen to hold (promoted from `pending` at the next
signing or `verify`). `verify` names a store whose log is shorter than the confirmed head, or whose
log at a witnessed size does not give the witnessed root.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..store.port import Store
from .heads import HeadError, TreeHead
from .keys import key_path, store_name


def witness_path(store: Store, settings: Any = None) -> Path | None:
    """The witness file of `store`, beside its key; None for a store in memory."""
    key = key_path(store, settings)
    name = store_name(store)
    if key is None or name is None:
        return None
    return key.parent / f"ledger-witness-{name}.json"


def read_witness(path: Path | None) -> dict[str, TreeHead]:
    """The heads a witness file holds ('confirmed', 'pending'); empty when there is none."""
    if path is None or not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        return {k: TreeHead.from_json(v) for k, v in data.items() if k in ("confirmed", "pending") and v}
    except (OSError, ValueError, HeadError, AttributeError):
        return {}


def _write(path: Path, heads: dict[str, TreeHead]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    spare = path.with_name(path.name + ".new")
    descriptor = os.open(spare, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({k: v.to_json() for k, v in heads.items()}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(spare, path)


def held(store: Store, head: TreeHead) -> bool:
    """Whether the store holds exactly `head` (same size and root)."""
    rows = store.query("SELECT root_hash FROM ledger_heads WHERE tree_size = ?", (head.size,)).column("root_hash").to_pylist()
    return bool(rows) and bytes(rows[0]) == head.root


def confirm(store: Store, settings: Any = None, path: Path | None = None) -> dict[str, TreeHead]:
    """Promote the pending head to confirmed when the store holds it; returns the witness's heads."""
    path = path if path is not None else witness_path(store, settings)
    heads = read_witness(path)
    pending = heads.get("pending")
    if path is not None and pending is not None and held(store, pending):
        confirmed = heads.get("confirmed")
        if confirmed is None or confirmed.size <= pending.size:
            heads = {"confirmed": pending}
            try:
                _write(path, heads)
            except OSError:
                pass  # a witness that cannot be written is compared as it is
    return heads


def note(store: Store, head: TreeHead, settings: Any = None) -> None:
    """Keep `head`, just signed inside the store's transaction, as the witness's pending head."""
    path = witness_path(store, settings)
    if path is None:
        return
    heads = confirm(store, settings, path)
    heads["pending"] = head
    _write(path, heads)
