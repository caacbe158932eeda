"""After-store hooks: what other areas do with an import's batch, registered at wiring time.

Ingest imports no area. The areas that act on a stored batch (the ledger logs it, provenance
rebuilds the records of the boxes it touches) register a hook here from the composition root,
`roughtrace.wiring.wire()`. An import runs its after-store hooks inside its transaction, once
its rows, quarantine and batch row are written, and its after-commit hooks once that
transaction has committed.

An after-store hook is a generator function over a `StoredBatch`, yielding once: what it does
before the yield starts before the hooks registered after it run, and what it does after the
yield runs once they are done (hooks nest like `with` blocks). The ledger uses this to hash the
batch's rows on a second connection while provenance rebuilds the box records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # registering a hook (every command's start) loads none of these
    from ..domain.kinds import Kind
    from ..settings import Settings
    from ..store.port import Store


class StoredBatch(Protocol):
    """What an after-store hook sees of an import: the batch just written, and where its rows are."""

    @property
    def store(self) -> Store: ...

    @property
    def kind(self) -> Kind: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def actor(self) -> str:
        """Who sent the file."""

    @property
    def engine(self) -> Any:
        """The import engine (a DuckDB connection) holding the checked records."""

    @property
    def batch_id(self) -> int: ...

    @property
    def file_name(self) -> str: ...

    @property
    def file_sha256(self) -> str: ...

    @property
    def counts(self) -> dict[str, int]:
        """rows_read, rows_accepted, rows_rejected, rows_unchanged of the batch."""

    @property
    def accepted(self) -> str:
        """The name of the engine's relation of exactly the rows written: typed as stored, numbered
        by `_row` (their source_row)."""

    @property
    def accepted_beside(self) -> bool:
        """Whether `accepted` is committed in the engine's work database, so that a second
        connection to the engine (`engine.cursor()`) can read it while the import goes on."""

    def progress(self, step: str, done: int, total: int | None) -> None: ...

    def give_receipt(self, receipt: dict[str, Any] | None) -> None:
        """Hand the import's result the receipt of the batch's ledger entry."""

    @property
    def receipt(self) -> dict[str, Any] | None: ...

    def lap(self, label: str) -> None:
        """Time the step just ended, under `label`, among the import's timings."""


AfterStore = Callable[[StoredBatch], Iterator[None]]
AfterCommit = Callable[[StoredBatch], None]


@dataclass(frozen=True)
class Hook:
    name: str
    after_store: AfterStore | None = None
    after_commit: AfterCommit | None = None
    reads_beside: bool = False
    """Whether the hook reads the accepted rows on a second connection to the engine while the other
    hooks run: the import then keeps them where one can (`StoredBatch.accepted_beside`), if it can."""


class HookRegistry:
    """The after-store and after-commit hooks, in registration order, by name."""

    def __init__(self) -> None:
        self._hooks: dict[str, Hook] = {}
        self.wired = False

    def register(self, name: str, after_store: AfterStore | None = None, after_commit: AfterCommit | None = None,
                 reads_beside: bool = False) -> None:
        """Register (or replace) hook `name`; registering again keeps its place."""
        self._hooks[name] = Hook(name, after_store, after_commit, reads_beside)

    def mark_wired(self) -> None:
        self.wired = True

    def hooks(self, skip: frozenset[str] = frozenset()) -> list[Hook]:
        """The hooks an import runs, `skip` left out. Refuses (a RuntimeError: a bug of the program,
        answered as internal_error, never the user's mistake) when wiring never happened, rather
        than store a batch the ledger never logs."""
        if not self.wired:
            raise RuntimeError("the import's after-store hooks (the ledger's record of the batch, the provenance "
                           "records) are not registered: call roughtrace.wiring.wire() before importing")
        return [hook for name, hook in self._hooks.items() if name not in skip]

    def names(self) -> list[str]:
        return list(self._hooks)


REGISTRY = HookRegistry()
"""The process's hooks, filled by `roughtrace.wiring.wire()`."""


def register(name: str, after_store: AfterStore | None = None, after_commit: AfterCommit | None = None,
             reads_beside: bool = False) -> None:
    """Register hook `name` in the process's registry (the composition root calls this)."""
    REGISTRY.register(name, after_store, after_commit, reads_beside)


@contextmanager
def after_store(hooks: list[Hook], batch: StoredBatch) -> Iterator[None]:
    """Run the after-store hooks over `batch`, nested in registration order: each one's work before
    its yield, in order, then each one's work after it, in reverse order, as the block ends.
    A failure anywhere ends every hook begun (its `finally` runs) and propagates."""
    with ExitStack() as stack:
        for hook in hooks:
            if hook.after_store is not None:
                stack.enter_context(contextmanager(hook.after_store)(batch))
        yield


def after_commit(hooks: list[Hook], batch: StoredBatch) -> None:
    """Run the after-commit hooks over `batch`, in registration order."""
    for hook in hooks:
        if hook.after_commit is not None:
            hook.after_commit(batch)


__all__ = ["AfterCommit", "AfterStore", "Hook", "HookRegistry", "REGISTRY", "StoredBatch", "after_commit",
           "after_store", "register"]
