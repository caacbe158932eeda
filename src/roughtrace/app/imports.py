"""`import` and `export`: files of one input kind into the store, and stored rows back to files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import Problem, UsageError
from . import Context

if TYPE_CHECKING:
    from ..ingest.pipeline import ImportResult
    from ..progress import ProgressFn


def import_file(context: Context, kind: str, path: Path, *, profile: Path | None = None, strict: bool = False,
                file_format: str | None = None, encoding: str | None = None,
                progress: ProgressFn | None = None) -> ImportResult:
    """Validate a file of `kind` and store its good rows, the bad ones quarantined with their reasons,
    the batch logged in the ledger (its receipt in the result). `profile` is a TOML mapping profile
    for a file's own column names and spellings, read within the `profile_bytes` limit."""
    from ..ingest import import_file as run_import
    from ..ingest.limits import ReadLimits
    from ..ingest.profile import load_profile

    mapping = load_profile(profile, ReadLimits.from_settings(context.settings).profile_bytes) if profile else None
    return run_import(context.store, kind, path, profile=mapping, strict=strict, file_format=file_format,
                      encoding=encoding, settings=context.settings, progress=progress, actor=context.actor.name)


def export_kind(context: Context, kind: str, path: Path, file_format: str | None = None) -> tuple[str, int]:
    """Write a kind's stored rows to `path` in a format the importer reads (by `file_format`, else
    the file's extension). Returns the format written and the rows."""
    from ..ingest.export import export_kind as write_kind
    from ..ingest.read import FORMATS, extension_format

    fmt = file_format or extension_format(path)
    if fmt is None or fmt not in FORMATS:
        raise UsageError(Problem("unknown_format", f"cannot tell the format of {path.name}; pass --format csv|xlsx|json|jsonl|parquet"))
    return fmt, write_kind(context.store, kind, path, fmt)
