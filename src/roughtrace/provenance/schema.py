"""Schema versions 7 and 8: box records kept ready for provenance lookups (see `boxes`).

One row per sold box: one index lookup. Version 7 kept a record as one text; version 8 keeps each
part in a text column of its own, so an import that feeds one part rewrites only that column, and
fills the table from the rows already stored (version 7's own fill gave way to it: a store migrating
through both builds its records once).

Version 8 also drops DuckDB's index on polished_outcomes.box_id (schema 4). Since the records,
nothing measured reads a box's outcome rows through it: a lookup reads the stone's claims (by stone
id) and its box's record, and the refresh groups the batch's rows in one pass. Keeping it up to date
cost 1.1 to 1.3 s at the commit of a 2M-row import; the lookups that still read a box's outcome rows
(under settings the record cannot answer, or a box with no record) took 46 and 72 ms with it and 52
and 85 ms without at 10 M rows (docs/performance/checks.md). PostgreSQL never had it.
"""

from __future__ import annotations

from typing import Any

from ..store.schema import Migration


def _fill(store: Any) -> None:
    from .boxes import rebuild

    rebuild(store)


MIGRATION = Migration(
    version=7,
    description="box records for provenance lookups",
    statements=(
        "CREATE TABLE box_provenance (box_id VARCHAR NOT NULL, record VARCHAR NOT NULL)",
        "CREATE INDEX box_provenance_box ON box_provenance (box_id)",
    ),
)

PARTS_IN_COLUMNS = Migration(
    version=8,
    description="box records with a column per part; no index on the outcomes' box id",
    statements=(
        "DROP TABLE box_provenance",
        "CREATE TABLE box_provenance (box_id VARCHAR NOT NULL, chain VARCHAR NOT NULL, facts VARCHAR NOT NULL)",
        "CREATE INDEX box_provenance_box ON box_provenance (box_id)",
    ),
    duckdb_only=("DROP INDEX IF EXISTS checks_outcomes_box",),
    fill=_fill,
)

MIGRATIONS: tuple[Migration, ...] = (MIGRATION, PARTS_IN_COLUMNS)
