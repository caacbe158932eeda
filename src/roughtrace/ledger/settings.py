"""The ledger's settings."""

from __future__ import annotations

from ..settings import Setting, register

KEY_FILE = Setting(
    "ledger_key_file",
    "",
    "Where the ledger's Ed25519 private key lives (PEM, mode 0600; never in the database). Empty: beside a DuckDB "
    "store as <database>.ledger-key.pem; for PostgreSQL ~/.config/roughtrace/ledger-key-<server and database hash>.pem.",
    "ledger",
)

register(KEY_FILE)
