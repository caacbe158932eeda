"""CSV (and TSV, any one-character delimiter): pyarrow's streaming reader, records that cannot be read as one set aside."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ...errors import FileRejected, Problem
from ..limits import ReadLimits
from .source import (
    ROW,
    FileScan,
    ProgressFn,
    Ragged,
    SourceFile,
    _record_too_large,
    _reject_huge_record,
    check_unreadable,
    lines_after_blanks,
)


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

