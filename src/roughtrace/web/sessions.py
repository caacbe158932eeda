"""Dashboard sessions: a cookie (HttpOnly, SameSite=Strict) naming the account it signs in, when it was
opened and a random nonce, sealed with an HMAC-SHA256 under the serving processes' session key, so
that every process `serve --workers N` starts accepts a session another opened. The form token (CSRF)
every POST must carry is the key's HMAC of the cookie.

The key is random per `serve` and handed to its processes in their environment (KEY_VARIABLE): a
restart signs everyone out. A session lasts LIFETIME_SECONDS from sign-in. The account behind a
session is checked again at every request, so revoking it or its expiry stops its sessions at once;
signing out forgets the cookie in the browser and in the process that answered.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time
from dataclasses import dataclass

COOKIE = "rt_session"
"""The session cookie's name."""
SIGN_IN_COOKIE = "rt_signin"
"""The cookie holding the sign-in form's token before there is a session."""
KEY_VARIABLE = "ROUGHTRACE_SESSION_KEY"
"""The environment variable through which `serve` hands its serving processes one session key (hex)."""
LIFETIME_SECONDS = 8 * 3600
"""A session is accepted this long after sign-in."""
MOST_CLOSED = 10_000
"""Signed-out sessions a process remembers at most; the oldest go first."""


def _hashed(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def same_token(given: str | None, expected: str) -> bool:
    """Whether a form's token is the expected one, compared in constant time."""
    return bool(given) and hmac.compare_digest(str(given).encode("utf-8"), expected.encode("utf-8"))


def new_token() -> str:
    return secrets.token_urlsafe(32)


def session_key() -> bytes:
    """The serving processes' session key: KEY_VARIABLE's, set once for this process when absent (so
    processes started afterwards share it)."""
    held = os.environ.get(KEY_VARIABLE)
    if not held:
        held = os.environ[KEY_VARIABLE] = secrets.token_hex(32)
    return bytes.fromhex(held)


@dataclass
class Session:
    """One signed-in browser: its account, the token its forms carry and when it signed in (epoch s)."""

    account_id: str
    csrf: str
    opened: float


class Sessions:
    """Sealing and opening session cookies under one key (`session_key` when not given)."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else session_key()
        self._closed: dict[str, None] = {}
        self._lock = threading.Lock()

    def _seal(self, text: str) -> str:
        return hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).hexdigest()

    def open(self, account_id: str) -> tuple[str, Session]:
        """A new session for an account: its cookie value and the session."""
        opened = int(time.time())
        body = base64.urlsafe_b64encode(f"{account_id}\n{opened}\n{new_token()}".encode()).decode("ascii")
        session_id = f"{body}.{self._seal(body)}"
        return session_id, Session(account_id, self._seal("form " + session_id), float(opened))

    def find(self, session_id: str | None) -> Session | None:
        """The session a cookie holds while its seal is good, it is within its lifetime and was not
        signed out here; None otherwise."""
        if not session_id or "." not in session_id:
            return None
        body, seal = session_id.rsplit(".", 1)
        if not hmac.compare_digest(seal.encode("utf-8"), self._seal(body).encode("utf-8")):
            return None
        with self._lock:
            if _hashed(session_id) in self._closed:
                return None
        try:
            account_id, opened, _ = base64.urlsafe_b64decode(body.encode("ascii")).decode("utf-8").split("\n")
            since = time.time() - float(opened)
        except ValueError:
            return None
        if not 0 <= since <= LIFETIME_SECONDS:
            return None
        return Session(account_id, self._seal("form " + session_id), float(opened))

    def close(self, session_id: str | None) -> None:
        """Sign a session out in this process (the browser drops its cookie too)."""
        if session_id:
            with self._lock:
                if len(self._closed) >= MOST_CLOSED:
                    self._closed.pop(next(iter(self._closed)))
                self._closed[_hashed(session_id)] = None
