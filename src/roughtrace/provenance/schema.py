"""Schema version 7: box records kept ready for provenance lookups (see `boxes`).

One row per sold box, its record as one text: one index lookup and one value fetched. The migration
fills it from the rows already stored.
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
    fill=_fill,
)
