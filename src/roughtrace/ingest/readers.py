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

import codecs
import csv
import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ..errors import FileRejected, Problem, UsageError
from ..settings import one_character, text_encoding
from ..store.duckdb import engine_connection
from .limits import ReadLimits

FORMATS = ("csv", "xlsx", "json", "jsonl", "parquet")
_EXTENSIONS = {
    ".csv": "csv", ".tsv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx",
    ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet",
}
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


# -- CSV ---------------------------------------------------------------------------------------
def _sniff_encoding(head: bytes, declared: str | None, name: str) -> str:
    if declared:
        return declared
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head:
        raise FileRejected(Problem(
            "not_text", "the file holds binary data, not text: is it really a CSV file? (UTF-16 needs a byte-order mark)", file=name))
    return "utf-8"


def _header(text: str, delimiter: str | None) -> tuple[list[str], str]:
    lines = [line for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else ""
    if delimiter is None:
        counts = {d: first.count(d) for d in (",", ";", "\t")}
        delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    names = next(csv.reader([first], delimiter=delimiter), [])
    return names, delimiter


def _line_ends_outside_quotes(path: Path) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """The file read in blocks: for each, its file offset, its bytes and the positions in it of the
    line ends outside quoted values (a line end inside quotes ends no record). No more than a block
    is held, however long a record."""
    quotes_odd = False
    offset = 0
    with path.open("rb") as handle:
        while block := handle.read(8 << 20):
            data = np.frombuffer(block, dtype=np.uint8)
            ends = np.flatnonzero(data == 10)
            quotes = np.flatnonzero(data == 34)
            if len(quotes):
                inside = (np.searchsorted(quotes, ends) + quotes_odd) % 2 == 1
                ends = ends[~inside]
                quotes_odd = (quotes_odd + len(quotes)) % 2 == 1
            yield offset, data, ends
            offset += len(block)


def _locate_huge_record(path: Path, limit: int) -> int | None:
    """The number of the first data record larger than `limit` bytes, found by reading the file
    again in blocks, with numpy. Asked only when the fast reader has given up."""
    records = 0  # records ended so far, the header included (empty lines are not records)
    start = 0  # the file offset where the current record begins
    for offset, data, ends in _line_ends_outside_quotes(path):
        if len(ends):
            starts = np.r_[start, ends[:-1] + offset + 1]
            lengths = ends + offset - starts
            filled = lengths > 1
            over = np.flatnonzero(lengths > limit)
            if len(over):
                return max(records + int(filled[:over[0]].sum()), 1)
            records += int(filled.sum())
            start = int(ends[-1]) + offset + 1
        if offset + len(data) - start > limit:
            return max(records, 1)
    return None


def csv_blank_lines(path: Path) -> np.ndarray:
    """For each empty line of a CSV file (one holding nothing, or a lone CR), the number of data
    records before it (-1 before the header), sorted. A line end inside a quoted value ends no
    line: a spreadsheet shows such a record on one row. Read in blocks, with numpy; asked only of
    files that have an empty line and a record to place."""
    found: list[np.ndarray] = []
    records = 0  # lines read so far that are not empty, the header included
    previous_end = -1  # the file offset of the last line end outside quotes
    last_byte = 0
    for offset, data, ends in _line_ends_outside_quotes(path):
        if len(ends):
            starts = np.r_[previous_end, ends[:-1] + offset] + 1  # file offsets where each line begins
            lengths = ends + offset - starts
            before_end = np.where(ends > 0, data[np.maximum(ends - 1, 0)], last_byte)
            empty = (lengths == 0) | ((lengths == 1) & (before_end == 13))
            filled_before = records + np.cumsum(~empty) - (~empty)
            found.append(filled_before[empty] - 1)
            records += int((~empty).sum())
            previous_end = int(ends[-1]) + offset
        last_byte = int(data[-1])
    return np.concatenate(found) if found else np.array([], dtype=np.int64)


def _locate_bad_bytes(path: Path, encoding: str) -> str:
    decoder = codecs.getincrementaldecoder(encoding)()
    line, offset = 1, 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                at = exc.start
                line += block[:at].count(b"\n")
                return f"line {line} (byte {offset + at + 1})"
            line += block.count(b"\n")
            offset += len(block)
    return "the end of the file"


def _open_csv(path: Path, scan: FileScan, encoding: str | None, delimiter: str | None,
              progress: ProgressFn | None, size: int, limits: ReadLimits) -> SourceFile:
    with path.open("rb") as handle:
        head = handle.read(max(1 << 16, limits.header_bytes + 1))
    encoding = _sniff_encoding(head, encoding, path.name)
    try:
        sample = head.decode(encoding, errors="strict" if len(head) < (1 << 16) else "ignore")
    except UnicodeDecodeError:
        raise FileRejected(Problem(
            "bad_encoding", f"the file is not valid {encoding.upper()} at {_locate_bad_bytes(path, encoding)}: "
            "save it as UTF-8, or declare its encoding with --encoding or in the mapping profile", file=path.name)) from None
    _check_header_size(path, sample.lstrip("\ufeff"), len(head) < size, limits)
    names, delimiter = _header(sample.lstrip("\ufeff"), delimiter)
    if not names:
        raise FileRejected(Problem("no_header", "the file has no header row", file=path.name))
    names[0] = names[0].lstrip("\ufeff")
    source = SourceFile(path, "csv", names, scan, stream=lambda: iter(()))
    leading = sample.lstrip("\ufeff").splitlines()
    header_line = next((i for i, line in enumerate(leading, 1) if line.strip()), 1)

    blanks: list[np.ndarray] = []

    def lines_of(rows: np.ndarray) -> np.ndarray:
        if not scan.has_blank_lines or encoding.lower().replace("_", "-").startswith("utf-16"):
            return rows + header_line
        if not blanks:
            try:
                blanks.append(csv_blank_lines(path))
            except OSError:  # gone since it was read: the lines as if no line were blank
                blanks.append(np.array([], dtype=np.int64))
        return lines_after_blanks(rows, 1, blanks[0])

    source.line_of = lines_of
    positional = [f"c{i}" for i in range(len(names))]
    streams = [0]

    def stream() -> Iterator[pa.RecordBatch]:
        source.ragged.clear()
        streams[0] += 1
        reporting = progress if streams[0] == 1 else None  # a second pass (for the rejected records) is no longer reading
        skipped: list[int] = []

        def on_invalid(row: pacsv.InvalidRow) -> str:
            number = (row.number or 0) - 1  # pyarrow counts the header as row 1
            skipped.append(number)
            source.ragged.append(Ragged(number, row.text, row.actual_columns, row.expected_columns))
            return "skip"

        handle = pa.OSFile(str(path), "rb")
        try:
            reader = pacsv.open_csv(
                handle,
                read_options=pacsv.ReadOptions(column_names=positional, block_size=max(limits.record_bytes, 1 << 16),
                                               encoding=encoding, use_threads=False),
                parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid),
                convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in positional},
                                                     strings_can_be_null=False, quoted_strings_can_be_null=False),
            )
            valid_before = 0
            first = True
            last_batch = None
            for batch in reader:
                if first:
                    batch = batch.slice(1)  # the header row
                    first = False
                n = batch.num_rows
                check_unreadable(path, source.ragged, limits)
                if n == 0:
                    continue
                rows = _record_numbers(valid_before, n, skipped)
                valid_before += n
                out = pa.RecordBatch.from_arrays(list(batch.columns) + [pa.array(rows, pa.int64())], names=positional + [ROW])
                _reject_huge_record(path, out, limits.record_bytes)
                if last_batch is not None:
                    yield last_batch if scan.without_quotes() else _set_aside_overrun(last_batch, delimiter, source.ragged)
                last_batch = out
                if reporting:
                    reporting(min(handle.tell(), size), size)
            odd_quotes = scan.quotes % 2 == 1
            if odd_quotes:
                _reject_unterminated_quote_in_ragged(path, last_batch, source.ragged)
            if last_batch is not None:
                if odd_quotes:
                    _reject_unterminated_quote(path, last_batch, scan.ends_with_newline)
                yield last_batch if scan.without_quotes() else _set_aside_overrun(last_batch, delimiter, source.ragged)
        except pa.ArrowInvalid as exc:
            text = str(exc)
            if "UTF8" in text or "UTF-8" in text:
                raise FileRejected(Problem(
                    "bad_encoding", f"the file is not valid {encoding.upper()} at {_locate_bad_bytes(path, encoding)}: save it as "
                    "UTF-8, or declare its encoding with --encoding or in the mapping profile", file=path.name)) from None
            if "straddle" in text:
                row = _locate_huge_record(path, limits.record_bytes)
                raise FileRejected(_record_too_large(path, row, limits)) from None
            raise FileRejected(Problem("unreadable_csv", f"the file cannot be read as CSV: {text.splitlines()[0]}", file=path.name)) from None
        finally:
            handle.close()

    source.stream = stream
    return source


def _check_header_size(path: Path, sample: str, more: bool, limits: ReadLimits) -> None:
    """Refuse a header line longer than `limits.header_bytes` (never cut it, which would leave its
    tail to be read as a record). `more`: the file goes on after the sample."""
    text = sample.lstrip("\r\n \t")
    ends = [at for at in (text.find("\n"), text.find("\r")) if at >= 0]
    line = text[:min(ends)] if ends else text
    if (not ends and more) or len(line.encode("utf-8", errors="replace")) > limits.header_bytes:
        raise FileRejected(Problem("header_too_large", f"the header line is longer than {limits.header_bytes:,} bytes, the "
                                   "most a header may be (setting max_header_bytes): is the first line really a header?",
                                   file=path.name, line=1))


def _record_numbers(valid_before: int, n: int, skipped: list[int]) -> np.ndarray:
    """Record numbers of the next `n` well-formed records, given the numbers of the ragged
    records skipped so far: the k-th well-formed record is the k-th number not skipped."""
    k = np.arange(valid_before + 1, valid_before + n + 1, dtype=np.int64)
    if not skipped:
        return k
    s = np.sort(np.asarray(skipped, dtype=np.int64))
    well_formed_before_skip = s - np.arange(1, len(s) + 1)
    return k + np.searchsorted(well_formed_before_skip, k, side="left")


def _set_aside_overrun(batch: pa.RecordBatch, delimiter: str, ragged: list[Ragged]) -> pa.RecordBatch:
    """The batch without the records a quote left open has run over into the lines after it: a
    value holding a line break after which a whole line has as many delimiters as a record (an
    address over two lines has none). Such a record holds other records' text, so it goes to the
    quarantine (`ragged`, code `quote_overrun`) instead of loading a mangled value; the records
    after it load. Line breaks are looked for column by column, in Arrow; only the few values
    holding one are read in Python."""
    width = batch.num_columns - 1
    overrun = np.zeros(batch.num_rows, dtype=bool)
    for column in batch.columns[:-1]:
        if not _has_line_break(column):
            continue
        breaks = pc.match_substring(column, "\n")
        for i in np.flatnonzero(breaks.to_numpy(zero_copy_only=False)):
            lines = (column[int(i)].as_py() or "").split("\n")[1:]
            if any(line.count(delimiter) >= width - 1 for line in lines):
                overrun[i] = True
    if not overrun.any():
        return batch
    rows = batch.column(ROW)
    for i in np.flatnonzero(overrun):
        values = [batch.column(c)[int(i)].as_py() or "" for c in range(width)]
        row = rows[int(i)].as_py()
        ragged.append(Ragged(row, delimiter.join(values), width, width, "quote_overrun",
                             "a quoted value in this record is never closed where it should be, so the lines after it were "
                             "read into it; correct the quotes and send this record and the ones it swallowed again"))
    return batch.filter(pa.array(~overrun))


def _has_line_break(column: pa.Array) -> bool:
    """Whether some value of a text column holds a line feed: one pass over its bytes."""
    if not pa.types.is_string(column.type) or len(column) == 0 or column.buffers()[2] is None:
        return False
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int32, count=len(column) + 1, offset=column.offset * 4)
    first, stop = int(offsets[0]), int(offsets[-1])
    return stop > first and b"\n" in column.buffers()[2].slice(first, stop - first).to_pybytes()  # memchr beats numpy here


def _record_too_large(path: Path, row: int | None, limits: ReadLimits) -> Problem:
    return Problem("record_too_large", f"record {row or '?'} is larger than {_size(limits.record_bytes)}, the most a record "
                   "may be (setting max_record_bytes): the file is not a table roughtrace can read", file=path.name, row=row)


def _size(n: int) -> str:
    return f"{n >> 20} MB" if n >= 1 << 20 and n % (1 << 20) == 0 else f"{n:,} bytes"


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


def _reject_unterminated_quote_in_ragged(path: Path, last_batch: pa.RecordBatch | None, ragged: list[Ragged]) -> None:
    """An unclosed quote that swallowed the rest of the file into a record with too few fields."""
    last_row = last_batch.column(ROW)[last_batch.num_rows - 1].as_py() if last_batch is not None and last_batch.num_rows else 0
    if ragged and ragged[-1].row > last_row and "\n" in ragged[-1].text.rstrip("\r\n"):
        row = ragged[-1].row
        raise FileRejected(Problem(
            "unterminated_quote", f"a quoted value opened in row {row} is never closed, so the rest of the file cannot be read",
            file=path.name, row=row))


def _reject_unterminated_quote(path: Path, last_batch: pa.RecordBatch, ends_with_newline: bool) -> None:
    """An odd number of quote characters means a quote may never close; pyarrow then swallows
    the rest of the file into the last record. Reject when that record shows it."""
    tail = last_batch.slice(last_batch.num_rows - 1)
    swallowed = any("\n" in (col[0].as_py() or "") for col in tail.columns[:-1])
    if swallowed or not ends_with_newline:
        row = tail.column(ROW)[0].as_py()
        raise FileRejected(Problem(
            "unterminated_quote", f"a quoted value opened in row {row} is never closed, so the rest of the file cannot be read",
            file=path.name, row=row))


# -- XLSX --------------------------------------------------------------------------------------
def _cell_text(value: object, decimal: str = ".") -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value).replace(".", decimal)
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        return text[:10] if text.endswith("T00:00:00") or len(text) == 10 else text
    return str(value)


def _check_workbook_expansion(path: Path, limits: ReadLimits) -> None:
    """Refuse a workbook whose parts would unzip to more than the limits allow (a zip bomb, or
    shared strings too large to hold), from the zip's directory alone, before any part is read.
    Python's zip reader never returns more of a part than the directory gives its size."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise FileRejected(Problem("unreadable_xlsx", f"the file cannot be read as an XLSX workbook ({type(exc).__name__})",
                                   file=path.name)) from None
    total = sum(part.file_size for part in parts)
    if total > limits.xlsx_expanded_bytes:
        raise FileRejected(Problem("xlsx_too_large", f"the workbook unzips to {_size(total)}, more than the "
                                   f"{_size(limits.xlsx_expanded_bytes)} one import reads (setting max_xlsx_expanded_bytes)",
                                   file=path.name))
    for part in parts:
        if part.filename.lower().endswith("sharedstrings.xml") and part.file_size > limits.xlsx_shared_strings_bytes:
            raise FileRejected(Problem("xlsx_too_large", f"the workbook's shared text unzips to {_size(part.file_size)}, more "
                                       f"than {_size(limits.xlsx_shared_strings_bytes)} (setting max_xlsx_shared_strings_bytes)",
                                       file=path.name))
        if part.file_size > (1 << 20) and part.file_size > limits.xlsx_ratio * max(part.compress_size, 1):
            raise FileRejected(Problem("xlsx_bomb", f"the workbook part {part.filename} expands {part.file_size // max(part.compress_size, 1):,} "
                                       f"times when unzipped, more than the {limits.xlsx_ratio} a table does (setting "
                                       "max_xlsx_expansion_ratio): the file is not a table roughtrace can read", file=path.name))


_XLSX_BROKEN = (KeyError, IndexError, ValueError, TypeError, AttributeError, EOFError, OSError)
"""What the workbook reader raises on a workbook its own parts contradict (a cell naming a shared
string that is not there, malformed XML, a truncated part)."""


def _broken_workbook(path: Path, exc: BaseException, row: int | None = None) -> FileRejected:
    where = f" at sheet row {row}" if row else ""
    detail = "a cell names a shared text the workbook does not hold" if isinstance(exc, IndexError) else type(exc).__name__
    return FileRejected(Problem("unreadable_xlsx", f"the workbook is damaged{where} ({detail}): open it in a spreadsheet and "
                                "save it again", file=path.name, line=row))


def _open_xlsx(path: Path, scan: FileScan, sheet: str | None, decimal: str = ".", limits: ReadLimits | None = None) -> SourceFile:
    import zipfile
    from xml.etree.ElementTree import ParseError

    from openpyxl import load_workbook

    limits = limits or ReadLimits()
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, ParseError, *_XLSX_BROKEN) as exc:
        raise FileRejected(Problem("unreadable_xlsx", f"the file cannot be read as an XLSX workbook ({type(exc).__name__})", file=path.name)) from None
    if sheet is not None and sheet not in book.sheetnames:
        raise FileRejected(Problem("unknown_sheet", f"the workbook has no sheet {sheet!r}; it has {', '.join(book.sheetnames)}", file=path.name))
    ws = book[sheet] if sheet else book.worksheets[0]
    rows = ws.iter_rows(values_only=True)
    header: list[str] = []
    try:
        for values in rows:
            texts = [_cell_text(v) for v in values]
            if any(t is not None and t.strip() for t in texts):
                while texts and (texts[-1] is None or not texts[-1].strip()):
                    texts.pop()
                header = [t or "" for t in texts]
                break
    except (zipfile.BadZipFile, ParseError, *_XLSX_BROKEN) as exc:
        raise _broken_workbook(path, exc) from None
    finally:
        book.close()
    if not header:
        raise FileRejected(Problem("no_header", "the sheet is empty: it has no header row", file=path.name))
    width = len(header)
    source = SourceFile(path, "xlsx", header, scan, stream=lambda: iter(()))

    header_row = [1]
    blank_after: list[int] = []

    def stream() -> Iterator[pa.RecordBatch]:
        source.ragged.clear()
        blank_after.clear()
        book = load_workbook(path, read_only=True, data_only=True)
        sheet_row = 0
        try:
            ws = book[sheet] if sheet else book.worksheets[0]
            columns: list[list[str | None]] = [[] for _ in range(width)]
            numbers: list[int] = []
            seen_header = False
            record = 0
            for sheet_row, values in enumerate(ws.iter_rows(values_only=True), 1):
                texts = [_cell_text(v, decimal) for v in values]
                if not any(t is not None and t.strip() for t in texts):
                    if seen_header:
                        blank_after.append(record)
                    continue
                if not seen_header:
                    seen_header = True
                    header_row[0] = sheet_row
                    continue
                record += 1
                if record > limits.rows:
                    raise FileRejected(too_many_records(path, limits))
                extra = [t for t in texts[width:] if t is not None and t.strip()]
                if extra:
                    source.ragged.append(Ragged(record, "\t".join(t or "" for t in texts), len(texts), width))
                    if len(source.ragged) > limits.unreadable:
                        check_unreadable(path, source.ragged, limits)
                    continue
                texts = (texts + [None] * width)[:width]
                for i, text in enumerate(texts):
                    columns[i].append(text)
                numbers.append(record)
                if len(numbers) >= BATCH_ROWS:
                    yield _checked_batch(path, columns, numbers, limits)
                    columns, numbers = [[] for _ in range(width)], []
            if numbers:
                yield _checked_batch(path, columns, numbers, limits)
        except (zipfile.BadZipFile, ParseError, *_XLSX_BROKEN) as exc:
            raise _broken_workbook(path, exc, sheet_row + 1) from None
        finally:
            book.close()

    source.stream = stream
    source.line_of = lambda rows: lines_after_blanks(rows, header_row[0], np.asarray(blank_after, dtype=np.int64))
    return source


def _checked_batch(path: Path, columns: list[list[str | None]], numbers: list[int], limits: ReadLimits) -> pa.RecordBatch:
    batch = _batch(columns, numbers)
    _reject_huge_record(path, batch, limits.record_bytes)
    return batch


def _batch(columns: list[list[str | None]], numbers: list[int]) -> pa.RecordBatch:
    arrays = [pa.array(c, pa.string()) for c in columns] + [pa.array(numbers, pa.int64())]
    return pa.RecordBatch.from_arrays(arrays, names=[f"c{i}" for i in range(len(columns))] + [ROW])


# -- JSON, JSON Lines, Parquet (read by a private DuckDB engine) ---------------------------------
def _engine_error(path: Path, fmt: str, exc: Exception) -> FileRejected:
    text = str(exc).split("\n")[0]
    for prefix in ("Invalid Input Error: ", "IO Error: ", "Conversion Error: "):
        text = text.replace(prefix, "")
    what = {"json": "a JSON array of objects", "jsonl": "JSON Lines (one object a line)", "parquet": "Parquet"}[fmt]
    return FileRejected(Problem(f"unreadable_{fmt}", f"the file cannot be read as {what}: {text}", file=path.name))


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _json_pointer(key: str) -> str:
    """The SQL text of a JSON Pointer (RFC 6901) to the member `key`: any key a file holds,
    quotes, dots and backslashes included, names exactly that member."""
    return _sql_text("/" + key.replace("~", "~0").replace("/", "~1"))


def _json_lines_sql(path: Path, limit: int = CSV_BLOCK_BYTES) -> str:
    """Every line of a JSON Lines file as text, numbered from 1 (`line_no`), empty lines included
    (as NULL): read as one-column CSV, no quoting. A byte 0x01 cannot stand in valid JSON, so it
    ends a field harmlessly."""
    return (f"SELECT ordinality AS line_no, line FROM read_csv({_sql_text(str(path))}, columns = {{'line': 'VARCHAR'}}, "
            f"header = false, delim = '\x01', quote = '', escape = '', auto_detect = false, strict_mode = false, "
            f"max_line_size = {int(limit)}) WITH ORDINALITY")


_BLANK_LINE = "coalesce(trim(line, ' \t\r'), '') = ''"


def _json_line_problem(text: str) -> str:
    """Why a line of JSON Lines is not JSON, in a sentence."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return f"this line is not valid JSON ({exc.msg} at character {exc.pos + 1}), so it holds no record"
    except RecursionError:
        pass
    return "this line is not valid JSON, so it holds no record"


def _objects_line_by_line(con: duckdb.DuckDBPyConnection, path: Path, limit: int = CSV_BLOCK_BYTES) -> None:
    """`objects` of a JSON Lines file some lines of which are not JSON: every line that is not
    empty is a record (`n`), those that are not JSON marked `broken` with their text, for the
    quarantine. A file no line of which is JSON is not JSON Lines: rejected whole."""
    con.execute(f"""CREATE TEMP TABLE objects AS
        SELECT row_number() OVER (ORDER BY line_no) AS n, line_no, CASE WHEN json_valid(line) THEN line::JSON END AS json,
               NOT json_valid(line) AS broken, CASE WHEN NOT json_valid(line) THEN line END AS text
        FROM ({_json_lines_sql(path, limit)}) WHERE NOT {_BLANK_LINE}""")
    valid, first_broken = con.execute("SELECT count(*) FILTER (WHERE NOT broken), min(line_no) FILTER (WHERE broken) FROM objects").fetchall()[0]
    if not valid and first_broken is not None:
        text = con.execute(f"SELECT text FROM objects WHERE line_no = {int(first_broken)}").fetchall()[0][0]
        raise FileRejected(Problem("unreadable_jsonl", f"the file cannot be read as JSON Lines (one object a line): no line is "
                                   f"JSON; line {first_broken}: {_json_line_problem(text)}", file=path.name, line=int(first_broken)))


def json_depths(texts: pa.Array) -> np.ndarray:
    """How deep each JSON text of `texts` (valid JSON, as the engine writes it) nests arrays and
    objects: the most open at once, brackets inside strings not counted (a quote counts unless an
    odd run of backslashes escapes it). One numpy pass over the texts' bytes, holding about 25
    bytes per byte; 0 for a null."""
    texts = texts.cast(pa.large_string())
    offsets = np.frombuffer(texts.buffers()[1], dtype=np.int64)[texts.offset : texts.offset + len(texts) + 1]
    depths = np.zeros(len(texts), np.int64)
    if not len(texts) or offsets[-1] == offsets[0]:
        return depths
    data = np.frombuffer(texts.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    positions = np.arange(len(data), dtype=np.int32)
    last_plain = np.maximum.accumulate(np.where(data == 0x5C, np.int32(-1), positions))  # the last byte not a backslash
    backslashes = np.zeros(len(data), np.int32)
    backslashes[1:] = positions[:-1] - last_plain[:-1]
    del positions, last_plain
    outside = np.cumsum((data == 0x22) & (backslashes % 2 == 0), dtype=np.int32) % 2 == 0
    step = (((data == 0x5B) | (data == 0x7B)) & outside).astype(np.int8) - (((data == 0x5D) | (data == 0x7D)) & outside).astype(np.int8)
    depth = np.cumsum(step, dtype=np.int32)
    starts, ends = offsets[:-1] - offsets[0], offsets[1:] - offsets[0]
    filled = starts < ends
    depths[filled] = np.maximum.reduceat(depth, starts[filled])
    return depths


_DEPTH_SLICE_BYTES = 4 << 20
"""JSON text measured for depth at a time (or one record, when larger)."""


def _deepest_record(con: duckdb.DuckDBPyConnection, limits: ReadLimits) -> tuple[int, int] | None:
    """The first record of `objects` nesting deeper than `limits.json_depth`, with its depth; None
    when none does. A record with fewer opening brackets than the limit cannot be deeper, so only
    the others are measured, in slices of about `_DEPTH_SLICE_BYTES`."""
    brackets = "strlen(t) - strlen(translate(t, '[{', ''))"
    candidates = (f"SELECT n, t FROM (SELECT n, json::VARCHAR AS t FROM objects WHERE NOT broken) "
                  f"WHERE {brackets} > {int(limits.json_depth)} ORDER BY n")
    rows = max(1, 16 * _DEPTH_SLICE_BYTES // max(1, limits.record_bytes))
    for batch in con.sql(candidates).to_arrow_reader(rows):
        texts = batch.column(1).cast(pa.large_string())
        ends = pc.cumulative_sum(pc.fill_null(pc.binary_length(texts), 0)).to_numpy()
        first = 0
        while first < len(texts):
            base = ends[first - 1] if first else 0
            last = max(first + 1, int(np.searchsorted(ends, base + _DEPTH_SLICE_BYTES, side="right")))
            depths = json_depths(texts.slice(first, last - first))
            over = np.flatnonzero(depths > limits.json_depth)
            if len(over):
                return int(batch.column(0)[first + int(over[0])].as_py()), int(depths[over[0]])
            first = last
    return None


def _open_json(path: Path, scan: FileScan, fmt: str, limits: ReadLimits | None = None) -> SourceFile:
    """JSON arrays of objects and JSON Lines; a certificate may nest its lines under `lines`. A
    line of JSON Lines that is not JSON is a record for the quarantine; the others load."""
    limits = limits or ReadLimits()
    source_sql = (f"read_json_objects({_sql_text(str(path))}, format={_sql_text('array' if fmt == 'json' else 'newline_delimited')}, "
                  f"maximum_object_size = {int(limits.record_bytes)})")
    con = engine_connection(":memory:", "512MB", 2)
    try:
        try:
            con.execute(f"CREATE TEMP TABLE objects AS SELECT ordinality AS n, json, false AS broken, NULL::VARCHAR AS text "
                        f"FROM {source_sql} WITH ORDINALITY")
        except duckdb.Error:
            if fmt != "jsonl":
                raise
            _objects_line_by_line(con, path, limits.record_bytes)
        huge = con.execute(f"SELECT min(n) FROM objects WHERE strlen(coalesce(json::VARCHAR, text)) > {int(limits.record_bytes)}").fetchall()[0][0]
        if huge is not None:
            raise FileRejected(_record_too_large(path, int(huge), limits))
        deep = _deepest_record(con, limits)
        if deep is not None:
            raise FileRejected(Problem(
                "json_too_deep", f"record {deep[0]} nests arrays and objects {deep[1]} deep, more than {limits.json_depth}, the "
                "most a record may (setting max_json_depth): the file is not a table roughtrace can read", file=path.name,
                row=deep[0]))
        kinds = con.sql("SELECT json_type(json) AS t, min(n) AS first FROM objects WHERE NOT broken GROUP BY t").fetchall()
        not_objects = [first for t, first in kinds if t != "OBJECT"]
        if not_objects:
            raise FileRejected(Problem("not_objects", f"element {min(not_objects)} is not an object: the file must be an array of objects or one object a line", file=path.name, row=min(not_objects)))
        keys = [k for (k,) in con.sql("SELECT DISTINCT unnest(json_keys(json)) AS k FROM objects WHERE NOT broken ORDER BY k").fetchall()]
        line_keys: list[str] = []
        lines_key = next((k for k in keys if k.strip().lower() == "lines"), None)
        if lines_key is not None:
            path_sql = _json_pointer(lines_key)
            bad = con.execute(f"SELECT min(n) FROM objects WHERE json_type(json, {path_sql}) NOT IN ('ARRAY', 'NULL')").fetchall()[0][0]
            if bad is not None:
                raise FileRejected(Problem("not_objects", f"element {bad}: `{lines_key}` must be an array of certificate lines", file=path.name, row=int(bad)))
            con.execute(f"""CREATE TEMP TABLE records AS
                SELECT row_number() OVER (ORDER BY o.n, l.i) AS _row, o.n AS _object, o.broken, o.json AS header_json, l.line AS line_json
                FROM objects o,
                LATERAL (SELECT unnest(lines) AS line, generate_subscripts(lines, 1) AS i
                         FROM (SELECT CASE WHEN len(coalesce(json_extract(o.json, {path_sql})::JSON[], [])) = 0 THEN [NULL::JSON]
                                      ELSE json_extract(o.json, {path_sql})::JSON[] END AS lines)) l""")
            line_keys = [k for (k,) in con.sql("SELECT DISTINCT unnest(json_keys(line_json)) FROM records WHERE line_json IS NOT NULL ORDER BY 1").fetchall()]
            keys = [k for k in keys if k != lines_key]
        else:
            con.execute("CREATE TEMP TABLE records AS SELECT n AS _row, n AS _object, broken, json AS header_json, NULL::JSON AS line_json FROM objects")
        broken = con.execute("SELECT r._row, o.text FROM records r JOIN objects o ON o.n = r._object WHERE r.broken ORDER BY r._row").fetchall()
    except duckdb.Error as exc:
        con.close()
        raise _engine_error(path, fmt, exc) from None
    except FileRejected:
        con.close()
        raise
    header = keys + [k for k in line_keys if k not in keys]
    selects = []
    for i, key in enumerate(header):
        key_path = _json_pointer(key)
        from_line = f"json_extract_string(line_json, {key_path})"
        from_header = f"json_extract_string(header_json, {key_path})"
        expr = (f"coalesce({from_line}, {from_header})" if key in line_keys and key in keys
                else from_line if key in line_keys else from_header)
        selects.append(f"{expr} AS c{i}")
    select_sql = f"SELECT {', '.join(selects + ['_row::BIGINT AS _row'])} FROM records WHERE NOT broken ORDER BY _row"
    source = SourceFile(path, fmt, header, scan, stream=lambda: iter(()))
    bad_lines = [Ragged(int(row), text, 0, len(header), "bad_json", _json_line_problem(text)) for row, text in broken[:limits.unreadable + 1]]
    if len(bad_lines) > limits.unreadable:
        con.close()
        check_unreadable(path, bad_lines, limits)

    def stream() -> Iterator[pa.RecordBatch]:
        source.ragged[:] = bad_lines
        try:
            reader = con.sql(select_sql).to_arrow_reader(BATCH_ROWS)
            yield from reader
        except duckdb.Error as exc:
            raise _engine_error(path, fmt, exc) from None

    blanks: list[np.ndarray] = []

    def lines_of(rows: np.ndarray) -> np.ndarray:
        """A record's line: its object's, counting the empty lines before it."""
        objects = rows
        if lines_key is not None:
            con.register("rt_asked", pa.table({"i": pa.array(np.arange(len(rows))), "_row": pa.array(rows, pa.int64())}))
            objects = con.sql("SELECT r._object FROM rt_asked a JOIN records r USING (_row) ORDER BY a.i").fetchnumpy()["_object"]
            con.unregister("rt_asked")
        if not scan.has_blank_lines:
            return np.asarray(objects, dtype=np.int64)
        if not blanks:
            try:
                blanks.append(con.sql(f"""SELECT before FROM (SELECT line_no, {_BLANK_LINE} AS blank,
                    sum(CASE WHEN {_BLANK_LINE} THEN 0 ELSE 1 END) OVER (ORDER BY line_no ROWS UNBOUNDED PRECEDING) AS before
                    FROM ({_json_lines_sql(path)})) WHERE blank ORDER BY line_no""").fetchnumpy()["before"].astype(np.int64))
            except duckdb.Error:  # a line too long to read as text: the lines as if no line were blank
                blanks.append(np.array([], dtype=np.int64))
        return lines_after_blanks(np.asarray(objects, dtype=np.int64), 0, blanks[0])

    source.stream = stream
    source.raw_records_sql = "records"
    source._engine = con  # type: ignore[attr-defined]
    if fmt == "jsonl":
        source.line_of = lines_of
    return source


def _open_parquet(path: Path, scan: FileScan) -> SourceFile:
    con = engine_connection(":memory:", "512MB", 2)
    relation = f"read_parquet({_sql_text(str(path))}, file_row_number = true)"
    try:
        described = con.sql(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    except duckdb.Error as exc:
        con.close()
        raise _engine_error(path, "parquet", exc) from None
    header = [name for name, *_ in described if name != "file_row_number"]
    types = {name: sql_type for name, sql_type, *_ in described}
    selects = []
    for i, name in enumerate(header):
        quoted = '"' + name.replace('"', '""') + '"'
        if types[name].startswith("TIMESTAMP"):
            expr = f"CASE WHEN {quoted}::TIME = TIME '00:00:00' THEN {quoted}::DATE::VARCHAR ELSE {quoted}::VARCHAR END"
        else:
            expr = f"{quoted}::VARCHAR"
        selects.append(f"{expr} AS c{i}")
    select_sql = f"SELECT {', '.join(selects)}, file_row_number + 1 AS _row FROM {relation} ORDER BY file_row_number"
    source = SourceFile(path, "parquet", header, scan, stream=lambda: iter(()))

    def stream() -> Iterator[pa.RecordBatch]:
        try:
            yield from con.sql(select_sql).to_arrow_reader(BATCH_ROWS)
        except duckdb.Error as exc:
            raise _engine_error(path, "parquet", exc) from None

    source.stream = stream
    source._engine = con  # type: ignore[attr-defined]
    return source


def close_source(source: SourceFile) -> None:
    """Release the private engine a JSON or Parquet source holds."""
    engine = getattr(source, "_engine", None)
    if engine is not None:
        engine.close()


__all__ = ["FORMATS", "ROW", "SourceFile", "Ragged", "open_source", "close_source", "detect_format"]
