"""The ledger's tables (schema version 3).

Hashes are stored as raw bytes, BLOB in DuckDB and BYTEA in PostgreSQL: half the size of hex, no
conversion on the way to hashlib or Arrow, and DuckDB is told not to try compressing them: random
bytes do not compress, and the attempt slows every insert (docs/performance/ledger.md).

- ledger_entries: one row per log entry: its canonical JSON (its RFC 9162 leaf hash lives in
  band 0 of the log's tiles only; version 6 dropped the copy this table held).
- ledger_tiles: every complete-subtree hash, as tiles of height 8 (see `tiles`). `tree` 0 is the
  log itself; `tree` e + 1 is the row tree of the batch recorded by entry e.
- ledger_heads: every signed tree head.
- ledger_batches: which entry recorded which import batch, with its row tree's size and root.
- ledger_keys: the public keys heads were signed with (the private key is never stored here).
"""

from __future__ import annotations

from ..store.schema import Migration


def _tables(blob: str, uncompressed: str, key: str) -> tuple[str, ...]:
    return (
        f"""CREATE TABLE ledger_entries (
  entry_index BIGINT NOT NULL{key},
  entry_type VARCHAR NOT NULL,
  body VARCHAR NOT NULL,
  leaf_hash {blob}{uncompressed} NOT NULL
)""",
        f"""CREATE TABLE ledger_tiles (
  tree BIGINT NOT NULL,
  band INTEGER NOT NULL,
  idx BIGINT NOT NULL,
  width INTEGER NOT NULL,
  hashes {blob}{uncompressed} NOT NULL
)""",
        f"""CREATE TABLE ledger_heads (
  tree_size BIGINT PRIMARY KEY,
  root_hash {blob} NOT NULL,
  signed_at VARCHAR NOT NULL,
  key_id VARCHAR NOT NULL,
  signature {blob} NOT NULL
)""",
        f"""CREATE TABLE ledger_batches (
  batch_id BIGINT PRIMARY KEY,
  entry_index BIGINT NOT NULL,
  kind VARCHAR NOT NULL,
  row_count BIGINT NOT NULL,
  rows_root {blob} NOT NULL
)""",
        f"""CREATE TABLE ledger_keys (
  key_id VARCHAR PRIMARY KEY,
  public_key {blob} NOT NULL,
  created_at VARCHAR NOT NULL
)""",
    )


MIGRATION = Migration(
    version=3,
    description="ledger: entries, hash tiles, signed heads, batch row roots, public keys",
    statements=(),
    duckdb_only=_tables("BLOB", " USING COMPRESSION uncompressed", ""),
    postgres_only=_tables("BYTEA", "", " PRIMARY KEY") + (
        "CREATE UNIQUE INDEX ledger_tiles_key ON ledger_tiles (tree, band, idx)",
    ),
)


LEAF_HASH_IN_TILES_ONLY = Migration(
    version=6,
    description="ledger: an entry's leaf hash is kept once, in the log's tiles (drop ledger_entries.leaf_hash)",
    statements=("ALTER TABLE ledger_entries DROP COLUMN leaf_hash",),
)

MIGRATIONS = (MIGRATION, LEAF_HASH_IN_TILES_ONLY)
