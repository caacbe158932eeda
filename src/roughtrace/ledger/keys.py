"""The ledger's Ed25519 key pair on disk.

The private key lives in a PEM file readable by its owner only, never in the database nor, by
default, in the working folder (where it would travel with the data or be committed by accident):
wherever the `ledger_key_file` setting says; else in the user's config folder
(`$XDG_CONFIG_HOME/roughtrace`, by default `~/.config/roughtrace`) as
`ledger-key-<hash of the store's place>.pem`, the place being a DuckDB store's absolute path or a
PostgreSQL store's server and database. A key file already beside a DuckDB store
(`<database>.ledger-key.pem`) is used where it is. A DuckDB store in memory gets a key that lives
as long as the process, like the store. The public key is also recorded in `ledger_keys`, so
`verify` can check heads without the private key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import RoughtraceError
from ..settings import Settings
from ..store.port import Store
from . import settings as _ledger_settings  # noqa: F401  (registers ledger_key_file)
from .heads import key_id, raw_public_key


class LedgerKeyError(RoughtraceError):
    """The signing key cannot be found, made or read."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="ledger_key")


def key_path(store: Store, settings: Any) -> Path | None:
    """Where the private key of `store`'s ledger lives; None for a store in memory."""
    configured = (settings if settings is not None else Settings())["ledger_key_file"]
    if configured:
        return Path(configured).expanduser()
    url = store.url
    if url.startswith("duckdb:"):
        path = url[len("duckdb:///"):] if url.startswith("duckdb:///") else url[len("duckdb:"):]
        if path in ("", ":memory:"):
            return None
        beside = Path(path + ".ledger-key.pem")
        if beside.exists():
            return beside
        place = str(Path(path).resolve())
    else:
        place = url.split("?", 1)[0]
    return config_folder() / f"ledger-key-{hashlib.sha256(place.encode()).hexdigest()[:16]}.pem"


def config_folder() -> Path:
    """roughtrace's folder in the user's configuration directory (XDG): where keys live by default."""
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "roughtrace"


_IN_MEMORY: dict[int, Ed25519PrivateKey] = {}
"""Keys of in-memory stores, by the store object's id: they die with the process, as the store does."""


def _private_key(store: Store, settings: Any) -> Ed25519PrivateKey:
    path = key_path(store, settings)
    if path is None:
        return _IN_MEMORY.setdefault(id(store), Ed25519PrivateKey.generate())
    return read_private_key(path) if path.exists() else _make_key(path)


def _make_key(path: Path) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_private_key(path)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    return key


def read_private_key(path: Path) -> Ed25519PrivateKey:
    """The private key in `path`."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as error:
        raise LedgerKeyError(f"cannot read the ledger key {path}: {error}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise LedgerKeyError(f"{path} does not hold an Ed25519 key")
    return key


def ensure_key(store_or_path: Store | str | Path, settings: Any = None) -> Ed25519PublicKey:
    """Make the ledger's key pair if there is none yet (at `init`), and return the public key.

    Given a store, the key file is found by `key_path` and the public key recorded in
    `ledger_keys`; given a path, only the file is made."""
    if isinstance(store_or_path, str | Path):
        path = Path(store_or_path)
        return (read_private_key(path) if path.exists() else _make_key(path)).public_key()
    store = store_or_path
    public = _private_key(store, settings).public_key()
    record_public_key(store, public)
    return public


def record_public_key(store: Store, public: Ed25519PublicKey) -> None:
    """Add a public key to `ledger_keys` unless it is there."""
    kid = key_id(public)
    known = store.query("SELECT key_id FROM ledger_keys WHERE key_id = ?", (kid,))
    if known.num_rows == 0:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        store.execute("INSERT INTO ledger_keys (key_id, public_key, created_at) VALUES (?, ?, ?)",
                      (kid, raw_public_key(public), now))


def load_signer(store: Store, settings: Any = None) -> Ed25519PrivateKey:
    """The private key that signs `store`'s heads, made on first use."""
    key = _private_key(store, settings)
    record_public_key(store, key.public_key())
    return key


def public_keys(store: Store) -> dict[str, Ed25519PublicKey]:
    """Every public key recorded in the store, by key id."""
    rows = store.query("SELECT key_id, public_key FROM ledger_keys").to_pylist()
    return {r["key_id"]: Ed25519PublicKey.from_public_bytes(bytes(r["public_key"])) for r in rows}
