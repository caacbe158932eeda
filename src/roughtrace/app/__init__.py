"""The use cases: one function for each thing a user does, called by every interface.

Each takes a `Context` (the store, the settings and the actor of one call) and returns a typed
result; the command line (and the HTTP API next) only parses a request, calls one of these and
renders what comes back. SQL and the ledger are reached from here and the areas below, never from
an interface: a use case that logs a decision does so itself, so no interface can skip the entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..wiring import wire

if TYPE_CHECKING:
    from ..store import Store

wire()  # every interface reaches the library through here: the areas are registered before any call


wire()  # the library's areas plugged together before any use case runs


@dataclass(frozen=True)
class Actor:
    """Who acts in a call: a name and a role. The command line acts as its operator; the HTTP
    service passes the account behind each request, with the party it acts for and, for a KP
    authority, the country it answers for (`app.access` says what each role may see)."""

    name: str
    role: str
    party: str | None = None
    account_id: str | None = None
    country: str | None = None


CLI_OPERATOR = Actor("cli", "operator")
"""The actor of every command-line call: whoever may run roughtrace on the store may do all it does."""


@dataclass(frozen=True)
class Context:
    """What one call works with: the opened store, the resolved settings and who acts."""

    store: Store
    settings: Any
    actor: Actor = CLI_OPERATOR


def context_of(obj: Any) -> Context:
    """The context of a command-line call from what Typer hands each command (`ctx.obj`: a store
    opened on demand by `.store()`, and `.settings`), its settings under the deployment's settings
    the store holds (`deployment.stored`)."""
    from ..deployment.stored import under_deployment

    store = obj.store()
    return Context(store, under_deployment(obj.settings, store), getattr(obj, "actor", CLI_OPERATOR))
