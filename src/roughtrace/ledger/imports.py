"""The import pipeline's hook: log an accepted batch inside the import's transaction.

The row leaf hashes are computed from the rows just written under the batch's id, by the same
function `verify` uses later (`row_leaf_hashes`), so an import and an audit can never disagree
about what a row's canonical form is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..domain.kinds import Kind
from ..settings import Settings
from ..store.port import Store
from . import kernel
from .canonical import row_leaf_hash_sql, row_text_sql
from .keys import load_signer
from .log import record_batch
from .merkle import HASH_SIZE
from .schema import MIGRATIONS

_CHUNK_ROWS = 1 << 20
"""Rows read at a time when hashing a batch: the text of a million rows at once, not of all."""


def row_leaf_chunks(store: Store, kind: Kind, batch_id: int) -> Iterator[np.ndarray]:
    """The leaf hashes of batch `batch_id`'s stored rows in source_row order, as (n, 32) matrices
    of at most a million rows each.

    The store renders each row's canonical text (`canonical.row_text_sql`) a range of source rows
    at a time and the kernel hashes it; without the C kernel the store hashes too. The numbers are
    literals, so DuckDB prunes to the row groups of the range (a batch is stored in row order)."""
    last = store.query(f"SELECT max(source_row) AS n FROM {kind.name} WHERE batch_id = {int(batch_id)}").column("n")[0].as_py()
    for first in range(0, int(last or 0) + 1, _CHUNK_ROWS):
        where = (f"WHERE batch_id = {int(batch_id)} AND source_row >= {first} AND source_row < {first + _CHUNK_ROWS} "
                 "ORDER BY source_row")
        if kernel.native is not None:
            text = store.query(f"SELECT {row_text_sql(kind, store.engine)} AS t FROM {kind.name} {where}").column("t")
            leaves = kernel.leaf_hashes(text)
        else:
            hashed = store.query(f"SELECT {row_leaf_hash_sql(kind, store.engine)} AS h FROM {kind.name} {where}")
            leaves = kernel.as_matrix(hashed.column("h"))
        if len(leaves):
            yield leaves


def row_leaf_hashes(store: Store, kind: Kind, batch_id: int) -> np.ndarray:
    """All of batch `batch_id`'s row leaf hashes as one (n, 32) matrix (for `verify`)."""
    chunks = list(row_leaf_chunks(store, kind, batch_id))
    return np.concatenate(chunks) if chunks else np.empty((0, HASH_SIZE), np.uint8)


def ledger_ready(store: Store) -> bool:
    """Whether the ledger's migrations have been applied to `store`."""
    try:
        applied = store.query("SELECT count(*) AS n FROM schema_migrations WHERE version = ?", (MIGRATIONS[-1].version,))
    except Exception:  # no migrations table: a store nobody migrated
        return False
    return bool(applied.column("n")[0].as_py())


def record_import(store: Store, engine: Any, spec: Kind, source: Any, batch_id: int, result: Any,
                  settings: Settings | None = None) -> dict[str, Any] | None:
    """Log import batch `batch_id` of `spec` from file `source` and return its receipt as JSON
    (None while the store has no ledger tables).

    Called by `ingest.import_file` after the batch's rows and its `batches` row are written."""
    if not ledger_ready(store):
        return None
    summary = {
        "batch_id": batch_id,
        "kind": spec.name,
        "file_name": source.name,
        "file_sha256": source.sha256,
        "rows_read": result.rows_read,
        "rows_accepted": result.rows_accepted,
        "rows_rejected": result.rows_rejected,
        "rows_unchanged": result.rows_unchanged,
    }
    receipt = record_batch(store, summary, row_leaf_chunks(store, spec, batch_id), load_signer(store, settings))
    return receipt.to_json()
