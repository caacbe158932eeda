"""The ledger's settings."""

from __future__ import annotations

import re
from typing import Any

from ..settings import Setting


def _key_id_or_empty(value: Any) -> str:
    """A rule: empty, or a key id (64 hex digits, as `ledger key export --json` prints it)."""
    text = str(value).strip().lower()
    if text and not re.fullmatch(r"[0-9a-f]{64}", text):
        raise ValueError("a key id of 64 hex digits (or nothing)")
    return text


KEY_FILE = Setting(
    "ledger_key_file",
    "",
    "Where the ledger's Ed25519 private key lives (PEM, mode 0600; never in the database). Empty: in the user's config "
    "folder, ~/.config/roughtrace/ledger-key-<hash of the store's path, or the PostgreSQL store's id>.pem "
    "($XDG_CONFIG_HOME if set), or a <database>.ledger-key.pem already beside a DuckDB store. Refused when its group "
    "or others may read or write it.",
    "ledger",
)

PUBLIC_KEY = Setting(
    "ledger_public_key",
    "",
    "The deployment's one trusted public key: `ledger verify` checks every head against it (a PEM file, PEM text or 64 "
    "hex digits). Empty: the public half of the ledger's key file. Keys merely recorded in the store are never trusted.",
    "ledger",
)

ROTATE_KEY = Setting(
    "ledger_rotate_key",
    "",
    "The key id (64 hex digits) of a new signing key the next import may sign with although the store's heads were "
    "signed by another: an explicit key rotation. Empty: a key that differs from the store's is refused.",
    "ledger",
    _key_id_or_empty,
)

SETTINGS: tuple[Setting, ...] = (KEY_FILE, PUBLIC_KEY, ROTATE_KEY)
