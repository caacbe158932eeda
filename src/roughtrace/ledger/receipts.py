"""Receipts and their standalone verification: needs a public key, a head and a proof, no store.

A sightholder who keeps the ledger's public key can check, with this module alone (or any RFC 9162
implementation), that an entry is in the log the operator signed, that one of their rows is in a
batch the log recorded, and that a later head extends an earlier one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..errors import CheckFailed
from . import merkle
from .canonical import is_canonical
from .heads import HeadError, TreeHead, verify_head


class ReceiptError(CheckFailed):
    """A receipt or proof that does not check; the message says which part."""

    code = "receipt_invalid"


def _hexes(values: Any) -> tuple[bytes, ...]:
    return tuple(bytes.fromhex(v) for v in values)


@dataclass(frozen=True)
class Receipt:
    """Proof that entry `index` (the canonical JSON `entry`) is in the log under `head`."""

    index: int
    entry: str
    head: TreeHead
    proof: tuple[bytes, ...]

    @property
    def leaf_hash(self) -> bytes:
        return merkle.leaf_hash(self.entry.encode("utf-8"))

    def to_json(self) -> dict[str, Any]:
        return {
            "entry_index": self.index,
            "entry": self.entry,
            "leaf_hash": self.leaf_hash.hex(),
            "head": self.head.to_json(),
            "inclusion_proof": [p.hex() for p in self.proof],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Receipt:
        try:
            return cls(int(data["entry_index"]), str(data["entry"]), TreeHead.from_json(data["head"]),
                       _hexes(data["inclusion_proof"]))
        except (KeyError, ValueError, TypeError, HeadError) as error:
            raise ReceiptError(f"not a receipt: {error}") from None


@dataclass(frozen=True)
class RowReceipt:
    """Proof that one row (its canonical text) is row `position` of the batch recorded in `batch`."""

    batch_id: int
    source_row: int
    position: int
    """0-based place of the row among the batch's accepted rows in source_row order."""
    row: str
    """The row's canonical text (see `canonical.row_text`)."""
    proof: tuple[bytes, ...]
    batch: Receipt

    def to_json(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "source_row": self.source_row,
            "position": self.position,
            "row": self.row,
            "row_leaf_hash": merkle.leaf_hash(self.row.encode("utf-8")).hex(),
            "row_proof": [p.hex() for p in self.proof],
            "batch_receipt": self.batch.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RowReceipt:
        try:
            return cls(int(data["batch_id"]), int(data["source_row"]), int(data["position"]), str(data["row"]),
                       _hexes(data["row_proof"]), Receipt.from_json(data["batch_receipt"]))
        except (KeyError, ValueError, TypeError, ReceiptError) as error:
            raise ReceiptError(f"not a row receipt: {error}") from None


@dataclass(frozen=True)
class Consistency:
    """Proof that the log under `new` extends the log under `old` without rewriting it."""

    old: TreeHead
    new: TreeHead
    proof: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {"old_head": self.old.to_json(), "new_head": self.new.to_json(),
                "consistency_proof": [p.hex() for p in self.proof]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Consistency:
        try:
            return cls(TreeHead.from_json(data["old_head"]), TreeHead.from_json(data["new_head"]),
                       _hexes(data["consistency_proof"]))
        except (KeyError, ValueError, TypeError, HeadError) as error:
            raise ReceiptError(f"not a consistency proof: {error}") from None


def verify_receipt(public_key: Ed25519PublicKey, receipt: Receipt) -> None:
    """Check that the head is signed by `public_key`, that the entry is canonical JSON, and that
    the inclusion proof leads from the entry's leaf hash to the head's root. Raises ReceiptError."""
    try:
        verify_head(public_key, receipt.head)
    except HeadError as error:
        raise ReceiptError(str(error)) from None
    if not is_canonical(receipt.entry):
        raise ReceiptError("the entry is not RFC 8785 canonical JSON")
    try:
        merkle.verify_inclusion(receipt.index, receipt.head.size, receipt.leaf_hash, receipt.proof, receipt.head.root)
    except merkle.ProofError as error:
        raise ReceiptError(f"entry {receipt.index}: {error}") from None


def verify_row_receipt(public_key: Ed25519PublicKey, receipt: RowReceipt) -> None:
    """Check a row receipt: the batch entry's receipt, then that the row's leaf hash leads, by the
    row proof, to the `rows_root` the batch entry states for `row_count` rows. Raises ReceiptError."""
    verify_receipt(public_key, receipt.batch)
    entry = json.loads(receipt.batch.entry)
    if entry.get("type") != "batch" or entry.get("batch_id") != receipt.batch_id:
        raise ReceiptError(f"entry {receipt.batch.index} does not record batch {receipt.batch_id}")
    try:
        merkle.verify_inclusion(receipt.position, int(entry["row_count"]), merkle.leaf_hash(receipt.row.encode("utf-8")),
                                receipt.proof, bytes.fromhex(entry["rows_root"]))
    except (merkle.ProofError, KeyError, ValueError) as error:
        raise ReceiptError(f"row {receipt.source_row} of batch {receipt.batch_id}: {error}") from None


def verify_consistency(public_key: Ed25519PublicKey, proof: Consistency) -> None:
    """Check both heads' signatures and that the newer log extends the older one. Raises ReceiptError."""
    try:
        verify_head(public_key, proof.old)
        verify_head(public_key, proof.new)
        merkle.verify_consistency(proof.old.size, proof.new.size, proof.old.root, proof.new.root, proof.proof)
    except (HeadError, merkle.ProofError) as error:
        raise ReceiptError(str(error)) from None
