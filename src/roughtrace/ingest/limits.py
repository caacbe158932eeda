"""Bounds on the work one input file may ask for, so a hostile or broken file is refused before
memory grows: the size of a record, a header, a mapping profile, a workbook's expansion, a JSON
record's nesting and the number of records. Each bound is a setting (area `import`), as is how long a reader waits for a
store an import is writing to (area `store`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..settings import Setting, at_least

MiB = 1 << 20


@dataclass(frozen=True)
class ReadLimits:
    """The bounds a reader enforces, in bytes or counts."""

    record_bytes: int = 4 * MiB
    """Largest record (a CSV line with its quoted line ends, a JSON object, a workbook row)."""
    header_bytes: int = 64 << 10
    """Largest header line."""
    columns: int = 2000
    """Most columns a header may name."""
    rows: int = 100_000_000
    """Most records one file may hold."""
    unreadable: int = 10_000
    """Most records that cannot be read as records (a field too many, a line not JSON) before the
    file is taken for something other than a table of its kind."""
    profile_bytes: int = 1 * MiB
    """Largest mapping profile."""
    xlsx_expanded_bytes: int = 2048 * MiB
    """Most bytes a workbook's parts may expand to."""
    xlsx_shared_strings_bytes: int = 128 * MiB
    """Largest shared-strings part (read whole by the workbook reader)."""
    xlsx_ratio: int = 100
    """Most a workbook part may expand over its compressed size."""
    json_depth: int = 32
    """Most arrays and objects a JSON record may nest one inside another (a certificate with its
    lines is 3 deep)."""

    @classmethod
    def from_settings(cls, settings: Any) -> ReadLimits:
        """The limits a command's settings give."""
        return cls(
            record_bytes=int(settings["max_record_bytes"]), header_bytes=int(settings["max_header_bytes"]),
            columns=int(settings["max_columns"]), rows=int(settings["max_rows"]),
            unreadable=int(settings["max_unreadable_records"]),
            profile_bytes=int(settings["max_profile_bytes"]), xlsx_expanded_bytes=int(settings["max_xlsx_expanded_bytes"]),
            xlsx_shared_strings_bytes=int(settings["max_xlsx_shared_strings_bytes"]),
            xlsx_ratio=int(settings["max_xlsx_expansion_ratio"]), json_depth=int(settings["max_json_depth"]))


_DEFAULT = ReadLimits()

SETTINGS: tuple[Setting, ...] = (
    Setting("max_record_bytes", _DEFAULT.record_bytes, "Largest record a file may hold, in bytes (a CSV or JSON Lines line, "
            "a JSON object, a workbook row); a larger one refuses the file.", "import"),
    Setting("max_header_bytes", _DEFAULT.header_bytes, "Largest header line, in bytes; a longer one refuses the file.", "import"),
    Setting("max_columns", _DEFAULT.columns, "Most columns a file's header may name.", "import"),
    Setting("max_rows", _DEFAULT.rows, "Most records one file may hold (records read, good and bad).", "import"),
    Setting("max_unreadable_records", _DEFAULT.unreadable, "Most records of a file that cannot be read as records "
            "(a field too many, a line that is not JSON) before the whole file is refused.", "import"),
    Setting("max_profile_bytes", _DEFAULT.profile_bytes, "Largest mapping profile, in bytes.", "import"),
    Setting("max_xlsx_expanded_bytes", _DEFAULT.xlsx_expanded_bytes, "Most bytes a workbook's parts may expand to "
            "when unzipped.", "import"),
    Setting("max_xlsx_shared_strings_bytes", _DEFAULT.xlsx_shared_strings_bytes, "Largest shared-strings part of a "
            "workbook, unzipped, in bytes (it is read whole).", "import"),
    Setting("store_busy_wait", 10, "Seconds a command that only reads waits while an import writes to a DuckDB store, "
            "before it says the store is busy.", "store"),
    Setting("max_xlsx_expansion_ratio", _DEFAULT.xlsx_ratio, "Most a workbook part may expand over its zipped size "
            "(a larger ratio is a zip bomb, not a table).", "import"),
    Setting("max_json_depth", _DEFAULT.json_depth, "Most arrays and objects a JSON or JSON Lines record may nest one "
            "inside another (a certificate with its lines is 3 deep); a deeper record refuses the file.", "import",
            at_least(2)),
)
