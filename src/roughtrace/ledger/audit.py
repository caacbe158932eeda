"""`verify`: recompute the whole ledger from the stored data and name every mismatch.

Each entry's leaf hash is recomputed from its canonical JSON and compared with the log's band-0
tiles (where an entry whose text changed is named), every tile above from those leaf hashes,
every signed head's root from the tiles and its signature from the deployment's trusted key (or a
key it handed over to in a logged rotation; never a key merely recorded in the store), and every
batch's row tree from the rows now in the store, in the row encoding its entry names. Beyond
what the log holds, it proves that the log vouches for the whole store: every entry is covered by
a signed head, every stored row of every kind belongs to a logged batch, and the log is not
shorter than the head kept outside the store (`witness`). The log is walked 2**20 entries at a
time, so memory stays bounded at any size.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..domain import kinds
from ..store.port import Store
from . import kernel, merkle, tiles, witness
from .canonical import is_canonical, row_encoding
from .heads import HeadError, key_id, load_public_key, verify_head
from .imports import row_leaf_hashes
from .keys import configured_public_key, trusted_key
from .log import LOG_TREE, _head_from_row, load_tiles, row_tree

_CHUNK_TILES = 4096
"""Band-0 tiles checked at a time (2**20 entries)."""
_SHOWN = 20
"""Mismatches named one by one per check before they are only counted."""


@dataclass(frozen=True)
class Finding:
    """One thing in the store that does not match what it should be."""

    code: str
    message: str
    where: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Audit:
    """What `verify` checked and every mismatch it found."""

    findings: tuple[Finding, ...]
    entries: int
    heads: int
    batches: int
    rows: int

    @property
    def ok(self) -> bool:
        return not self.findings


def _matrix(blobs: list[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(blobs), dtype=np.uint8).reshape(-1, merkle.HASH_SIZE) if blobs else np.empty((0, 32), np.uint8)


def _stored_band(store: Store, tree: int, band: int, first: int, last: int) -> tuple[dict[int, np.ndarray], list[Finding]]:
    rows = store.query(f"SELECT idx, width, hashes FROM ledger_tiles WHERE tree = {int(tree)} AND band = {int(band)} "
                       f"AND idx >= {int(first)} AND idx < {int(last)}").to_pylist()
    found: dict[int, np.ndarray] = {}
    problems: list[Finding] = []
    for row in rows:
        index = int(row["idx"])
        blob = bytes(row["hashes"])
        if index in found:
            problems.append(Finding("tile_duplicate", f"tile ({band}, {index}) of tree {tree} is stored twice",
                                    {"tree": tree, "band": band, "idx": index}))
        if len(blob) % merkle.HASH_SIZE or len(blob) // merkle.HASH_SIZE != row["width"]:
            problems.append(Finding("tile_damaged", f"tile ({band}, {index}) of tree {tree} is not {row['width']} hashes",
                                    {"tree": tree, "band": band, "idx": index}))
            continue
        found[index] = np.frombuffer(blob, dtype=np.uint8).reshape(-1, merkle.HASH_SIZE)
    return found, problems


def _compare_band(store: Store, tree: int, band: int, first_tile: int, hashes: np.ndarray) -> list[Finding]:
    """Compare recomputed band hashes starting at tile `first_tile` with the stored tiles."""
    tiles_needed = -(-len(hashes) // tiles.TILE_WIDTH)
    stored, problems = _stored_band(store, tree, band, first_tile, first_tile + tiles_needed)
    shown = 0
    for t in range(tiles_needed):
        expected = hashes[t * tiles.TILE_WIDTH : (t + 1) * tiles.TILE_WIDTH]
        index = first_tile + t
        got = stored.get(index)
        if got is not None and got.shape == expected.shape and np.array_equal(got, expected):
            continue
        if tree == LOG_TREE and band == 0 and got is not None and got.shape == expected.shape:
            problems += _changed_entries(index, got, expected)
        shown += 1
        if shown <= _SHOWN:
            source = "the entries" if tree == LOG_TREE else "the batch's stored rows"
            what = "missing" if got is None else f"different from what {source} give"
            code = "tile_missing" if got is None else "tile_mismatch"
            problems.append(Finding(code, f"hash tile ({band}, {index}) of tree {tree} is {what}",
                                    {"tree": tree, "band": band, "idx": index}))
    if shown > _SHOWN:
        problems.append(Finding("tile_mismatch", f"{shown - _SHOWN} more tiles of tree {tree} band {band} differ",
                                {"tree": tree, "band": band}))
    return problems


def _changed_entries(tile: int, stored: np.ndarray, recomputed: np.ndarray) -> list[Finding]:
    """The entries of band-0 tile `tile` of the log whose text no longer gives the leaf hash the
    tree holds for them."""
    first = tile * tiles.TILE_WIDTH
    changed = [first + int(i) for i in np.flatnonzero(~np.all(stored == recomputed, axis=1))]
    return [Finding("entry_changed", f"entry {entry}'s text does not give the leaf hash the log's tree holds for it",
                    {"entry_index": entry}) for entry in changed[:_SHOWN]]


def _check_tree(store: Store, tree: int, band0: Iterator[np.ndarray]) -> tuple[list[np.ndarray], list[Finding]]:
    """Compare a whole tree, fed as chunks of leaf hashes (each a multiple of 256 but the last),
    with its stored tiles; returns every band's recomputed hashes above band 0 and the findings."""
    problems: list[Finding] = []
    upper: list[np.ndarray] = []
    first_tile = 0
    size = 0
    for leaves in band0:
        problems += _compare_band(store, tree, 0, first_tile, leaves)
        first_tile += len(leaves) // tiles.TILE_WIDTH
        size += len(leaves)
        complete = len(leaves) - len(leaves) % tiles.TILE_WIDTH
        upper.append(tiles.reduce_band(leaves[:complete]))
    bands = [np.concatenate(upper) if upper else np.empty((0, 32), np.uint8)]
    band = 1
    while len(bands[-1]):
        problems += _compare_band(store, tree, band, 0, bands[-1])
        complete = len(bands[-1]) - len(bands[-1]) % tiles.TILE_WIDTH
        bands.append(tiles.reduce_band(bands[-1][:complete]))
        band += 1
    extra = store.query("SELECT band, count(*) AS n FROM ledger_tiles WHERE tree = ? GROUP BY band ORDER BY band",
                        (tree,)).to_pylist()
    expected_counts = {0: -(-size // tiles.TILE_WIDTH)}
    for b, hashes in enumerate(bands, start=1):
        expected_counts[b] = -(-len(hashes) // tiles.TILE_WIDTH)
    for row in extra:
        if row["n"] > expected_counts.get(int(row["band"]), 0):
            problems.append(Finding("tile_extra", f"tree {tree} has tiles in band {row['band']} beyond its {size} leaves",
                                    {"tree": tree, "band": int(row["band"])}))
    return bands, problems


def _band_reader(band0_tiles, bands: list[np.ndarray]) -> merkle.HashReader:
    """Hashes from recomputed bands 1 and up, and band-0 tiles from `band0_tiles(keys)` (band 0
    is compared tile by tile before, so the stored tiles can stand in for it)."""

    def load(keys):
        out = band0_tiles([k for k in keys if k[0] == 0])
        for band, index in keys:
            if band:
                out[(band, index)] = bands[band - 1][index * tiles.TILE_WIDTH : (index + 1) * tiles.TILE_WIDTH]
        return out

    return tiles.TileHashes(load)


def _log_entries(store: Store, problems: list[Finding]) -> Iterator[np.ndarray]:
    """The log's leaf hashes recomputed from the entries, chunk by chunk, checking as it goes."""
    chunk = _CHUNK_TILES * tiles.TILE_WIDTH
    start = 0
    while True:
        table = store.query("SELECT entry_index, entry_type, body FROM ledger_entries "  # literals: zone maps prune
                            f"WHERE entry_index >= {int(start)} AND entry_index < {int(start + chunk)} ORDER BY entry_index")
        if table.num_rows == 0:
            break
        indexes = np.asarray(table.column("entry_index").to_numpy(zero_copy_only=False), dtype=np.int64)
        expected = np.arange(start, start + table.num_rows)
        if not np.array_equal(indexes, expected):
            problems.append(Finding("entry_sequence", f"entries from {start} are not numbered one after another "
                                    "(one is missing or repeated)", {"from": start}))
        recomputed = kernel.leaf_hashes(table.column("body"))
        for i, (kind, body) in enumerate(zip(table.column("entry_type").to_pylist(), table.column("body").to_pylist(), strict=True)):
            if kind in ("batch", "decision", "key_rotation") and not is_canonical(body):
                problems.append(Finding("entry_not_canonical", f"entry {int(indexes[i])} is not RFC 8785 canonical JSON",
                                        {"entry_index": int(indexes[i])}))
        yield recomputed
        if table.num_rows < chunk:
            break
        start += chunk


def _signing_keys(store: Store, trusted: Ed25519PublicKey) -> dict[str, tuple[Ed25519PublicKey, float]]:
    """The keys heads may be signed with, by key id, each with the largest head size it may sign:
    the trusted key for any size, and each key a trusted key took over from in a logged rotation,
    for the heads up to that rotation's entry."""
    keys: dict[str, tuple[Ed25519PublicKey, float]] = {key_id(trusted): (trusted, float("inf"))}
    rotations = store.query("SELECT entry_index, body FROM ledger_entries WHERE entry_type = 'key_rotation' "
                            "ORDER BY entry_index DESC").to_pylist()
    for row in rotations:
        try:
            body = json.loads(row["body"])
            old = load_public_key(str(body["from_public_key"]))
        except (ValueError, KeyError, TypeError, HeadError):
            continue
        if body.get("to_key_id") in keys and key_id(old) == body.get("from_key_id") and key_id(old) not in keys:
            keys[key_id(old)] = (old, int(row["entry_index"]))
    return keys


def _check_heads(store: Store, problems: list[Finding], size: int, reader: merkle.HashReader,
                 trusted: Ed25519PublicKey | None, from_key_file: bool) -> int:
    heads = store.query("SELECT tree_size, root_hash, signed_at, key_id, signature FROM ledger_heads ORDER BY tree_size").to_pylist()
    if trusted is None and heads:
        problems.append(Finding("key_not_trusted", "no trusted public key to check the heads with: set ledger_public_key "
                                "(or keep the ledger's key file) or give --public-key"))
    if trusted is not None and heads and from_key_file:
        recorded = store.query("SELECT count(*) AS n FROM ledger_keys WHERE key_id = ?", (key_id(trusted),)).column("n")[0].as_py()
        if not recorded:  # the key file's key never signed in this store: it is not the file the heads were signed with
            problems.append(Finding("ledger_key_replaced", f"the ledger's key file holds key {key_id(trusted)[:16]}…, which never "
                                    "signed a head of this store: the key file was replaced (put the original back, or set "
                                    "ledger_public_key to the key the store was signed with)", {"key_id": key_id(trusted)}))
    signing = _signing_keys(store, trusted) if trusted is not None else {}
    for row in heads:
        head = _head_from_row(row)
        where = {"tree_size": head.size}
        key, limit = signing.get(head.key_id, (None, 0))
        if trusted is None:
            pass
        elif key is None or head.size > limit:
            problems.append(Finding("head_key_untrusted", f"head {head.size} was signed by key {head.key_id[:16]}…, not by "
                                    "the deployment's trusted key (the key file was replaced, or the head forged)", where))
        else:
            try:
                verify_head(key, head)
            except HeadError as error:
                problems.append(Finding("head_signature", str(error), where))
        if head.size > size:
            problems.append(Finding("head_beyond_log", f"head {head.size} claims more entries than the {size} stored", where))
            continue
        try:
            root = merkle.tree_root(reader, head.size)
        except (LookupError, KeyError):
            problems.append(Finding("head_unverifiable", f"head {head.size}'s root cannot be recomputed", where))
            continue
        if root != head.root:
            problems.append(Finding("head_root", f"head {head.size}'s root does not match the entries", where))
    if not heads and size:
        problems.append(Finding("heads_missing", f"the log holds {size} entries but no signed head at all: the heads were "
                                "deleted, so no entry can be proven", {"from": 0, "to": size - 1}))
    elif heads and int(heads[-1]["tree_size"]) < size:
        newest = int(heads[-1]["tree_size"])
        problems.append(Finding("entries_unsigned", f"entries {newest} to {size - 1} are covered by no signed head "
                                "(the newest heads were removed, or entries added without one)", {"from": newest, "to": size - 1}))
    return len(heads)


def _check_witness(store: Store, problems: list[Finding], size: int, reader: merkle.HashReader, settings: Any) -> None:
    """Compare the log with the confirmed head kept outside the store."""
    confirmed = witness.confirm(store, settings).get("confirmed")
    if confirmed is None:
        return
    where = {"tree_size": confirmed.size}
    if confirmed.size > size:
        problems.append(Finding("log_shorter_than_witness", f"the log holds {size} entries, but a head of {confirmed.size} "
                                "was signed and kept outside the store: entries were removed", where))
        return
    try:
        root = merkle.tree_root(reader, confirmed.size) if confirmed.size else merkle.EMPTY_ROOT
    except (LookupError, KeyError):
        root = b""
    if root != confirmed.root:
        problems.append(Finding("witness_mismatch", f"the log's first {confirmed.size} entries are not the ones whose head "
                                "was signed and kept outside the store: the log was rewritten", where))


def _check_unlogged_rows(store: Store, problems: list[Finding], size: int) -> None:
    """Name every stored row whose batch the ledger never logged (as a batch of that kind), and every
    import batch without a ledger record; an empty log beside stored data is named once, as a
    deleted ledger."""
    if size == 0:
        counts = " UNION ALL ".join(f"SELECT count(*) AS n FROM {kind.name}" for kind in kinds.KINDS.values())
        rows = store.query(f"SELECT coalesce(sum(n), 0) AS n FROM ({counts}) AS counted").column("n")[0].as_py()
        batches = store.query("SELECT count(*) AS n FROM batches").column("n")[0].as_py()
        if rows or batches:
            problems.append(Finding("ledger_missing", f"the ledger is empty, but the store holds {int(rows)} rows in {int(batches)} "
                                    "import batches: the ledger was deleted, and none of them can be proven",
                                    {"rows": int(rows), "batches": int(batches)}))
        return
    for kind in kinds.KINDS.values():
        orphans = store.query(f"SELECT batch_id, count(*) AS n FROM {kind.name} WHERE batch_id NOT IN "
                              "(SELECT batch_id FROM ledger_batches WHERE kind = ?) GROUP BY batch_id ORDER BY batch_id",
                              (kind.name,)).to_pylist()
        for row in orphans[:_SHOWN]:
            problems.append(Finding("rows_unlogged", f"{row['n']} {kind.name} rows carry batch id {row['batch_id']}, which the "
                                    "ledger never logged as a batch of that kind", {"kind": kind.name, "batch_id": int(row["batch_id"])}))
        if len(orphans) > _SHOWN:
            problems.append(Finding("rows_unlogged", f"{len(orphans) - _SHOWN} more batch ids of {kind.name} rows were never "
                                    "logged", {"kind": kind.name}))
    unlogged = store.query("SELECT batch_id FROM batches WHERE batch_id NOT IN (SELECT batch_id FROM ledger_batches) "
                           "ORDER BY batch_id").column("batch_id").to_pylist()
    for batch_id in unlogged[:_SHOWN]:
        problems.append(Finding("batch_unlogged", f"import batch {batch_id} is recorded in the store but not in the ledger",
                                {"batch_id": int(batch_id)}))


def _check_batches(store: Store, problems: list[Finding]) -> tuple[int, int]:
    batches = store.query("SELECT batch_id, entry_index, kind, row_count, rows_root FROM ledger_batches ORDER BY batch_id").to_pylist()
    rows_total = 0
    for record in batches:
        batch_id, entry_index = int(record["batch_id"]), int(record["entry_index"])
        where = {"batch_id": batch_id, "entry_index": entry_index}
        bodies = store.query("SELECT body FROM ledger_entries WHERE entry_index = ?", (entry_index,)).column("body").to_pylist()
        entry = json.loads(bodies[0]) if bodies else {}
        stated = {"batch_id": entry.get("batch_id"), "kind": entry.get("kind"), "row_count": entry.get("row_count"),
                  "rows_root": entry.get("rows_root")}
        recorded = {"batch_id": batch_id, "kind": record["kind"], "row_count": int(record["row_count"]),
                    "rows_root": bytes(record["rows_root"]).hex()}
        if stated != recorded:
            problems.append(Finding("batch_record", f"batch {batch_id}'s record does not match ledger entry {entry_index}", where))
        kind = kinds.KINDS.get(record["kind"])
        if kind is None:
            problems.append(Finding("batch_kind", f"batch {batch_id} names an unknown kind {record['kind']!r}", where))
            continue
        imported = store.query("SELECT kind, file_name, file_sha256, rows_accepted FROM batches WHERE batch_id = ?",
                               (batch_id,)).to_pylist()
        for name, value in (imported[0].items() if imported else ()):
            if name in entry and entry[name] != value:
                problems.append(Finding("batch_summary", f"batch {batch_id}'s {name} is not what the ledger recorded",
                                        {**where, "field": name}))
        encoding = row_encoding(entry)
        if encoding not in (1, 2):
            problems.append(Finding("batch_encoding", f"batch {batch_id} names an unknown row encoding {encoding}", where))
            continue
        leaves = row_leaf_hashes(store, kind, batch_id, encoding)
        rows_total += len(leaves)
        if len(leaves) != entry.get("row_count"):
            problems.append(Finding("batch_rows_count", f"batch {batch_id} has {len(leaves)} rows stored, "
                                    f"the ledger recorded {entry.get('row_count')}", where))
        bands, tile_problems = _check_tree(store, row_tree(entry_index), iter([leaves] if len(leaves) else []))
        problems += tile_problems
        band0 = {(0, i // tiles.TILE_WIDTH): leaves[i : i + tiles.TILE_WIDTH] for i in range(0, len(leaves), tiles.TILE_WIDTH)}
        reader = _band_reader(lambda keys, band0=band0: {k: band0[k] for k in keys}, bands)
        root = merkle.tree_root(reader, len(leaves)) if len(leaves) else merkle.EMPTY_ROOT
        if root.hex() != entry.get("rows_root"):
            problems.append(Finding("batch_rows_changed", f"the rows stored for batch {batch_id} are not the rows the ledger "
                                    "recorded (their Merkle root differs)", where))
    return len(batches), rows_total


def verify(store: Store, public_key: Ed25519PublicKey | None = None, settings: Any = None) -> Audit:
    """Recompute the ledger from the store's data and report every mismatch.

    Heads are checked against `public_key` when given (the key a sightholder holds), else
    against the deployment's trusted key (`keys.trusted_key`), never against a key merely
    recorded in the store."""
    problems: list[Finding] = []
    bands, tile_problems = _check_tree(store, LOG_TREE, _log_entries(store, problems))
    problems += tile_problems
    size = store.query("SELECT count(*) AS n FROM ledger_entries").column("n")[0].as_py()
    trusted = public_key if public_key is not None else trusted_key(store, settings)
    from_key_file = public_key is None and not configured_public_key(settings)
    reader = _band_reader(lambda keys: load_tiles(store, LOG_TREE, keys), bands)
    heads = _check_heads(store, problems, size, reader, trusted, from_key_file)
    _check_witness(store, problems, size, reader, settings)
    _check_unlogged_rows(store, problems, size)
    batches, rows = _check_batches(store, problems)
    known = {LOG_TREE} | {row_tree(int(e)) for e in store.query("SELECT entry_index FROM ledger_batches").column("entry_index").to_pylist()}
    for tree in store.query("SELECT DISTINCT tree FROM ledger_tiles").column("tree").to_pylist():
        if int(tree) not in known:
            problems.append(Finding("tile_orphan", f"tiles of tree {tree} belong to no recorded batch", {"tree": int(tree)}))
    return Audit(tuple(problems), size, heads, batches, rows)
