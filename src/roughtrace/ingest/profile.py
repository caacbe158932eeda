"""Mapping profiles: a small TOML file that maps a user's own column names and spellings onto
the interchange contract, so an export from an existing tracking system loads unedited.

    [profile]
    name = "Acme tracker export"
    encoding = "latin-1"      # optional: the file's encoding when not UTF-8/UTF-16
    delimiter = ";"           # optional: CSV delimiter (sniffed otherwise)
    sheet = "Outcomes"        # optional: the XLSX sheet (the first otherwise)

    [columns]                 # file column = contract column
    "Report No" = "stone_id"
    Wt = "carat"

    [values.cut]              # spelling in the file = contract spelling
    Excellent = "EX"
    [values.shape]
    RBC = "round"
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..domain.kinds import ENUM, Kind
from ..errors import Problem, UsageError


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

    def check_against(self, kind: Kind) -> None:
        """Every mapping must name a column of the kind being imported."""
        problems = []
        known = set(kind.column_names)
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


def load_profile(path: Path) -> MappingProfile:
    """Read a mapping profile, answering a malformed one with what is wrong and where."""
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise UsageError(Problem("profile_not_found", f"there is no mapping profile {path}", file=str(path))) from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(Problem("bad_profile", f"the mapping profile is not valid TOML: {exc}", file=path.name)) from None
    unknown = set(data) - {"profile", "columns", "values"}
    head = data.get("profile", {})
    columns = data.get("columns", {})
    values = data.get("values", {})
    problems = [Problem("bad_profile", f"unknown section [{name}]; a profile has [profile], [columns] and [values.COLUMN]", file=path.name) for name in sorted(unknown)]
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
    )
