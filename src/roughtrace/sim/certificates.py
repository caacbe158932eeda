"""Kimberley Process certificates for the producers' exports: one certificate per (sight, producer,
sightholder) whose boxes leave the producer's country, one line per HS code, some lines declared
under or over their true value, and the parcel contents (by assortment) of some certificates."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .params import MarketParams
from .parties import PRODUCERS, Cast
from .sights import EPOCH, HS_CODES, BoxPlan
from .writers import carats_column, coded, date_column, decimal_text, usd_column

MISDECLARATIONS: tuple[str, ...] = ("none", "under", "over")
VALIDITY_DAYS = 90
"""A certificate expires this many days after issue."""


def certificate_ids(plan: BoxPlan) -> np.ndarray:
    """Each certificate's unique number: the exporting country's alpha-2 code, the year's last two
    digits and a serial, e.g. BW24000017 (KPCS Annex I)."""
    count = int(plan.certificate.max()) + 1 if len(plan) else 0
    if count == 0:
        return np.empty(0, dtype=str)
    first = np.full(count, -1)
    shipped = np.flatnonzero(plan.certificate >= 0)
    first[plan.certificate[shipped][::-1]] = shipped[::-1]
    country = np.array([p[2] for p in PRODUCERS])[plan.seller[first]]
    years = [(EPOCH + dt.timedelta(days=int(d))).year % 100 for d in plan.sale_day[first]]
    return np.array([f"{c}{y:02d}{i + 1:06d}" for i, (c, y) in enumerate(zip(country, years, strict=True))])


@dataclass(frozen=True)
class CertificateTables:
    certificates: pa.Table
    parcel_contents: pa.Table
    truth_lines: pa.Table


def build_certificates(rng: np.random.Generator, params: MarketParams, cast: Cast, plan: BoxPlan, ids: np.ndarray,
                       box_carats_mct: np.ndarray, price_cents: np.ndarray, assortment_codes: np.ndarray) -> CertificateTables:
    """The certificate lines (summed over their boxes), with misdeclared values drawn line by line.
    A line's true value is what its boxes were sold for; an honest line declares exactly that."""
    boxes = np.flatnonzero(plan.certificate >= 0)
    cert = plan.certificate[boxes]
    line_key = cert * len(HS_CODES) + plan.hs[boxes]
    order = np.argsort(line_key, kind="stable")
    boxes, cert, line_key = boxes[order], cert[order], line_key[order]
    line_first = np.flatnonzero(np.r_[True, line_key[1:] != line_key[:-1]])
    line_cert = cert[line_first]
    line_hs = plan.hs[boxes[line_first]]
    carats = np.add.reduceat(box_carats_mct[boxes], line_first)
    true_value = np.add.reduceat(price_cents[boxes], line_first)  # what the goods were sold for

    n_lines = len(line_first)
    draw = rng.random(n_lines)
    misdeclared = np.where(draw < params.misdeclared_share / 2, 1,
                           np.where(draw < params.misdeclared_share, 2, 0)).astype(np.int8)
    low, high = params.misdeclared_range
    off = rng.uniform(low, high, n_lines)
    ratio = np.where(misdeclared == 1, 1 - off, np.where(misdeclared == 2, 1 + off, 1.0))
    declared = np.maximum(np.rint(true_value * ratio), 1).astype(np.int64)
    ratio = declared / true_value

    cert_first = np.flatnonzero(np.r_[True, cert[1:] != cert[:-1]])
    cert_number = cert[cert_first]
    parcels = np.diff(np.r_[cert_first, len(cert)])
    first_box = boxes[cert_first]
    origin_code = np.unique(plan.origin, return_inverse=True)[1][boxes]
    uniform = np.minimum.reduceat(origin_code, cert_first) == np.maximum.reduceat(origin_code, cert_first)
    origin = np.where(uniform, plan.origin[first_box], "mixed")
    issue = np.maximum.reduceat(plan.sale_day[boxes], cert_first) + rng.integers(2, 7, len(cert_first))
    exporter = np.array([p[0] for p in PRODUCERS])[plan.seller[first_box]]
    importer = cast.sightholder_id[plan.buyer[first_box]]
    exp_info = [cast.party(p) for p in exporter]
    imp_info = [cast.party(p) for p in importer]
    exporting = np.array([i["country"] for i in exp_info])
    header_index = np.searchsorted(cert_number, line_cert)

    def per_line(values: list[str] | np.ndarray) -> pa.Array:
        return pa.array(np.asarray(values)[header_index], pa.string())

    certificates = pa.table({
        "certificate_id": per_line(ids[cert_number]),
        "exporting_country": per_line(exporting),
        "importing_country": per_line([i["country"] for i in imp_info]),
        "origin": per_line(origin),
        "exporter_name": per_line([i["name"] for i in exp_info]),
        "exporter_address": per_line([i["address"] for i in exp_info]),
        "importer_name": per_line([i["name"] for i in imp_info]),
        "importer_address": per_line([i["address"] for i in imp_info]),
        "issuing_authority": per_line([cast.party(f"KPA-{c}")["name"] for c in exporting]),
        "issue_date": date_column(issue[header_index]),
        "expiry_date": date_column(issue[header_index] + VALIDITY_DAYS),
        "parcels": pa.array(parcels[header_index], pa.int64()),
        "hs_code": coded(line_hs, HS_CODES),
        "carats": carats_column(carats),
        "value_usd": usd_column(declared),
    })
    truth_lines = pa.table({
        "certificate_id": certificates["certificate_id"],
        "hs_code": coded(line_hs, HS_CODES),
        "carats": carats_column(carats),
        "declared_value_usd": usd_column(declared),
        "true_value_usd": usd_column(true_value),
        "misdeclaration": coded(misdeclared, MISDECLARATIONS),
        "ratio": decimal_text(np.rint(ratio * 10_000).astype(np.int64), 4),
    })

    with_contents = rng.random(len(cert_first)) < params.parcel_contents_share
    chosen = with_contents[np.searchsorted(cert_number, cert)]
    line_of_box = np.repeat(np.arange(n_lines), np.diff(np.r_[line_first, len(boxes)]))
    content_key = line_of_box[chosen] * (len(assortment_codes) + 1) + plan.assortment[boxes[chosen]]
    corder = np.argsort(content_key, kind="stable")
    content_key = content_key[corder]
    starts = np.flatnonzero(np.r_[True, content_key[1:] != content_key[:-1]]) if len(content_key) else np.empty(0, int)
    content_line = content_key[starts] // (len(assortment_codes) + 1)
    content_assortment = content_key[starts] % (len(assortment_codes) + 1)
    content_carats = (np.add.reduceat(box_carats_mct[boxes[chosen]][corder], starts) if len(starts)
                      else np.empty(0, np.int64))
    parcel_contents = pa.table({
        "certificate_id": pa.array(ids[line_cert[content_line]], pa.string()),
        "hs_code": coded(line_hs[content_line], HS_CODES),
        "assortment": pa.array(assortment_codes[content_assortment], pa.string()),
        "carats": carats_column(content_carats),
    })
    return CertificateTables(certificates, parcel_contents, truth_lines)
