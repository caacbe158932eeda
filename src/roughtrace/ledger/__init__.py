"""The tamper-evident log (RFC 9162 Merkle tree) of everything roughtrace accepts and decides.

Pure core: `merkle` (hashing, roots, proofs, verification), `tiles` (stored-hash layout),
`canonical` (RFC 8785 entries, canonical row text), `heads` (signed tree heads), `receipts`
(standalone verification: a public key, a head and a proof, no store). On the store: `log`
(appends, receipts, proofs), `audit` (`verify`), `keys` (the Ed25519 key file), `imports` (the
import pipeline's hook). See docs/ledger.md.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_SOURCES = {
    "Audit": "audit", "Finding": "audit", "verify": "audit", "ensure_key": "keys", "LedgerError": "log",
    "latest_head": "log", "prove_consistency": "log", "prove_entry": "log", "prove_row": "log", "record_batch": "log",
    "record_decision": "log", "Receipt": "receipts", "ReceiptError": "receipts", "RowReceipt": "receipts",
    "verify_consistency": "receipts", "verify_receipt": "receipts", "verify_row_receipt": "receipts",
}
"""Where each public name lives: imported on first use, so that importing the area's settings or
schema (as every command does) does not load its computations and their libraries."""

__all__ = [
    "Audit", "Finding", "LedgerError", "Receipt", "ReceiptError", "RowReceipt", "ensure_key", "latest_head",
    "prove_consistency", "prove_entry", "prove_row", "record_batch", "record_decision", "verify",
    "verify_consistency", "verify_receipt", "verify_row_receipt",
]


def __getattr__(name: str) -> Any:
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_SOURCES[name]}"), name)
    globals()[name] = value
    return value
