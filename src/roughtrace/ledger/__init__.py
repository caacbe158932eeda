"""The tamper-evident log (RFC 9162 Merkle tree) of everything roughtrace accepts and decides.

Pure core: `merkle` (hashing, roots, proofs, verification), `tiles` (stored-hash layout),
`canonical` (RFC 8785 entries, canonical row text), `heads` (signed tree heads), `receipts`
(standalone verification: a public key, a head and a proof, no store). On the store: `log`
(appends, receipts, proofs), `audit` (`verify`), `keys` (the Ed25519 key file and the trusted public key),
`imports` (the import pipeline's hook), `witness` (the newest head kept outside the store). See
docs/ledger.md.
"""

from __future__ import annotations

from ..lazy import lazy_names

_SOURCES = {
    "Audit": "audit", "Finding": "audit", "verify": "audit", "ensure_key": "keys", "LedgerError": "log",
    "latest_head": "log", "prove_consistency": "log", "prove_entry": "log", "prove_row": "log", "record_batch": "log",
    "record_decision": "log", "Receipt": "receipts", "ReceiptError": "receipts", "RowReceipt": "receipts",
    "verify_consistency": "receipts", "verify_receipt": "receipts", "verify_row_receipt": "receipts",
}
"""Where each public name lives (roughtrace.lazy imports it on first use)."""

__all__ = [
    "Audit", "Finding", "LedgerError", "Receipt", "ReceiptError", "RowReceipt", "ensure_key", "latest_head",
    "prove_consistency", "prove_entry", "prove_row", "record_batch", "record_decision", "verify",
    "verify_consistency", "verify_receipt", "verify_row_receipt",
]


__getattr__ = lazy_names(__name__, globals(), _SOURCES)
