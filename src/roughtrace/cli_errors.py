"""How the command line prints problems: the one error shape on stdout with `--json`, or one line a
problem on stderr. `cli.run` answers every exception through `report`; `fail` is for a command
that answers with problems it gathered itself (a ledger audit's findings, stones it could not quote)."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any, NoReturn

from .errors import Problem, error_body
from .json_values import dumps
from .settings import redacted


def report(problems: list[Problem], as_json: bool, **extra: Any) -> None:
    """Print problems: `{"ok": false, "errors": [...]}` on stdout, or a line each on stderr. A
    store password inside a message is shown as ***."""
    problems = [replace(p, message=redacted(p.message)) for p in problems]
    if as_json:
        print(dumps(error_body(problems, **extra)))
        return
    for p in problems:
        where = ", ".join(part for part in (
            p.file, f"line {p.line}" if p.line is not None else f"row {p.row}" if p.row is not None else None, f"column {p.column}" if p.column else None) if part)
        print(f"error {where + ': ' if where else ''}{p.message} ({p.code})", file=sys.stderr)


def fail(problems: list[Problem], as_json: bool, exit_code: int = 1, **extra: Any) -> NoReturn:
    """Report problems and leave with `exit_code`. SystemExit rather than typer.Exit: the root app
    runs with standalone_mode=False, where a typer.Exit from a sub-command is returned, not raised."""
    report(problems, as_json, **extra)
    raise SystemExit(exit_code)
