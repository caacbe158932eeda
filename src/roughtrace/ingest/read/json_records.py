"""JSON arrays of objects and JSON Lines, read by a DuckDB connection of the source's own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import FileRejected, Problem
from ..limits import ReadLimits
from .source import (
    BATCH_ROWS,
    CSV_BLOCK_BYTES,
    FileScan,
    Ragged,
    SourceFile,
    _engine_error,
    _record_too_large,
    _sql_text,
    check_unreadable,
    lines_after_blanks,
    reader_engine,
)


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
    con = reader_engine()
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
    source.engine = con
    if fmt == "jsonl":
        source.line_of = lines_of
    return source

