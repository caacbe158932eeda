"""Schema versions 7, 8 and 15: box records kept ready for provenance lookups (see `boxes`).

One row per sold box: one index lookup. Version 7 keeps a record as one text; version 8 keeps each
part in a text column of its own, so an import that feeds one part rewrites only that column, and
fills the table from the rows already stored (version 7 leaves the fill to version 8, so a store
migrating through both builds its records once).

Version 8 also drops DuckDB's index on polished_outcomes.box_id (schema 4): with the records, no
frequent path reads a box's outcome rows through it (a lookup reads the stone's claims by stone id
and its box's record; the refresh groups the batch's rows in one pass), while keeping it up to date
costs every import at its commit (docs/performance/checks.md).

PostgreSQL keeps no box records (`boxes.KEPT_ON`): a lookup there gathers its box's record from the
outcome rows of the box, which without an index on polished_outcomes.box_id is a scan of the whole
table for every lookup the service answers. Version 15 adds that index on PostgreSQL; a bulk write
rebuilds it after its rows, as it does every plain index (`PostgresStore.write_from`).
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

OUTCOMES_BY_BOX = Migration(
    version=15,
    description="PostgreSQL: the outcome rows of a box found by index, for provenance lookups",
    statements=(),
    postgres_only=("CREATE INDEX IF NOT EXISTS provenance_outcomes_box ON polished_outcomes (box_id)",),
)

MIGRATIONS: tuple[Migration, ...] = (MIGRATION, PARTS_IN_COLUMNS, OUTCOMES_BY_BOX)
