"""The composition root: where the areas are plugged into the library's extension points.

`wire()` registers what each area contributes to the others (the import's after-store hooks,
...). Every entry point calls it before doing anything: the use-case layer (`roughtrace.app`,
on import), the command line (`cli.main`), the test suite (at session start) and the benchmark
scripts that call library functions directly. It is idempotent. Registration loads no area:
each hook imports its area when it first runs, so start-up pays for no area's libraries.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .ingest.hooks import StoredBatch

_LOCK = threading.Lock()
_WIRED = False


def wire() -> None:
    """Register every area's contributions, once per process."""
    global _WIRED
    with _LOCK:
        if _WIRED:
            return
        wire_import_hooks()
        _WIRED = True


# -- the import's after-store hooks -------------------------------------------------------------------
def _ledger_after_store(batch: StoredBatch) -> Iterator[None]:
    from .ledger import imports

    return imports.after_store(batch)


def _ledger_after_commit(batch: StoredBatch) -> None:
    from .ledger import imports

    imports.after_commit(batch)


def _provenance_after_store(batch: StoredBatch) -> Iterator[None]:
    from .provenance import boxes

    return boxes.after_store(batch)


def wire_import_hooks() -> None:
    """What follows an import's store, in this order: the ledger begins hashing the batch's rows
    (beside the rest, where it can), provenance rebuilds the records of the boxes the batch
    touches, then the ledger logs the batch; once committed, the ledger confirms its head in the
    witness. `import_file(..., ledger=False)` leaves out the hook named "ledger"."""
    from .ingest import hooks

    hooks.register("ledger", _ledger_after_store, _ledger_after_commit, reads_beside=True)
    hooks.register("provenance", _provenance_after_store)
    hooks.REGISTRY.mark_wired()


__all__ = ["wire", "wire_import_hooks"]
