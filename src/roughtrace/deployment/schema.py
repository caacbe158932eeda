"""Schema version 13: the deployment's settings, kept in the store.

deployment_settings: one row per change: the deployment's settings version it made (1, 2, ...,
one change per version), the setting's name, its new value as text (NULL when the change removed
it, so the client's own value or the default applies again), who changed it, when, and the ledger
entry that logged the change.
"""

from __future__ import annotations

from ..store.schema import Migration

SETTINGS_DDL = """CREATE TABLE deployment_settings (
  version BIGINT PRIMARY KEY,
  name VARCHAR NOT NULL,
  value VARCHAR,
  actor VARCHAR NOT NULL,
  changed_at TIMESTAMP NOT NULL,
  entry_index BIGINT
)"""

MIGRATION = Migration(
    version=13,
    description="the deployment's settings, versioned in the store",
    statements=(SETTINGS_DDL,),
)
