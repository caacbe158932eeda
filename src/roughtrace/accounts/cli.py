"""`roughtrace accounts add | list | revoke`: who may call the HTTP service, rendered from `app.accounts`."""

from __future__ import annotations

import datetime as dt

import typer

from .. import render
from ..app import context_of
from ..app.accounts import ROLES, add_account, list_accounts, revoke_account
from ..errors import Problem, UsageError

app = typer.Typer(help="Accounts of the HTTP service: roles, parties and API tokens.", no_args_is_help=True)


def _when(text: str | None) -> dt.date | dt.datetime | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text) if len(text) == 10 else dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(Problem("bad_option", f"--expires takes a date (2026-12-31) or a time, not {text!r}")) from None


@app.command("add")
def add(ctx: typer.Context, name: str = typer.Argument(..., help="The account's name, unique."),
        role: str = typer.Option(..., "--role", help=f"One of {', '.join(ROLES)}."),
        party: str = typer.Option(None, "--party", help="The party (party_id) the account acts for."),
        country: str = typer.Option(None, "--country", help="A KP authority's country (default: its party's)."),
        expires: str = typer.Option(None, "--expires", help="The token stops working at this date (UTC) or time."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Make an account and print its API token, this once: the store keeps only its hash."""
    made = add_account(context_of(ctx.obj), name, role, party, _when(expires), country)
    if as_json:
        render.emit_json({"ok": True, "account": made.account.as_dict(), "token": made.token})
        return
    say = render.console()
    say.print(f"Account {made.account.name} ({made.account.role}, id {made.account.account_id}) made. Its token, "
              "shown this once (send it as `Authorization: Bearer TOKEN`):")
    print(made.token)


@app.command("list")
def listed(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Every account with its role, party and state (never a token)."""
    accounts = list_accounts(context_of(ctx.obj))
    if as_json:
        render.emit_json({"ok": True, "accounts": [a.as_dict() for a in accounts]})
        return
    render.console().print(render.table(["name", "id", "role", "party", "country", "state", "expires"], (
        (a.name, a.account_id, a.role, a.party_id or render.DASH, a.country or render.DASH, a.state,
         render.when(a.expires_at) if a.expires_at else render.DASH) for a in accounts)))


@app.command("revoke")
def revoke(ctx: typer.Context, account: str = typer.Argument(..., help="The account's name or id."),
           as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Revoke an account: its token stops working at once."""
    revoked = revoke_account(context_of(ctx.obj), account)
    if as_json:
        render.emit_json({"ok": True, "account": revoked.as_dict()})
    else:
        render.console().print(f"Account {revoked.name} ({revoked.account_id}) is revoked.")
