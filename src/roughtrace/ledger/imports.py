"""The import's after-store hook: log an accepted batch inside the import's transaction.

The row leaf hashes are computed from the accepted rows by the same function `verify` uses later on
the stored rows (`leaf_chunks`), so an import and an audit can never disagree about what a row's
canonical form is. On a DuckDB store they are made beside the import's other work, on a second
connection in a thread (`HashingBeside`); on PostgreSQL, while the store takes the rows.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from ..domain.kinds import Kind
from ..settings import Settings
from ..store.port import Store
from . import kernel, witness
from .canonical import ROW_ENCODING, row_leaf_hash_sql, row_text_sql
from .keys import load_signer
from .log import record_batch
from .merkle import HASH_SIZE
from .schema import MIGRATIONS

if TYPE_CHECKING:
    from ..ingest.hooks import StoredBatch

_CHUNK_ROWS = 1 << 20
"""Rows read at a time when hashing a batch: the text of a million rows at once, not of all."""
_STREAM_ROWS = 1 << 16
"""Rows of canonical text an import holds at once: a chunk's texts stream from the engine in
batches this size, each hashed and let go."""
_HASHED_AHEAD = 2
"""Chunks an import hashes before the ledger first reads the store, when the store may still be
taking the batch's rows meanwhile (`Store.writes_behind`); a store that has written them already
has nothing held ahead."""


def leaf_chunks(query: Callable[[str], pa.Table | pa.RecordBatchReader], dialect: str, kind: Kind, relation: str,
                row_column: str, chunk_rows: int = _CHUNK_ROWS, encoding: int = ROW_ENCODING) -> Iterator[np.ndarray]:
    """The leaf hashes of the rows of `relation` (rows of `kind`) in `row_column` order, as (n, 32)
    matrices of at most `chunk_rows` rows each, in row encoding `encoding`; `query` runs SQL of
    `dialect` and returns Arrow, whole or as a stream of batches.

    The engine renders each row's canonical text (`canonical.row_text_sql`) a range of row numbers
    at a time and the kernel hashes it a batch at a time; without the C kernel the engine hashes
    too. The numbers are literals, so DuckDB prunes to the row groups whose numbers meet the range
    (rows are stored close to row order, not in it); the hashes are put in row order after hashing
    (`_in_row_order`)."""
    last = int(next(_batches(query(f"SELECT max({row_column}) AS n FROM {relation}"))).column("n")[0].as_py() or 0)  # one row
    for first in range(0, last + 1, chunk_rows):
        where = f"WHERE {row_column} >= {first} AND {row_column} < {first + chunk_rows}"
        if kernel.native is not None:
            got = query(f"SELECT {row_column} AS r, {row_text_sql(kind, dialect, encoding=encoding)} AS t FROM {relation} {where}")
        else:
            got = query(f"SELECT {row_column} AS r, {row_leaf_hash_sql(kind, dialect, encoding=encoding)} AS h FROM {relation} {where}")
        leaves = np.empty((min(chunk_rows, last + 1 - first), HASH_SIZE), dtype=np.uint8)  # at most one per number
        numbers, filled = [], 0
        for batch in _batches(got):
            hashed = (kernel.leaf_hashes(batch.column("t")) if kernel.native is not None
                      else kernel.as_matrix(batch.column("h")))
            leaves[filled : filled + len(hashed)] = hashed
            numbers.append(batch.column("r"))
            filled += len(hashed)
        if filled:
            ordered = _in_row_order(leaves[:filled], pa.chunked_array(numbers))
            del leaves, numbers  # not held while the chunk waits to be taken: a range's 32 MB, once
            yield ordered


def _batches(got: pa.Table | pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    """The record batches of a query's answer, whole (a Table) or streamed (a reader): streamed
    texts are hashed a batch at a time and let go, so memory holds a range's hashes, not its texts."""
    return iter(got.to_batches()) if isinstance(got, pa.Table) else iter(got)


def _in_row_order(leaves: np.ndarray, rows: pa.ChunkedArray) -> np.ndarray:
    """The hashes in row-number order. The engine streams a range's rows in batches that its
    threads may finish out of order; putting the 32-byte hashes in order here costs less than an
    ORDER BY of the texts. Row numbers without gaps (no row of the range rejected) say each
    hash's place directly; otherwise they are sorted."""
    numbers = rows.to_numpy()
    if len(numbers) < 2 or bool(np.all(numbers[1:] > numbers[:-1])):
        return leaves
    first = int(numbers.min())
    if int(numbers.max()) - first + 1 == len(numbers):
        source = np.full(len(numbers), -1, dtype=np.int64)
        source[numbers - first] = np.arange(len(numbers))
        if bool((source >= 0).all()):  # each number once: a permutation of first .. first + n - 1
            return np.take(leaves, source, axis=0)  # whole rows at once, quicker than leaves[source]
    return np.take(leaves, np.argsort(numbers, kind="stable"), axis=0)


def row_leaf_hashes(store: Store, kind: Kind, batch_id: int, encoding: int = ROW_ENCODING) -> np.ndarray:
    """The leaf hashes of batch `batch_id`'s rows as stored, in source_row order, in row encoding
    `encoding`, as one (n, 32) matrix (what `verify` recomputes)."""
    relation = f"(SELECT * FROM {kind.name} WHERE batch_id = {int(batch_id)}) AS batch"
    chunks = list(leaf_chunks(store.query, store.engine, kind, relation, "source_row", encoding=encoding))
    return np.concatenate(chunks) if chunks else np.empty((0, HASH_SIZE), np.uint8)


def ledger_ready(store: Store) -> bool:
    """Whether the ledger's migrations have been applied to `store`."""
    try:
        applied = store.query("SELECT count(*) AS n FROM schema_migrations WHERE version = ?", (MIGRATIONS[-1].version,))
    except Exception:  # no migrations table: a store nobody migrated
        return False
    return bool(applied.column("n")[0].as_py())


def _resumed(ahead: deque[np.ndarray], rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """The chunks hashed ahead (each let go once taken), then the rest."""
    while ahead:
        yield ahead.popleft()
    yield from rest


_DONE = object()
_BESIDE_CHUNK_ROWS = 1 << 18
"""Rows per range hashed beside the import: a quarter of `_CHUNK_ROWS`, so that the hashes waiting
to be taken come in 8 MB steps: with ranges as large as `_CHUNK_ROWS`, one waiting range and the
one being made weigh on the import's peak memory (docs/performance.md)."""


class HashingBeside:
    """The leaf hashes of an import's accepted rows, made in a thread on a second connection to the
    import engine while the import goes on (a DuckDB store's box records); `chunks()` hands them over
    in order. `accepted` must name committed tables: the second connection sees nothing else. At
    most `ahead` chunks of `_BESIDE_CHUNK_ROWS` wait to be taken (8 MB each, 48 MB in all: a 2M-row
    import's box records take about that many), so memory stays bounded at any size
    (docs/performance.md)."""

    def __init__(self, engine: Any, spec: Kind, accepted: str, ahead: int = 6) -> None:
        self._cursor = engine.cursor()
        self._made: queue.Queue[Any] = queue.Queue(maxsize=ahead)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._hash, args=(spec, accepted), name="roughtrace-ledger-hashing", daemon=True)
        self._thread.start()

    def _hand_over(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._made.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _hash(self, spec: Kind, accepted: str) -> None:
        try:
            for chunk in leaf_chunks(lambda sql: self._cursor.sql(sql).to_arrow_reader(_STREAM_ROWS), "duckdb", spec, accepted,
                                     "_row", _BESIDE_CHUNK_ROWS):
                if not self._hand_over(chunk):
                    return
            self._hand_over(_DONE)
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread by chunks()
            self._hand_over(exc)

    def chunks(self) -> Iterator[np.ndarray]:
        while True:
            item = self._made.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        """Stop hashing (if it has not finished) and let the connection go."""
        self._stop.set()
        if self._thread.is_alive():
            self._cursor.interrupt()
        self._thread.join()
        self._cursor.close()


def record_import(store: Store, engine: Any, spec: Kind, batch: dict[str, Any], accepted: str,
                  settings: Settings | None = None, hashed: Iterator[np.ndarray] | None = None) -> dict[str, Any] | None:
    """Log an import's batch of `spec` and return its receipt as JSON (None while the store has no
    ledger tables). `batch` holds its batch_id, file_name, file_sha256 and row counts (rows_read,
    rows_accepted, rows_rejected, rows_unchanged), and may name the settings_version and actor the
    entry records.

    Called once the batch's rows and its `batches` row are written; `accepted` names the import
    engine's relation of exactly the rows written (typed as stored, numbered by `_row`, their
    source_row). The rows are hashed there, in the DuckDB engine that checked them, whatever the
    store: the canonical text is the same on every engine (tested), and `verify` later recomputes
    it from the rows as stored. `hashed`, when given, yields the leaf hashes already being made
    (`HashingBeside`)."""
    chunks = hashed if hashed is not None else leaf_chunks(
        lambda sql: engine.sql(sql).to_arrow_reader(_STREAM_ROWS), "duckdb", spec, accepted, "_row")
    ahead = deque(itertools.islice(chunks, _HASHED_AHEAD if store.writes_behind else 0))
    if not ledger_ready(store):
        return None
    summary: dict[str, Any] = {
        "batch_id": batch["batch_id"],
        "kind": spec.name,
        "file_name": batch["file_name"],
        "file_sha256": batch["file_sha256"],
        "rows_read": batch["rows_read"],
        "rows_accepted": batch["rows_accepted"],
        "rows_rejected": batch["rows_rejected"],
        "rows_unchanged": batch["rows_unchanged"],
        "row_encoding": ROW_ENCODING,
        **{field: batch[field] for field in ("settings_version", "actor") if field in batch},
    }
    receipt = record_batch(store, summary, _resumed(ahead, chunks), load_signer(store, settings))
    witness.note(store, receipt.head, settings)
    return receipt.to_json()


def after_store(batch: StoredBatch) -> Iterator[None]:
    """The import hook: begin hashing the batch's rows beside the import when a second connection
    can read them, let the hooks after this one run, then log the batch and hand its receipt over."""
    beside = HashingBeside(batch.engine, batch.kind, batch.accepted) if batch.accepted_beside else None
    try:
        yield
        batch.progress("hashing", 0, batch.counts["rows_new"])
        summary = {"batch_id": batch.batch_id, "file_name": batch.file_name, "file_sha256": batch.file_sha256, **batch.counts,
                   "settings_version": batch.settings.version, "actor": batch.actor}
        batch.give_receipt(record_import(batch.store, batch.engine, batch.kind, summary, batch.accepted, batch.settings,
                                         beside.chunks() if beside is not None else None))
        batch.lap("ledger")
        batch.progress("hashing", batch.counts["rows_new"], batch.counts["rows_new"])
    finally:
        if beside is not None:
            beside.close()


def after_commit(batch: StoredBatch) -> None:
    """Once the import's transaction has committed, confirm its head in the witness (a head whose
    import rolled back is never confirmed)."""
    if batch.receipt is not None:
        witness.committed(batch.store, batch.settings)
