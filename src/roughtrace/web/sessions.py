"""Dashboard sessions: an opaque random id in an HttpOnly, SameSite=Strict cookie, kept by the server
only as its SHA-256, with the account it signs in and the form token (CSRF) every POST must carry.

Sessions live in the serving process: a restart signs everyone out. The account behind a session is
checked again at every request, so a revoked or expired account stops at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

COOKIE = "rt_session"
"""The session cookie's name."""
SIGN_IN_COOKIE = "rt_signin"
"""The cookie holding the sign-in form's token before there is a session."""
IDLE_SECONDS = 8 * 3600
"""A session unused this long is forgotten."""
MOST_SESSIONS = 10_000
"""Sessions kept at most; the oldest go first."""


def _hashed(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def same_token(given: str | None, expected: str) -> bool:
    """Whether a form's token is the expected one, compared in constant time."""
    return bool(given) and hmac.compare_digest(str(given).encode("utf-8"), expected.encode("utf-8"))


def new_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass
class Session:
    """One signed-in browser: its account and the token its forms carry."""

    account_id: str
    csrf: str
    last_seen: float


class Sessions:
    """The sessions of one serving process, by the SHA-256 of their ids."""

    def __init__(self) -> None:
        self._held: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, account_id: str) -> tuple[str, Session]:
        """A new session for an account: its id (for the cookie, never stored) and the session."""
        session_id = new_token()
        session = Session(account_id, new_token(), time.monotonic())
        with self._lock:
            if len(self._held) >= MOST_SESSIONS:
                oldest = min(self._held, key=lambda k: self._held[k].last_seen)
                del self._held[oldest]
            self._held[_hashed(session_id)] = session
        return session_id, session

    def find(self, session_id: str | None) -> Session | None:
        """The live session of a cookie's id, its idle clock restarted; None when there is none."""
        if not session_id:
            return None
        key, now = _hashed(session_id), time.monotonic()
        with self._lock:
            session = self._held.get(key)
            if session is None:
                return None
            if now - session.last_seen > IDLE_SECONDS:
                del self._held[key]
                return None
            session.last_seen = now
            return session

    def close(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._held.pop(_hashed(session_id), None)
