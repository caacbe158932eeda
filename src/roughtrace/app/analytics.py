"""`export parquet`: the store's tables as a Parquet snapshot for an analytics engine on a cluster."""

from __future__ import annotations

from pathlib import Path

from . import Context


def export_snapshot(context: Context, directory: Path) -> dict[str, int]:
    """Write every input kind's stored rows as `directory`/<kind>.parquet (the files
    `spark_snapshot` names); returns the rows written per kind."""
    from ..analytics.snapshot import write_snapshot

    return write_snapshot(context.store, directory)
