"""Mapping profiles: a small TOML file that maps a user's own column names and spellings onto
the interchange contract, so an export from an existing tracking system loads unedited.

    [profile]
    name = "Acme tracker export"
    encoding = "latin-1"      # optional: the file's encoding when not UTF-8/UTF-16
    delimiter = ";"           # optional: CSV delimiter (sniffed otherwise)
    sheet = "Outcomes"        # optional: the XLSX sheet (the first otherwise)
    date_format = "%d/%m/%Y"  # optional: how every date column is written (YYYY-MM-DD otherwise)
    decimal = ","             # optional: the decimal mark of amounts ('.' otherwise)
    thousands = "."           # optional: the mark between thousands (none otherwise)

    [columns]                 # file column = contract column
    "Report No" = "stone_id"
    Wt = "carat"

    [dates]                   # optional: one date column written its own way
    polished_date = "%d.%m.%Y"

    [values.cut]              # spelling in the file = contract spelling
    Excellent = "EX"
    [values.shape]
    RBC = "round"
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from ..domain.kinds import DATE, ENUM, Kind
from ..errors import Problem, UsageError
from .rules import Notation

DECIMAL_MARKS = (".", ",")
THOUSANDS_MARKS = (".", ",", " ", "'", "\u00a0", "\u202f")
"""Marks between thousands a profile may name: point, comma, space, apostrophe (Swiss), no-break
and narrow no-break space."""


@dataclass(frozen=True)
class MappingProfile:
    name: str = ""
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    """File column name (matched case-insensitively, spaces trimmed) -> contract column."""
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    """Contract column -> {spelling in the file (case-insensitive) -> contract spelling}."""
    sha256: str | None = None
    date_format: str | None = None
    """strptime format of every date column, e.g. `%d/%m/%Y`."""
    dates: dict[str, str] = field(default_factory=dict)
    """Contract date column -> its own format (over `date_format`)."""
    decimal: str = "."
    thousands: str = ""

    def notation(self, kind: Kind) -> Notation:
        """How this profile's files write the numbers and dates of `kind`."""
        formats = {c.name: self.dates.get(c.name, self.date_format) for c in kind.columns if c.type == DATE}
        return Notation(self.decimal, self.thousands, {name: f for name, f in formats.items() if f})

    def check_against(self, kind: Kind) -> None:
        """Every mapping must name a column of the kind being imported."""
        problems = []
        known = set(kind.column_names)
        for target in self.dates:
            if target not in known or kind.column(target).type != DATE:
                problems.append(Problem("bad_profile", f"the profile gives a date format for {target!r}, which is not a date column of {kind.name}", file=self.name or None))
        for source, target in self.columns.items():
            if target not in known:
                problems.append(Problem("bad_profile", f"the profile maps {source!r} to {target!r}, which is not a column of {kind.name}", file=self.name or None))
        for target in self.values:
            if target not in known:
                problems.append(Problem("bad_profile", f"the profile gives spellings for {target!r}, which is not a column of {kind.name}", file=self.name or None))
            elif kind.column(target).type != ENUM:
                problems.append(Problem("bad_profile", f"the profile gives spellings for {target!r}, which is not a list of fixed values", file=self.name or None))
        if problems:
            raise UsageError(problems)


PROFILE_BYTES = 1 << 20
"""The default most bytes a mapping profile may hold (setting max_profile_bytes)."""


def load_profile(path: Path, limit: int = PROFILE_BYTES) -> MappingProfile:
    """Read a mapping profile, answering a malformed one with what is wrong and where. At most
    `limit` bytes are read: a profile is a page of text, and a device or a huge file is refused
    before it is held in memory."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(limit + 1)
        if len(raw) > limit:
            raise UsageError(Problem("profile_too_large", f"the mapping profile is larger than {limit:,} bytes (setting "
                                     "max_profile_bytes): is it really a profile?", file=str(path)))
        data = tomllib.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise UsageError(Problem("profile_not_found", f"there is no mapping profile {path}", file=str(path))) from None
    except IsADirectoryError:
        raise UsageError(Problem("profile_not_found", f"{path} is a folder; --profile takes a TOML mapping profile file",
                                 file=str(path))) from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(Problem("bad_profile", f"the mapping profile is not valid TOML: {exc}", file=path.name)) from None
    unknown = set(data) - {"profile", "columns", "values", "dates"}
    head = data.get("profile", {})
    columns = data.get("columns", {})
    values = data.get("values", {})
    dates = data.get("dates", {})
    problems = [Problem("bad_profile", f"unknown section [{name}]; a profile has [profile], [columns], [dates] and [values.COLUMN]", file=path.name) for name in sorted(unknown)]
    problems += _notation_problems(head, dates, path.name)
    if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
        problems.append(Problem("bad_profile", "[columns] maps file column names to contract column names, both text", file=path.name))
    if not isinstance(values, dict) or not all(isinstance(m, dict) and all(isinstance(v, str) for v in m.values()) for m in values.values()):
        problems.append(Problem("bad_profile", "[values.COLUMN] maps spellings to contract spellings, both text", file=path.name))
    if problems:
        raise UsageError(problems)
    return MappingProfile(
        name=str(head.get("name", path.stem)),
        encoding=head.get("encoding"),
        delimiter=head.get("delimiter"),
        sheet=head.get("sheet"),
        columns={str(k).strip().lower(): v.strip().lower() for k, v in columns.items()},
        values={col.strip().lower(): {str(k).strip().upper(): v.strip() for k, v in m.items()} for col, m in values.items()},
        sha256=hashlib.sha256(raw).hexdigest(),
        date_format=head.get("date_format"),
        dates={str(k).strip().lower(): v for k, v in dates.items()},
        decimal=head.get("decimal", "."),
        thousands=head.get("thousands", ""),
    )


def _notation_problems(head: dict[str, object], dates: object, file: str) -> list[Problem]:
    """What is wrong with a profile's date formats and number marks."""
    problems: list[Problem] = []
    if not isinstance(dates, dict):
        return [Problem("bad_profile", "[dates] maps date columns to formats such as \"%d/%m/%Y\"", file=file)]
    formats = [("date_format", head["date_format"])] if "date_format" in head else []
    formats += [(f"[dates] {column}", written) for column, written in dates.items()]
    for where, written in formats:
        if not isinstance(written, str) or not _reads_dates(written):
            problems.append(Problem("bad_profile", f"{where} = {written!r} is not a date format with a year, a month and a "
                                    "day, such as \"%d/%m/%Y\" or \"%d.%m.%y\"", file=file))
    decimal, thousands = head.get("decimal", "."), head.get("thousands", "")
    if decimal not in DECIMAL_MARKS:
        problems.append(Problem("bad_profile", f"decimal = {decimal!r}: the decimal mark is \".\" or \",\"", file=file))
    if thousands not in THOUSANDS_MARKS + ("",):
        problems.append(Problem("bad_profile", f"thousands = {thousands!r}: the mark between thousands is one of "
                                f"{', '.join(repr(m) for m in THOUSANDS_MARKS)}", file=file))
    elif thousands and thousands == decimal:
        problems.append(Problem("bad_profile", f"thousands and decimal are both {decimal!r}: a number could be read two ways", file=file))
    return problems


def _reads_dates(written: str) -> bool:
    """Whether `written` writes a date and reads it back whole: year, month and day."""
    day = date(2024, 12, 10)
    try:
        return datetime.strptime(day.strftime(written), written).date() == day
    except ValueError:
        return False
