"""The log in the store: appends inside the caller's transaction, heads, receipts and proofs.

Everything here goes through the Store port. An append reads the partial last tile of each band
(at most one row per 8 levels), writes the entries, the changed tiles and a signed head; a proof
reads the head and the few tiles its subtrees live in. Both are O(log n) reads at any size.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..domain import kinds
from ..errors import NotFound
from ..store.port import Store
from . import kernel, merkle, tiles
from .canonical import ROW_ENCODING, canonical_json, row_encoding, row_text
from .heads import TreeHead, sign_head
from .keys import load_signer
from .receipts import Consistency, Receipt, RowReceipt

LOG_TREE = 0
"""`ledger_tiles.tree` of the log itself; the row tree of the batch in entry e is e + 1."""

BATCH_FIELDS = ("batch_id", "kind", "file_name", "file_sha256")
"""What a batch summary must hold; any further fields (counts, profile hash) are logged too."""


class LedgerError(NotFound):
    """Something asked of the log that it does not hold (an entry, head, batch or row)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)
        self.code = code


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def row_tree(entry_index: int) -> int:
    """The `ledger_tiles.tree` of the rows of the batch recorded by entry `entry_index`."""
    return entry_index + 1


# -- reading --------------------------------------------------------------------------------

def _head_from_row(row: Mapping[str, Any]) -> TreeHead:
    return TreeHead(int(row["tree_size"]), bytes(row["root_hash"]), row["signed_at"], row["key_id"], bytes(row["signature"]))


_HEAD_COLUMNS = "tree_size, root_hash, signed_at, key_id, signature"


def latest_head(store: Store) -> TreeHead | None:
    """The newest signed head, None for an empty log."""
    rows = store.rows(f"SELECT {_HEAD_COLUMNS} FROM ledger_heads ORDER BY tree_size DESC LIMIT 1")
    return _head_from_row(rows[0]) if rows else None


def head_at(store: Store, size: int) -> TreeHead:
    """The signed head of the log at `size` entries."""
    rows = store.rows(f"SELECT {_HEAD_COLUMNS} FROM ledger_heads WHERE tree_size = {int(size)}")
    if not rows:
        raise LedgerError("no_such_head", f"the ledger never signed a head at size {size}")
    return _head_from_row(rows[0])


def _first_head_from(store: Store, size: int) -> TreeHead:
    rows = store.rows(f"SELECT {_HEAD_COLUMNS} FROM ledger_heads WHERE tree_size >= {int(size)} ORDER BY tree_size LIMIT 1")
    if not rows:
        raise LedgerError("no_such_head", f"no signed head covers {size} entries")
    return _head_from_row(rows[0])


def load_tiles(store: Store, tree: int, keys: Sequence[tiles.TileKey]) -> dict[tiles.TileKey, np.ndarray]:
    """The stored tiles of `tree` named by `keys`, each as a (width, 32) hash matrix.

    The numbers are written into the SQL as integer literals, not parameters: DuckDB prunes row
    groups by literal values at planning time, which a cold proof depends on (docs/performance/ledger.md)."""
    if not keys:
        return {}
    by_band: dict[int, list[int]] = {}
    for band, index in keys:
        by_band.setdefault(int(band), []).append(int(index))
    clauses = [f"(band = {band} AND idx IN ({', '.join(map(str, indexes))}))" for band, indexes in sorted(by_band.items())]
    rows = store.rows(f"SELECT band, idx, width, hashes FROM ledger_tiles WHERE tree = {int(tree)} AND ({' OR '.join(clauses)})")
    found = {}
    for band, index, width, blob in ((r["band"], r["idx"], r["width"], r["hashes"]) for r in rows):
        hashes = np.frombuffer(bytes(blob), dtype=np.uint8).reshape(-1, merkle.HASH_SIZE)
        if len(hashes) != width:
            raise LedgerError("tile_damaged", f"tile ({band}, {index}) of tree {tree} holds {len(hashes)} hashes, not {width}")
        found[(int(band), int(index))] = hashes
    return found


def hash_reader(store: Store, tree: int = LOG_TREE) -> merkle.HashReader:
    """Reads complete-subtree hashes of `tree` from the store's tiles (for `merkle.prove_*`)."""
    return tiles.TileHashes(lambda keys: load_tiles(store, tree, keys))


def entry_body(store: Store, index: int) -> str:
    """The canonical JSON of entry `index`."""
    rows = [r["body"] for r in store.rows(f"SELECT body FROM ledger_entries WHERE entry_index = {int(index)}")]
    if not rows:
        raise LedgerError("no_such_entry", f"the ledger has no entry {index}")
    return rows[0]


# -- appending ------------------------------------------------------------------------------

def _append_tiles(store: Store, tree: int, rows: tiles.TileRows) -> None:
    table = rows.arrow()
    store.append("ledger_tiles", table.add_column(0, "tree", pa.array(np.full(table.num_rows, tree, dtype=np.int64))))


def _write_tiles(store: Store, tree: int, size: int, changed: Sequence[tiles.TileRows]) -> None:
    """Store the tiles an append changed; each band's first one replaces the partial tile kept."""
    for rows in changed:
        if rows.first_index << tiles.TILE_HEIGHT < (size >> (tiles.TILE_HEIGHT * rows.band)):
            store.execute("DELETE FROM ledger_tiles WHERE tree = ? AND band = ? AND idx = ?",
                          (tree, rows.band, rows.first_index))
        _append_tiles(store, tree, rows)


def _write_tree(store: Store, tree: int, size: int, leaves: np.ndarray) -> None:
    partial = tiles.partial_tiles(size)
    kept = load_tiles(store, tree, list(partial.values()))
    for key in partial.values():
        if key not in kept:
            raise LedgerError("tile_missing", f"tile {key} of tree {tree} is missing; run `ledger verify`")
    _write_tiles(store, tree, size, list(tiles.extend(size, leaves, {band: kept[key] for band, key in partial.items()})))


def append_entries(store: Store, bodies: Sequence[str] | pa.Array, entry_type: str,
                   signer: Ed25519PrivateKey | None = None) -> tuple[int, TreeHead]:
    """Append canonical-JSON entries to the log and sign the new head, in one transaction (joining
    the caller's). Returns the first new entry's index and the head."""
    bodies = bodies if isinstance(bodies, pa.Array) else pa.array(list(bodies), pa.string())
    signer = signer or load_signer(store)
    with store.transaction():
        _lock(store)
        head = latest_head(store)
        size = head.size if head else 0
        leaves = kernel.leaf_hashes(bodies)
        store.append("ledger_entries", pa.table({
            "entry_index": pa.array(np.arange(size, size + len(bodies), dtype=np.int64)),
            "entry_type": pa.array([entry_type] * len(bodies), pa.string()),
            "body": bodies.cast(pa.string()),
        }))
        _write_tree(store, LOG_TREE, size, leaves)
        new_size = size + len(bodies)
        new_head = sign_head(signer, new_size, merkle.tree_root(hash_reader(store), new_size), _now())
        store.execute("INSERT INTO ledger_heads (tree_size, root_hash, signed_at, key_id, signature) VALUES (?, ?, ?, ?, ?)",
                      (new_head.size, new_head.root, new_head.timestamp, new_head.key_id, new_head.signature))
    return size, new_head


def rows_root(row_leaf_hashes: pa.Array | pa.ChunkedArray | np.ndarray | None) -> bytes:
    """MTH of a batch's row leaf hashes (vectorised; the empty tree's hash for no rows)."""
    if row_leaf_hashes is None or len(row_leaf_hashes) == 0:
        return merkle.EMPTY_ROOT
    built = tiles.build(kernel.as_matrix(row_leaf_hashes))
    return merkle.tree_root(tiles.TileHashes(lambda keys: {k: built[k] for k in keys}), len(row_leaf_hashes))


def _lock(store: Store) -> None:
    """Serialise appenders until the transaction ends."""
    store.lock_for_append("ledger_heads")


def _write_row_tree(store: Store, tree: int, chunks: Iterable[np.ndarray]) -> tuple[int, bytes]:
    """Store the tiles of a batch's row tree from its leaf hashes, chunk by chunk, and return its
    size and root. Only complete tiles are written as they fill; each band's partial last tile is
    held until the end, so nothing is written twice and memory holds one chunk, not the batch."""
    size = 0
    partial: dict[int, np.ndarray] = {}
    for leaves in chunks:
        for rows in tiles.extend(size, leaves, partial):
            complete = len(rows.hashes) - len(rows.hashes) % tiles.TILE_WIDTH
            if complete:
                _append_tiles(store, tree, tiles.TileRows(rows.band, rows.first_index, rows.hashes[:complete]))
            partial[rows.band] = rows.hashes[complete:].copy()
        size += len(leaves)
    for band, hashes in partial.items():
        if len(hashes):
            _append_tiles(store, tree, tiles.TileRows(band, (size >> (tiles.TILE_HEIGHT * band)) >> tiles.TILE_HEIGHT, hashes))
    return size, (merkle.tree_root(hash_reader(store, tree), size) if size else merkle.EMPTY_ROOT)


def record_batch(store: Store, summary: Mapping[str, Any], row_leaf_hashes: Iterable[np.ndarray] | np.ndarray | None,
                 signer: Ed25519PrivateKey | None = None) -> Receipt:
    """Log an accepted import batch, inside the caller's transaction, and return its receipt.

    `summary` holds the batch's batch_id, kind, file_name, file_sha256 and counts (and
    `row_encoding`, the current one when absent);
    `row_leaf_hashes` the 32-byte leaf hashes of its accepted rows in source_row order, as one
    (n, 32) matrix or as successive chunks of one (see `imports.row_leaf_chunks`). The entry states
    the rows' count and Merkle root; the row tree's tiles are stored so any one row can later be
    proven alone (`prove_row`)."""
    missing = [f for f in BATCH_FIELDS if f not in summary]
    if missing:
        raise ValueError(f"a batch summary needs {', '.join(missing)}")
    if row_leaf_hashes is None:
        row_leaf_hashes = []
    elif isinstance(row_leaf_hashes, np.ndarray):
        row_leaf_hashes = [kernel.as_matrix(row_leaf_hashes)]
    with store.transaction():
        _lock(store)
        head = latest_head(store)
        index = head.size if head else 0
        count, root = _write_row_tree(store, row_tree(index), row_leaf_hashes)
        body = canonical_json({"row_encoding": ROW_ENCODING, **summary, "type": "batch", "row_count": count,
                               "rows_root": root.hex(), "recorded_at": _now()})
        appended, head = append_entries(store, [body], "batch", signer)
        if appended != index:
            raise LedgerError("log_moved", f"the log grew from {index} to {appended} entries while batch "
                              f"{summary['batch_id']} was being recorded")
        store.execute("INSERT INTO ledger_batches (batch_id, entry_index, kind, row_count, rows_root) VALUES (?, ?, ?, ?, ?)",
                      (int(summary["batch_id"]), index, str(summary["kind"]), count, root))
        proof = merkle.prove_inclusion(hash_reader(store), index, head.size)
    return Receipt(index, body, head, tuple(proof))


def record_decision(store: Store, decision_kind: str, payload: Mapping[str, Any],
                    signer: Ed25519PrivateKey | None = None) -> Receipt:
    """Log a decision (a check run, a valuation, a certificate verdict) and return its receipt.
    `payload` must be JSON-able with exact values: Decimals and dates are written as strings."""
    body = canonical_json({"type": "decision", "decision": decision_kind, "payload": payload, "recorded_at": _now()})
    with store.transaction():
        index, head = append_entries(store, [body], "decision", signer)
        proof = merkle.prove_inclusion(hash_reader(store), index, head.size)
    return Receipt(index, body, head, tuple(proof))


# -- proving --------------------------------------------------------------------------------

def prove_entry(store: Store, index: int, size: int | None = None) -> Receipt:
    """A receipt for entry `index` under the signed head at `size` (the newest head by default).

    Two reads: the head with the entry's body, then the tiles the proof's subtrees live in."""
    which = "ORDER BY tree_size DESC LIMIT 1" if size is None else f"WHERE tree_size = {int(size)}"
    rows = store.rows(f"SELECT {_HEAD_COLUMNS}, (SELECT body FROM ledger_entries WHERE entry_index = {int(index)}) "
                      f"AS body FROM ledger_heads {which}")
    if not rows:
        raise LedgerError("no_such_head", "the ledger is empty" if size is None else f"the ledger never signed a head at size {size}")
    head = _head_from_row(rows[0])
    if not 0 <= index < head.size or rows[0]["body"] is None:
        raise LedgerError("no_such_entry", f"entry {index} is not in the log of size {head.size}")
    proof = merkle.prove_inclusion(hash_reader(store), index, head.size)
    return Receipt(index, rows[0]["body"], head, tuple(proof))


def prove_consistency(store: Store, old_size: int, new_size: int | None = None) -> Consistency:
    """Proof that the log at signed size `old_size` is a prefix of the log at `new_size` (newest by default)."""
    new = latest_head(store) if new_size is None else head_at(store, new_size)
    if new is None:
        raise LedgerError("empty_log", "the ledger is empty")
    old = head_at(store, old_size)
    if old.size > new.size:
        raise LedgerError("bad_sizes", f"head {old.size} is newer than head {new.size}")
    return Consistency(old, new, tuple(merkle.prove_consistency(hash_reader(store), old.size, new.size)))


def batch_record(store: Store, batch_id: int) -> dict[str, Any]:
    """The ledger's record of batch `batch_id`: entry_index, kind, row_count, rows_root."""
    rows = store.rows(f"SELECT entry_index, kind, row_count, rows_root FROM ledger_batches WHERE batch_id = {int(batch_id)}")
    if not rows:
        raise LedgerError("no_such_batch", f"the ledger has no batch {batch_id}")
    return rows[0]


def prove_row(store: Store, batch_id: int, source_row: int) -> RowReceipt:
    """Proof that one stored row is in batch `batch_id` as logged, revealing no other row: the
    row's canonical text, its inclusion proof in the batch's row tree, and the batch's receipt."""
    record = batch_record(store, batch_id)
    kind = kinds.KINDS[record["kind"]]
    columns = ", ".join(kind.column_names)
    rows = store.query(f"SELECT {columns} FROM {kind.name} WHERE batch_id = ? AND source_row = ?",
                       (batch_id, source_row)).to_pylist()
    if not rows:
        raise LedgerError("no_such_row", f"batch {batch_id} has no accepted row {source_row}")
    position = store.query(f"SELECT count(*) AS n FROM {kind.name} WHERE batch_id = ? AND source_row < ?",
                           (batch_id, source_row)).column("n")[0].as_py()
    entry_index = int(record["entry_index"])
    proof = merkle.prove_inclusion(hash_reader(store, row_tree(entry_index)), int(position), int(record["row_count"]))
    batch = prove_entry(store, entry_index)
    encoding = row_encoding(json.loads(batch.entry))
    return RowReceipt(batch_id, source_row, int(position), row_text(kind, rows[0], encoding), tuple(proof), batch)

