"""One error shape for every interface: problems are data, exceptions carry them.

A `Problem` names where (file, row, column), what (a stable code) and why (a sentence a trade
user can act on). Library code raises `RoughtraceError` subclasses carrying problems; the CLI and
the API translate them once, at their boundary, into `error_body()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, a setting or a request."""

    code: str
    message: str
    file: str | None = None
    row: int | None = None
    """1-based data record number (header excluded, blank lines not counted)."""
    column: str | None = None
    line: int | None = None
    """Where a user finds the record: the row a spreadsheet shows it on (CSV, XLSX: the header is
    line 1, so record 1 is on line 2 when no blank line comes before it), or its line of a JSON
    Lines file. None where a file has no lines to speak of (a JSON array, Parquet)."""

    def as_dict(self) -> dict[str, Any]:
        """The shape `--json` output and the API share; `line` is in `source` when known."""
        source: dict[str, Any] = {"file": self.file, "row": self.row, "column": self.column}
        if self.line is not None:
            source["line"] = self.line
        return {"code": self.code, "message": self.message, "source": source}


class RoughtraceError(Exception):
    """Base of every error the library raises on purpose. `exit_code` is the CLI's."""

    exit_code = 1

    def __init__(self, problems: list[Problem] | Problem | str, code: str = "error") -> None:
        if isinstance(problems, str):
            problems = [Problem(code, problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__("; ".join(p.message for p in self.problems))


class FileRejected(RoughtraceError):
    """The file cannot be read as the declared format; nothing was stored."""


class UsageError(RoughtraceError):
    """The request itself is wrong (unknown kind, bad option value)."""

    exit_code = 2


class StoreError(RoughtraceError):
    """The store cannot be opened, migrated or written."""


class NotFound(RoughtraceError):
    """A box, stone, certificate or batch asked for is not in the store."""


def error_body(problems: list[Problem], **extra: Any) -> dict[str, Any]:
    """The one error shape: {"ok": false, "errors": [{"code", "message", "source": {...}}]}."""
    return {"ok": False, **extra, "errors": [p.as_dict() for p in problems]}
