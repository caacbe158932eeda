"""Kimberley Process certificates for the producers' exports: one certificate per (sight, producer,
sightholder) whose boxes leave the producer's country, one line per HS code, some lines declared
under or over their true value, and the parcel contents (by assortment) of some certificates.

With `certificate_make_up` shipment a line is a shipment's whole goods of its HS code: the linked
boxes are a small share of it, the rest is other goods (other boxes, sellers and sights, the open
market) drawn as parcels of assortments of that HS code priced at the producers' book. An exporter
ships the same kinds of goods from one shipment to the next: each has a usual assortment profile per
HS code (a few assortments of neighbouring value, drawn once), and `exporter_mix_persistence` of the
other-goods parcels come from it, the rest from the whole catalogue by supply weight."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .params import MarketParams
from .parties import PRODUCERS, Cast
from .prices import month_of
from .sights import EPOCH, HS_CODES, BoxPlan
from .writers import carats_column, coded, date_column, decimal_text, usd_column

MISDECLARATIONS: tuple[str, ...] = ("none", "under", "over")
VALIDITY_DAYS = 90
"""A certificate expires this many days after issue."""
OTHER_PARCELS_MEAN = 5
"""Other goods on a shipment's line come as 1 + Poisson(5) parcels, each of one assortment."""
OTHER_GOODS_PRICE_SD = 0.10
"""Log-spread of an other-goods parcel's value around the book (bought from several sources)."""
PROFILE_ASSORTMENTS = 6
"""An exporter's usual goods of an HS code: this many assortments nearest in book value to a centre
assortment drawn by supply weight (its usual sources and the region of the catalogue it trades in)."""
EXTRA_LINE_CARATS = (0.5, 0.8)
"""A line of goods alone (no linked box) holds lognormal(log 0.5, 0.8) x the certificate's linked carats."""


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


@dataclass(frozen=True)
class ShipmentBook:
    """What other goods on a shipment's lines are drawn from: the catalogue's HS code and supply
    weight per assortment, and the producers' price book (USD per rough carat by assortment, month)."""

    hs: np.ndarray
    weight: np.ndarray
    book: np.ndarray
    month_starts: np.ndarray


@dataclass(frozen=True)
class OtherGoods:
    """Other goods of the lines: lines added (certificate, HS code) and parcels (line, assortment,
    carats mct, value cents), line indices counting the box lines first, then the added ones."""

    added_cert: np.ndarray
    added_hs: np.ndarray
    parcel_line: np.ndarray
    parcel_assortment: np.ndarray
    parcel_mct: np.ndarray
    parcel_cents: np.ndarray


def exporter_profiles(rng: np.random.Generator, shipment: ShipmentBook, exporters: int) -> np.ndarray:
    """Each exporter's usual goods: (exporters, assortments) weights, per HS code PROFILE_ASSORTMENTS
    assortments nearest in mean log book price to a centre drawn by supply weight, weighted by a
    flat Dirichlet draw (each exporter's HS codes sum to 1). Drawn for every exporter and HS code
    whatever is used, so the profiles depend on the seed and catalogue only."""
    level = np.log(np.maximum(shipment.book, 1e-9)).mean(axis=1)
    profile = np.zeros((exporters, len(shipment.hs)))
    for code in range(len(HS_CODES)):
        centre_pick = rng.random(exporters)
        weights = rng.gamma(1.0, 1.0, (exporters, PROFILE_ASSORTMENTS))
        candidates = np.flatnonzero((shipment.hs == code) & (shipment.weight > 0))
        if not len(candidates):
            continue
        cdf = np.cumsum(shipment.weight[candidates])
        centre = candidates[np.minimum(np.searchsorted(cdf, centre_pick * cdf[-1]), len(candidates) - 1)]
        for e in range(exporters):
            near = candidates[np.argsort(np.abs(level[candidates] - level[centre[e]]), kind="stable")]
            near = near[:PROFILE_ASSORTMENTS]
            profile[e, near] = weights[e, :len(near)] / weights[e, :len(near)].sum()
    return profile


def _weighted_pick(weights: np.ndarray, candidates: np.ndarray, u: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(weights[candidates])
    return candidates[np.minimum(np.searchsorted(cdf, u * cdf[-1]), len(candidates) - 1)]


def other_goods(rng: np.random.Generator, params: MarketParams, shipment: ShipmentBook, line_cert: np.ndarray,
                line_hs: np.ndarray, line_mct: np.ndarray, cert_mct: np.ndarray, cert_day: np.ndarray,
                cert_exporter: np.ndarray | None = None, profile_rng: np.random.Generator | None = None) -> OtherGoods:
    """Draw what a shipment's lines carry beyond their linked boxes. A box line's linked share of its
    carats is lognormal around `linked_share_median` (clipped to 0.01..1); a certificate gets, with
    `extra_line_share`, a line of each other HS code for goods alone. A parcel's assortment comes,
    with `exporter_mix_persistence`, from its exporter's profile (exporter_profiles, from
    `profile_rng`; `cert_exporter` each certificate's exporter index), else from the whole catalogue
    by supply weight. Every draw is made whatever the parameters, so that one parameter changes only
    what it names (persistence 0 gives the catalogue draws of `rng` alone)."""
    n_certs = len(cert_mct)
    share = np.clip(np.exp(rng.normal(np.log(params.linked_share_median), params.linked_share_sd, len(line_cert))),
                    0.01, 1.0)
    has = np.zeros((n_certs, len(HS_CODES)), dtype=bool)
    has[line_cert, line_hs] = True
    extra_draw = rng.random((n_certs, len(HS_CODES)))
    available = np.array([shipment.weight[shipment.hs == h].sum() > 0 for h in range(len(HS_CODES))])
    added = ~has & (extra_draw < params.extra_line_share) & available[None, :]
    added_cert, added_hs = np.nonzero(added)
    low, sd = EXTRA_LINE_CARATS
    added_mct = np.rint(cert_mct[added_cert] * np.exp(rng.normal(np.log(low), sd, len(added_cert)))).astype(np.int64)
    other_mct = np.concatenate([np.rint(line_mct * (1 / share - 1)).astype(np.int64), np.maximum(added_mct, 1)])
    hs = np.concatenate([line_hs, added_hs])
    cert = np.concatenate([line_cert, added_cert])

    parcels = np.minimum(1 + rng.poisson(OTHER_PARCELS_MEAN, len(hs)), np.maximum(other_mct, 0))
    line = np.repeat(np.arange(len(hs)), parcels)
    part = rng.gamma(1.0, 1.0, len(line))
    first = np.cumsum(parcels) - parcels
    nonempty = parcels > 0
    totals = np.zeros(len(hs))
    totals[nonempty] = np.add.reduceat(part, first[nonempty]) if len(part) else 0.0
    mct = np.floor(part / totals[line] * other_mct[line]).astype(np.int64)
    if len(line):
        mct[first[nonempty]] += other_mct[nonempty] - np.add.reduceat(mct, first[nonempty])
    assortment = np.zeros(len(line), dtype=np.int64)
    pick = rng.random(len(line))
    for code in range(len(HS_CODES)):
        rows = np.flatnonzero(hs[line] == code)
        candidates = np.flatnonzero(shipment.hs == code)
        if len(rows) and len(candidates):
            assortment[rows] = _weighted_pick(shipment.weight, candidates, pick[rows])
    if profile_rng is not None and cert_exporter is not None:
        exporters = int(cert_exporter.max()) + 1 if len(cert_exporter) else 0
        profile = exporter_profiles(profile_rng, shipment, exporters)
        usual = profile_rng.random(len(line)) < params.exporter_mix_persistence
        usual_pick = profile_rng.random(len(line))
        parcel_exporter = cert_exporter[cert[line]]
        for e in range(exporters):
            for code in range(len(HS_CODES)):
                rows = np.flatnonzero(usual & (parcel_exporter == e) & (hs[line] == code))
                candidates = np.flatnonzero((shipment.hs == code) & (profile[e] > 0))
                if len(rows) and len(candidates):
                    assortment[rows] = _weighted_pick(profile[e], candidates, usual_pick[rows])
    month = month_of(cert_day[cert[line]], shipment.month_starts)
    noise = np.exp(rng.normal(0, OTHER_GOODS_PRICE_SD, len(line)))
    cents = np.rint(mct / 1000 * shipment.book[assortment, month] * noise * 100).astype(np.int64)
    keep = mct > 0
    return OtherGoods(added_cert, added_hs.astype(np.int8), line[keep], assortment[keep], mct[keep],
                      np.maximum(cents[keep], 1))


def build_certificates(rng: np.random.Generator, params: MarketParams, cast: Cast, plan: BoxPlan, ids: np.ndarray,
                       box_carats_mct: np.ndarray, price_cents: np.ndarray, assortment_codes: np.ndarray,
                       shipment: ShipmentBook | None = None, goods_rng: np.random.Generator | None = None,
                       profile_rng: np.random.Generator | None = None) -> CertificateTables:
    """The certificate lines with misdeclared values drawn line by line. A line's true value is what
    its boxes were sold for plus, with `certificate_make_up` shipment (needs `shipment` and
    `goods_rng`; `profile_rng` draws the exporters' usual goods), the value of its other goods; an
    honest line declares exactly that."""
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
    linked_carats = carats.copy()
    cert_first = np.flatnonzero(np.r_[True, cert[1:] != cert[:-1]])
    cert_number = cert[cert_first]
    first_box = boxes[cert_first]
    issue_day = np.maximum.reduceat(plan.sale_day[boxes], cert_first)
    box_line = np.repeat(np.arange(len(line_first)), np.diff(np.r_[line_first, len(boxes)]))
    parcels = np.diff(np.r_[cert_first, len(cert)])
    content_line, content_assortment, content_mct = box_line, plan.assortment[boxes], box_carats_mct[boxes]

    if params.certificate_make_up == "shipment":
        if shipment is None or goods_rng is None:
            raise ValueError("certificate_make_up shipment needs the shipment book and its random stream")
        cert_index = np.searchsorted(cert_number, line_cert)
        cert_mct = np.add.reduceat(box_carats_mct[boxes], cert_first)
        goods = other_goods(goods_rng, params, shipment, cert_index, line_hs, carats, cert_mct, issue_day,
                            plan.seller[first_box], profile_rng)
        added = len(goods.added_cert)
        line_cert = np.concatenate([line_cert, cert_number[goods.added_cert]])
        line_hs = np.concatenate([line_hs, goods.added_hs])
        other_mct = np.bincount(goods.parcel_line, goods.parcel_mct, len(line_cert)).astype(np.int64)
        other_cents = np.bincount(goods.parcel_line, goods.parcel_cents, len(line_cert)).astype(np.int64)
        linked_carats = np.concatenate([carats, np.zeros(added, np.int64)])
        carats = linked_carats + other_mct
        true_value = np.concatenate([true_value, np.zeros(added, np.int64)]) + other_cents
        line_cert_index = np.concatenate([cert_index, goods.added_cert])
        parcels = parcels + np.bincount(line_cert_index[goods.parcel_line], minlength=len(cert_number))
        content_line = np.concatenate([content_line, goods.parcel_line])
        content_assortment = np.concatenate([content_assortment, goods.parcel_assortment])
        content_mct = np.concatenate([content_mct, goods.parcel_mct])
        line_order = np.lexsort((line_hs, line_cert))
        rank = np.empty(len(line_order), dtype=np.int64)
        rank[line_order] = np.arange(len(line_order))
        line_cert, line_hs, carats, linked_carats, true_value = (
            a[line_order] for a in (line_cert, line_hs, carats, linked_carats, true_value))
        content_line = rank[content_line]
    n_lines = len(line_cert)

    draw = rng.random(n_lines)
    misdeclared = np.where(draw < params.misdeclared_share / 2, 1,
                           np.where(draw < params.misdeclared_share, 2, 0)).astype(np.int8)
    low, high = params.misdeclared_range
    off = rng.uniform(low, high, n_lines)
    ratio = np.where(misdeclared == 1, 1 - off, np.where(misdeclared == 2, 1 + off, 1.0))
    declared = np.maximum(np.rint(true_value * ratio), 1).astype(np.int64)
    ratio = declared / true_value

    origin_code = np.unique(plan.origin, return_inverse=True)[1][boxes]
    uniform = np.minimum.reduceat(origin_code, cert_first) == np.maximum.reduceat(origin_code, cert_first)
    origin = np.where(uniform, plan.origin[first_box], "mixed")
    issue = issue_day + rng.integers(2, 7, len(cert_first))
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
        "linked_carats": carats_column(linked_carats),
        "declared_value_usd": usd_column(declared),
        "true_value_usd": usd_column(true_value),
        "misdeclaration": coded(misdeclared, MISDECLARATIONS),
        "ratio": decimal_text(np.rint(ratio * 10_000).astype(np.int64), 4),
    })

    with_contents = rng.random(len(cert_first)) < params.parcel_contents_share
    chosen = with_contents[header_index[content_line]]
    content_key = content_line[chosen] * (len(assortment_codes) + 1) + content_assortment[chosen]
    corder = np.argsort(content_key, kind="stable")
    content_key = content_key[corder]
    starts = np.flatnonzero(np.r_[True, content_key[1:] != content_key[:-1]]) if len(content_key) else np.empty(0, int)
    key_line = content_key[starts] // (len(assortment_codes) + 1)
    key_assortment = content_key[starts] % (len(assortment_codes) + 1)
    key_carats = (np.add.reduceat(content_mct[chosen][corder], starts) if len(starts) else np.empty(0, np.int64))
    parcel_contents = pa.table({
        "certificate_id": pa.array(ids[line_cert[key_line]], pa.string()),
        "hs_code": coded(line_hs[key_line], HS_CODES),
        "assortment": pa.array(assortment_codes[key_assortment], pa.string()),
        "carats": carats_column(key_carats),
    })
    return CertificateTables(certificates, parcel_contents, truth_lines)
