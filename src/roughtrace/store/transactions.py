"""Nested `transaction()` blocks, the same on every adapter: the outermost block is the engine's
transaction; a block inside it joins it, so a step that writes in a transaction of its own can
also run inside its caller's and commit or roll back with it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager


class NestedTransactions:
    """Mixed into an adapter, which says how its engine runs one transaction
    (`_outermost_transaction`: begin, then commit after the block or roll back on any exception)."""

    _depth: int = 0
    """How many `transaction()` blocks are open on this connection."""

    def _outermost_transaction(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def in_transaction(self) -> bool:
        """Whether a `transaction()` is open: what is written now is seen by this connection only."""
        return self._depth > 0

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all; nesting joins the outer block."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._depth = 1
        try:
            with self._outermost_transaction():
                yield
        finally:
            self._depth = 0
