"""One error shape for every interface: problems are data, exceptions carry them.

A `Problem` names where (file, row, column), what (a stable code) and why (a sentence a trade
user can act on). Every exception roughtrace raises for a reason a user can act on derives from
`RoughtraceError` and carries its problems; `problems_from(exc)` is what an interface tells a user
about any exception, and each interface (the CLI now, the HTTP API next) calls it once, at its
boundary, to answer with `error_body()`. An exception outside the tree is a bug: it answers
`internal_error`, never a user's mistake.

    RoughtraceError                     exit 1 unless said
      FileRejected                      an input file cannot be read as its format
      UsageError (exit 2)               the request is wrong
        settings.SettingError           bad_setting: a setting's name or value
        domain.money.AmountError        not an exact amount (its code says why)
        valuation.method.CostModelError bad_option: a cost model parameter
        sim.params.ParameterError       bad_parameter: a simulator parameter
      StoreError                        the store cannot be opened, migrated or written
      NotFound                          what was asked for is not in the store
        ledger.log.LedgerError          an entry, head, batch or row the log does not hold
        valuation.pricer.PricerUnavailable  no_price_index
      domain.disclosure.DisclosureRefused  a report would let a contributor narrow another's value
      CheckFailed                       presented evidence does not check
        ledger.merkle.ProofError        proof_invalid
        ledger.heads.HeadError          head_invalid
        ledger.receipts.ReceiptError    receipt_invalid
      CannotRead, CannotWrite           a file a command was pointed at cannot be read or written
      NotSignedIn                       unauthorized: no token, or one that is unknown, expired or revoked
      NotAllowed                        forbidden: the caller's role may not do this at all
      ledger.keys.LedgerKeyError        the signing key cannot be found, made or read
      cli.AreaUnavailable               an area's commands cannot load
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
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
    """Base of every error the library raises on purpose. `code` is the problem code a bare message
    is given; `exit_code` is the CLI's."""

    code = "error"
    exit_code = 1

    def __init__(self, problems: list[Problem] | Problem | str, code: str | None = None) -> None:
        if isinstance(problems, str):
            problems = [Problem(code or type(self).code, problems)]
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


class CheckFailed(RoughtraceError):
    """Evidence a user presented (a receipt, a signed head, a proof) does not check."""


class CannotRead(RoughtraceError):
    """A file a command was pointed at cannot be opened or read."""

    code = "cannot_read"


class CannotWrite(RoughtraceError):
    """A file a command was asked to write cannot be written (no such folder, no permission, a full disk)."""

    code = "cannot_write"


class NotSignedIn(RoughtraceError):
    """A call to the service carries no token, or one that is unknown, expired or revoked."""

    code = "unauthorized"


class NotAllowed(RoughtraceError):
    """The caller's role may not do this at all (a retailer uploading, a KP authority reading risk).
    An object of a kind the role may see but this caller may not is `NotFound` instead, so that
    whether it exists does not leak."""

    code = "forbidden"


@contextmanager
def writing(path: Path | str) -> Iterator[None]:
    """Turn an OSError met while writing `path` into `CannotWrite` naming the file and the reason."""
    try:
        yield
    except OSError as error:
        raise CannotWrite(Problem("cannot_write", f"cannot write {path}: {error.strerror or error}",
                                  file=str(path))) from None


def missing_module(error: ImportError) -> str:
    """What a user reads when a module cannot be imported, and what to do about it."""
    missing = error.name or ""
    if missing and not missing.startswith("roughtrace"):
        return (f"it needs the Python package `{missing.split('.')[0]}`, which is not installed here. "
                "Install roughtrace with its dependencies (`pip install roughtrace`).")
    return f"{error}. Reinstall roughtrace (`pip install roughtrace`)."


def internal_detail(exc: BaseException) -> str:
    """What an internal error's message says of its cause: the exception's name and the first line
    of its text, never a traceback or a path of roughtrace's own code (an exception's text may
    carry either, e.g. one re-raised from a worker)."""
    text = str(exc).strip().splitlines()[0].strip() if str(exc).strip() else ""
    code_folder = str(Path(__file__).resolve().parent)
    if not text or "Traceback" in text or 'File "' in text or code_folder in text or ".py" in text:
        return type(exc).__name__
    return f"{type(exc).__name__}: {text[:300]}"


OUT_OF_MEMORY_TEXT = ("failed to pin block", "Out of Memory Error")
"""How DuckDB's message reads when it gives up for want of memory inside an exception of another
type (a failed commit is a TransactionException; an Arrow stream's consumer may wrap it)."""


def out_of_memory(exc: BaseException) -> bool:
    """Whether the store's engine gave up for want of memory: DuckDB's own exception type (told by
    name, so this module imports no engine), or its message inside another."""
    if any(kind.__name__ == "OutOfMemoryException" for kind in type(exc).__mro__):
        return True
    text = str(exc)
    return any(part in text for part in OUT_OF_MEMORY_TEXT)


def problems_from(exc: BaseException) -> list[Problem]:
    """What an interface tells a user about `exc`: a library error's own problems; for a module
    that cannot be imported, which package to install; for an engine short of memory, the setting
    to raise; for anything else (a bug, a broken engine) one `internal_error` naming the
    exception's type, never a traceback."""
    if isinstance(exc, RoughtraceError):
        return list(exc.problems)
    if isinstance(exc, ImportError):
        return [Problem("missing_dependency", f"roughtrace cannot run this command: {missing_module(exc)}")]
    if out_of_memory(exc):
        return [Problem("out_of_memory", "the step needed more memory than the store's engine may use (the setting "
                                         "import_memory_limit); nothing was changed by it. Raise it, e.g. --set "
                                         "import_memory_limit=4GB: a store of well over 10M outcome rows needs several GB.")]
    return [Problem("internal_error", f"roughtrace hit an internal error ({internal_detail(exc)}). "
                                      "Nothing was changed by the failed step. Set ROUGHTRACE_DEBUG=1 to see the details.")]


def error_body(problems: list[Problem], **extra: Any) -> dict[str, Any]:
    """The one error shape: {"ok": false, "errors": [{"code", "message", "source": {...}}]}."""
    return {"ok": False, **extra, "errors": [p.as_dict() for p in problems]}
