"""`accounts add | list | revoke`, and the account behind a service call's token.

An account is one caller of the HTTP service: a role (`ROLES`), the party it acts for, and for a
KP authority the country it answers for (given, or its party's country). Its token is printed once
when it is made and kept only as a SHA-256 hash, so the store cannot give it back.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from ..errors import NotFound, NotSignedIn, Problem, UsageError
from . import Actor, Context

ROLES = ("producer", "sightholder", "kp_authority", "retailer", "admin")
"""Who may call the service. `app.access` says what each may see and send."""

NEEDS_PARTY = ("producer", "sightholder")
"""Roles whose every view is cut to their party: an account of one names its party."""


@dataclass(frozen=True)
class Account:
    """One caller of the service, as listed (never its token)."""

    account_id: str
    name: str
    role: str
    party_id: str | None
    country: str | None
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @property
    def state(self) -> str:
        """active, expired or revoked, now."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= _now():
            return "expired"
        return "active"

    def as_dict(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "name": self.name, "role": self.role, "party_id": self.party_id,
                "country": self.country, "state": self.state, "created_at": self.created_at,
                "expires_at": self.expires_at, "revoked_at": self.revoked_at}

    def actor(self) -> Actor:
        """The actor of a call made with this account's token."""
        return Actor(self.name, self.role, self.party_id, self.account_id, self.country)


@dataclass(frozen=True)
class AccountMade:
    """A new account and its token, which is shown this once."""

    account: Account
    token: str


def _now() -> dt.datetime:
    """Now in UTC, without its zone: the store's TIMESTAMP columns hold UTC."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _account(row: dict[str, Any]) -> Account:
    return Account(row["account_id"], row["name"], row["role"], row["party_id"], row["country"], row["created_at"],
                   row["expires_at"], row["revoked_at"])


COLUMNS = "account_id, name, role, party_id, country, created_at, expires_at, revoked_at"


def _country_of(context: Context, party: str | None) -> str | None:
    if party is None:
        return None
    rows = context.store.rows("SELECT country FROM parties WHERE party_id = ?", (party,))
    return rows[0]["country"] if rows else None


def add_account(context: Context, name: str, role: str, party: str | None = None,
                expires: dt.date | dt.datetime | None = None, country: str | None = None) -> AccountMade:
    """Make an account and its token. A producer or sightholder names its party; a KP authority
    answers for `country`, else for its party's country. `expires`: the token stops working at the
    start of that day (UTC), or at that moment."""
    from ..accounts.tokens import new_token, token_hash

    name = name.strip()
    problems = []
    if not name:
        problems.append(Problem("bad_option", "an account needs a name"))
    if role not in ROLES:
        problems.append(Problem("bad_option", f"--role is one of {', '.join(ROLES)}, not {role!r}"))
    if role in NEEDS_PARTY and not party:
        problems.append(Problem("missing_option", f"a {role} account acts for a party: give --party PARTY_ID"))
    if role == "kp_authority":
        country = (country or _country_of(context, party) or "").upper() or None
        if country is None:
            problems.append(Problem("missing_option", "a kp_authority account answers for a country: give --country CC, "
                                                       "or --party naming a stored party"))
    if problems:
        raise UsageError(problems)
    if context.store.rows("SELECT account_id FROM accounts WHERE name = ?", (name,)):
        raise UsageError(f"there is already an account named {name!r}", code="account_exists")
    until = dt.datetime.combine(expires, dt.time()) if type(expires) is dt.date else expires
    token = new_token()
    account = Account("acct_" + uuid.uuid4().hex[:16], name, role, party, country, _now(),
                      until if isinstance(until, dt.datetime) else None, None)
    context.store.execute(
        "INSERT INTO accounts (account_id, name, role, party_id, country, token_sha256, created_at, expires_at, revoked_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
        (account.account_id, account.name, role, party, country, token_hash(token), account.created_at, account.expires_at))
    return AccountMade(account, token)


def list_accounts(context: Context) -> list[Account]:
    """Every account, by name (never a token)."""
    return [_account(r) for r in context.store.rows(f"SELECT {COLUMNS} FROM accounts ORDER BY name")]


def revoke_account(context: Context, name_or_id: str) -> Account:
    """Revoke an account (by name or id): its token stops working at once. `NotFound`
    (account_not_found) when there is no such account."""
    rows = context.store.rows(f"SELECT {COLUMNS} FROM accounts WHERE name = ? OR account_id = ?", (name_or_id, name_or_id))
    if not rows:
        raise NotFound(f"there is no account {name_or_id!r}", code="account_not_found")
    account = _account(rows[0])
    if account.revoked_at is None:
        when = _now()
        context.store.execute("UPDATE accounts SET revoked_at = ? WHERE account_id = ?", (when, account.account_id))
        account = _account({**rows[0], "revoked_at": when})
    return account


def signed_in(context: Context, token: str | None) -> Actor:
    """The actor behind a bearer token; `NotSignedIn` when there is none, or it is unknown,
    expired or revoked (one answer for all, so a caller learns nothing of other tokens)."""
    return signed_in_account(context, token).actor()


def signed_in_account(context: Context, token: str | None) -> Account:
    """The active account behind a bearer token (`signed_in`), with its expiry."""
    from ..accounts.tokens import PREFIX, token_hash

    if not token or not token.startswith(PREFIX):
        raise NotSignedIn("send `Authorization: Bearer TOKEN` with a token from `roughtrace accounts add`")
    rows = context.store.rows(f"SELECT {COLUMNS} FROM accounts WHERE token_sha256 = ?", (token_hash(token),))
    account = _account(rows[0]) if rows else None
    if account is None or account.state != "active":
        raise NotSignedIn("the token is unknown, expired or revoked")
    return account


def session_actor(context: Context, account_id: str) -> Actor:
    """The actor of an account a dashboard session holds, checked again at each request: `NotSignedIn`
    once the account is unknown, expired or revoked, as for its token."""
    rows = context.store.rows(f"SELECT {COLUMNS} FROM accounts WHERE account_id = ?", (account_id,))
    account = _account(rows[0]) if rows else None
    if account is None or account.state != "active":
        raise NotSignedIn("the session's account is unknown, expired or revoked: sign in again")
    return account.actor()
