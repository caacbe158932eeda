"""Schema version 12: row-level security on PostgreSQL, the store's own copy of `app.access`.

The service's readers answer each request as `roughtrace_reader` (`READER`, NOLOGIN, granted to
the role that migrates), with the caller's role, party, account and country in session settings
(`seen_as`). PostgreSQL then hands that role only the rows of the party-bearing tables the caller
may see, so a route that forgot its check still leaks nothing of another party. The tables' owner
(the operator, the command line, the import worker, the service's writer and desk) is not held
to the policies (no FORCE ROW LEVEL SECURITY): those act for everyone.

The rules, as `app.access` words them:

- admin: every row.
- producer: the sales it sold (rough_sales.seller_id), the outcomes and dispositions reported on
  those boxes, the certificates they name.
- sightholder: the boxes it bought (rough_sales.buyer_id), its own outcomes, dispositions and
  answers (sightholder_id), the certificates its boxes name.
- kp_authority: the certificates its country exports or imports.
- every role: the import jobs its account or party sent and their batches' quarantine.
- the stone a caller names by its report number (`roughtrace.stone_id`, set by the provenance
  route only): its claims at every lab, their boxes and those boxes' certificates, since a stone's
  chain is read whole and `app.access.public_provenance` cuts what the caller is shown.

Policies that would read another table under its own policy (outcomes by the producer's boxes,
boxes by the named stone) call the `SECURITY DEFINER` functions below, which read as the owner
and so never loop back into a policy. The account table is not the reader's to read at all.
DuckDB has no row-level security: a DuckDB file is a single-node deployment, and the app rules
alone apply there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..store.schema import Migration

READER = "roughtrace_reader"
"""The role the service's readers take for a request; the policies are written for it alone."""

SESSION_SETTINGS = ("role", "party", "account", "country", "stone_id")
"""The `roughtrace.*` session settings the policies read, set per request by `seen_as`."""


def _setting(name: str) -> str:
    return f"current_setting('roughtrace.{name}', true)"


ROLE, PARTY, ACCOUNT, COUNTRY = (_setting(n) for n in ("role", "party", "account", "country"))
ADMIN = f"{ROLE} IN ('admin', 'operator')"

FUNCTIONS = (
    # the boxes a producer sold, read as the owner (for the outcome and disposition policies)
    """CREATE FUNCTION roughtrace_boxes_sold(party VARCHAR) RETURNS SETOF VARCHAR
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT
  AS 'SELECT box_id FROM rough_sales WHERE seller_id = party'""",
    # the boxes of the stone the request names, read as the owner (for the box policy)
    f"""CREATE FUNCTION roughtrace_boxes_of_named_stone() RETURNS SETOF VARCHAR
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT
  AS $$SELECT box_id FROM polished_outcomes
        WHERE stone_id = {_setting('stone_id')}$$""",
)

NAMED_STONE = f"stone_id = {_setting('stone_id')}"

POLICIES: dict[str, str] = {
    "rough_sales": f"""{ADMIN}
      OR ({ROLE} = 'producer' AND seller_id = {PARTY})
      OR ({ROLE} = 'sightholder' AND buyer_id = {PARTY})
      OR box_id IN (SELECT roughtrace_boxes_of_named_stone())""",
    "polished_outcomes": f"""{ADMIN}
      OR ({ROLE} = 'sightholder' AND sightholder_id = {PARTY})
      OR ({ROLE} = 'producer' AND box_id IN (SELECT roughtrace_boxes_sold({PARTY})))
      OR {NAMED_STONE}""",
    "rough_dispositions": f"""{ADMIN}
      OR ({ROLE} = 'sightholder' AND sightholder_id = {PARTY})
      OR ({ROLE} = 'producer' AND box_id IN (SELECT roughtrace_boxes_sold({PARTY})))""",
    # the boxes in the sub-select are those rough_sales' own policy lets the caller see
    "kp_certificates": f"""{ADMIN}
      OR ({ROLE} = 'kp_authority' AND {COUNTRY} IN (exporting_country, importing_country))
      OR ({ROLE} IN ('producer', 'sightholder', 'retailer')
          AND certificate_id IN (SELECT kp_certificate_id FROM rough_sales))""",
    "finding_answers": f"{ADMIN} OR ({ROLE} = 'sightholder' AND sightholder_id = {PARTY})",
    "service_jobs": f"{ADMIN} OR account_id = {ACCOUNT} OR (party_id IS NOT NULL AND party_id = {PARTY})",
    # the jobs in the sub-select are those service_jobs' own policy lets the caller see
    "quarantine": f"{ADMIN} OR batch_id IN (SELECT batch_id FROM service_jobs)",
}
"""For each party-bearing table, the rows `roughtrace_reader` may read."""

OTHERS = f"current_user <> '{READER}'"
"""Every role but the reader is held to nothing new: a read-only auditor role, or a writing role
that is not the tables' owner, reads and writes as before."""

GRANTS = f"""DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{READER}') THEN
    CREATE ROLE {READER} NOLOGIN;
  END IF;
  IF NOT pg_has_role(current_user, '{READER}', 'MEMBER') THEN
    EXECUTE format('GRANT {READER} TO %I', current_user);
  END IF;
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO {READER}', current_schema());
  EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO {READER}', current_schema());
  EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT ON TABLES TO {READER}', current_schema());
  EXECUTE format('REVOKE SELECT ON %I.accounts FROM {READER}', current_schema());
END $$"""
"""The reader role (made once per cluster), the migrating role made a member so it may SET ROLE
to it, and SELECT on the schema's tables (those made later too) but the accounts'."""

MIGRATION = Migration(
    version=12,
    description="row-level security on PostgreSQL: the service's reader sees only its caller's rows",
    statements=(),
    postgres_only=(GRANTS, *FUNCTIONS,
                   *(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY" for table in POLICIES),
                   *(f"CREATE POLICY {table}_seen ON {table} FOR SELECT TO {READER} USING ({rule})"
                     for table, rule in POLICIES.items()),
                   *(f"CREATE POLICY {table}_others ON {table} USING ({OTHERS}) WITH CHECK ({OTHERS})"
                     for table in POLICIES)),
)

PARTY_INDEXES = Migration(
    version=17,
    description="PostgreSQL: a party's boxes found by index, as the policies and per-party views select them",
    statements=(),
    postgres_only=("CREATE INDEX IF NOT EXISTS rough_sales_buyer ON rough_sales (buyer_id)",
                   "CREATE INDEX IF NOT EXISTS rough_sales_seller ON rough_sales (seller_id)"),
)

MIGRATIONS: tuple[Migration, ...] = (MIGRATION, PARTY_INDEXES)


TAKEN = f"SELECT set_config('role', '{READER}', false), " + ", ".join(
    f"set_config('roughtrace.{name}', ?, false)" for name in SESSION_SETTINGS)
"""The reader's role and the caller in the session settings: one statement (`SET ROLE` is the
setting `role`)."""

CLEARED = "SELECT set_config('role', 'none', false), " + ", ".join(
    f"set_config('roughtrace.{name}', '', false)" for name in SESSION_SETTINGS)
"""The connection's own role again (`SET ROLE NONE`), and no caller in the session settings: one
statement, so that it can be sent ahead of another."""


@contextmanager
def seen_as(store: Any, actor: Any, stone: tuple[str, str] | None = None) -> Iterator[Any]:
    """`store` reading as `actor` for the block: on PostgreSQL as `roughtrace_reader`, with the
    actor's role, party, account and country (and the stone a provenance request names, as
    (lab, report)) in the session settings the policies read; all reset afterwards, so the next
    request on the connection starts from none. Where the store sends statements ahead
    (`send_ahead`), the settings go in the round trip of the block's first statement, which runs
    only once they are taken, and the reset in that of the connection's next statement, which
    runs only after it. On DuckDB the store as it is."""
    if store.engine != "postgresql":
        yield store
        return
    values = {"role": actor.role, "party": actor.party, "account": actor.account_id, "country": actor.country,
              "stone_id": stone[1] if stone else None}
    send = getattr(store, "send_ahead", store.execute)
    send(TAKEN, tuple(values[name] or "" for name in SESSION_SETTINGS))
    try:
        yield store
    finally:
        send(CLEARED)


@contextmanager
def market_wide(store: Any) -> Iterator[Any]:
    """`store` reading every row for the block, inside a request `seen_as` its caller: for a model a
    use case learns from the whole market (the KP check's mixes and prices) and of which it returns
    only what the caller was first shown to be allowed (the checked certificate's lines). Outside
    such a request, and on DuckDB, the store as it is."""
    if store.engine != "postgresql" or store.rows("SELECT current_user AS who")[0]["who"] != READER:
        yield store
        return
    store.execute("RESET ROLE")
    try:
        yield store
    finally:
        store.execute(f"SET ROLE {READER}")
