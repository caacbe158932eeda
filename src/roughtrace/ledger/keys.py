"""The ledger's Ed25519 key pair on disk.

The private key lives in a PEM file readable by its owner only, never in the database nor, by
default, in the working folder (where it would travel with the data or be committed by accident):
wherever the `ledger_key_file` setting says; else in the user's config folder
(`$XDG_CONFIG_HOME/roughtrace`, by default `~/.config/roughtrace`) as `ledger-key-<name>.pem`, the
name being a hash of a DuckDB store's absolute path, or a PostgreSQL store's id (a random id kept
in its `meta` table), so every spelling of one server's URL finds the same key. A key file already
beside a DuckDB store (`<database>.ledger-key.pem`) is used where it is. A DuckDB store in memory
gets a key that lives as long as the process, like the store.

A key file that its group or others may read or write is refused: anyone who can read it can sign
heads, and anyone who can write it can swap the key. The public key is also recorded in
`ledger_keys`, but `verify` trusts only the deployment's key (`trusted_key`), never a key merely
found in the store; and a key that differs from the one the store's newest head was signed with is
refused for signing (a replaced key file) unless the `ledger_rotate_key` setting names its key id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import stat
import uuid
import weakref
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import RoughtraceError
from ..settings import Settings
from ..store.port import Store
from . import settings as _ledger_settings  # noqa: F401  (registers ledger_key_file)
from .heads import HeadError, key_id, load_public_key, raw_public_key

STORE_ID = "ledger_store_id"
"""The `meta` key of the store's own id: names its key file and its witness, whatever the URL spelling."""


class LedgerKeyError(RoughtraceError):
    """The signing key cannot be found, made or read."""

    def __init__(self, message: str, code: str = "ledger_key") -> None:
        super().__init__(message, code=code)
        self.code = code


def store_id(store: Store, create: bool = True) -> str | None:
    """The store's own id from its `meta` table, made at first use (None when there is none and
    `create` is false or the store cannot be written, e.g. a read-only role)."""
    try:
        rows = store.query("SELECT value FROM meta WHERE key = ?", (STORE_ID,)).column("value").to_pylist()
    except Exception:  # noqa: BLE001 - a store without the meta table has no id
        return None
    if rows:
        return str(rows[0])
    if not create:
        return None
    try:  # two first imports at once: the one id written first wins, both read it back
        store.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING", (STORE_ID, uuid.uuid4().hex))
    except Exception:  # noqa: BLE001 - read-only: the store keeps no id
        return None
    return store_id(store, create=False)


def _duckdb_path(url: str) -> str | None:
    path = url[len("duckdb:///"):] if url.startswith("duckdb:///") else url[len("duckdb:"):]
    return None if path in ("", ":memory:") else path


def store_name(store: Store) -> str | None:
    """A short stable name of the store for files kept outside it (its key, its witness): a hash of
    a DuckDB store's absolute path, a PostgreSQL store's id; None for a store in memory."""
    url = store.url
    if url.startswith("duckdb:"):
        path = _duckdb_path(url)
        return None if path is None else hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:16]
    ident = store_id(store)
    if ident is None:
        return hashlib.sha256(url.split("?", 1)[0].encode()).hexdigest()[:16]
    return "store-" + ident[:16]


def key_path(store: Store, settings: Any) -> Path | None:
    """Where the private key of `store`'s ledger lives; None for a store in memory."""
    configured = (settings if settings is not None else Settings())["ledger_key_file"]
    if configured:
        return Path(configured).expanduser()
    if store.url.startswith("duckdb:"):
        path = _duckdb_path(store.url)
        if path is None:
            return None
        beside = Path(path + ".ledger-key.pem")
        if beside.exists():
            return beside
    name = store_name(store)
    if name is None:
        return None
    path = config_folder() / f"ledger-key-{name}.pem"
    if not store.url.startswith("duckdb:") and not path.exists():
        legacy = config_folder() / f"ledger-key-{hashlib.sha256(store.url.split('?', 1)[0].encode()).hexdigest()[:16]}.pem"
        if legacy.exists() and legacy != path:
            os.replace(legacy, path)  # a key named by the URL's spelling moves to the store's id, once
    return path


def config_folder() -> Path:
    """roughtrace's folder in the user's configuration directory (XDG): where keys live by default."""
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "roughtrace"


_IN_MEMORY: weakref.WeakKeyDictionary[Store, Ed25519PrivateKey] = weakref.WeakKeyDictionary()
"""Keys of in-memory stores, keyed by the store object itself (weakly): a key dies with its store, and
a later store can never be handed an earlier one's key."""


def _private_key(store: Store, settings: Any) -> Ed25519PrivateKey:
    path = key_path(store, settings)
    if path is None:
        return _IN_MEMORY.setdefault(store, Ed25519PrivateKey.generate())
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


def _check_mode(path: Path) -> None:
    """Refuse a key file its group or others may read or write."""
    try:
        mode = path.stat().st_mode
    except OSError as error:
        raise LedgerKeyError(f"cannot read the ledger key {path}: {error.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise LedgerKeyError(f"the ledger key {path} may be read or written by others (mode {stat.S_IMODE(mode):o}); "
                             f"make it private with `chmod 600 {path}`", code="ledger_key_permissions")


def read_private_key(path: Path) -> Ed25519PrivateKey:
    """The private key in `path`, refused when its file is open to others."""
    _check_mode(path)
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


def _newest_head_key(store: Store) -> list[str]:
    """The key id of the newest head, in a list (empty when the log has no head)."""
    return store.query("SELECT key_id FROM ledger_heads ORDER BY tree_size DESC LIMIT 1").column("key_id").to_pylist()


def load_signer(store: Store, settings: Any = None) -> Ed25519PrivateKey:
    """The private key that signs `store`'s heads, made on first use.

    Refused when the store's newest head was signed by another key (the key file was replaced or
    another deployment's key was found) unless the `ledger_rotate_key` setting names the new key's
    id: an operator who rotates says so."""
    key = _private_key(store, settings)
    kid = key_id(key.public_key())
    newest = _newest_head_key(store)
    rotate = (settings if settings is not None else Settings())["ledger_rotate_key"]
    if newest and newest[0] != kid and rotate != kid:
        where = key_path(store, settings)
        raise LedgerKeyError(f"the ledger key {where or '(in memory)'} is {kid[:16]}…, but the store's heads are signed "
                             f"by {newest[0][:16]}…: the key file was replaced; put the original back, or rotate on "
                             f"purpose with --set ledger_rotate_key={kid}", code="ledger_key_replaced")
    record_public_key(store, key.public_key())
    if newest and newest[0] != kid:
        _log_rotation(store, newest[0], key)
    return key


def _log_rotation(store: Store, old_key_id: str, key: Ed25519PrivateKey) -> None:
    """Log the hand-over from the key that signed the store's heads to `key`, signed by `key`:
    `verify` trusts the old key for the heads before this entry because the trusted key says so."""
    from .canonical import canonical_json  # the log appends through keys' caller; imported here to avoid a cycle
    from .log import _now, append_entries

    old = store.query("SELECT public_key FROM ledger_keys WHERE key_id = ?", (old_key_id,)).column("public_key").to_pylist()
    if not old:
        raise LedgerKeyError(f"the store does not record the public key {old_key_id[:16]}… its heads were signed with",
                             code="ledger_key_replaced")
    body = canonical_json({"type": "key_rotation", "from_key_id": old_key_id, "from_public_key": bytes(old[0]).hex(),
                           "to_key_id": key_id(key.public_key()), "recorded_at": _now()})
    append_entries(store, [body], "key_rotation", key)


def note_signer(store: Store, settings: Any = None) -> Ed25519PrivateKey:
    """The private key that signs the log's checkpoints: the key of its heads, read without
    writing anything (a read-only store serves its checkpoint too). Refused, as `load_signer`
    refuses, when the newest head was signed by another key."""
    key = _private_key(store, settings)
    kid = key_id(key.public_key())
    newest = _newest_head_key(store)
    if newest and newest[0] != kid:
        raise LedgerKeyError(f"the ledger key {key_path(store, settings) or '(in memory)'} is {kid[:16]}…, but the "
                             f"store's heads are signed by {newest[0][:16]}…", code="ledger_key_replaced")
    return key


def configured_public_key(settings: Any = None) -> str:
    """The `ledger_public_key` setting as given (empty: the key file's public half is trusted)."""
    return str((settings if settings is not None else Settings())["ledger_public_key"]).strip()


def trusted_key(store: Store, settings: Any = None) -> Ed25519PublicKey | None:
    """The deployment's one trusted public key: the `ledger_public_key` setting (PEM file, PEM
    text or 64 hex digits), else the public half of the key file; None when neither is there."""
    configured = configured_public_key(settings)
    if configured:
        text = configured
        candidate = Path(configured).expanduser()
        if not configured.startswith("-----BEGIN") and len(configured) != 64 and candidate.exists():
            text = candidate.read_text()
        try:
            return load_public_key(text)
        except HeadError as error:
            raise LedgerKeyError(f"ledger_public_key: {error}", code="bad_public_key") from None
    path = key_path(store, settings)
    if path is None:
        key = _IN_MEMORY.get(store)
        return key.public_key() if key is not None else None
    return read_private_key(path).public_key() if path.exists() else None


def public_keys(store: Store) -> dict[str, Ed25519PublicKey]:
    """Every public key recorded in the store, by key id."""
    rows = store.query("SELECT key_id, public_key FROM ledger_keys").to_pylist()
    return {r["key_id"]: Ed25519PublicKey.from_public_bytes(bytes(r["public_key"])) for r in rows}
