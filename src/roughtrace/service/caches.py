"""What one serving process keeps between requests, and when it stops trusting it.

- `StoreState`: the stamps of what answers depend on (the newest import batch, the price model's
  build, the deployment settings' version, the accounts revoked), read in one query at
  the start of each request. Any import, price build, settings change or revocation changes it.
- `SignedInCache`: the account behind each token (by the token's hash), trusted for at most
  `service_token_cache_seconds`, never past the account's expiry, and dropped at once when the
  store's count of revocations changes; so a revoked token is refused from the next request on.
- `AnswerCache`: whole answers of the read routes that cost most (a stone's provenance, a quote),
  each keyed by the store state it was read under, by the caller's visibility (role, party,
  country) and by the request's path and query: an answer is never handed to a caller who sees
  other rows, and none outlives an import. `AnsweredBefore` serves them ahead of the routing, so
  that a request answered before costs no thread, no query of its own and no validation.

Each service application holds its own (`create_app`), nothing on module globals.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
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


class StateWatch:
    """The store's state for the requests of one serving process, read on a connection of its own
    without blocking the event loop (PostgreSQL). Requests that arrive while a read is under way
    share the next read, sent after they arrived: each gets a state at least as new as itself,
    and a crowd of requests costs one round trip."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._connection: Any = None
        self._next: asyncio.Future[StoreState | None] | None = None
        self._reading = False

    async def state(self) -> StoreState | None:
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
            if not self._reading:
                self._reading = True
                asyncio.get_running_loop().create_task(self._read_while_asked())
        return await asyncio.shield(self._next)

    async def _read_while_asked(self) -> None:
        try:
            while self._next is not None:
                asked, self._next = self._next, None
                asked.set_result(await self._read())
        finally:
            self._reading = False

    async def _read(self) -> StoreState | None:
        import psycopg

        for sql in (STATE_SQL, STATE_WITHOUT_MODEL_SQL):
            try:
                if self._connection is None or self._connection.closed:
                    self._connection = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
                cursor = await self._connection.execute(sql)
                row = await cursor.fetchone()
            except psycopg.Error:  # a table not made yet, or the connection lost: the next try reconnects
                if self._connection is not None and self._connection.broken:
                    await self._connection.close()
                continue
            assert row is not None
            return StoreState(*row)
        return None

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()


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


CACHED_ROUTES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"/v1/stones/[^/]+/[^/]+/provenance"), "/v1/stones/{lab}/{report}/provenance"),
    (re.compile(r"/v1/prices/quote"), "/v1/prices/quote"),
)
"""The GET routes whose answers are kept, by the paths they answer, with their path templates."""


@dataclass(frozen=True)
class _Route:
    path: str
    """The route's path template, as the access log names it."""


class AnsweredBefore:
    """An ASGI middleware answering a GET of a cached route from `AnswerCache` when a caller who
    sees the same rows asked the same (path and query) under the same store state; otherwise the
    request goes on to the routes, and an answer of 200 or 404 they give is kept. The caller is
    known only from a token seen before (`SignedInCache`); any other goes the whole way."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._computing: dict[Hashable, asyncio.Event] = {}
        """The keys whose answer a request is computing: another request for one waits for it
        rather than computing it again."""

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        template = _cached_route(scope) if scope["type"] == "http" and scope["method"] == "GET" else None
        if template is None:
            await self.app(scope, receive, send)
            return
        from ..accounts.tokens import token_hash

        service = scope["app"].state
        answers: AnswerCache = service.answers
        request = (scope["path"], scope["query_string"])
        state = await service.store_state()
        noted = scope.setdefault("state", {})
        noted["store_state"] = state
        token = _bearer(scope)
        actor = service.signed_in.get(token_hash(token), state) if token else None
        key = answers.key(state, actor, template, request) if actor is not None else None
        computing = self._computing.get(key) if key is not None else None
        if computing is not None:
            await computing.wait()
        held = answers.get(key)
        if held is not None and actor is not None:
            scope["route"] = _Route(template)
            noted["account_id"] = actor.account_id
            status, body = held
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-length", str(len(body)).encode()),
                                    (b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return
        if key is not None and key not in self._computing:
            self._computing[key] = asyncio.Event()
            try:
                await self._answer(scope, receive, send, template, request)
            finally:
                self._computing.pop(key).set()
        else:
            await self._answer(scope, receive, send, template, request)

    async def _answer(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any],
                      template: str, request: Hashable) -> None:
        """The request answered by the routes, the answer kept when it may be."""
        answers: AnswerCache = scope["app"].state.answers
        noted = scope["state"]
        answered: dict[str, Any] = {"status": 500, "body": []}

        async def keeping(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answered["status"] = message["status"]
            elif message["type"] == "http.response.body":
                answered["body"].append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, keeping)
        actor = noted.get("actor")
        if actor is not None and answered["status"] in (200, 404):
            answers.put(answers.key(noted.get("store_state"), actor, template, request), answered["status"],
                        b"".join(answered["body"]))


def _cached_route(scope: dict[str, Any]) -> str | None:
    return next((template for pattern, template in CACHED_ROUTES if pattern.fullmatch(scope["path"])), None)


def _bearer(scope: dict[str, Any]) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None
