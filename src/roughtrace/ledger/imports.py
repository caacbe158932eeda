"""The import pipeline's hook: log an accepted batch inside the import's transaction.

The row leaf hashes are computed by the store from the rows just written under the batch's id,
with the same SQL `verify` uses later (`canonical.row_leaf_hash_sql`), so an import and an audit
can never disagree about what a row's canonical form is.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from ..domain.kinds import Kind
from ..settings import Settings
from ..store.port import Store
from .canonical import row_leaf_hash_sql
from .keys import load_signer
from .log import record_batch
from .schema import MIGRATION


def row_leaf_hashes(store: Store, kind: Kind, batch_id: int) -> pa.Array:
    """The 32-byte leaf hashes of batch `batch_id`'s stored rows, in source_row order."""
    table = store.query(f"SELECT {row_leaf_hash_sql(kind, store.engine)} AS h FROM {kind.name} "
                        "WHERE batch_id = ? ORDER BY source_row", (batch_id,))
    return table.column("h").combine_chunks()


def ledger_ready(store: Store) -> bool:
    """Whether the ledger's migration has been applied to `store`."""
    try:
        applied = store.query("SELECT count(*) AS n FROM schema_migrations WHERE version = ?", (MIGRATION.version,))
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
    receipt = record_batch(store, summary, row_leaf_hashes(store, spec, batch_id), load_signer(store, settings))
    return receipt.to_json()
