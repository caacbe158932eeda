"""generate_market: draw a whole market and stream it to disk as interchange files plus ground truth.

Randomness comes from one numpy Generator per stream (table and chunk), each seeded from
(seed, stream, chunk): the files depend on the seed and parameters only, never on thread timing."""

from __future__ import annotations

import datetime as dt
import json
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..domain import kinds
from ..domain.grades import CLARITIES, COLOURS, CUTS, LABS, SHAPES
from ..domain.rough import DISPOSITIONS, MODELS, QUALITIES, ROUGH_COLOURS, SIGHTHOLDER_CATEGORIES
from .assortments import Catalogue, build_catalogue
from .boxes import LAB_NUMBER_DIGITS, ChunkResult, generate_chunk
from .certificates import ShipmentBook, build_certificates, certificate_ids
from .order import reorder_rows
from .params import BEHAVIOURS, FATES, MarketParams, market_params
from .parties import PRODUCERS, Cast, build_cast
from .prices import NO_CUT, PriceGrid, drift_index, polished_value_per_rough_carat, rough_price_book
from .sights import BoxPlan, calibrated_plan, day_number, hs_code_index
from .transactions import CHUNK_ROWS, COLUMNS, transaction_chunk
from .writers import (
    CsvFile,
    CsvText,
    carats_column,
    coded,
    csv_text,
    date_column,
    decimal_text,
    fixed_ids,
    text_matrix,
    usd_column,
    write_table,
)

STREAMS = {"cast": 1, "assortments": 2, "prices": 3, "plan": 4, "boxes": 5, "certificates": 6, "transactions": 7,
           "book": 8, "shipments": 9, "exporters": 10}
TRUTH_DIR = "truth"


@dataclass(frozen=True)
class MarketFile:
    kind: str
    path: Path
    rows: int


@dataclass(frozen=True)
class Market:
    """A generated market: its input files in load order, the ground truth beside them, and the parameters."""

    out_dir: Path
    seed: int
    size: str
    params: MarketParams
    files: tuple[MarketFile, ...]
    truth: tuple[MarketFile, ...]

    def file(self, kind: str) -> MarketFile:
        return next(f for f in self.files + self.truth if f.kind == kind)

    @property
    def manifest(self) -> Path:
        return self.out_dir / "manifest.json"


def _rng(seed: int, stream: str, *extra: int) -> np.random.Generator:
    return np.random.default_rng([seed, STREAMS[stream], *extra])


def _month_starts(params: MarketParams) -> np.ndarray:
    end = params.as_of()
    months = (end.year - params.start_year) * 12 + end.month
    return np.array([day_number(dt.date(params.start_year + m // 12, m % 12 + 1, 1)) for m in range(months + 1)])


def generate_market(out_dir: str | Path, seed: int = 0, size: str = "small", workers: int = 2,
                    **overrides: Any) -> Market:
    """Write a simulated market into `out_dir`: parties.csv, rough_sales.csv, polished_outcomes.csv,
    rough_dispositions.csv, transactions.csv, kp_certificates.csv, parcel_contents.csv, manifest.json,
    and truth/ (sightholders.csv, boxes.csv, certificate_lines.csv). `size` picks a preset
    (small, medium, large); any MarketParams field can be overridden by name. The same seed, size and
    parameters give byte-identical files whatever `workers` (threads) is."""
    params = market_params(size, **overrides)
    out = Path(out_dir)
    (out / TRUTH_DIR).mkdir(parents=True, exist_ok=True)
    cast = build_cast(_rng(seed, "cast"), params)
    catalogue = build_catalogue(_rng(seed, "assortments"), params.assortments, params.model_yields)
    month_starts = _month_starts(params)
    grid = PriceGrid(drift_index(_rng(seed, "prices"), len(month_starts), params.monthly_drift_mean,
                                 params.monthly_drift_sd))
    value_per_ct = polished_value_per_rough_carat(_rng(seed, "book"), catalogue, grid)
    book = rough_price_book(value_per_ct, grid, float(params.costs_factor))
    plan = calibrated_plan(lambda: _rng(seed, "plan"), params, cast, catalogue)
    cert_ids = certificate_ids(plan)
    as_of_day = day_number(params.as_of())
    labels = [f"{y:04d}-{m:02d}" for y, m in params.sight_months()]

    files: dict[str, int] = {}
    truth: dict[str, int] = {}
    files["parties"] = write_table(out / "parties.csv", _parties_table(cast), quote=True)
    truth["sightholders"] = write_table(out / TRUTH_DIR / "sightholders.csv", _sightholders_truth(cast))

    n = len(plan)
    box_carats = np.zeros(n, np.int64)
    price = np.zeros(n, np.int64)
    bounds = list(range(0, n, params.chunk_boxes)) + [n]
    chunks = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def make(index: int) -> tuple[slice, ChunkResult, dict[str, pa.Table]]:
        boxes = chunks[index]
        result = generate_chunk(_rng(seed, "boxes", index), index, params, cast, catalogue, plan, grid,
                                month_starts, as_of_day, boxes)
        tables = _chunk_tables(plan, cast, catalogue, cert_ids, labels, boxes, result)
        return boxes, result, {name: csv_text(table) for name, table in tables.items()}

    with (CsvFile(out / "rough_sales.csv", kinds.ROUGH_SALES.column_names) as sales,
          CsvFile(out / "polished_outcomes.csv", kinds.POLISHED_OUTCOMES.column_names) as outcomes,
          CsvFile(out / "rough_dispositions.csv", kinds.ROUGH_DISPOSITIONS.column_names) as dispositions,
          CsvFile(out / TRUTH_DIR / "boxes.csv", ("box_id", "buyer_id", "fate", "true_rough_value_usd",
                                                   "true_yield", "in_process_carats")) as boxes_truth):
        for boxes, result, tables in _in_order(make, len(chunks), workers):
            box_carats[boxes], price[boxes] = result.box_carats_mct, result.price_cents
            sales.write_text(tables["rough_sales"])
            outcomes.write_text(tables["polished_outcomes"])
            dispositions.write_text(tables["rough_dispositions"])
            boxes_truth.write_text(tables["boxes"])
    files["rough_sales"], files["polished_outcomes"], files["rough_dispositions"] = (
        sales.rows, outcomes.rows, dispositions.rows)
    truth["boxes"] = boxes_truth.rows

    copiers = [str(h) for h in cast.sightholder_id[cast.behaviour == "flipper_copy"]]
    for name, holder in (("rough_sales", "buyer_id"), ("polished_outcomes", "sightholder_id"),
                         ("rough_dispositions", "sightholder_id")):
        order = params.row_order
        if order == "copier_first" and name != "polished_outcomes":
            order = "shuffled"  # only outcome rows carry claims to copy
        reorder_rows(out / f"{name}.csv", order, seed, holder, copiers)

    first_day, last_day = int(month_starts[0]), as_of_day
    tx_bounds = list(range(0, params.n_transactions, CHUNK_ROWS)) + [params.n_transactions]

    def make_tx(index: int) -> CsvText:
        first = tx_bounds[index]
        return csv_text(transaction_chunk(_rng(seed, "transactions", index), params, grid, month_starts, first_day,
                                          last_day, first, tx_bounds[index + 1] - first))

    with CsvFile(out / "transactions.csv", COLUMNS) as tx:
        for text in _in_order(make_tx, len(tx_bounds) - 1, workers):
            tx.write_text(text)
    files["transactions"] = tx.rows

    shipment = ShipmentBook(hs_code_index(catalogue), catalogue.weight, book, month_starts)
    certs = build_certificates(_rng(seed, "certificates"), params, cast, plan, cert_ids, box_carats, price,
                               catalogue.code, shipment, _rng(seed, "shipments"), _rng(seed, "exporters"))
    files["kp_certificates"] = write_table(out / "kp_certificates.csv", certs.certificates, quote=True)
    files["parcel_contents"] = write_table(out / "parcel_contents.csv", certs.parcel_contents)
    truth["certificate_lines"] = write_table(out / TRUTH_DIR / "certificate_lines.csv", certs.truth_lines)
    truth["rough_price_book"] = write_table(out / TRUTH_DIR / "rough_price_book.csv",
                                            _price_book_table(book, catalogue, month_starts))

    market = Market(
        out_dir=out, seed=seed, size=size, params=params,
        files=tuple(MarketFile(kind, out / f"{kind}.csv", files[kind]) for kind in kinds.KINDS),
        truth=tuple(MarketFile(name, out / TRUTH_DIR / f"{name}.csv", rows) for name, rows in truth.items()),
    )
    manifest = {
        "generator": "roughtrace.sim",
        "seed": seed,
        "size": size,
        "as_of": params.as_of().isoformat(),
        "parameters": params.as_json(),
        "files": [{"kind": f.kind, "file": f.path.name, "rows": f.rows} for f in market.files],
        "truth": [{"name": f.kind, "file": f"{TRUTH_DIR}/{f.path.name}", "rows": f.rows} for f in market.truth],
    }
    market.manifest.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return market


def _in_order(make: Callable[[int], Any], count: int, workers: int) -> Iterator[Any]:
    """Results of make(0..count-1) in order, at most `workers` + 1 in flight (bounded memory)."""
    if workers <= 1:
        for index in range(count):
            yield make(index)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque = deque()
        for index in range(count):
            pending.append(pool.submit(make, index))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _parties_table(cast: Cast) -> pa.Table:
    return pa.table({
        "party_id": pa.array(cast.party_id), "name": pa.array(cast.name), "role": pa.array(cast.role),
        "category": pa.array(cast.category), "country": pa.array(cast.country), "address": pa.array(cast.address),
    })


def _sightholders_truth(cast: Cast) -> pa.Table:
    return pa.table({
        "sightholder_id": pa.array(cast.sightholder_id),
        "category": coded(np.array([SIGHTHOLDER_CATEGORIES.index(c) for c in cast.sightholder_category]),
                          SIGHTHOLDER_CATEGORIES),
        "behaviour": coded(np.array([BEHAVIOURS.index(b) for b in cast.behaviour]), BEHAVIOURS),
        "skill": decimal_text(np.rint(cast.skill * 1000).astype(np.int64), 3),
    })


def _chunk_tables(plan: BoxPlan, cast: Cast, catalogue: Catalogue, cert_ids: np.ndarray, labels: list[str],
                  boxes: slice, result: ChunkResult) -> dict[str, pa.Table]:
    """The chunk's rows as Arrow tables in the contract's columns."""
    box_ids = pa.array(plan.box_id[boxes], pa.string())
    buyer = plan.buyer[boxes]
    assortment = plan.assortment[boxes]
    certificate = plan.certificate[boxes]
    sightholders = list(cast.sightholder_id)
    rough_sales = pa.table({
        "box_id": box_ids,
        "sight": coded(plan.sight[boxes], labels),
        "sale_date": date_column(plan.sale_day[boxes]),
        "seller_id": coded(plan.seller[boxes], [p[0] for p in PRODUCERS]),
        "buyer_id": coded(buyer, sightholders),
        "origin": pa.array(plan.origin[boxes], pa.string()),
        "assortment": coded(assortment, list(catalogue.code)),
        "model": coded(catalogue.model[assortment], MODELS),
        "size_min_ct": carats_column(catalogue.size_min_mct[assortment]),
        "size_max_ct": carats_column(catalogue.size_max_mct[assortment]),
        "colour": coded(catalogue.colour[assortment], ROUGH_COLOURS),
        "quality": coded(catalogue.quality[assortment], QUALITIES),
        "stones": pa.array(plan.stones[boxes], pa.int64()),
        "carats": carats_column(result.box_carats_mct),
        "price_usd": usd_column(result.price_cents),
        "kp_certificate_id": coded(np.maximum(certificate, 0), list(cert_ids) or [""], valid=certificate >= 0),
    })
    rows = result.rows
    row_buyer = buyer[rows["box"]]
    tracked = rows["stone_number"] >= 0
    box_prefix = text_matrix([f"{b}-" for b in plan.box_id[boxes]])
    rough_width = max(4, len(str(int(plan.stones.max()))))
    outcomes = pa.table({
        "stone_id": _report_numbers_text(rows["lab"], rows["report_number"], text_matrix(
            [f"{s}-" for s in sightholders])[rows["numbered_by"]]),
        "lab": coded(rows["lab"], LABS),
        "sightholder_id": coded(row_buyer, sightholders),
        "box_id": coded(rows["box"], plan.box_id[boxes]),
        "rough_stone_id": fixed_ids(np.maximum(rows["stone_number"], 0), rough_width, box_prefix[rows["box"]],
                                    valid=tracked),
        "rough_carats": carats_column(np.maximum(rows["rough_mct"], 0), valid=tracked, hundredths=rows["rough_two"]),
        "polished_date": date_column(rows["day"]),
        "shape": coded(rows["shape"], SHAPES),
        "carat": carats_column(rows["carat_mct"], hundredths=rows["carat_two"]),
        "color": coded(rows["colour"], COLOURS),
        "clarity": coded(rows["clarity"], CLARITIES),
        "cut": coded(np.minimum(rows["cut"], len(CUTS) - 1), CUTS, valid=rows["cut"] != NO_CUT),
    })
    d = result.dispositions
    dispositions = pa.table({
        "sightholder_id": coded(buyer[d["box"]], sightholders),
        "box_id": coded(d["box"], plan.box_id[boxes]),
        "disposition": coded(d["disposition"], DISPOSITIONS),
        "carats": carats_column(d["carats_mct"]),
        "date": date_column(d["day"]),
        "counterparty_id": coded(np.maximum(d["counterparty"], 0), list(cast.trader_id), valid=d["counterparty"] >= 0),
    })
    truth = pa.table({
        "box_id": box_ids,
        "buyer_id": coded(buyer, sightholders),
        "fate": coded(plan.fate[boxes], FATES),
        "true_rough_value_usd": usd_column(result.true_value_cents),
        "true_yield": decimal_text(np.rint(result.true_yield * 10_000).astype(np.int64), 4),
        "in_process_carats": carats_column(np.bincount(
            d["box"], np.where(d["disposition"] == DISPOSITIONS.index("in_process"), d["carats_mct"], 0),
            len(box_ids)).astype(np.int64)),
    })
    return {"rough_sales": rough_sales, "polished_outcomes": outcomes, "rough_dispositions": dispositions,
            "boxes": truth}


def _price_book_table(book: np.ndarray, catalogue: Catalogue, month_starts: np.ndarray) -> pa.Table:
    """The producers' rough price book: USD per rough carat by assortment and month."""
    months = [(dt.date(1970, 1, 1) + dt.timedelta(days=int(d))).strftime("%Y-%m") for d in month_starts]
    assortment = np.repeat(np.arange(len(catalogue)), len(months))
    month = np.tile(np.arange(len(months)), len(catalogue))
    return pa.table({
        "assortment": coded(assortment, list(catalogue.code)),
        "month": coded(month, months),
        "usd_per_carat": usd_column(np.maximum(np.rint(book[assortment, month] * 100), 1).astype(np.int64)),
    })


def _report_numbers_text(lab: np.ndarray, number: np.ndarray, sightholder_prefix: np.ndarray) -> pa.Array:
    """Lab report numbers as text, each lab's of one width; a manufacturer's own ids (lab `none`)
    carry its party id as prefix, so that (lab, stone_id) stays unique across sightholders."""
    parts, where = [], []
    for code, digits in enumerate(LAB_NUMBER_DIGITS):
        rows = np.flatnonzero(lab == code)
        prefix = sightholder_prefix[rows] if code == LABS.index("none") else None
        parts.append(fixed_ids(number[rows], digits, prefix))
        where.append(rows)
    return pc.take(pa.concat_arrays(parts), pa.array(np.argsort(np.concatenate(where), kind="stable")))
