"""XLSX workbooks (openpyxl, read-only): one sheet's cells as text, numbers written with the file's decimal mark."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from ...errors import FileRejected, Problem
from ..limits import ReadLimits
from .source import (
    BATCH_ROWS,
    ROW,
    FileScan,
    Ragged,
    SourceFile,
    _reject_huge_record,
    _size,
    check_unreadable,
    lines_after_blanks,
    too_many_records,
)


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

