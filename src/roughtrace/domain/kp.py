"""Kimberley Process certificates: HS codes and the certificate number rule (KPCS Annex I)."""

from __future__ import annotations

from .countries import ALPHA2

HS_CODES: dict[str, str] = {
    "7102.10": "unsorted",
    "7102.21": "industrial (unworked or simply sawn, cleaved or bruted)",
    "7102.31": "non-industrial, gem quality (unworked or simply sawn, cleaved or bruted)",
}
HS_UNSORTED, HS_INDUSTRIAL, HS_GEM = "7102.10", "7102.21", "7102.31"


def certificate_number_ok(certificate_id: str, exporting_country: str) -> bool:
    """A KP certificate's unique number starts with its exporting country's alpha-2 code
    (any case), e.g. 'BW123456' for Botswana."""
    country = exporting_country.strip().upper()
    return country in ALPHA2 and certificate_id.strip().upper().startswith(country)
