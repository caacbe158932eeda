"""The log as outside verifiers read it: the C2SP tlog-tiles layout.

- `checkpoint`: a C2SP signed note whose text is the tlog checkpoint: the log's origin line, its size
  in decimal, its RFC 9162 root in base64, each ending in a newline; then a blank line and one
  signature line, an em dash, the key's name (the origin), and base64 of the 4-byte key hash followed
  by the Ed25519 signature of the text.
- `tile/<L>/<N>[.p/<W>]`: the stored hashes of the log's tree, tiles of height 8: tile N of level L
  holds the hashes of tree level 8 L from index 256 N, 32 bytes each; `.p/W` names a partial tile
  of W hashes. The store keeps its tiles in this very layout (`tiles`).
- `tile/entries/<N>[.p/<W>]`: entries 256 N onwards, each its canonical JSON as a big-endian
  16-bit length and its bytes; the leaf hash of an entry is SHA-256(0x00 || those bytes).

N is written in groups of three digits, each but the last prefixed with `x` (1234067 is
x001/x234/067). Everything here is pure except the readers of a store, which take one.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

import numpy as np
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import NotFound
from ..store.port import Store
from .heads import HeadError, raw_public_key
from .merkle import HASH_SIZE
from .tiles import TILE_HEIGHT, TILE_WIDTH

ED25519 = 0x01
"""The signature type byte of an Ed25519 key in a signed note's key hash and verifier key."""
ENTRIES = "entries"
MAX_ENTRY_BYTES = 0xFFFF
"""The longest entry an entry bundle can carry (its length is a 16-bit number)."""
_NOTE_SIGNATURE = re.compile(r"^\u2014 (\S+) (\S+)$")


@dataclass(frozen=True)
class Tile:
    """One tile: `level` (a number, or `ENTRIES` for an entry bundle), its index and width."""

    level: int | str
    index: int
    width: int = TILE_WIDTH

    @property
    def path(self) -> str:
        """Its path below the log's prefix, e.g. tile/0/x001/234.p/7."""
        partial = f".p/{self.width}" if self.width < TILE_WIDTH else ""
        return f"tile/{self.level}/{index_path(self.index)}{partial}"


def index_path(index: int) -> str:
    """A tile index as path elements of three digits, all but the last prefixed with x."""
    groups = []
    while True:
        index, group = divmod(index, 1000)
        groups.append(f"{group:03d}")
        if index == 0:
            break
    return "/".join([f"x{g}" for g in reversed(groups[1:])] + [groups[0]])


_TILE_PATH = re.compile(r"^tile/(entries|[0-5])/((?:x[0-9]{3}/)*[0-9]{3})(?:\.p/([0-9]{1,3}))?$")


def parse_tile_path(path: str) -> Tile:
    """The tile a path names; NotFound (tile_not_found) for a path that is not a tile's."""
    match = _TILE_PATH.match(path.strip("/"))
    if not match:
        raise NotFound(f"{path} is not a tile's path (tile/<L>/<N>[.p/<W>])", code="tile_not_found")
    level_text, index_text, width_text = match.groups()
    groups = index_text.split("/")
    index = int("".join(g.lstrip("x") for g in groups))
    width = int(width_text) if width_text else TILE_WIDTH
    partial_ok = width_text is None or 0 < width < TILE_WIDTH
    if not partial_ok or index_path(index) != index_text:
        raise NotFound(f"{path} is not a tile's path (tile/<L>/<N>[.p/<W>])", code="tile_not_found")
    return Tile(ENTRIES if level_text == ENTRIES else int(level_text), index, width)


def tiles_of(size: int, level: int | str = 0) -> list[Tile]:
    """The tiles of `level` (0 and `ENTRIES` have one hash or entry per leaf) a log of `size` has."""
    count = size >> (TILE_HEIGHT * (0 if level == ENTRIES else int(level)))
    full, rest = divmod(count, TILE_WIDTH)
    return [Tile(level, i) for i in range(full)] + ([Tile(level, full, rest)] if rest else [])


# -- checkpoints as signed notes -------------------------------------------------------------------
def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    """The text of a checkpoint: origin, size and root, one line each."""
    if not origin or "\n" in origin:
        raise ValueError("a log's origin is one non-empty line")
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def note_key_hash(name: str, key: Ed25519PublicKey) -> bytes:
    """The 4 bytes that name a signed note's Ed25519 key: SHA-256(name, newline, 0x01, key)."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + raw_public_key(key)).digest()[:4]


def verifier_key(name: str, key: Ed25519PublicKey) -> str:
    """The key as note verifiers take it: name+hex key hash+base64(0x01 || key)."""
    return f"{name}+{note_key_hash(name, key).hex()}+{base64.b64encode(bytes([ED25519]) + raw_public_key(key)).decode()}"


def sign_note(text: str, name: str, key: Ed25519PrivateKey) -> str:
    """A signed note: the text, a blank line, and the signature line of `key` named `name`."""
    signature = key.sign(text.encode())
    return f"{text}\n\u2014 {name} {base64.b64encode(note_key_hash(name, key.public_key()) + signature).decode()}\n"


def open_note(note: str, name: str, key: Ed25519PublicKey) -> str:
    """The text of a signed note that `key`, named `name`, signed; HeadError when no line of it
    is a good signature by that key."""
    text, blank, signatures = note.rpartition("\n\n")
    if not blank or not text:
        raise HeadError("not a signed note: no blank line before its signatures")
    text += "\n"
    wanted = note_key_hash(name, key)
    for line in signatures.rstrip("\n").split("\n"):
        match = _NOTE_SIGNATURE.match(line)
        if not match or match.group(1) != name:
            continue
        try:
            blob = base64.b64decode(match.group(2), validate=True)
        except ValueError:
            continue
        if blob[:4] != wanted:
            continue
        try:
            key.verify(blob[4:], text.encode())
        except InvalidSignature:
            raise HeadError(f"the note's signature by {name} does not check") from None
        return text
    raise HeadError(f"the note carries no signature by the key {name}+{wanted.hex()}")


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint says: the log's origin, size and root."""

    origin: str
    size: int
    root: bytes


def read_checkpoint(text: str) -> Checkpoint:
    """The origin, size and root of a checkpoint's text (after `open_note`)."""
    lines = text.split("\n")
    try:
        size, root = int(lines[1]), base64.b64decode(lines[2], validate=True)
    except (IndexError, ValueError):
        raise HeadError("not a checkpoint: origin, size and root hash lines expected") from None
    if len(root) != HASH_SIZE or size < 0 or lines[1] != str(size):
        raise HeadError("not a checkpoint: a bad size or root hash")
    return Checkpoint(lines[0], size, root)


# -- reading a store -------------------------------------------------------------------------------
def log_origin(store: Store) -> str:
    """The log's origin: roughtrace's ledger of this store, named by the store's own id."""
    from .keys import store_id, store_name

    return f"roughtrace.ledger/{store_id(store, create=False) or store_name(store) or 'memory'}"


def checkpoint(store: Store, signer: Ed25519PrivateKey) -> str:
    """The signed checkpoint of the log's newest head (NotFound, empty_ledger, when it has none)."""
    from .log import latest_head

    head = latest_head(store)
    if head is None:
        raise NotFound("the ledger holds no entry yet", code="empty_ledger")
    origin = log_origin(store)
    return sign_note(checkpoint_text(origin, head.size, head.root), origin, signer)


def _check_within(tile: Tile, size: int) -> None:
    available = [t for t in tiles_of(size, tile.level) if t.index == tile.index]
    if not available or available[0].width < tile.width:
        raise NotFound(f"the log of {size:,} entries has no tile {tile.path}", code="tile_not_found")


def read_tile(store: Store, tile: Tile, size: int) -> bytes:
    """The bytes of `tile` of the log at `size` entries (a hash tile, or an entry bundle)."""
    _check_within(tile, size)
    if tile.level == ENTRIES:
        first = tile.index * TILE_WIDTH
        bodies = store.query("SELECT body FROM ledger_entries WHERE entry_index >= ? AND entry_index < ? "
                             "ORDER BY entry_index", (first, first + tile.width)).column("body").to_pylist()
        return entry_bundle([b.encode() for b in bodies])
    from .log import LOG_TREE, load_tiles

    hashes = load_tiles(store, LOG_TREE, [(int(tile.level), tile.index)]).get((int(tile.level), tile.index))
    if hashes is None or len(hashes) < tile.width:
        raise NotFound(f"the store holds no tile {tile.path}", code="tile_not_found")
    return np.ascontiguousarray(hashes[: tile.width]).tobytes()


def entry_bundle(bodies: list[bytes]) -> bytes:
    """Entries as a bundle: each a big-endian 16-bit length and its bytes."""
    parts = []
    for body in bodies:
        if len(body) > MAX_ENTRY_BYTES:
            raise ValueError(f"an entry of {len(body):,} bytes is longer than a bundle can carry")
        parts.append(len(body).to_bytes(2, "big") + body)
    return b"".join(parts)


def split_bundle(bundle: bytes) -> list[bytes]:
    """The entries of a bundle; HeadError when a length runs past its end."""
    entries, at = [], 0
    while at < len(bundle):
        if at + 2 > len(bundle):
            raise HeadError("an entry bundle ends inside a length")
        length = int.from_bytes(bundle[at : at + 2], "big")
        if at + 2 + length > len(bundle):
            raise HeadError("an entry bundle ends inside an entry")
        entries.append(bundle[at + 2 : at + 2 + length])
        at += 2 + length
    return entries
