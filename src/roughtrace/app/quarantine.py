"""`quarantine list` and `quarantine export`: the rows imports rejected, verbatim, with their reasons."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import writing
from . import Context

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class QuarantinedRow:
    """One rejected record as its file gave it, where it was, and every problem found in it."""

    batch_id: int
    kind: str
    file_name: str
    source_row: int
    record: dict[str, Any]
    problems: list[dict[str, Any]]

    @property
    def line(self) -> int | None:
        """The line a user finds the record on, when its file has lines."""
        return next((p["line"] for p in self.problems if p.get("line") is not None), None)

    def as_dict(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "kind": self.kind, "file_name": self.file_name,
                "source_row": self.source_row, "record": self.record, "problems": self.problems}


def quarantined(context: Context, batch: int | None = None) -> list[QuarantinedRow]:
    """Every quarantined row (or one batch's), by batch and record number."""
    where, params = ("WHERE batch_id = ?", (batch,)) if batch is not None else ("", ())
    rows = context.store.query(f"SELECT batch_id, kind, file_name, source_row, record, problems FROM quarantine {where} "
                               "ORDER BY batch_id, source_row", params).to_pylist()
    return [QuarantinedRow(r["batch_id"], r["kind"], r["file_name"], r["source_row"], json.loads(r["record"]),
                           json.loads(r["problems"])) for r in rows]


def spreadsheet_safe(value: str) -> str:
    """A cell a spreadsheet would run as a formula is prefixed with an apostrophe."""
    return "'" + value if value.startswith(FORMULA_START) else value


def export_quarantine(context: Context, path: Path, batch: int | None = None) -> int:
    """Write the quarantined rows (or one batch's) to a CSV file: where each came from, its problems'
    codes and messages, then its fields verbatim (formula-looking cells escaped). Returns the rows written."""
    rows = quarantined(context, batch)
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row.record if k not in columns]
    with writing(path), path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["batch_id", "kind", "file", "row", "line", "codes", "problems"] + columns)
        for row in rows:
            cells = [str(row.batch_id), row.kind, row.file_name, str(row.source_row), str(row.line or ""),
                     " ".join(p["code"] for p in row.problems), "; ".join(p["message"] for p in row.problems)]
            cells += ["" if row.record.get(c) is None else str(row.record.get(c)) for c in columns]
            writer.writerow([spreadsheet_safe(c) for c in cells])
    return len(rows)


def batch_quarantine(context: Context, batch: int) -> list[QuarantinedRow]:
    """The rows one import batch quarantined, for the account that sent it through the service, its
    party's other accounts, or an admin; any other caller is answered as for a batch that does not
    exist (batch_not_found)."""
    from .access import hidden, own_upload, require, sees_all

    require(context.actor, "imports")
    jobs = context.store.rows("SELECT account_id, party_id FROM service_jobs WHERE batch_id = ?", (batch,))
    known = bool(jobs) or (sees_all(context.actor) and bool(
        context.store.rows("SELECT batch_id FROM batches WHERE batch_id = ?", (batch,))))
    if not known or not (sees_all(context.actor) or any(own_upload(context.actor, j["account_id"], j["party_id"]) for j in jobs)):
        raise hidden("import batch", str(batch), "batch_not_found")
    return quarantined(context, batch)
