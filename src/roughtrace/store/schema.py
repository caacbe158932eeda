"""The store's schema, versioned, written once for both engines.

Each input kind has a table of the same name whose columns follow `domain.kinds`, plus three
bookkeeping columns: `batch_id` (the import that stored the row), `source_row` (its 1-based record
number in that import's file) and `extras` (a JSON object of the extra columns the file carried, or
NULL). Amounts are DECIMAL, never binary floating point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..domain import kinds
from ..domain.money import CARAT_SQL_TYPE, USD_SQL_TYPE

SQL_TYPES: dict[str, str] = {
    kinds.TEXT: "VARCHAR",
    kinds.DATE: "DATE",
    kinds.CARATS: CARAT_SQL_TYPE,
    kinds.USD: USD_SQL_TYPE,
    kinds.INTEGER: "BIGINT",
    kinds.ENUM: "VARCHAR",
    kinds.COUNTRY: "VARCHAR",
    kinds.ORIGIN: "VARCHAR",
    kinds.PARTY: "VARCHAR",
}
BOOKKEEPING_COLUMNS: tuple[tuple[str, str], ...] = (
    ("batch_id", "BIGINT NOT NULL"),
    ("source_row", "BIGINT NOT NULL"),
    ("extras", "VARCHAR"),
)


UNCOMPRESSED_ON_DUCKDB: dict[str, tuple[str, ...]] = {
    "polished_outcomes": ("stone_id", "rough_stone_id"),
    "transactions": ("tx_id",),
}
"""Identifier columns, one value per row (or nearly), that DuckDB stores uncompressed (schema 9).
Its text compression first tries a dictionary, which unique values defeat, then FSST, which costs
a large share of the write for little saving (docs/performance.md). Every import pays the write; the
file pays once."""


def kind_table_ddl(kind: kinds.Kind, table: str | None = None, uncompressed: tuple[str, ...] = ()) -> str:
    """CREATE TABLE for `kind` (named `table`, the kind's own name by default), with the columns
    named in `uncompressed` stored uncompressed (DuckDB only)."""
    columns = [
        f"{c.name} {SQL_TYPES[c.type]}{' USING COMPRESSION uncompressed' if c.name in uncompressed else ''}"
        f"{' NOT NULL' if c.required else ''}" for c in kind.columns
    ] + [f"{name} {sql_type}" for name, sql_type in BOOKKEEPING_COLUMNS]
    return f"CREATE TABLE {table or kind.name} (\n  " + ",\n  ".join(columns) + "\n)"


def _stored_uncompressed(name: str, indexes: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """DuckDB statements rebuilding kind table `name` with its identifiers uncompressed: a copy
    under a new name, its rows, the old table's `indexes` (name, columns) dropped and remade."""
    kind = kinds.KINDS[name]
    return (
        kind_table_ddl(kind, f"{name}_rebuilt", UNCOMPRESSED_ON_DUCKDB[name]),
        f"INSERT INTO {name}_rebuilt SELECT * FROM {name}",
        *(f"DROP INDEX IF EXISTS {index}" for index, _ in indexes),
        f"DROP TABLE {name}",
        f"ALTER TABLE {name}_rebuilt RENAME TO {name}",
        *(f"CREATE INDEX {index} ON {name} ({columns})" for index, columns in indexes),
    )


BATCHES_DDL = """CREATE TABLE batches (
  batch_id BIGINT PRIMARY KEY,
  kind VARCHAR NOT NULL,
  file_name VARCHAR NOT NULL,
  file_sha256 VARCHAR NOT NULL,
  profile_sha256 VARCHAR,
  rows_read BIGINT NOT NULL,
  rows_accepted BIGINT NOT NULL,
  rows_rejected BIGINT NOT NULL,
  rows_unchanged BIGINT NOT NULL,
  imported_at TIMESTAMP NOT NULL
)"""

QUARANTINE_DDL = """CREATE TABLE quarantine (
  batch_id BIGINT NOT NULL,
  kind VARCHAR NOT NULL,
  file_name VARCHAR NOT NULL,
  source_row BIGINT NOT NULL,
  record VARCHAR NOT NULL,
  problems VARCHAR NOT NULL
)"""
"""Rejected records kept verbatim: `record` is a JSON object of the file's own column names and
values as read; `problems` a JSON array of {code, column, message}."""

META_DDL = """CREATE TABLE meta (
  key VARCHAR PRIMARY KEY,
  value VARCHAR NOT NULL
)"""


@dataclass(frozen=True)
class Migration:
    """One step of the schema. `statements` run on every engine; `postgres_only` and
    `duckdb_only` hold engine-specific physical design such as indexes; `fill`, when given, then
    derives the new tables' rows from the rows already stored (in the same transaction)."""

    version: int
    description: str
    statements: tuple[str, ...]
    postgres_only: tuple[str, ...] = ()
    duckdb_only: tuple[str, ...] = ()
    fill: Callable[[Any], None] | None = None


BYTE_ORDERED_ON_POSTGRES: dict[str, tuple[str, ...]] = {
    "polished_outcomes": ("stone_id",),
    "transactions": ("tx_id",),
}
"""Indexed identifier columns PostgreSQL compares byte by byte (collation "C", schema 9), as DuckDB
does: an identifier has no language to sort by. Sorting them for an index then uses PostgreSQL's
abbreviated keys, which a language collation forgoes, so the index builds quicker
(docs/performance.md). Reports order stone ids the same on both engines."""

IDENTIFIERS_FOR_SPEED = Migration(
    9,
    "identifiers stored for speed: uncompressed in DuckDB, compared byte by byte in PostgreSQL",
    statements=(),
    duckdb_only=(_stored_uncompressed("polished_outcomes", (("checks_outcomes_stone", "stone_id"),))
                 + _stored_uncompressed("transactions", ())),
    postgres_only=tuple(f'ALTER TABLE {table} ALTER COLUMN {column} TYPE VARCHAR COLLATE "C"'
                        for table, columns in BYTE_ORDERED_ON_POSTGRES.items() for column in columns),
)

IDENTITIES: dict[str, tuple[str, ...]] = {
    "parties": ("party_id",),
    "rough_sales": ("box_id",),
    "polished_outcomes": ("stone_id", "lab", "sightholder_id", "box_id"),
    "transactions": ("tx_id",),
    "kp_certificates": ("certificate_id", "hs_code"),
}
"""The identity of one stored record of each keyed kind (`domain.kinds`), which the store holds
once (schema 10). An outcome's is the whole claim, not the stone: a report of the same stone from
another box or sightholder is a conflicting claim, kept and flagged. Its stone number comes first,
so the same index serves the look-up of a stone. A record whose identity has an empty part (an
outcome with no report number) is not held to it, as the importer compares no empty value."""

REPLACED_BY_IDENTITY = ("parties_id", "rough_sales_box", "polished_outcomes_stone", "transactions_tx", "kp_certificates_id")
"""PostgreSQL's plain look-up indexes of schema 1 that the unique identity indexes serve instead."""


def _identity_kept_once(store: Any) -> None:
    """Schema 10: refuse a store that already holds a record twice (naming the first such identity),
    then, on PostgreSQL, make each identity a unique index in place of the plain look-up index. DuckDB
    has one writer per file and the importer takes one import of a kind at a time (`exclusive`), so
    its files keep no index that every import would pay for."""
    from ..errors import Problem, StoreError

    for table, columns in IDENTITIES.items():
        listed = ", ".join(columns)
        twins = store.rows(f"""SELECT count(*) AS n, min(concat_ws(' / ', {listed})) AS example FROM (
            SELECT {listed} FROM {table} WHERE {' AND '.join(f'{c} IS NOT NULL' for c in columns)}
            GROUP BY {listed} HAVING count(*) > 1) AS t""")
        if twins[0]["n"]:
            raise StoreError(Problem("stored_twice", f"the store holds {twins[0]['n']} {table} record(s) more than once (e.g. "
                                     f"{twins[0]['example']}), stored by imports that raced before schema 10; remove the later "
                                     "copies (their batch_id tells which) and migrate again"))
    if store.engine != "postgresql":
        return
    for name in REPLACED_BY_IDENTITY:
        store.execute(f"DROP INDEX IF EXISTS {name}")
    for table, columns in IDENTITIES.items():
        store.execute(f"CREATE UNIQUE INDEX {table}_identity ON {table} ({', '.join(columns)})")


IDENTITY_KEPT_ONCE = Migration(
    10,
    "each record's identity stored once: unique indexes on PostgreSQL",
    statements=(),
    fill=_identity_kept_once,
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "input kinds, batches, quarantine, meta",
        tuple(kind_table_ddl(k) for k in kinds.KINDS.values()) + (BATCHES_DDL, QUARANTINE_DDL, META_DDL, "CREATE SEQUENCE batch_id_seq START 1"),
        postgres_only=(
            "CREATE INDEX parties_id ON parties (party_id)",
            "CREATE INDEX rough_sales_box ON rough_sales (box_id)",
            "CREATE INDEX polished_outcomes_stone ON polished_outcomes (stone_id, lab)",
            "CREATE INDEX rough_dispositions_box ON rough_dispositions (box_id)",
            "CREATE INDEX transactions_tx ON transactions (tx_id)",
            "CREATE INDEX kp_certificates_id ON kp_certificates (certificate_id)",
            "CREATE INDEX parcel_contents_id ON parcel_contents (certificate_id)",
            "CREATE INDEX quarantine_batch ON quarantine (batch_id)",
        ),
    ),
    IDENTIFIERS_FOR_SPEED,
    IDENTITY_KEPT_ONCE,
)
SCHEMA_VERSION = MIGRATIONS[-1].version
