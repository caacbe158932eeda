"""The one way roughtrace writes its values as JSON: exact decimals as strings (never through a
binary float), dates and times in ISO 8601 form. `--json` output, the error shape, findings and
results logged in the ledger all go through it.

Stored records that must read back as the same Python values (`provenance.boxes`) use a tagged
form of their own instead, since a string here cannot say whether it was a Decimal.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


def json_default(raw: Any) -> Any:
    """What `json.dumps` makes of a value JSON has no type for: a Decimal as its exact text, a date
    or time in ISO form; TypeError for anything else (a value no result should carry)."""
    if isinstance(raw, Decimal):
        return str(raw)
    if hasattr(raw, "isoformat"):
        return raw.isoformat()
    raise TypeError(f"no JSON form for {type(raw).__name__}")


def plain(value: Any) -> Any:
    """`value` with every Decimal, date and time inside it (in lists, tuples and dicts) made JSON's
    own types by `json_default`; tuples become lists."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Decimal) or hasattr(value, "isoformat"):
        return json_default(value)
    return value


def dumps(body: Any, **options: Any) -> str:
    """`body` as JSON text, non-ASCII characters as they are; `options` go to `json.dumps` (indent)."""
    return json.dumps(body, default=json_default, ensure_ascii=False, **options)
