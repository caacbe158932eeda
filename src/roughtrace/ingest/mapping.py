"""The file's columns matched to a kind's, and the SQL that reads a record's texts through them."""

from __future__ import annotations

from dataclasses import dataclass

from ..domain.kinds import Kind
from ..errors import FileRejected, Problem
from .profile import MappingProfile
from .read import SourceFile
from .rules import q


@dataclass(frozen=True)
class ColumnMap:
    """Which file column (by position) feeds each contract column; the rest are extras."""

    positions: dict[str, int]
    extras: dict[str, int]

    def trimmed_positions(self) -> frozenset[int]:
        """The file columns read with surrounding whitespace removed: those feeding the contract
        (extra columns are kept as written)."""
        return frozenset(self.positions.values())


def map_columns(kind: Kind, source: SourceFile, profile: MappingProfile | None) -> tuple[ColumnMap, list[Problem]]:
    """Match the file's header to the kind's columns (case-insensitive, spaces trimmed, through
    the profile). A missing required column or two headers for one column reject the file."""
    renames = profile.columns if profile else {}
    known = set(kind.column_names)
    positions: dict[str, int] = {}
    extras: dict[str, int] = {}
    problems: list[Problem] = []
    for i, name in enumerate(source.header):
        normal = name.strip().lower()
        target = renames.get(normal, normal)
        if target in known:
            if target in positions:
                problems.append(Problem("duplicate_column", f"two columns, '{source.header[positions[target]]}' and '{name}', both give {target}", file=source.name, column=target))
            positions[target] = i
        else:
            extras[name] = i
    missing = [c.name for c in kind.columns if c.required and c.name not in positions]
    for name in missing:
        problems.append(Problem("missing_column", f"the required column {name} is missing; the file has {', '.join(source.header) or 'no columns'}", file=source.name, column=name))
    if problems:
        raise FileRejected(problems)
    warnings = [Problem("extra_column", f"column '{name}' is not part of {kind.name}; its values are kept with each row", file=source.name, column=name)
                for name in extras]
    return ColumnMap(positions, extras), warnings


def mapped_sql(kind: Kind, columns: ColumnMap, profile: MappingProfile | None, relation: str,
               record_header: list[str] | None = None) -> str:
    """Text `v_<col>` of every contract column (NULL when empty), spellings mapped, from a stream
    whose contract columns come trimmed (`ColumnMap.trimmed_positions`); with `record_header`, also
    the record verbatim (the stream's `r<i>` columns) as a JSON object of the file's own names."""
    selects = ["_row"]
    for column in kind.columns:
        if column.name not in columns.positions:
            selects.append(f"NULL::VARCHAR AS v_{column.name}")
            continue
        text = f"NULLIF(c{columns.positions[column.name]}, '')"
        spellings = (profile.values.get(column.name) if profile else None) or {}
        if spellings:
            cases = " ".join(f"WHEN {q(k)} THEN {q(v)}" for k, v in spellings.items())
            text = f"CASE upper({text}) {cases} ELSE {text} END"
        selects.append(f"{text} AS v_{column.name}")
    if columns.extras:
        pairs = ", ".join(f"{q(name)}, c{i}" for name, i in columns.extras.items())
        selects.append(f"json_object({pairs})::VARCHAR AS extras")
    else:
        selects.append("NULL::VARCHAR AS extras")
    if record_header is not None:
        pairs = ", ".join(f"{q(name)}, r{i}" for i, name in enumerate(record_header))
        selects.append(f"json_object({pairs})::VARCHAR AS record")
    return f"SELECT {', '.join(selects)} FROM {relation}"


__all__ = ["ColumnMap", "map_columns", "mapped_sql"]
