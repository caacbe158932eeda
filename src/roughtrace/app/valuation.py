"""`value rough`, `value box` and `pricebook build | show | export`: rough valued by price reverse
engineering, the rough price book built from tracked boxes (each build logged in the ledger) and
read back."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..errors import NotFound, UsageError
from . import Context

if TYPE_CHECKING:
    from ..valuation.method import RoughValuation
    from ..valuation.pricebook import PriceBookBuild


def value_rough(settings: Any, polished_total: str, rough_carats: str, margin: Decimal | None = None,
                cost_model: str | None = None, polished_carats: str | None = None, stones: int = 1) -> RoughValuation:
    """Rough price per carat = (polished total / rough carats) x (1 - costs and margin), in USD; the
    cost model is the setting's unless `cost_model` names one, and the table model spreads
    `polished_carats` (needed then) evenly over `stones` to price their cutting. A computation on
    the figures given and the settings alone: it reads no store."""
    from ..domain.money import carats, usd
    from ..valuation.method import cost_model_from_settings, reverse_engineer

    model = cost_model_from_settings(settings, margin=margin, name=cost_model)
    weights: list[Decimal] = []
    if model.name == "table":
        if polished_carats is None:
            raise UsageError("the table cost model needs --polished-carats", code="missing_option")
        total_weight = carats(polished_carats)
        weights = [total_weight / stones] * stones
    return reverse_engineer(usd(polished_total), carats(rough_carats), model, weights)


@dataclass(frozen=True)
class BoxValuation:
    """A box's stored valuation from the last price book build: its columns as stored, the cost
    model as the object it was logged as."""

    box_id: str
    fields: dict[str, Any]


def box_valuation(context: Context, box_id: str) -> BoxValuation:
    """A box's reverse-engineered rough value and realised uplift; `NotFound` (box_not_valued) when
    the last build valued no box of that id."""
    rows = context.store.query("SELECT * FROM box_valuations WHERE box_id = ?", (box_id,)).to_pylist()
    if not rows:
        raise NotFound(f"box {box_id!r} has no valuation: it has no reported outcome, or run "
                       "`roughtrace pricebook build`", code="box_not_valued")
    return BoxValuation(box_id, {**rows[0], "cost_model": json.loads(rows[0]["cost_model"])})


@dataclass(frozen=True)
class PriceBookBuilt:
    """What a price book build did, and the receipt of its ledger entry."""

    build: PriceBookBuild
    receipt: dict[str, Any]


def build_price_book(context: Context, as_of: dt.date | None = None, cost_model: str | None = None) -> PriceBookBuilt:
    """Value every tracked box and rebuild the rough price book (polished priced from the
    transaction index as of `as_of`, else as the settings say), then log the build in the ledger."""
    from ..ledger.decisions import log_decision
    from ..valuation.method import cost_model_from_settings
    from ..valuation.pricebook import build_price_book as build

    store, settings = context.store, context.settings
    model = cost_model_from_settings(settings, name=cost_model)
    result = build(store, settings, index_pricer(store, settings), model, as_of=as_of)
    return PriceBookBuilt(result, log_decision(store, settings, "pricebook_build", result.as_dict(), context.actor.name))


def index_pricer(store: Any, settings: Any) -> Any:
    """The polished pricer a build values stones with: the transaction price index's quotes."""
    from ..valuation.pricer import index_pricer as pricer

    return pricer(store, settings)


def price_book_entries(context: Context, assortment: str | None = None, origin: str | None = None,
                       period: str | None = None, level: str = "assortment/origin/period") -> list[dict[str, Any]]:
    """The price book's entries at one grouping `level`, filtered by any of assortment, origin and
    period; `NotFound` when none match (empty_price_book when no book was built)."""
    from ..valuation.pricebook import LEVEL_NAMES, read_price_book

    if level not in LEVEL_NAMES:
        raise UsageError(f"--level is one of {', '.join(LEVEL_NAMES)}, not {level!r}", code="bad_option")
    rows = read_price_book(context.store, assortment, origin, period, level).to_pylist()
    if not rows:
        filters = [f"{n} {v}" for n, v in (("assortment", assortment), ("origin", origin), ("period", period)) if v]
        if filters or read_price_book(context.store, level=level).num_rows:
            raise NotFound(f"the price book has no {level} entry for {', '.join(filters)}", code="no_entries")
        raise NotFound("the price book is empty: run `roughtrace pricebook build`", code="empty_price_book")
    return rows


def price_book(context: Context) -> list[dict[str, Any]]:
    """The whole stored price book, every level, in the book's order."""
    from ..valuation.pricebook import read_price_book
    from .access import require

    require(context.actor, "pricebook")
    return read_price_book(context.store).to_pylist()
