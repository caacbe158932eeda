"""Signed tree heads and the ledger's Ed25519 key: what the log operator commits to.

A head says "the log had `size` entries and this root at this time", signed with Ed25519 over the
RFC 8785 JSON {"log", "key_id", "root_hash", "timestamp", "tree_size"}. The key id is the SHA-256
of the raw 32-byte public key, hex. Signing and checking are pure; reading the key file is in
`keys`.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import CheckFailed
from .canonical import canonical_json

LOG_NAME = "roughtrace.ledger/1"
"""Names the log format inside every signed head, so a signature cannot be replayed elsewhere."""


class HeadError(CheckFailed):
    """A head whose signature, key or form does not check."""

    code = "head_invalid"


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of an Ed25519 public key."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key, hex: names the key in heads and receipts."""
    return hashlib.sha256(raw_public_key(key)).hexdigest()


def public_key_pem(key: Ed25519PublicKey) -> str:
    """The public key as PEM (SubjectPublicKeyInfo), what a sightholder keeps."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_public_key(text: str | bytes) -> Ed25519PublicKey:
    """A public key from PEM, or from 64 hex digits of the raw key."""
    data = text.encode() if isinstance(text, str) else text
    try:
        if data.strip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(data)
        else:
            key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(data.decode().strip()))
    except ValueError as error:
        raise HeadError(f"not an Ed25519 public key: {error}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise HeadError("the public key is not an Ed25519 key")
    return key


@dataclass(frozen=True)
class TreeHead:
    """A signed statement of the log's size and root at a moment."""

    size: int
    """Entries in the log."""
    root: bytes
    """RFC 9162 MTH of those entries, 32 bytes."""
    timestamp: str
    """When it was signed, ISO 8601 UTC to the millisecond."""
    key_id: str
    signature: bytes
    """Ed25519 signature, 64 bytes, over `signed_message`."""

    def signed_message(self) -> bytes:
        return head_message(self.size, self.root, self.timestamp, self.key_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "tree_size": self.size,
            "root_hash": self.root.hex(),
            "timestamp": self.timestamp,
            "key_id": self.key_id,
            "signature": base64.b64encode(self.signature).decode(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TreeHead:
        try:
            return cls(
                int(data["tree_size"]),
                bytes.fromhex(data["root_hash"]),
                str(data["timestamp"]),
                str(data["key_id"]),
                base64.b64decode(data["signature"], validate=True),
            )
        except (KeyError, ValueError, TypeError) as error:
            raise HeadError(f"not a tree head: {error}") from None


def head_message(size: int, root: bytes, timestamp: str, key: str) -> bytes:
    """The exact bytes a head's signature covers."""
    return canonical_json(
        {"log": LOG_NAME, "key_id": key, "root_hash": root.hex(), "timestamp": timestamp, "tree_size": size}
    ).encode()


def sign_head(private_key: Ed25519PrivateKey, size: int, root: bytes, timestamp: str) -> TreeHead:
    """Sign the head of a log of `size` entries with root `root`."""
    kid = key_id(private_key.public_key())
    return TreeHead(size, root, timestamp, kid, private_key.sign(head_message(size, root, timestamp, kid)))


def verify_head(public_key: Ed25519PublicKey, head: TreeHead) -> None:
    """Check a head's signature and key id against `public_key`; raises HeadError when wrong."""
    if head.key_id != key_id(public_key):
        raise HeadError(f"head of size {head.size} was signed by key {head.key_id[:16]}…, not this one")
    try:
        public_key.verify(head.signature, head.signed_message())
    except InvalidSignature:
        raise HeadError(f"the signature of the head of size {head.size} does not match") from None
