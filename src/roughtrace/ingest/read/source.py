"""Readers: every accepted file format as one stream of Arrow record batches.

Whatever the format, a reader yields batches whose columns are the file's columns by position
(`c0`, `c1`, ... all text, exactly as written) plus `_row`, the 1-based record number (header
excluded, blank lines not counted). Records that cannot be read as a record (a field count other
than the header's, a line of JSON Lines that is not JSON) are not in the stream; the reader lists
them in `ragged` with their text, for the quarantine. `line_of` turns record numbers into the
lines a user finds them on. A file that cannot be read as its format raises `FileRejected`
naming where and why.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import FileRejected, Problem
from ..limits import ReadLimits

CSV_BLOCK_BYTES = 4 << 20
"""Largest single CSV record the reader accepts (a cell larger than this rejects the file). Also
pyarrow's read size: its CSV stream reads 32 blocks ahead, so 4 MB blocks hold 128 MB of the file,
a small part of an import's peak memory (docs/performance.md)."""
BATCH_ROWS = 122_880
ROW = "_row"

ProgressFn = Callable[[int, int | None], None]
"""Called with (bytes or records done, total or None) as a file is read."""


@dataclass
class Ragged:
    """A record that cannot be read as one: by default, its field count differs from the header's."""

    row: int
    text: str
    fields: int
    expected: int
    code: str = "field_count"
    message: str | None = None

    def problem(self) -> str:
        """The sentence the quarantine keeps for this record."""
        return self.message or f"this record has {self.fields} fields but the header has {self.expected}"


LinesOf = Callable[[np.ndarray], np.ndarray]
"""Record numbers (int64) to the lines a user finds them on, same shape."""


def lines_after_blanks(rows: np.ndarray, before_first: int, blank_after: np.ndarray) -> np.ndarray:
    """Lines of records `rows`, given the lines taken before record 1 when no line is blank
    (1 for a header) and, sorted, the number of records before each blank line."""
    return rows + before_first + np.searchsorted(blank_after, rows, side="left")


@dataclass
class SourceFile:
    """A file opened for import: its header and a way to stream its records (more than once)."""

    path: Path
    format: str
    header: list[str]
    scan: FileScan
    stream: Callable[[], Iterator[pa.RecordBatch]]
    ragged: list[Ragged] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def sha256(self) -> str:
        """The file's SHA-256, hex: the batch's content identity."""
        return self.scan.sha256

    def schema(self, verbatim: bool = False) -> pa.Schema:
        fields = [pa.field(f"c{i}", pa.string()) for i in range(len(self.header))] + [pa.field(ROW, pa.int64())]
        if verbatim:
            fields += [pa.field(f"r{i}", pa.string()) for i in range(len(self.header))]
        return pa.schema(fields)

    failure: FileRejected | None = None
    """Set when the stream found the file unreadable part-way: the engine consuming the stream
    wraps the exception in its own, so the importer re-raises this one."""
    line_of: LinesOf | None = None
    """The lines records are on (a spreadsheet's row for CSV and XLSX, the line of JSON Lines);
    None for a JSON array or Parquet. Asked for the rejected records only."""

    limits: ReadLimits = field(default_factory=ReadLimits)
    engine: duckdb.DuckDBPyConnection | None = None
    """A DuckDB connection of the source's own, in memory, that reads the file (JSON, Parquet); the
    source closes it (`close`)."""

    def close(self) -> None:
        """Let go of what reading the file holds: its own engine, if it has one."""
        if self.engine is not None:
            self.engine.close()
            self.engine = None

    def limits_check(self, batch: pa.RecordBatch) -> None:
        """Refuse the file once its records (read and unreadable) pass `limits.rows`: checked per
        batch, so a file of millions of records answers as soon as it is over."""
        if batch.num_rows and int(batch.column(ROW)[batch.num_rows - 1].as_py()) + len(self.ragged) > self.limits.rows:
            raise FileRejected(too_many_records(self.path, self.limits))
        check_unreadable(self.path, self.ragged, self.limits)

    def reader(self, trim: frozenset[int] = frozenset(), verbatim: bool = False) -> pa.RecordBatchReader:
        """The records as one stream. Columns at the positions in `trim` come without surrounding
        whitespace (Unicode White_Space: spaces, tabs, line ends, no-break spaces), trimmed here on
        whole columns, cheaper than in the engine (docs/performance.md); with `verbatim`, every column also
        comes exactly as written, as `r0`, `r1`, ..."""
        schema = self.schema(verbatim)

        def guarded() -> Iterator[pa.RecordBatch]:
            try:
                for batch in self.stream():
                    self.limits_check(batch)
                    yield _trimmed(batch, trim, verbatim, schema) if trim or verbatim else batch
            except FileRejected as exc:
                self.failure = exc
                raise

        return pa.RecordBatchReader.from_batches(schema, guarded())


def _trimmed(batch: pa.RecordBatch, trim: frozenset[int], verbatim: bool, schema: pa.Schema) -> pa.RecordBatch:
    written = batch.columns[:-1]
    columns = [pc.utf8_trim_whitespace(c) if i in trim and not _all_plain(c) else c for i, c in enumerate(written)]
    return pa.RecordBatch.from_arrays(columns + [batch.column(ROW)] + (list(written) if verbatim else []), schema=schema)


def _all_plain(column: pa.Array) -> bool:
    """Whether a text column holds no space, control character or non-ASCII byte at all, so no
    value of it can start or end with whitespace: one pass over its bytes, twenty times cheaper
    than trimming (which copies every value). Clean files skip the trim; others get it exactly."""
    if not pa.types.is_string(column.type) or len(column) == 0:
        return False
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int32, count=len(column) + 1, offset=column.offset * 4)
    data = column.buffers()[2]
    if data is None:
        return True
    first, stop = int(offsets[0]), int(offsets[-1])
    # as signed bytes, everything above 0x7f is negative: one comparison finds controls, spaces and non-ASCII
    return not bool((np.frombuffer(data, dtype=np.int8, count=stop - first, offset=first) <= 0x20).any())


def too_many_records(path: Path, limits: ReadLimits) -> Problem:
    """The problem of a file holding more records than `limits.rows`."""
    return Problem("too_many_records", f"the file holds more than {limits.rows:,} records, the most one import takes "
                   "(setting max_rows): split it, or raise the setting", file=path.name)


def check_unreadable(path: Path, ragged: list[Ragged], limits: ReadLimits) -> None:
    """Refuse the file once more than `limits.unreadable` of its records cannot be read as records."""
    if len(ragged) > limits.unreadable:
        raise FileRejected(Problem(
            "too_many_unreadable", f"more than {limits.unreadable:,} records of the file cannot be read as records (the first: "
            f"record {ragged[0].row}, {ragged[0].problem()}): is it the right file? (setting max_unreadable_records)",
            file=path.name, row=ragged[0].row))



class FileScan:
    """One pass over the file's bytes, on a thread of its own while the records are read (hashlib
    lets go of the interpreter on large blocks): the SHA-256 (the batch's content identity), the
    number of quote characters, whether the file ends with a line end and whether any line is
    empty. Asking for a figure waits for the pass."""

    def __init__(self, path: Path) -> None:
        self._name = path.name
        self._figures: tuple[str, int, bool, bool] | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(path,), name="roughtrace-file-scan", daemon=True)
        self._thread.start()

    def _run(self, path: Path) -> None:
        try:
            digest = hashlib.sha256()
            quotes = 0
            last = b""
            blank = False
            with path.open("rb") as handle:
                while block := handle.read(8 << 20):
                    digest.update(block)
                    quotes += block.count(b'"')
                    if not blank:
                        seam = last[-2:] + block[:2]
                        blank = any(b"\n" + end in text for end in (b"\n", b"\r\n") for text in (block, seam))
                    last = block[-2:]
            self._figures = (digest.hexdigest(), quotes, last[-1:] in (b"\n", b"\r"), blank)
        except BaseException as exc:  # noqa: BLE001 - handed to whoever asks for a figure
            self._failure = exc

    def _result(self) -> tuple[str, int, bool, bool]:
        self._thread.join()
        if self._failure is not None:
            raise FileRejected(Problem("unreadable_file", f"the file could not be read to its end: {self._failure}",
                                       file=self._name))
        assert self._figures is not None
        return self._figures

    @property
    def sha256(self) -> str:
        return self._result()[0]

    @property
    def quotes(self) -> int:
        return self._result()[1]

    @property
    def ends_with_newline(self) -> bool:
        return self._result()[2]

    def without_quotes(self) -> bool:
        """Whether the pass is over and found no quote character (never waits)."""
        return not self._thread.is_alive() and self._figures is not None and self._figures[1] == 0

    @property
    def has_blank_lines(self) -> bool:
        """Whether some line of the file is empty (perhaps inside a quoted value)."""
        return self._result()[3]


def _record_too_large(path: Path, row: int | None, limits: ReadLimits) -> Problem:
    return Problem("record_too_large", f"record {row or '?'} is larger than {_size(limits.record_bytes)}, the most a record "
                   "may be (setting max_record_bytes): the file is not a table roughtrace can read", file=path.name, row=row)


def _size(n: int) -> str:
    return f"{n >> 20} MB" if n >= 1 << 20 and n % (1 << 20) == 0 else f"{n:,} bytes"



def _engine_error(path: Path, fmt: str, exc: Exception) -> FileRejected:
    text = str(exc).split("\n")[0]
    for prefix in ("Invalid Input Error: ", "IO Error: ", "Conversion Error: "):
        text = text.replace(prefix, "")
    what = {"json": "a JSON array of objects", "jsonl": "JSON Lines (one object a line)", "parquet": "Parquet"}[fmt]
    return FileRejected(Problem(f"unreadable_{fmt}", f"the file cannot be read as {what}: {text}", file=path.name))


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"



READER_ENGINE_CONFIG: dict[str, Any] = {"autoinstall_known_extensions": False, "memory_limit": "512MB", "threads": 2,
                        "preserve_insertion_order": True}
"""A reader's own engine: bounded, never downloading an extension (json and parquet are built in)."""


def reader_engine() -> duckdb.DuckDBPyConnection:
    """A plain DuckDB connection in memory for reading one file, belonging to its source."""
    con = duckdb.connect(":memory:", config=dict(READER_ENGINE_CONFIG))
    con.execute("SET enable_progress_bar = false")
    return con


def _reject_huge_record(path: Path, batch: pa.RecordBatch, limit: int = CSV_BLOCK_BYTES) -> None:
    """A record larger than `limit` bytes rejects the file (pyarrow would accept it whole)."""
    sizes = None
    for column in batch.columns[:-1]:
        length = pc.fill_null(pc.binary_length(column), 0)
        sizes = length if sizes is None else pc.add(sizes, length)
    if sizes is None or len(sizes) == 0 or pc.max(sizes).as_py() <= limit:
        return
    row = batch.column(ROW)[pc.index(pc.greater(sizes, limit), True).as_py()].as_py()
    raise FileRejected(_record_too_large(path, row, ReadLimits(record_bytes=limit)))



def close_source(source: SourceFile) -> None:
    """Release what reading a source holds (a JSON or Parquet source's own engine)."""
    source.close()
