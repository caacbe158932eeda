"""`roughtrace accounts add | list | revoke`, and the actor a token stands for."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from conftest import CommandLine
from roughtrace.accounts.cli import app
from roughtrace.accounts.tokens import PREFIX, token_hash
from roughtrace.app import Context
from roughtrace.app.accounts import add_account, signed_in
from roughtrace.errors import NotSignedIn, UsageError
from roughtrace.settings import Settings


class Command:
    def __init__(self, store):
        self._store, self.settings = store, Settings()

    def store(self):
        return self._store


def run(store, *args):
    return CommandLine().invoke(app, list(args), obj=Command(store))


def test_a_token_is_printed_once_and_kept_as_its_hash(market):
    made = run(market, "add", "surat-desk", "--role", "sightholder", "--party", "SH1", "--json")
    assert made.exit_code == 0, made.output
    body = json.loads(made.output)
    token = body["token"]
    assert token.startswith(PREFIX) and len(token) > 40
    stored = market.rows("SELECT token_sha256 FROM accounts WHERE name = 'surat-desk'")[0]["token_sha256"]
    assert stored == token_hash(token) and token not in json.dumps(market.query("SELECT * FROM accounts").to_pylist(), default=str)
    listed = run(market, "list", "--json")
    assert token not in listed.output and "token" not in json.loads(listed.output)["accounts"][0]
    actor = signed_in(Context(market, Settings()), token)
    assert (actor.name, actor.role, actor.party, actor.account_id) == ("surat-desk", "sightholder", "SH1",
                                                                      body["account"]["account_id"])


def test_a_revoked_or_expired_token_signs_nobody_in(market):
    context = Context(market, Settings())
    revoked = add_account(context, "gone", "sightholder", "SH1").token
    assert run(market, "revoke", "gone").exit_code == 0
    expired = add_account(context, "old", "retailer", None, dt.date(2020, 1, 1)).token
    for token in (revoked, expired, "rt_unknown", None):
        with pytest.raises(NotSignedIn):
            signed_in(context, token)
    states = {a["name"]: a["state"] for a in json.loads(run(market, "list", "--json").output)["accounts"]}
    assert states == {"gone": "revoked", "old": "expired"}


def test_a_kp_authority_answers_for_its_partys_country(market):
    context = Context(market, Settings())
    assert add_account(context, "gaborone", "kp_authority", "DB").account.country == "BW"
    assert add_account(context, "antwerp", "kp_authority", None, country="be").account.country == "BE"


@pytest.mark.parametrize("role, party", [("sightholder", None), ("producer", None), ("jeweller", None), ("kp_authority", None)])
def test_accounts_that_cannot_be_are_refused(market, role, party):
    with pytest.raises(UsageError):
        add_account(Context(market, Settings()), "x", role, party)
    answered = run(market, "add", "y", "--role", role, "--json")
    assert answered.exit_code == 2 and json.loads(answered.output)["ok"] is False


def test_revoking_an_unknown_account_is_not_found(market):
    answered = run(market, "revoke", "nobody", "--json")
    assert answered.exit_code == 1 and json.loads(answered.output)["errors"][0]["code"] == "account_not_found"
