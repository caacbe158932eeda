"""API tokens: 32 random bytes behind a recognisable prefix, kept only as their SHA-256."""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "rt_"
"""What every token starts with, so a leaked one is recognisable (secret scanners, logs)."""


def new_token() -> str:
    """A fresh token: the prefix, then 32 random bytes as URL-safe text."""
    return PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """The hex SHA-256 of a token's text: what the store keeps and looks a caller up by."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
