"""The ledger's settings."""

from __future__ import annotations

from ..settings import Setting, register

KEY_FILE = Setting(
    "ledger_key_file",
    "",
    "Where the ledger's Ed25519 private key lives (PEM, mode 0600; never in the database). Empty: in the user's config "
    "folder, ~/.config/roughtrace/ledger-key-<hash of the store's path, or server and database>.pem ($XDG_CONFIG_HOME "
    "if set), or a <database>.ledger-key.pem already beside a DuckDB store.",
    "ledger",
)

register(KEY_FILE)
