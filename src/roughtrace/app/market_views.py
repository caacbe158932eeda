"""Whole-market computations that many views are cut from (the checks' findings over every
sightholder, a certificate's report, the intelligence market), kept with the open store they were
computed on until what they are computed from changes.

A view of one caller is always cut from the whole market after it is computed (`app.access`), so
the kept result is the same for every caller. It is kept per store object (a weak key: it dies with
its store, and a store opened later never sees it) and stamped with what it depends on: the store's
import batches (their count and newest id), the newest price book and price model builds, the
answers given to findings, and every setting's value. A stamp that differs means it is computed
again. A view of one party (its risk table, a producer's overview) may be kept too, under a name
that says whose it is.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import RoughtraceError
from . import Context

T = TypeVar("T")

STAMP_SQL = """SELECT (SELECT count(*) FROM batches) AS batches, (SELECT max(batch_id) FROM batches) AS newest_batch,
       (SELECT max(built_at) FROM rough_price_book) AS price_book,
       (SELECT max(value) FROM price_model WHERE key = 'built_at') AS price_model,
       (SELECT count(*) FROM finding_answers) AS answers"""

MOST_KEPT = 256
"""Results kept per store at most (one per name: the findings, each certificate report asked for ...)."""


class Kept:
    """The results kept for one store, or for stores that read the same database and share them (the
    service's connections): each result with its stamp, and one lock per name so that a result
    asked for by several requests at once is computed once."""

    def __init__(self) -> None:
        self.results: dict[str, tuple[tuple[Any, ...], Any]] = {}
        self.lock = threading.Lock()
        self.computing: dict[str, threading.Lock] = {}

    def get(self, name: str, stamp: tuple[Any, ...]) -> tuple[bool, Any]:
        with self.lock:
            found = self.results.get(name)
        return (True, found[1]) if found is not None and found[0] == stamp else (False, None)

    def put(self, name: str, stamp: tuple[Any, ...], value: Any) -> None:
        with self.lock:
            if name not in self.results and len(self.results) >= MOST_KEPT:
                self.results.pop(next(iter(self.results)))
            self.results[name] = (stamp, value)

    def computing_lock(self, name: str) -> threading.Lock:
        with self.lock:
            return self.computing.setdefault(name, threading.Lock())


_KEPT: weakref.WeakKeyDictionary[Any, Kept] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def share_views(stores: list[Any]) -> None:
    """Let `stores`, connections to one database, share their kept results (the service's writer and
    readers: a result one of them computed serves a request on any other)."""
    shared = Kept()
    with _LOCK:
        for store in stores:
            _KEPT[store] = shared


def _kept_for(store: Any) -> Kept:
    with _LOCK:
        found = _KEPT.get(store)
        if found is None:
            found = _KEPT[store] = Kept()
        return found


def _stamp(context: Context) -> tuple[Any, ...] | None:
    """What the whole-market results of this store and these settings depend on; None when it cannot
    be told (the result is then computed each time)."""
    from ..accounts.security import market_wide

    try:
        with market_wide(context.store):
            row = context.store.rows(STAMP_SQL)[0]
        settings = tuple(sorted((name, str(value)) for name, value in context.settings.as_dict().items()))
    except RoughtraceError:
        return None
    return (row["batches"], row["newest_batch"], str(row["price_book"]), str(row["price_model"]), row["answers"], settings)


def kept(context: Context, name: str, compute: Callable[[], T]) -> T:
    """`compute()`, or the result it gave on this store (or one sharing its results) while the
    store's stamp is unchanged."""
    stamp = _stamp(context)
    if stamp is None:
        return compute()
    holder = _kept_for(context.store)
    found, value = holder.get(name, stamp)
    if found:
        return value  # type: ignore[no-any-return]
    with holder.computing_lock(name):  # a second request for the same result waits for the first
        found, value = holder.get(name, stamp)
        if found:
            return value  # type: ignore[no-any-return]
        value = compute()
        holder.put(name, stamp, value)
    return value


def keep_as(context: Context, name: str, value: Any) -> None:
    """Keep `value` under `name` for the store's present stamp, as if `kept` had computed it."""
    stamp = _stamp(context)
    if stamp is not None:
        _kept_for(context.store).put(name, stamp, value)


def whole_market_findings(context: Context) -> list[Any]:
    """Every finding of every enabled check over the whole market (`checks.verify.run_checks`)."""
    from ..accounts.security import market_wide
    from ..checks.verify import run_checks

    def computed() -> list[Any]:
        with market_wide(context.store):
            return run_checks(context.store, context.settings)

    return kept(context, "findings", computed)


def whole_market_certificate_lines(context: Context) -> Any:
    """Every stored certificate line checked against the price book (`valuation.kp.CertificateCheck`
    over all certificates: a line's verdict does not depend on which others are checked beside it)."""
    from ..accounts.security import market_wide
    from ..valuation.kp import CertificateCheck

    def computed() -> Any:
        with market_wide(context.store), CertificateCheck.by_settings(context.store, context.settings, None) as check:
            return check.lines()

    return kept(context, "certificate_lines", computed)


OUTCOMES_BY_BOX_SQL = """SELECT box_id, sightholder_id, count(*) AS stones, sum(carat) AS carats,
       min(polished_date) AS first_polished, max(polished_date) AS last_polished
FROM polished_outcomes GROUP BY box_id, sightholder_id"""


def whole_market_outcomes(context: Context) -> Any:
    """The polished outcome reported on every box, one row per box and sightholder: stones, carats,
    the first and last polishing dates (an Arrow table)."""
    from ..accounts.security import market_wide

    def computed() -> Any:
        with market_wide(context.store):
            return context.store.query(OUTCOMES_BY_BOX_SQL)

    return kept(context, "outcomes_by_box", computed)


def outcome_of(context: Context, box_id: str, sightholder_id: str) -> dict[str, Any]:
    """The outcome a sightholder reported on one box (zero stones and no carats when none)."""
    import pyarrow.compute as pc

    table = whole_market_outcomes(context)
    found = table.filter(pc.and_(pc.equal(table.column("box_id"), box_id),
                                 pc.equal(table.column("sightholder_id"), sightholder_id))).to_pylist()
    if not found:
        return {"stones": 0, "carats": None, "first_polished": None, "last_polished": None}
    return {k: found[0][k] for k in ("stones", "carats", "first_polished", "last_polished")}
