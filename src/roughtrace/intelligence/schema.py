"""Schema version 14: the published record of market intelligence.

Every market table a report released, so that later reports are protected and audited against
everything published over every period (`domain.disclosure.with_record`):

- intelligence_releases: one row per distinct release (the market's tables as protected when a
  contributor's report was made): its id (the SHA-256 of its cells, pattern and contributions),
  its order, the period length its cells use (`intelligence_period`) and when it was first made.
- intelligence_release_cells: every cell of each segment kind's table as released: its position in
  the table, segment and period ('*' for a total over that dimension), whether it was published, and
  its totals in thousandths of a carat.
- intelligence_release_values: each contributor's values in the interior cells of a release (the
  margins are their sums), nonzero ones only.

Neither the values nor the hidden cells' totals are ever shown to anyone: on PostgreSQL both tables
are under row-level security with no policy, so the service's reading role reads none of their rows
(their owner, which keeps and reads releases, is not held to it).
"""

from __future__ import annotations

from ..store.schema import Migration

RELEASES_DDL = """CREATE TABLE intelligence_releases (
  release_id VARCHAR PRIMARY KEY,
  sequence BIGINT NOT NULL,
  period_kind VARCHAR NOT NULL,
  released_at TIMESTAMP NOT NULL
)"""

CELLS_DDL = """CREATE TABLE intelligence_release_cells (
  release_id VARCHAR NOT NULL,
  kind VARCHAR NOT NULL,
  position BIGINT NOT NULL,
  segment VARCHAR NOT NULL,
  period VARCHAR NOT NULL,
  published BOOLEAN NOT NULL,
  rough_mct BIGINT NOT NULL,
  outcome_rough_mct BIGINT NOT NULL,
  polished_mct BIGINT NOT NULL
)"""

VALUES_DDL = """CREATE TABLE intelligence_release_values (
  release_id VARCHAR NOT NULL,
  kind VARCHAR NOT NULL,
  position BIGINT NOT NULL,
  sightholder_id VARCHAR NOT NULL,
  rough_mct BIGINT NOT NULL,
  outcome_rough_mct BIGINT NOT NULL,
  polished_mct BIGINT NOT NULL
)"""

MIGRATION = Migration(
    version=14,
    description="market intelligence: the published record of every release",
    statements=(RELEASES_DDL, CELLS_DDL, VALUES_DDL,
                "CREATE INDEX intelligence_release_cells_release ON intelligence_release_cells (release_id)",
                "CREATE INDEX intelligence_release_values_release ON intelligence_release_values (release_id)"),
    postgres_only=("ALTER TABLE intelligence_release_cells ENABLE ROW LEVEL SECURITY",
                   "ALTER TABLE intelligence_release_values ENABLE ROW LEVEL SECURITY"),
)
