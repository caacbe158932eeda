"""The use cases behind `status` and `quarantine`: typed results from a context, and a command line
that holds no SQL of its own."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from conftest import write
from roughtrace import cli
from roughtrace.app import Context
from roughtrace.app.quarantine import export_quarantine, quarantined
from roughtrace.app.status import store_status
from roughtrace.ingest import import_file
from roughtrace.settings import Settings
from roughtrace.store import Store

PARTIES = """
    party_id,name,role,category,country
    DB,Producer,producer,,BW
    SH1,=Cutter One,sightholder,nonsense,IN
    SH2,Dealer Two,sightholder,dealer,BE
"""


def test_the_command_line_holds_no_sql() -> None:
    source = Path(cli.__file__).read_text(encoding="utf-8")
    assert not re.search(r"\.(query|execute|rows)\(", source)
    assert not re.search(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE)\b", source)


def test_status_counts_what_the_store_holds(store: Store, tmp_path: Path) -> None:
    import_file(store, "parties", write(tmp_path, "parties.csv", PARTIES))
    held = store_status(Context(store, Settings()))
    assert held.rows["parties"] == 2 and held.rows["rough_sales"] == 0 and list(held.rows)[0] == "parties"
    assert (held.batches, held.quarantined, held.engine) == (1, 1, store.engine)
    assert held.as_dict()["rows"] == held.rows


def test_quarantine_gives_each_rejected_record_with_its_line_and_writes_it_safely(store: Store, tmp_path: Path) -> None:
    result = import_file(store, "parties", write(tmp_path, "parties.csv", PARTIES))
    context = Context(store, Settings())
    [row] = quarantined(context)
    assert (row.batch_id, row.file_name, row.source_row, row.line) == (result.batch_id, "parties.csv", 2, 3)
    assert row.record["name"] == "=Cutter One" and [p["code"] for p in row.problems] == ["unknown_value"]
    assert quarantined(context, batch=result.batch_id + 1) == []
    out = tmp_path / "quarantine.csv"
    assert export_quarantine(context, out) == 1
    [header, cells] = list(csv.reader(out.open(encoding="utf-8")))
    assert header[:7] == ["batch_id", "kind", "file", "row", "line", "codes", "problems"]
    assert dict(zip(header, cells, strict=True))["name"] == "'=Cutter One"
