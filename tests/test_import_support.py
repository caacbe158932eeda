"""Shared helpers for the import tests: one good record of every kind, in the trade's words, and
the assertions every import answer must satisfy. (No tests here: other modules import these.)"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from conftest import write
from roughtrace.domain.kinds import KINDS
from roughtrace.ingest import ImportResult, import_file
from roughtrace.store import Store

# One record of each kind that loads into the `market` (SH1 bought B1 on 2026-01-20, SH2 bought
# B2) plus the certificate BW0001 of `CERTIFICATES`.
GOOD: dict[str, dict[str, str]] = {
    "parties": {"party_id": "SH9", "name": "Surat Gems", "role": "sightholder", "category": "manufacturer",
                "country": "IN", "address": "Varachha Road, Surat"},
    "rough_sales": {"box_id": "B9", "sight": "2026-02", "sale_date": "2026-02-17", "seller_id": "DB", "buyer_id": "SH1",
                    "origin": "BW", "assortment": "A-300", "model": "stones", "size_min_ct": "0.75", "size_max_ct": "2.00",
                    "colour": "white", "quality": "high", "stones": "10", "carats": "12.500", "price_usd": "25000.00",
                    "kp_certificate_id": "BW0002"},
    "polished_outcomes": {"stone_id": "2231456789", "lab": "GIA", "sightholder_id": "SH1", "box_id": "B1",
                          "rough_stone_id": "R-17", "rough_carats": "1.500", "polished_date": "2026-03-02", "shape": "round",
                          "carat": "0.702", "color": "G", "clarity": "VS1", "cut": "EX"},
    "rough_dispositions": {"sightholder_id": "SH1", "box_id": "B1", "disposition": "in_process", "carats": "2.000",
                           "date": "2026-02-10", "counterparty_id": ""},
    "transactions": {"tx_id": "T1", "date": "2026-03-05", "shape": "round", "color": "G", "clarity": "VS1", "cut": "EX",
                     "lab": "GIA", "carat": "1.010", "price_usd": "9800.00", "price_type": "transaction", "source": "Antwerp tender"},
    "kp_certificates": {"certificate_id": "BW0009", "exporting_country": "BW", "importing_country": "BE", "origin": "BW",
                        "exporter_name": "Okavango Diamond Co", "exporter_address": "Gaborone",
                        "importer_name": "Antwerp Rough NV", "importer_address": "Hoveniersstraat 2, Antwerp",
                        "issuing_authority": "Ministry of Minerals", "issue_date": "2026-01-10", "expiry_date": "2026-03-10",
                        "parcels": "2", "hs_code": "7102.31", "carats": "62.500", "value_usd": "34000.00"},
    "parcel_contents": {"certificate_id": "BW0001", "hs_code": "7102.31", "assortment": "A-100", "carats": "1.000"},
}

CERTIFICATES = """
    certificate_id,exporting_country,importing_country,origin,exporter_name,exporter_address,importer_name,importer_address,issuing_authority,issue_date,expiry_date,parcels,hs_code,carats,value_usd
    BW0001,BW,BE,BW,Okavango Diamond Co,Gaborone,Antwerp Rough NV,Antwerp,Ministry of Minerals,2026-01-05,2026-03-05,2,7102.31,100.000,60000.00
    BW0001,BW,BE,BW,Okavango Diamond Co,Gaborone,Antwerp Rough NV,Antwerp,Ministry of Minerals,2026-01-05,2026-03-05,2,7102.21,20.000,1500.00
    """
"""A certificate with two lines: 100 ct of gem rough and 20 ct of industrial."""


@pytest.fixture(name="trade")
def trade_fixture(market: Store, tmp_path: Path) -> Store:
    """The market plus certificate BW0001, so every kind has what it refers to."""
    result = import_file(market, "kp_certificates", write(tmp_path, "certificates.csv", CERTIFICATES))
    assert result.rows_accepted == 2 and result.rows_rejected == 0, result.errors
    return market


def csv_text(header: list[str] | tuple[str, ...], rows: list[dict[str, Any]] | list[list[Any]]) -> str:
    """CSV text with quoting where needed, the way a spreadsheet saves it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(c, "") for c in header] if isinstance(row, dict) else row)
    return buffer.getvalue()


def write_rows(tmp_path: Path, kind: str, rows: list[dict[str, Any]], name: str | None = None) -> Path:
    """A CSV file of `kind` with every contract column, one line per row."""
    path = tmp_path / (name or f"{kind}.csv")
    path.write_text(csv_text(KINDS[kind].column_names, rows), encoding="utf-8")
    return path


def good(kind: str, **change: str) -> dict[str, str]:
    """The good record of `kind` with some values changed."""
    return {**GOOD[kind], **change}


def assert_balanced(result: ImportResult) -> None:
    """The invariant of every import: rows read = rows accepted + rows rejected."""
    assert result.rows_read == result.rows_accepted + result.rows_rejected, result.as_dict()


def problems(result: ImportResult) -> set[tuple[int | None, str | None, str]]:
    """Every problem of an import answer as (row, column, code)."""
    return {(p.row, p.column, p.code) for p in result.errors}


def imported(store: Store, kind: str, path: Path, **options: Any) -> ImportResult:
    """Import and check the invariant that holds for every answer."""
    result = import_file(store, kind, path, **options)
    assert_balanced(result)
    for p in result.errors:
        assert p.row is not None and p.code and p.message, p
    return result


def stored(store: Store, kind: str, columns: str = "*", where: str = "") -> list[dict[str, Any]]:
    """Stored rows of a kind in import order."""
    return store.query(f"SELECT {columns} FROM {kind} {where} ORDER BY batch_id, source_row").to_pylist()
