"""State kept for a store (its in-memory signing key, its loaded price model) belongs to that store
object: a store opened later, even at the same address in memory, never receives an earlier one's."""

from __future__ import annotations

import datetime as dt
import gc
from decimal import Decimal

import pytest

from roughtrace.errors import NotFound
from roughtrace.ledger.heads import raw_public_key
from roughtrace.ledger.keys import ensure_key, trusted_key
from roughtrace.pricing import index as price_index
from roughtrace.pricing.quotes import Stone, quote
from roughtrace.pricing.schema import ensure_schema
from roughtrace.store.duckdb import DuckDBStore
from roughtrace.store.port import Store
from test_pricing_quotes import synthetic


def in_memory_store() -> Store:
    store = DuckDBStore(":memory:")
    store.migrate()
    return store


def reopened_at(address: int) -> Store:
    """A new in-memory store whose object has the id `address` of a store already dropped: ids are
    reused after garbage collection, and this makes the reuse happen rather than hope for it."""
    gc.collect()
    for _ in range(20):
        blanks = [DuckDBStore.__new__(DuckDBStore) for _ in range(2000)]
        reused = next((blank for blank in blanks if id(blank) == address), None)
        del blanks
        if reused is not None:
            reused.__init__(":memory:")  # type: ignore[misc]
            reused.migrate()
            return reused
        gc.collect()
    pytest.skip("no new store object took the dropped store's id in this process: the reuse could not be forced")


def test_a_store_at_a_dropped_stores_id_gets_a_signing_key_of_its_own():
    first = in_memory_store()
    first_key = raw_public_key(ensure_key(first))
    address = id(first)
    first.close()
    del first
    second = reopened_at(address)
    assert id(second) == address
    assert trusted_key(second) is None
    assert raw_public_key(ensure_key(second)) != first_key
    second.close()


def test_a_store_at_a_dropped_stores_id_never_quotes_from_its_model():
    stone = Stone("round", Decimal("1.20"), "H", "VS2", as_of=dt.date(2025, 3, 15))
    first = in_memory_store()
    ensure_schema(first)
    first.append("transactions", synthetic(300))
    price_index.build(first)
    assert quote(first, stone).price_per_carat > 0
    address = id(first)
    first.close()
    del first
    second = reopened_at(address)
    assert id(second) == address
    ensure_schema(second)
    with pytest.raises(NotFound):
        quote(second, stone)
    second.close()
