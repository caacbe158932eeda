"""What one serving process keeps between requests, and when it stops trusting it.

- `StoreState`: the stamps of what answers depend on (the newest import batch, the price model's
  build, the deployment settings' version, the accounts revoked), read in one query at
  the start of each request. Any import, price build, settings change or revocation changes it.
- `SignedInCache`: the account behind each token (by the token's hash), trusted for at most
  `service_token_cache_seconds`, never past the account's expiry, and dropped at once when the
  store's count of revocations changes; so a revoked token is refused from the next request on.
- `AnswerCache`: whole answers of the read routes that cost most (a stone's provenance, a quote),
  each keyed by the store state it was read under and by the caller's visibility (role, party,
  country): an answer is never handed to a caller who sees other rows, and none outlives an import.

Each service application holds its own (`create_app`), nothing on module globals.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from ..app import Actor


@dataclass(frozen=True)
class StoreState:
    """The stamps of the store's content that cached answers depend on; equal states, equal answers."""

    newest_batch: int | None
    price_model: str | None
    settings_version: int | None
    revocations: int | None
    """How many accounts were ever revoked (a revocation is never undone, so any new one changes it)."""


UNKNOWN = StoreState(None, None, None, None)

STATE_SQL = """SELECT (SELECT MAX(batch_id) FROM batches) AS newest_batch,
       (SELECT value FROM price_model WHERE key = 'built_at') AS price_model,
       (SELECT MAX(version) FROM deployment_settings) AS settings_version,
       (SELECT COUNT(revoked_at) FROM accounts) AS revocations"""
"""One round trip for the whole state (the price model's table is made by the first index build)."""

STATE_WITHOUT_MODEL_SQL = STATE_SQL.replace("(SELECT value FROM price_model WHERE key = 'built_at')", "NULL")


def read_state(store: Any) -> StoreState | None:
    """The store's state now; None when it cannot be read whole (nothing is then cached)."""
    for sql in (STATE_SQL, STATE_WITHOUT_MODEL_SQL):
        try:
            row = store.rows(sql)[0]
        except Exception:  # noqa: BLE001 - a table not made yet: try without it, else cache nothing
            continue
        return StoreState(row["newest_batch"], row["price_model"], row["settings_version"], row["revocations"])
    return None


class SignedInCache:
    """The actor behind each token hash, for at most `seconds`, never past its account's expiry,
    and only while the store's count of revocations stays the one it was read under."""

    def __init__(self, seconds: float, entries: int = 10000) -> None:
        self.seconds, self.entries = seconds, entries
        self._held: OrderedDict[str, tuple[Actor, float, dt.datetime | None, int | None]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token_hash: str, state: StoreState | None) -> Actor | None:
        if self.seconds <= 0 or state is None:
            return None
        with self._lock:
            held = self._held.get(token_hash)
        if held is None:
            return None
        actor, until, expires_at, revocation = held
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        if time.monotonic() >= until or revocation != state.revocations or (expires_at and expires_at <= now):
            self.forget(token_hash)
            return None
        return actor

    def put(self, token_hash: str, actor: Actor, expires_at: dt.datetime | None, state: StoreState | None) -> None:
        if self.seconds <= 0 or state is None:
            return
        with self._lock:
            self._held[token_hash] = (actor, time.monotonic() + self.seconds, expires_at, state.revocations)
            while len(self._held) > self.entries:
                self._held.popitem(last=False)

    def forget(self, token_hash: str) -> None:
        with self._lock:
            self._held.pop(token_hash, None)

    def forget_account(self, account_id: str) -> None:
        """Drop every token of the account (its revocation in this process)."""
        with self._lock:
            for key in [k for k, held in self._held.items() if held[0].account_id == account_id]:
                del self._held[key]


def visibility(actor: Actor) -> tuple[str, str | None, str | None]:
    """What decides which rows a caller may see (`app.access`, the row-level security policies of
    the routes whose answers are cached): its role, party and country."""
    return (actor.role, actor.party, actor.country)


class AnswerCache:
    """Encoded answers (status, body) by store state, route, caller visibility and request; the
    least recently used go first past `entries`; 0 entries caches nothing."""

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self._held: OrderedDict[Hashable, tuple[int, bytes]] = OrderedDict()
        self._state: StoreState | None = None
        self._lock = threading.Lock()

    def key(self, state: StoreState | None, actor: Actor, route: str, request: Hashable) -> Hashable | None:
        """The key of an answer, None when it must not be cached (the store's state unknown)."""
        if self.entries <= 0 or state is None:
            return None
        return (state, visibility(actor), route, request)

    def get(self, key: Hashable | None) -> tuple[int, bytes] | None:
        if key is None:
            return None
        with self._lock:
            found = self._held.get(key)
            if found is not None:
                self._held.move_to_end(key)
            return found

    def put(self, key: Hashable | None, status: int, body: bytes) -> None:
        if key is None:
            return
        state = key[0]  # type: ignore[index]
        with self._lock:
            if state != self._state:  # a new state: the answers read under another are of no more use
                self._held.clear()
                self._state = state
            self._held[key] = (status, body)
            while len(self._held) > self.entries:
                self._held.popitem(last=False)

    def __len__(self) -> int:
        return len(self._held)
