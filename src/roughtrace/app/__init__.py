"""The use cases: one function for each thing a user does, called by every interface.

Each takes a `Context` (the store and the settings of one call) and returns a typed result; the
command line (and the HTTP API next) only parses a request, calls one of these and renders what
comes back. SQL and the ledger are reached from here and the areas below, never from an interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..store import Store


@dataclass(frozen=True)
class Context:
    """What one call works with: the opened store and the resolved settings."""

    store: Store
    settings: Any
