"""Reading: every accepted file format as one stream of Arrow record batches, one module per format.

`open_source` picks the reader by the declared format or the file's extension; each reader
returns a `SourceFile` (`source.py`), which streams the file's records and is closed when the
import is done. No reader depends on a store: a reader that needs a DuckDB engine opens a plain
connection of its own, and its source closes it.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import FileRejected, Problem, UsageError
from ...settings import one_character, text_encoding
from ..limits import ReadLimits
from .delimited import _open_csv
from .json_records import _open_json
from .parquet import _open_parquet
from .source import ROW, FileScan, ProgressFn, Ragged, SourceFile, close_source
from .workbook import _check_workbook_expansion, _open_xlsx

FORMATS = ("csv", "xlsx", "json", "jsonl", "parquet")
_EXTENSIONS = {
    ".csv": "csv", ".tsv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx",
    ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet",
}


def extension_format(path: Path) -> str | None:
    """The format a file's extension names, or None (a .json may still hold JSON Lines)."""
    return _EXTENSIONS.get(path.suffix.lower())


def detect_format(path: Path, declared: str | None = None) -> str:
    """The file's format: the declared one, else from its extension (JSON Lines when a .json file
    does not start with '[')."""
    if declared:
        if declared not in FORMATS:
            raise FileRejected(Problem("unknown_format", f"{declared!r} is not a format roughtrace reads; use one of {', '.join(FORMATS)}", file=path.name))
        return declared
    fmt = _EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise FileRejected(Problem(
            "unknown_format",
            f"cannot tell the format of {path.name} from its extension; name it .csv, .xlsx, .json, .jsonl or .parquet, or pass --format",
            file=path.name))
    if fmt == "json":
        with path.open("rb") as handle:
            start = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        if start and not start.startswith(b"["):
            fmt = "jsonl"
    return fmt


def open_source(path: Path, fmt: str | None = None, encoding: str | None = None, delimiter: str | None = None,
                sheet: str | None = None, progress: ProgressFn | None = None, decimal: str = ".",
                limits: ReadLimits | None = None) -> SourceFile:
    """Open `path` for import, rejecting the file whole when it cannot be read as its format.
    `decimal` is the decimal mark the file's text uses: a workbook's number cells are written with
    it, so that they read like the text cells beside them. A declared encoding or delimiter that
    cannot be one is a usage mistake, answered before the file is opened."""
    _check_declared(encoding, delimiter, path.name)
    if not path.exists():
        raise FileRejected(Problem("file_not_found", f"there is no file {path}", file=str(path)))
    if path.is_dir():
        raise FileRejected(Problem("file_not_found", f"{path} is a folder, not a file", file=str(path)))
    fmt = detect_format(path, fmt)
    size = path.stat().st_size
    if size == 0:
        raise FileRejected(Problem("empty_file", "the file is empty (0 bytes): it has no header row", file=path.name))
    limits = limits or ReadLimits()
    if fmt == "xlsx":
        _check_workbook_expansion(path, limits)
    scan = FileScan(path)
    if fmt == "csv":
        source = _open_csv(path, scan, encoding, delimiter, progress, size, limits)
    elif fmt == "xlsx":
        source = _open_xlsx(path, scan, sheet, decimal, limits)
    elif fmt in ("json", "jsonl"):
        source = _open_json(path, scan, fmt, limits)
    else:
        source = _open_parquet(path, scan)
    source.limits = limits
    if len(source.header) > limits.columns:
        close_source(source)
        raise FileRejected(Problem("too_many_columns", f"the header names {len(source.header):,} columns, more than the "
                                   f"{limits.columns:,} a file may have (setting max_columns)", file=path.name))
    return source



def _check_declared(encoding: str | None, delimiter: str | None, name: str) -> None:
    """UsageError (exit 2) naming the rule when a declared encoding is not a text encoding or a
    declared delimiter is not one character."""
    problems = []
    if encoding is not None:
        try:
            text_encoding(encoding)
        except ValueError as rule:
            problems.append(Problem("unknown_encoding", f"{encoding!r} is not an encoding roughtrace knows: give {rule}", file=name))
    if delimiter is not None:
        try:
            one_character(delimiter)
        except ValueError as rule:
            problems.append(Problem("bad_delimiter", f"the delimiter {delimiter!r} cannot be used: give {rule}", file=name))
    if problems:
        raise UsageError(problems)



__all__ = ["FORMATS", "ROW", "Ragged", "SourceFile", "close_source", "detect_format", "extension_format", "open_source"]
