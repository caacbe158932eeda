"""Schema version 4: the indexes that make one stone's provenance a point lookup.

A polished stone is found by its lab report number and a box's outcome rows by its box id; a scan
grows with the table, an index lookup does not. PostgreSQL has the stone,
sale-box and certificate lookups from version 1 (polished_outcomes_stone, rough_sales_box,
kp_certificates_id) and gains the dispositions' box lookup here; it has no index on
polished_outcomes.box_id, so a live box lookup there scans (one index fewer to keep on import).
Schema 8 drops DuckDB's too (checks_outcomes_box): with box records (provenance/schema.py) no
frequent lookup reads a box's outcome rows, and an import pays for the index at commit.
"""

from __future__ import annotations

from ..store.schema import Migration

MIGRATION = Migration(
    version=4,
    description="indexes for provenance lookups (stone, box, certificate)",
    statements=(),
    duckdb_only=(
        "CREATE INDEX IF NOT EXISTS checks_outcomes_stone ON polished_outcomes (stone_id)",
        "CREATE INDEX IF NOT EXISTS checks_outcomes_box ON polished_outcomes (box_id)",
        "CREATE INDEX IF NOT EXISTS checks_sales_box ON rough_sales (box_id)",
        "CREATE INDEX IF NOT EXISTS checks_certificates_id ON kp_certificates (certificate_id)",
    ),
    postgres_only=(
        "CREATE INDEX IF NOT EXISTS checks_dispositions_box ON rough_dispositions (box_id)",
    ),
)
