"""How every command shows its results: one hand for people, one shape for machines.

For people: Rich tables and the trade's way of writing figures (money `$1,234.56`, percentages
`1.52%`, weights `1.234 ct`, countries `Botswana (BW)`, words instead of identifiers). For machines:
`--json` prints one object, `{"ok": true, ...}`, with exact decimals as strings. Formatting never
goes through a binary float: a Decimal is rounded half-even and grouped by thousands as it is.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache
from typing import Any

from rich.console import Console
from rich.table import Table

from .json_values import dumps

DASH = "–"


def console(stderr: bool = False) -> Console:
    """A console that prints what it is given (no guessing of numbers or paths to colour)."""
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _decimal(value: Any) -> Decimal:
    if isinstance(value, float):  # only ratios computed in the engine arrive as floats; dollars never do
        return Decimal(repr(value))
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _grouped(value: Decimal, places: int) -> str:
    exact = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    return f"{exact:,.{places}f}"


def money(value: Any, places: int = 2) -> str:
    """US dollars as the trade writes them: `$1,234.56`, `-$85.00`; a dash for no value."""
    if value is None:
        return DASH
    amount = _decimal(value)
    text = _grouped(abs(amount), places)
    return f"-${text}" if amount < 0 else f"${text}"


def signed_money(value: Any) -> str:
    """A difference in dollars with its sign always shown: `+$1,200.00`, `-$85.00`."""
    if value is None:
        return DASH
    amount = _decimal(value)
    return ("+" if amount > 0 else "") + money(amount)


def percent(fraction: Any, places: int = 2, signed: bool = False) -> str:
    """A fraction as a percentage: 0.0152 -> `1.52%` (`+1.52%` when signed)."""
    if fraction is None:
        return DASH
    share = _decimal(fraction) * 100
    text = _grouped(share, places) + "%"
    return "+" + text if signed and share > 0 else text


def points(value: Any, places: int = 2, signed: bool = False) -> str:
    """A figure already in percent (an index change, a gap): 1.5 -> `1.50%` (`+1.50%` when signed)."""
    if value is None:
        return DASH
    share = _decimal(value)
    return ("+" if signed and share > 0 else "") + _grouped(share, places) + "%"


def carats(value: Any) -> str:
    """A weight: `1.234 ct`, `12,345.600 ct`."""
    return DASH if value is None else _grouped(_decimal(value), 3) + " ct"


def number(value: Any, places: int = 0) -> str:
    """A count or a plain figure grouped by thousands: `1,234`."""
    return DASH if value is None else _grouped(_decimal(value), places)


@lru_cache(maxsize=512)
def country(code: str | None) -> str:
    """A country by name with its code: `Botswana (BW)`; `mixed` and unknown codes as they are."""
    if not code:
        return DASH
    from .domain.countries import country_name

    try:
        return f"{country_name(code)} ({code.strip().upper()})"
    except ValueError:
        return code


def words(identifier: Any) -> str:
    """An identifier the user reads as words: `cannot_value` -> `cannot value`."""
    return DASH if identifier is None else str(identifier).replace("_", " ")


def when(value: Any) -> str:
    """A date or time in ISO form (the trade's files use it), a dash for none."""
    if value is None:
        return DASH
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else str(value)


MONEY_SUFFIXES = ("_usd", "_per_carat", "_ppc")
CARAT_NAMES = ("carats", "box_carats", "polished_carats", "polished_rough_carats", "rough_carats", "carat")
FRACTION_NAMES = ("uplift", "yield", "yield_", "uplift_median", "yield_median", "coverage", "cost_margin")
COUNTRY_NAMES = ("origin", "country", "exporting_country", "importing_country")
LABELS = {"yield_": "yield", "paid_per_carat": "paid $/ct", "price_per_carat": "$/ct", "in_book": "in the price book",
          "hs_code": "HS code", "paid_usd": "paid", "buyer_id": "buyer"}


def label(name: str) -> str:
    """A field's heading for people: `rough_price_per_carat` -> `rough price per carat`,
    `rough_value_usd` -> `rough value` (the value itself shows the dollars)."""
    return LABELS.get(name, words(name.removesuffix("_usd")))


def value(name: str, raw: Any) -> str:
    """Any field a result carries, formatted by what its name says it is (dollars, carats,
    fractions, countries, dates); other values as text. Lets a table show fields added later."""
    if raw is None:
        return DASH
    if isinstance(raw, bool):
        return "yes" if raw else "no"
    if name in COUNTRY_NAMES and isinstance(raw, str):
        return country(raw)
    if isinstance(raw, dt.date | dt.datetime):
        return when(raw)
    if isinstance(raw, Mapping):
        return ", ".join(f"{label(k)} {value(k, v)}" for k, v in raw.items())
    if isinstance(raw, list | tuple):
        return ", ".join(value(name, v) for v in raw)
    if isinstance(raw, str) and not _numeric(raw):
        return words(raw) if name in ("verdict", "risk", "level", "severity", "basis", "confidence") else raw
    if name.endswith(MONEY_SUFFIXES) or name.startswith("paid"):
        return money(raw)
    if name in CARAT_NAMES:
        return carats(raw)
    if name in FRACTION_NAMES:
        return percent(raw)
    if isinstance(raw, int):
        return number(raw)
    return str(raw)


def _numeric(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


RIGHT = "right"


def table(columns: Sequence[str | tuple[str, str]], rows: Iterable[Sequence[Any]], title: str | None = None,
          caption: str | None = None) -> Table:
    """A Rich table: columns are headings, or (heading, "right") for figures."""
    grid = Table(title=title, title_justify="left", header_style="bold", caption=caption)
    for column in columns:
        heading, justify = (column, "left") if isinstance(column, str) else column
        grid.add_column(heading, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        grid.add_row(*("" if cell is None else str(cell) for cell in row))
    return grid


def record(fields: Mapping[str, Any], title: str | None = None, skip: Iterable[str] = ()) -> Table:
    """One result as a two-column table of labelled, formatted fields (every field it carries)."""
    grid = Table(title=title, title_justify="left", show_header=False, box=None, pad_edge=False)
    grid.add_column(style="dim")
    grid.add_column()
    hidden = set(skip)
    for name, raw in fields.items():
        if name not in hidden:
            grid.add_row(label(name), value(name, raw))
    return grid


def emit_json(body: Mapping[str, Any]) -> None:
    """Print one JSON object on one line of standard output (`{"ok": true, ...}` unless it says otherwise)."""
    print(dumps({"ok": True, **body}))


def cost_model(described: Mapping[str, Any] | str | None) -> str:
    """A cost model as a sentence: `flat: 15.00% of the polished value for costs and margin`, or the
    table model's cutting costs by polished size and its margin."""
    if described is None:
        return DASH
    if isinstance(described, str):
        try:
            described = json.loads(described)
        except ValueError:
            return described
    if not isinstance(described, Mapping):
        return str(described)
    margin = percent(described.get("margin"))
    if described.get("name") == "flat":
        return f"flat: {margin} of the polished value for costs and margin"
    rows = described.get("cost_table_usd_per_polished_carat") or []
    costs = ", ".join(f"{money(r['usd'])}/ct from {carats(r['from_carat'])}" for r in rows)
    return f"{described.get('name')}: cutting {costs}; then a margin of {margin}"
