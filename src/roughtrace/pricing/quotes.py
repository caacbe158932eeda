"""Quotes for any polished stone from the fitted index model: one at a time or a file at once.

A quote is a price per carat (USD, rounded to the cent) with a low-high band, the number of
transactions behind it and the method: `cell` (the cell has at least `price_min_trades` trades in
the quote's period), `blend` (fewer: the cell's evidence is weighted against the model by
empirical Bayes), `model` (the cell never traded); `-extrapolated` is appended when the stone lies
outside the data (weight, grades, shape family or date), and its band is widened accordingly. The
band reflects the evidence: trade noise plus what the cell's trades leave unknown.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
import weakref
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..domain.grades import CLARITIES, COLOURS, CUTS, LABS, SHAPES, shape_family
from ..domain.money import USD_QUANTUM
from ..domain.periods import start as period_start
from ..domain.periods import starts as period_starts
from ..errors import NotFound, Problem, UsageError
from ..store.port import Store
from . import model as hedonic
from .index import codes, setting, unpack_factor
from .schema import ensure_schema
from .settings import PRICE_BAND_WIDTH, PRICE_MIN_TRADES, PRICE_PERIOD


@dataclass(frozen=True)
class Stone:
    """A polished stone to price: weight in carats, grades, and the date the price is wanted for
    (None: the latest period)."""

    shape: str
    carat: Decimal
    color: str
    clarity: str
    cut: str | None = None
    lab: str | None = None
    as_of: dt.date | None = None


@dataclass(frozen=True)
class Quote:
    """A price per carat in USD with its band (low <= price_per_carat <= high), the transactions
    behind it and the method that produced it."""

    price_per_carat: Decimal
    low: Decimal
    high: Decimal
    n: int
    method: str
    as_of: dt.date

    def as_dict(self) -> dict[str, Any]:
        return {"price_per_carat": self.price_per_carat, "low": self.low, "high": self.high, "n": self.n,
                "method": self.method, "as_of": self.as_of.isoformat()}


def _cents(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(USD_QUANTUM)


def load_model(store: Store) -> hedonic.HedonicModel:
    """The model last fitted by `build`, with its three levels of cell effects."""
    ensure_schema(store)
    documents = {r["key"]: r["value"] for r in store.query("SELECT key, value FROM price_model").to_pylist()}
    if "model" not in documents:
        raise NotFound("there is no price model yet: import transactions, then run `roughtrace prices build`",
                       code="no_price_model")
    doc = json.loads(documents["model"])
    keep = np.zeros(doc["n_terms"], dtype=bool)
    keep[doc["keep"]] = True
    periods = np.array(doc["periods"], dtype="datetime64[D]")
    effects = store.query("SELECT level, period_start, shape_family, size_bracket, color, clarity, cut, n_trades, effect, scale "
                          "FROM price_model_effects")
    level = np.asarray(effects.column("level").to_numpy(zero_copy_only=False))
    cell = _cell_keys(effects)
    period = np.searchsorted(periods, np.asarray(effects.column("period_start").to_numpy(zero_copy_only=False),
                                                 dtype="datetime64[D]")) if len(periods) else np.zeros(len(cell), int)
    cut = codes(effects.column("cut"), CUTS)
    n = np.asarray(effects.column("n_trades").to_numpy(), dtype=np.int64)
    effect = np.asarray(effects.column("effect").to_numpy(), dtype=float)
    scale = np.asarray(effects.column("scale").to_numpy(), dtype=float)

    variances = doc.get("levels", {})

    def level_of(name: str, keys: np.ndarray) -> hedonic.Effects:
        mask = level == name
        order = np.argsort(keys[mask], kind="stable")
        spread = variances.get(name, {})
        return hedonic.Effects(keys[mask][order], n[mask][order], effect[mask][order], scale[mask][order],
                               float(spread.get("between", 0.0)), float(spread.get("within", 0.0)))

    return hedonic.HedonicModel(
        periods=tuple(doc["periods"]), keep=keep, beta=np.array(doc["beta"]), sigma=float(doc["sigma"]),
        carat_range={int(k): tuple(v) for k, v in doc["carat_range"].items()},
        colour_range=tuple(doc["colour_range"]), clarity_range=tuple(doc["clarity_range"]),
        leverage=float(doc.get("leverage", 0.0)), mix=_mix(doc.get("mix")),
        covariance_factor=unpack_factor(documents["covariance"]) if "covariance" in documents else None, cell=level_of("cell", cell), cell_period=level_of("cell_period", cell * 4096 + period),
        cell_cut=level_of("cell_cut", cell * 8 + cut), n_trades=int(doc["n_trades"]),
    )


def _mix(stored: dict | None) -> dict | None:
    """The model's cut and lab mix as arrays (None for a model stored without one)."""
    if stored is None:
        return None
    return {"cut": None if stored["cut"] is None else np.array(stored["cut"]), "lab": np.array(stored["lab"])}


def _cell_keys(table: pa.Table) -> np.ndarray:
    from ..domain.grades import SHAPE_FAMILIES
    from ..domain.sizes import BRACKETS

    family = codes(table.column("shape_family"), SHAPE_FAMILIES)
    bracket = codes(table.column("size_bracket"), BRACKETS)
    return ((family * 32 + bracket) * 32 + codes(table.column("color"), COLOURS)) * 16 + codes(table.column("clarity"), CLARITIES)


class Quoter:
    """A loaded model and the settings quotes use; quote one stone or a whole table at once."""

    def __init__(self, model: hedonic.HedonicModel, settings: Any = None) -> None:
        self.model = model
        self.length = str(setting(settings, PRICE_PERIOD))
        self.min_trades = int(setting(settings, PRICE_MIN_TRADES))
        self.band_width = float(setting(settings, PRICE_BAND_WIDTH))
        self.period_starts = np.array(model.periods, dtype="datetime64[D]")

    @classmethod
    def load(cls, store: Store, settings: Any = None) -> Quoter:
        return cls(load_model(store), settings)

    def _period_index(self, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        starts = period_starts(days, self.length)
        index = np.searchsorted(self.period_starts, starts, side="right") - 1
        return index, starts

    def quote(self, stone: Stone) -> Quote:
        """The quote for one stone (grades checked, whatever their case; carat in ct, > 0)."""
        stone = canonical_stone(stone)
        problems = stone_problems(stone.shape, stone.carat, stone.color, stone.clarity, stone.cut, stone.lab)
        if problems:
            raise UsageError(problems)
        latest = self.period_starts[-1] if len(self.period_starts) else np.datetime64("today", "D")
        day = np.datetime64(stone.as_of, "D") if stone.as_of else latest
        index, _ = self._period_index(np.array([day]))
        stones = hedonic.Stones(
            family=np.array([0 if shape_family(stone.shape) == "round" else 1]), carat=np.array([float(stone.carat)]),
            colour=np.array([COLOURS.index(stone.color)]), clarity=np.array([CLARITIES.index(stone.clarity)]),
            cut=np.array([CUTS.index(stone.cut) if stone.cut else -1]), lab=np.array([LABS.index(stone.lab) if stone.lab else -1]),
            period=index)
        q = hedonic.quote(self.model, stones, self.min_trades, self.band_width)
        return Quote(_cents(q.price_per_carat[0]), _cents(q.low[0]), _cents(q.high[0]), int(q.n[0]), str(q.method[0]),
                     stone.as_of or day.astype(dt.date))

    def quote_table(self, stones: pa.Table) -> pa.Table:
        """Quotes for a table of stones (columns shape, carat, color, clarity and optional cut,
        lab, date), vectorised; returns price_per_carat, low, high (DECIMAL(18,2)), n, method,
        as_of. Rows must be valid (see `table_problems`)."""
        n = stones.num_rows
        names = stones.column_names
        shape = stones.column("shape")
        family = np.where(np.asarray(pc.equal(shape, "round").to_numpy(zero_copy_only=False)), 0, 1)
        carat = np.asarray(pc.cast(stones.column("carat"), pa.float64()).to_numpy(), dtype=float)
        absent = pa.nulls(n, pa.string())
        cut = codes(stones.column("cut") if "cut" in names else absent, CUTS)
        lab = codes(stones.column("lab") if "lab" in names else absent, LABS)
        latest = self.period_starts[-1] if len(self.period_starts) else np.datetime64("today", "D")
        if "date" in names:
            days = np.asarray(pc.cast(stones.column("date"), pa.date32()).to_numpy(zero_copy_only=False), dtype="datetime64[D]")
            days = np.where(np.isnat(days), latest, days)
        else:
            days = np.full(n, latest)
        index, _ = self._period_index(days)
        batch = hedonic.Stones(family, carat, codes(stones.column("color"), COLOURS), codes(stones.column("clarity"), CLARITIES),
                               cut, lab, index)
        q = hedonic.quote(self.model, batch, self.min_trades, self.band_width)
        cents = pa.decimal128(18, 2)
        return pa.table({
            "price_per_carat": pc.cast(pc.round(pa.array(q.price_per_carat), 2), cents),
            "low": pc.cast(pc.round(pa.array(q.low), 2), cents),
            "high": pc.cast(pc.round(pa.array(q.high), 2), cents),
            "n": pa.array(q.n), "method": pa.array(q.method.astype(str)),
            "as_of": pa.array(days, pa.date32()),
        })


GRADE_SCALES: dict[str, tuple[str, ...]] = {"shape": SHAPES, "color": COLOURS, "clarity": CLARITIES, "cut": CUTS, "lab": LABS}
"""The grading scale of each column of a stone's description."""


def canonical_grade(value: str | None, scale: tuple[str, ...]) -> str | None:
    """A grade as the scale spells it, whatever its case and surrounding spaces (`h` is H, `vs1`
    is VS1, `Round` is round), as the importer reads them; a value not on the scale is returned
    unchanged, for the check to name."""
    if value is None:
        return None
    wanted = value.strip().upper()
    return next((grade for grade in scale if grade.upper() == wanted), value)


def canonical_stone(stone: Stone) -> Stone:
    """The stone with every grade spelt as its scale spells it (`canonical_grade`)."""
    return dataclasses.replace(stone, **{column: canonical_grade(getattr(stone, column), scale)
                                         for column, scale in GRADE_SCALES.items()})


def stone_problems(shape: str, carat: Any, color: str, clarity: str, cut: str | None, lab: str | None,
                   row: int | None = None, file: str | None = None) -> list[Problem]:
    """Every problem with one stone's description (unknown grade, weight not above 0); grades are
    read whatever their case."""
    problems = []
    for column, value in (("shape", shape), ("color", color), ("clarity", clarity), ("cut", cut), ("lab", lab)):
        if value is None and column in ("cut", "lab"):
            continue
        scale = GRADE_SCALES[column]
        if canonical_grade(value, scale) not in scale:
            problems.append(Problem("unknown_grade", f"{value!r} is not a {column}; use one of {', '.join(scale)}",
                                    file=file, row=row, column=column))
    try:
        if not Decimal(str(carat)) > 0:
            raise ValueError
    except Exception:
        problems.append(Problem("bad_carat", f"carat must be a weight above 0 ct, not {carat!r}", file=file, row=row, column="carat"))
    return problems


def _canonical_column(values: pa.ChunkedArray, scale: tuple[str, ...]) -> pa.ChunkedArray:
    """A text column with every value on the scale spelt as the scale spells it (any case, spaces
    around); other values unchanged."""
    at = pc.index_in(pc.utf8_upper(pc.utf8_trim_whitespace(values)), value_set=pa.array([v.upper() for v in scale]))
    return pc.if_else(pc.is_valid(at), pc.take(pa.array(scale), at), values)


def check_stones(stones: pa.Table, file: str | None = None) -> tuple[pa.Table, list[Problem], np.ndarray]:
    """A table of stones as a user sends it (text columns shape, carat, color, clarity and optional
    cut, lab, date) made ready to quote: grades in their scale's spelling, dates typed. Returns the
    table, every problem found (each with its 1-based row and column; a missing required column
    is a problem of the whole file) and which rows are fit to quote. One bad row never stops the
    others."""
    missing = [c for c in ("shape", "carat", "color", "clarity") if c not in stones.column_names]
    if missing:
        return stones, [Problem("missing_column", f"the stones file needs a column {c!r}", file=file, column=c)
                        for c in missing], np.zeros(stones.num_rows, dtype=bool)
    found: list[tuple[int, Problem]] = []
    good = np.ones(stones.num_rows, dtype=bool)

    def refuse(bad: np.ndarray, code: str, message: Any, column: str) -> None:
        for row in np.flatnonzero(bad):
            found.append((int(row), Problem(code, message(int(row)), file=file, row=int(row) + 1, column=column)))
        good[bad] = False

    for column, scale in GRADE_SCALES.items():
        if column not in stones.column_names:
            continue
        values = stones.column(column)
        if pa.types.is_null(values.type):
            values = values.cast(pa.string())
        values = _canonical_column(values, scale)
        stones = stones.set_column(stones.column_names.index(column), column, values)
        unknown = pc.invert(pc.is_in(values, value_set=pa.array(scale)))
        optional = column in ("cut", "lab")
        bad = np.asarray(pc.fill_null(pc.and_(unknown, pc.is_valid(values)) if optional else unknown, not optional)
                         .to_numpy(zero_copy_only=False), dtype=bool)
        refuse(bad, "unknown_grade", lambda row, v=values, c=column, sc=scale: (
            f"no {c} given" if v[row].as_py() is None else f"{v[row].as_py()!r} is not a {c}; use one of {', '.join(sc)}"),
            column)
    carat = stones.column("carat")
    if pa.types.is_string(carat.type) or pa.types.is_large_string(carat.type):
        numeric = pc.match_substring_regex(carat, r"^\s*[0-9]*\.?[0-9]+\s*$")
        carat = pc.cast(pc.if_else(numeric, carat, "0"), pa.float64())
    bad = np.asarray(pc.fill_null(pc.invert(pc.greater(pc.cast(carat, pa.float64()), 0)), True)
                     .to_numpy(zero_copy_only=False), dtype=bool)
    raw_carat = stones.column("carat")
    refuse(bad, "bad_carat", lambda row: f"carat must be a weight above 0 ct, not {raw_carat[row].as_py()!r}", "carat")
    if "date" in stones.column_names and not pa.types.is_date32(stones.column("date").type):
        text = stones.column("date")
        if pa.types.is_null(text.type):
            text = text.cast(pa.string())
        dates = pc.cast(pc.strptime(text, format="%Y-%m-%d", unit="s", error_is_null=True), pa.date32())
        bad = np.asarray(pc.and_(pc.is_valid(text), pc.is_null(dates)).to_numpy(zero_copy_only=False), dtype=bool)
        refuse(bad, "bad_date", lambda row: f"dates take YYYY-MM-DD, not {text[row].as_py()!r}", "date")
        stones = stones.set_column(stones.column_names.index("date"), "date", dates)
    found.sort(key=lambda item: item[0])
    return stones, [problem for _, problem in found], good


def table_problems(stones: pa.Table, file: str | None = None) -> list[Problem]:
    """Every problem in a table of stones, each with its 1-based row (`check_stones`)."""
    return check_stones(stones, file)[1]


_CACHE: weakref.WeakKeyDictionary[Store, tuple[tuple, Quoter, float]] = weakref.WeakKeyDictionary()
"""The loaded model of each open store, keyed by the store object itself (weakly), so an entry dies
with its store and a later store can never be handed it."""
STAMP_CHECK_SECONDS = 1.0
"""How long a loaded model is trusted before `quote` looks at the store's model stamp again (a
build in this process drops the cache at once)."""


def forget_model(store: Store) -> None:
    """Drop the cached model of `store` (called by a build that refits it)."""
    _CACHE.pop(store, None)


def quote(store: Store, stone: Stone, settings: Any = None) -> Quote:
    """Quote one stone from the store's current model. The loaded model is cached per store; the
    store's model stamp is checked again after STAMP_CHECK_SECONDS, and the cache is dropped when
    the quote settings change or a build in this process refits the model."""
    settings_key = tuple(str(setting(settings, s)) for s in (PRICE_PERIOD, PRICE_MIN_TRADES, PRICE_BAND_WIDTH))
    cached = _CACHE.get(store)
    now = time.monotonic()
    if cached is not None and cached[0][1:] == settings_key and now - cached[2] < STAMP_CHECK_SECONDS:
        return cached[1].quote(stone)
    stamp = store.query("SELECT value FROM price_model WHERE key = 'built_at'").to_pylist()
    key = (stamp[0]["value"] if stamp else "",) + settings_key
    if cached is None or cached[0] != key:
        cached = (key, Quoter.load(store, settings), now)
    _CACHE[store] = (cached[0], cached[1], now)
    return cached[1].quote(stone)


__all__ = ["Quote", "Quoter", "Stone", "canonical_grade", "canonical_stone", "check_stones", "forget_model", "load_model", "period_start", "quote", "stone_problems", "table_problems"]
