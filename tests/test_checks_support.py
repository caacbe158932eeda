"""Fixtures for the verification tests: a store loaded from small CSV texts in the trade's words.

Loads go through the importer when it exists (`roughtrace.ingest.import_file`); until then the
texts are typed by the kinds' columns and appended through the store port, as the importer would.
"""

from __future__ import annotations

import os
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from conftest import ARROW_TYPES, load, new_store  # noqa: F401  (re-exported for the checks tests)
from roughtrace.domain import kinds
from roughtrace.provenance import boxes

PARTIES = """
party_id,name,role,category,country
P1,Producer One,producer,,BW
M1,Cutter One,sightholder,manufacturer,BE
M2,Cutter Two,sightholder,manufacturer,IN
D1,Dealer One,sightholder,dealer,AE
T1,Trader One,trader,,AE
"""




def market(sales: str, outcomes: str = "", dispositions: str = "", parties: str = PARTIES):
    """A store holding the given parties, boxes, outcomes and dispositions."""
    store = new_store()
    load(store, "parties", parties)
    load(store, "rough_sales", sales)
    if outcomes.strip():
        load(store, "polished_outcomes", outcomes)
    if dispositions.strip():
        load(store, "rough_dispositions", dispositions)
    return store


SALES_HEADER = ("box_id,sight,sale_date,seller_id,buyer_id,origin,assortment,model,size_min_ct,size_max_ct,"
                "colour,quality,stones,carats,price_usd,kp_certificate_id")
OUTCOMES_HEADER = ("stone_id,lab,sightholder_id,box_id,rough_stone_id,rough_carats,polished_date,shape,carat,"
                   "color,clarity,cut")
DISPOSITIONS_HEADER = "sightholder_id,box_id,disposition,carats,date,counterparty_id"


def settings(**overrides):
    from roughtrace.settings import Settings

    return Settings(overrides, environ={})


def ct(text: str) -> Decimal:
    return Decimal(text)


def load_market_directory(store, directory) -> dict[str, int]:
    """Load a simulator market's input files (manifest order) into the store; returns rows by kind.
    Uses the importer when it exists, else a typed Arrow read appended through the port."""
    import json
    from pathlib import Path

    directory = Path(directory)
    manifest = json.loads((directory / "manifest.json").read_text())
    import_file = None
    if os.environ.get("ROUGHTRACE_TEST_FAST_LOAD") != "1":
        try:
            from roughtrace.ingest import import_file
        except Exception:  # the importer is not there (or not working) yet: load as it would
            import_file = None
    rows: dict[str, int] = {}
    for batch, entry in enumerate(manifest["files"], start=1):
        kind, path = entry["kind"], directory / entry["file"]
        if import_file is not None:
            result = import_file(store, kind, path)
            assert result.rows_rejected == 0, result.errors[:3]
            rows[kind] = result.rows_accepted
            continue
        k = kinds.KINDS[kind]
        types = {c.name: ARROW_TYPES[c.type] for c in k.columns}
        reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=64 << 20),
                                convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True,
                                                                     null_values=[""]))
        first = 1
        written = 0
        for record_batch in reader:
            n = record_batch.num_rows
            table = pa.Table.from_batches([record_batch])
            table = table.append_column("batch_id", pa.array(np.full(n, batch, dtype=np.int64)))
            table = table.append_column("source_row", pa.array(np.arange(first, first + n, dtype=np.int64)))
            store.append(kind, table)
            first += n
            written += n
        boxes.refresh(store, kind, batch)  # as the importer does
        rows[kind] = written
    return rows


def builder(engine, tmp_path):
    """Markets on an engine, for a test module's `build` fixture over conftest's `engine`:
    build(sales, outcomes, dispositions, parties) returns a migrated store holding them."""
    from conftest import make_store

    opened = []

    def make(sales: str, outcomes: str = "", dispositions: str = "", parties: str = PARTIES):
        folder = tmp_path / f"market{len(opened)}"
        folder.mkdir()
        stores = make_store(engine, folder)
        store = next(stores)
        opened.append(stores)
        store.migrate()
        load(store, "parties", parties)
        load(store, "rough_sales", sales)
        if outcomes.strip():
            load(store, "polished_outcomes", outcomes)
        if dispositions.strip():
            load(store, "rough_dispositions", dispositions)
        return store

    yield make
    for stores in opened:
        next(stores, None)
