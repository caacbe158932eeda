"""Verify a ledger served in the tlog-tiles layout (`tlog`), from outside, with its public key alone.

The verifier reads the signed checkpoint, checks its signature, then reads every hash tile and, when
the server gives them, every entry bundle the checkpoint covers: each entry's leaf hash must be the
level-0 hash served for it, each higher tile's hash the root of the 256 hashes below it, and the
root of all the leaves the checkpoint's root. A receipt the caller keeps is then checked against the same leaves: its entry at
its index, and its head's root the root of the log's first `size` entries, so the log it was given
is a prefix of the log served now.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..errors import CannotRead
from . import kernel, merkle
from .audit import Finding
from .receipts import Receipt, verify_receipt
from .tiles import TILE_HEIGHT, TILE_WIDTH
from .tlog import ENTRIES, Checkpoint, open_note, read_checkpoint, split_bundle, tiles_of

Fetch = Callable[[str], bytes]
"""Reads one path below the log's prefix (checkpoint, tile/...) and returns its bytes."""
FETCH_TIMEOUT = 30.0


class RemoteRefused(CannotRead):
    """The server will not give this path to this caller (401 or 403): entry bundles are for its
    administrators; hashes and the checkpoint are for anyone."""


def http_fetch(prefix: str, timeout: float = FETCH_TIMEOUT) -> Fetch:
    """A `Fetch` over HTTP(S) below `prefix`; a failure is CannotRead (remote_unreadable) naming the URL."""
    base = prefix.rstrip("/")

    def fetch(path: str) -> bytes:
        url = f"{base}/{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - the URL is the user's own
                return answer.read()
        except urllib.error.HTTPError as error:
            if error.code in (401, 403):
                raise RemoteRefused(f"{url} answered {error.code} {error.reason}", code="remote_refused") from None
            raise CannotRead(f"{url} answered {error.code} {error.reason}", code="remote_unreadable") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
            raise CannotRead(f"cannot read {url}: {getattr(error, 'reason', error)}", code="remote_unreadable") from None

    return fetch


@dataclass
class RemoteCheck:
    """What a remote verification read and found."""

    origin: str
    size: int
    root: bytes
    tiles: int = 0
    findings: list[Finding] = field(default_factory=list)
    receipts: list[str] = field(default_factory=list)
    """One sentence per receipt checked against the served log."""
    entries_read: bool = True
    """Whether the entries themselves were read and hashed; else the leaf hashes served were taken
    as they are (the server keeps its entries to its administrators)."""

    @property
    def ok(self) -> bool:
        return not self.findings


def _level_up(hashes: np.ndarray) -> np.ndarray:
    """The hashes one tile band up: the root of each complete run of 256 hashes."""
    level = hashes[: len(hashes) - len(hashes) % TILE_WIDTH]
    for _ in range(TILE_HEIGHT):
        level = kernel.pair_hashes(level)
    return level


def _served_hashes(fetch: Fetch, size: int, level: int) -> np.ndarray:
    parts = [np.frombuffer(fetch(tile.path), dtype=np.uint8) for tile in tiles_of(size, level)]
    flat = np.concatenate(parts) if parts else np.empty(0, dtype=np.uint8)
    if flat.size % merkle.HASH_SIZE:
        raise CannotRead(f"a level-{level} tile is not a whole number of hashes", code="remote_unreadable")
    return flat.reshape(-1, merkle.HASH_SIZE)


def _compare(problems: list[Finding], level: int, served: np.ndarray, expected: np.ndarray) -> None:
    if served.shape != expected.shape:
        problems.append(Finding("tile_differs", f"level {level} serves {len(served):,} hashes where the entries make "
                                f"{len(expected):,}", {"tile_level": level}))
        return
    differ = np.flatnonzero((served != expected).any(axis=1))
    if differ.size:
        problems.append(Finding("tile_differs", f"level {level}: {differ.size:,} served hashes differ from the entries' "
                                f"(the first at index {int(differ[0]):,})", {"tile_level": level}))


def _entries(fetch: Fetch, size: int, check: RemoteCheck) -> list[bytes] | None:
    """Every entry the checkpoint covers, from its bundles; None when the server refuses them."""
    entries: list[bytes] = []
    for tile in tiles_of(size, ENTRIES):
        try:
            got = split_bundle(fetch(tile.path))
        except RemoteRefused:
            return None
        if len(got) != tile.width:
            check.findings.append(Finding("bundle_short", f"{tile.path} holds {len(got)} entries, not {tile.width}",
                                          {"tile": tile.path}))
        entries += got
        check.tiles += 1
    return entries


def verify_remote(fetch: Fetch, key: Ed25519PublicKey, receipts: list[Receipt] = ()) -> RemoteCheck:
    """Check the log `fetch` serves against `key`, and each receipt against it."""
    note = fetch("checkpoint").decode("utf-8", "replace")
    origin = note.split("\n", 1)[0]
    point: Checkpoint = read_checkpoint(open_note(note, origin, key))
    check = RemoteCheck(point.origin, point.size, point.root)
    served0 = _served_hashes(fetch, point.size, 0)
    check.tiles = len(tiles_of(point.size, 0))
    entries = _entries(fetch, point.size, check)
    if entries is None:
        check.entries_read, leaves = False, served0
    else:
        leaves = kernel.leaf_hashes(entries) if entries else np.empty((0, merkle.HASH_SIZE), dtype=np.uint8)
        _compare(check.findings, 0, served0, leaves)
    level, hashes = 1, _level_up(leaves)
    while len(hashes):
        served = _served_hashes(fetch, point.size, level)
        check.tiles += len(tiles_of(point.size, level))
        _compare(check.findings, level, served, hashes)
        level, hashes = level + 1, _level_up(hashes)
    leaf_list = [bytes(row) for row in leaves]
    if len(leaf_list) == point.size and merkle.root_of(leaf_list) != point.root:
        check.findings.append(Finding("root_differs", f"the served entries' root is not the checkpoint's root of "
                                      f"{point.size:,} entries", {"checkpoint": point.size}))
    for receipt in receipts:
        verify_receipt(key, receipt)
        head = receipt.head
        if head.size > len(leaf_list):
            check.findings.append(Finding("receipt_ahead", f"a receipt for a log of {head.size:,} entries, longer than "
                                          f"the {len(leaf_list):,} served", {"entry_index": receipt.index}))
        elif leaf_list[receipt.index] != receipt.leaf_hash or merkle.root_of(leaf_list[: head.size]) != head.root:
            check.findings.append(Finding("receipt_not_in_log", f"entry {receipt.index} of the receipt is not the log's "
                                          f"entry there, or its log is not a prefix of the one served", {"entry_index": receipt.index}))
        else:
            check.receipts.append(f"entry {receipt.index} is in the served log of {point.size:,} entries, "
                                  f"as its receipt of {head.size:,} entries says")
    return check
