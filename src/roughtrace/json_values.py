"""The one way roughtrace writes its values as JSON: exact decimals as strings (never through a
binary float), dates and times in ISO 8601 form. `--json` output, the error shape, findings and
results logged in the ledger all go through it.

Stored records that must read back as the same Python values (`provenance.boxes`) use the tagged
form below (`tagged_dumps`, `tagged_loads`), since a plain string cannot say it was a Decimal.
"""

from __future__ import annotations

import datetime as dt
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


def _tagged(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    raise TypeError(f"no JSON form for {type(value).__name__}")


def _untagged(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if "$decimal" in obj:
            return Decimal(obj["$decimal"])
        if "$date" in obj:
            return dt.date.fromisoformat(obj["$date"])
    return obj


def tagged_dumps(content: Any) -> str:
    """`content` as compact JSON whose Decimals and dates are tagged objects ({"$decimal": "1.50"},
    {"$date": "2024-01-31"}), so that `tagged_loads` gives back the same values."""
    return json.dumps(content, default=_tagged, separators=(",", ":"))


def tagged_loads(text: str) -> Any:
    """The values `tagged_dumps` wrote, Decimals and dates as they were."""
    return json.loads(text, object_hook=_untagged)
