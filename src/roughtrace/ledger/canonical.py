"""Canonical bytes: RFC 8785 JSON for log entries, and the canonical text of one stored row.

A row's canonical text is its kind's columns, in `domain.kinds` order, each rendered as text and
joined by the unit separator U+001F, encoded UTF-8. Two encodings exist; a batch's ledger entry
names its own in `row_encoding` (absent: 1), so batches logged before keep verifying:
- encoding 2 (every new batch): text, enumerations, countries and parties as
  `<UTF-8 byte length>:<value>`, NULL as `:` alone. The other fields cannot hold U+001F nor be empty, so
  every field ends where it says: two different rows never share a text (the encoding is injective);
- encoding 1: text as stored and NULL as the empty string, which a U+001F inside a value makes
  ambiguous (a field boundary moved across it gives the same text).
Both render the other columns alike:
- carats with exactly 3 decimals ('1.250'), dollars with exactly 2 ('1200.00'), as DECIMAL prints them;
- integers in decimal; dates ISO 8601 ('2026-03-01');
- NULL as the empty string.
`extras`, `batch_id` and `source_row` are not part of it. A row's leaf hash is
SHA-256(0x00 || canonical text). `row_text` computes it in Python (what a sightholder does with
their own row); `row_text_sql` gives the same text in the store's SQL, and `imports.row_leaf_hashes`
hashes a stored batch from it, for an import or a `verify` alike.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import rfc8785

from ..domain import kinds
from ..domain.money import CARAT_PLACES, USD_PLACES

UNIT_SEPARATOR = "\x1f"
ROW_ENCODING = 2
"""The row encoding new batches are logged with (see the module's note)."""
ROW_ENCODINGS = (1, 2)
_UNPREFIXED = (kinds.DATE, kinds.CARATS, kinds.USD, kinds.INTEGER)
"""Column types whose text never holds U+001F nor is empty: no length prefix needed."""


def row_encoding(entry: Mapping[str, Any]) -> int:
    """The row encoding a batch's ledger entry says its rows were hashed with."""
    return int(entry.get("row_encoding", 1))


def _plain(value: Any) -> Any:
    """JSON-ready: exact decimals and dates become strings, hashes hex; nothing is a float."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, float):
        raise TypeError("ledger entries hold exact values: give a Decimal or a string, not a float")
    return value


def canonical_json(value: Mapping[str, Any]) -> str:
    """The RFC 8785 canonical JSON text of an entry (Decimals and dates as strings)."""
    return rfc8785.dumps(_plain(value)).decode("utf-8")


def is_canonical(text: str) -> bool:
    """Whether `text` is exactly the RFC 8785 form of the JSON it holds."""
    try:
        return rfc8785.dumps(json.loads(text)).decode("utf-8") == text
    except (ValueError, TypeError, rfc8785.CanonicalizationError):
        return False


def _value_text(column: kinds.Column, value: Any) -> str:
    if value is None:
        return ""
    if column.type == kinds.CARATS:
        return f"{Decimal(value).quantize(Decimal(1).scaleb(-CARAT_PLACES)):f}"
    if column.type == kinds.USD:
        return f"{Decimal(value).quantize(Decimal(1).scaleb(-USD_PLACES)):f}"
    if column.type == kinds.DATE:
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    return str(value)


def _field_text(column: kinds.Column, value: Any, encoding: int) -> str:
    if encoding == 1 or column.type in _UNPREFIXED:
        return _value_text(column, value)
    if value is None:
        return ":"
    text = str(value)
    return f"{len(text.encode('utf-8'))}:{text}"


def row_text(kind: kinds.Kind, row: Mapping[str, Any], encoding: int = ROW_ENCODING) -> str:
    """The canonical text of one row of `kind` (column name -> value, as stored) in row encoding
    `encoding`."""
    return UNIT_SEPARATOR.join(_field_text(c, row.get(c.name), encoding) for c in kind.columns)


def _column_sql(column: kinds.Column, engine: str, alias: str, encoding: int) -> str:
    name = f"{alias}.{column.name}" if alias else column.name
    if column.type == kinds.DATE:
        return f"to_char({name}, 'YYYY-MM-DD')" if engine == "postgresql" else f"strftime({name}, '%Y-%m-%d')"
    if encoding == 1 or column.type in _UNPREFIXED:
        return f"CAST({name} AS VARCHAR)"
    length = "octet_length" if engine == "postgresql" else "strlen"
    text = f"CAST({name} AS VARCHAR)"
    return f"{length}({text}), ':', {text}"  # parts of the one concat: a NULL's length and value read as ''


def row_text_sql(kind: kinds.Kind, engine: str = "duckdb", alias: str = "", encoding: int = ROW_ENCODING) -> str:
    """A SQL expression giving each row's canonical text in row encoding `encoding`, for `engine`
    ('duckdb' or 'postgresql'). `concat` reads NULL as the empty string on both engines (and is
    twice as fast as `||` chains)."""
    if encoding not in ROW_ENCODINGS:
        raise ValueError(f"unknown row encoding {encoding}")
    return "concat(" + ", chr(31), ".join(_column_sql(c, engine, alias, encoding) for c in kind.columns) + ")"


def row_leaf_hash_sql(kind: kinds.Kind, engine: str = "duckdb", alias: str = "", encoding: int = ROW_ENCODING) -> str:
    """A SQL expression giving each row's 32-byte RFC 9162 leaf hash SHA-256(0x00 || canonical
    text) as BLOB (DuckDB) or BYTEA (PostgreSQL), for stores hashing without the C kernel."""
    text = row_text_sql(kind, engine, alias, encoding)
    if engine == "postgresql":
        return f"sha256('\\x00'::bytea || convert_to({text}, 'UTF8'))"
    return f"unhex(sha256('\\x00'::BLOB || encode({text})))"
