"""The witness: the newest signed head kept outside the store, so a shortened log is seen.

Whoever can write the store can delete its newest entries together with their heads, tiles and
batch records; nothing left inside the store then shows that they were there. The witness is a
small JSON file per store beside the signing key (`ledger-witness-<store name>.json`) holding two
heads: `pending`, the head an import or decision has just signed inside its transaction (which
may still roll back), and `confirmed`, a head the store was seen to hold after its commit
(`committed`, called by whoever committed; else at the next signing or `verify`). A head that
rolled back is never confirmed, so it raises no false alarm. `verify` names a store whose log is
shorter than the confirmed head, or whose log at a witnessed size does not give the witnessed root.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..store.port import Store
from .heads import HeadError, TreeHead
from .keys import LedgerKeyError, key_path, store_name


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
    """Replace the witness file whole: written to a spare file of this writer's own, then renamed."""
    descriptor, spare = tempfile.mkstemp(prefix=path.name + ".", suffix=".new", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w") as handle:  # mkstemp makes it 0600
            json.dump({k: v.to_json() for k, v in heads.items()}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(spare, path)
    except BaseException:
        Path(spare).unlink(missing_ok=True)
        raise


@contextmanager
def _held(path: Path) -> Iterator[None]:
    """The witness file's lock: imports racing into one store (threads or processes of this
    machine) read and rewrite it one at a time, so none loses another's head."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def held(store: Store, head: TreeHead) -> bool:
    """Whether the store holds exactly `head` (same size and root)."""
    rows = store.query("SELECT root_hash FROM ledger_heads WHERE tree_size = ?", (head.size,)).column("root_hash").to_pylist()
    return bool(rows) and bytes(rows[0]) == head.root


def _promoted(store: Store, heads: dict[str, TreeHead]) -> dict[str, TreeHead]:
    """`heads` with the pending head made the confirmed one when the store holds it (and it is no
    older than the confirmed one)."""
    pending, confirmed = heads.get("pending"), heads.get("confirmed")
    if pending is not None and (confirmed is None or confirmed.size <= pending.size) and held(store, pending):
        return {"confirmed": pending}
    return heads


def confirm(store: Store, settings: Any = None) -> dict[str, TreeHead]:
    """Promote the pending head to confirmed when the store holds it; returns the witness's heads."""
    path = witness_path(store, settings)
    if path is None:
        return {}
    try:
        with _held(path):
            heads = read_witness(path)
            promoted = _promoted(store, heads)
            if promoted is not heads:
                _write(path, promoted)
            return promoted
    except OSError:
        return read_witness(path)  # a witness that cannot be written is compared as it is


def note(store: Store, head: TreeHead, settings: Any = None) -> None:
    """Keep `head`, just signed inside the store's transaction, as the witness's pending head."""
    path = witness_path(store, settings)
    if path is None:
        return
    try:
        with _held(path):
            heads = _promoted(store, read_witness(path))
            _write(path, {**heads, "pending": head})
    except OSError as error:
        raise LedgerKeyError(f"cannot write the ledger's witness {path} (kept beside the key): {error.strerror}",
                             code="ledger_witness") from None


def committed(store: Store, settings: Any = None) -> None:
    """After the transaction that signed the pending head committed: confirm it now, so a log cut
    back right after the commit is named by the next `verify`."""
    confirm(store, settings)
