"""`ledger head | prove | consistency | verify | key export`, and `init`: the signed log read,
proved and recomputed, and the signing key made where there is none."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import Problem, UsageError
from . import Context

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from ..ledger.audit import Audit
    from ..ledger.heads import TreeHead
    from ..ledger.receipts import Consistency, Receipt, RowReceipt


@dataclass(frozen=True)
class StoreReady:
    """A store made or brought up to date, its schema version and the ledger's public key."""

    db: str
    schema_version: int
    public_key: Ed25519PublicKey


def init_store(context: Context) -> StoreReady:
    """The store at the newest schema (the context opened it so) with the ledger's signing key,
    made when there is none."""
    from ..ledger.keys import ensure_key
    from ..settings import redacted

    version = context.store.schema_version()
    return StoreReady(redacted(context.store.url), version, ensure_key(context.store, context.settings))


def public_key(context: Context) -> Ed25519PublicKey:
    """The ledger's public key (made with its private key when there is none), for sightholders to keep."""
    from ..ledger.keys import ensure_key

    return ensure_key(context.store, context.settings)


def latest_head(context: Context) -> TreeHead | None:
    """The newest signed tree head; None when the log is empty."""
    from ..ledger.log import latest_head as newest

    return newest(context.store)


def prove_entry(context: Context, entry: int, size: int | None = None) -> Receipt:
    """An entry's inclusion proof under the signed head of `size` entries (the newest by default)."""
    from ..ledger.log import prove_entry as prove

    return prove(context.store, entry, size)


def prove_row(context: Context, batch: int, source_row: int) -> RowReceipt:
    """One imported row's proof inside its batch, and the batch's entry's under the newest head."""
    from ..ledger.log import prove_row as prove

    return prove(context.store, batch, source_row)


def prove_consistency(context: Context, old: int, new: int | None = None) -> Consistency:
    """Proof that the log at an older signed size is a prefix of the log at a newer one (the newest by default)."""
    from ..ledger.log import prove_consistency as prove

    return prove(context.store, old, new)


def verify_ledger(context: Context, public_key_text: str | None = None, key_file: str | None = None) -> Audit:
    """Recompute the ledger from the stored data and name every mismatch; heads are checked against
    `public_key_text` (PEM or hex, read from `key_file`) when given, else against the deployment's
    trusted key, never against a key merely recorded in the store."""
    from ..ledger import audit
    from ..ledger.heads import HeadError, load_public_key

    try:
        key = load_public_key(public_key_text) if public_key_text else None
    except HeadError as error:
        raise UsageError(Problem("bad_public_key", str(error), file=key_file)) from None
    return audit.verify(context.store, key, context.settings)


def read_receipt(path: Path) -> dict[str, Any]:
    """The receipt (or consistency proof) a file holds: the JSON object in it, found even when a
    terminal's redirect saved a summary line or other text before or after it."""
    from ..ledger.receipts import ReceiptError

    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ReceiptError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from None
    decoder = json.JSONDecoder()
    at = text.find("{")
    while at != -1:
        try:
            found, _ = decoder.raw_decode(text, at)
        except ValueError:
            found = None
        if isinstance(found, dict):
            body = found.get("receipt", found.get("consistency", found))
            if isinstance(body, dict) and ("head" in body or "row_proof" in body or "consistency_proof" in body):
                return body
        at = text.find("{", at + 1)
    raise ReceiptError(f"{path.name} holds no receipt: write one with `roughtrace ledger prove N --out FILE`")


def _check_file(path: Path, public_key_text: str) -> str:
    from ..ledger.heads import load_public_key
    from ..ledger.receipts import (
        Consistency,
        Receipt,
        RowReceipt,
        verify_consistency,
        verify_receipt,
        verify_row_receipt,
    )

    key = load_public_key(public_key_text)
    data = read_receipt(path)
    if "row_proof" in data:
        verify_row_receipt(key, RowReceipt.from_json(data))
        return f"row {data['source_row']} of batch {data['batch_id']} is in the signed log"
    if "consistency_proof" in data:
        verify_consistency(key, Consistency.from_json(data))
        return f"the log of {data['new_head']['tree_size']} entries extends the one of {data['old_head']['tree_size']}"
    verify_receipt(key, Receipt.from_json(data))
    return f"entry {data['entry_index']} is in the signed log of {data['head']['tree_size']} entries"


def verify_receipt_file(path: Path, public_key_text: str) -> str:
    """Check a receipt, row receipt or consistency proof file against a public key, without any
    store; returns what it proves in a sentence, or raises `ReceiptError` (receipt_invalid) naming
    what does not check."""
    from ..ledger.heads import HeadError
    from ..ledger.receipts import ReceiptError

    try:
        return _check_file(path, public_key_text)
    except KeyError as error:  # a file the user hands in: what it lacks is theirs to fix, not a bug
        raise ReceiptError(Problem("receipt_invalid", f"the receipt has no field {error}", file=str(path))) from None
    except (OSError, ValueError, AttributeError, ReceiptError, HeadError) as error:
        raise ReceiptError(Problem("receipt_invalid", str(error), file=str(path))) from None


# -- the log for outside verifiers (C2SP tlog-tiles) -------------------------------------------------
def log_checkpoint(context: Context) -> str:
    """The log's newest head as a signed checkpoint note, signed with the ledger's key."""
    from ..ledger.keys import note_signer
    from ..ledger.tlog import checkpoint

    return checkpoint(context.store, note_signer(context.store, context.settings))


def log_tile(context: Context, path: str) -> bytes:
    """One hash tile or entry bundle of the log at its newest head, by its path (tile/...);
    NotFound (tile_not_found) for a path the log does not have."""
    from ..ledger.log import latest_head
    from ..ledger.tlog import parse_tile_path, read_tile

    head = latest_head(context.store)
    return read_tile(context.store, parse_tile_path(path), head.size if head else 0)


@dataclass(frozen=True)
class PublishedLog:
    """A log written as files in the tlog-tiles layout: where, its size and how many tiles."""

    folder: str
    size: int
    tiles: int


def publish_log(context: Context, folder: Path) -> PublishedLog:
    """Write the log at its newest head as static files (checkpoint, tile/...) under `folder`, for
    any web server to serve; files already there for a smaller log are replaced."""
    from ..errors import writing
    from ..ledger.log import latest_head
    from ..ledger.tlog import ENTRIES, read_tile, tiles_of

    note = log_checkpoint(context)
    size = latest_head(context.store).size  # type: ignore[union-attr] - the checkpoint proved there is one
    written = 0
    with writing(folder):
        level: int | str
        for level in [ENTRIES, *range(6)]:
            for tile in tiles_of(size, level):
                target = folder / tile.path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(read_tile(context.store, tile, size))
                written += 1
        (folder / "checkpoint").write_text(note, encoding="utf-8")
    return PublishedLog(str(folder), size, written)


def verify_remote_log(url: str, public_key_text: str, receipt_paths: list[Path] = ()) -> Any:
    """Check the log served at `url` (tlog-tiles) against a public key, and each receipt file
    against the served log; reads no store. Returns a `ledger.remote.RemoteCheck`."""
    from ..ledger.heads import load_public_key
    from ..ledger.receipts import Receipt
    from ..ledger.remote import http_fetch, verify_remote

    receipts = [Receipt.from_json(read_receipt(path)) for path in receipt_paths]
    return verify_remote(http_fetch(url), load_public_key(public_key_text), receipts)
