"""The published record: each market table as a report released it, kept in the store.

A contributor's report is made from the market protected against every earlier release
(`reports.Market.build` with `load`'s releases); the market it came from is then kept (`keep`) as
one more release, once per distinct release, so the next report, whatever its period and whatever
late data arrived meanwhile, is audited against everything already published
(`domain.disclosure.with_record`). Releases are matched to the period length
(`intelligence_period`) their cells use.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import numpy as np
import pyarrow as pa

from ..domain.disclosure import Release, two_way
from ..store.port import Store
from .cells import MAGNITUDES

COLUMNS: tuple[str, ...] = ("rough_mct", "outcome_rough_mct", "polished_mct")
"""The stored columns of the magnitudes (`cells.MAGNITUDES`), in thousandths of a carat."""


def _rows(kind: str, release: Release) -> tuple[pa.Table, pa.Table]:
    """A kind's release as the rows of intelligence_release_cells and intelligence_release_values
    (without the release id)."""
    table = release.table
    m = len(table.cells)
    totals = np.rint(table.totals).astype(np.int64)
    cells = pa.table({"kind": pa.array([kind] * m, pa.string()), "position": pa.array(np.arange(m, dtype=np.int64)),
                      "segment": pa.array([str(key[0]) for key in table.cells], pa.string()),
                      "period": pa.array([str(key[1]) for key in table.cells], pa.string()),
                      "published": pa.array(np.asarray(release.published, bool)),
                      **{name: pa.array(totals[v]) for v, name in enumerate(COLUMNS)}})
    interior = np.array([key[0] != "*" and key[1] != "*" for key in table.cells])
    values = np.rint(table.contributions).astype(np.int64)
    present = (values != 0).any(axis=0) & interior[None, :]  # contributors x cells
    who, where = np.nonzero(present)
    names = np.asarray(table.contributors, dtype=object)
    contributions = pa.table({"kind": pa.array([kind] * len(who), pa.string()), "position": pa.array(where.astype(np.int64)),
                              "sightholder_id": pa.array(names[who].astype(str).tolist(), pa.string()),
                              **{name: pa.array(values[v][who, where]) for v, name in enumerate(COLUMNS)}})
    return cells, contributions


def release_id(releases: dict[str, Release]) -> str:
    """The SHA-256 (hex) of a release's cells, pattern and nonzero contributions, every kind."""
    digest = hashlib.sha256()
    for kind in sorted(releases):
        cells, values = _rows(kind, releases[kind])
        for table in (cells, values):
            for column in table.columns:
                digest.update("\x1f".join(map(str, column.to_pylist())).encode("utf-8") + b"\x1e")
    return digest.hexdigest()


def keep(store: Store, releases: dict[str, Release], period_kind: str, identity: str | None = None) -> tuple[str, bool]:
    """Keep a release (each segment kind's table and published cells) unless the same release is kept
    already; returns its id (`identity` when the caller computed it already) and whether it was new."""
    identity = identity or release_id(releases)
    with store.transaction():
        if store.rows("SELECT 1 AS kept FROM intelligence_releases WHERE release_id = ?", (identity,)):
            return identity, False
        last = store.rows("SELECT coalesce(max(sequence), 0) AS last FROM intelligence_releases")[0]["last"]
        store.execute("INSERT INTO intelligence_releases VALUES (?, ?, ?, ?)",
                      (identity, int(last) + 1, period_kind, dt.datetime.now(dt.UTC).replace(tzinfo=None)))
        for kind, release in releases.items():
            cells, values = _rows(kind, release)
            stamp = pa.array([identity] * cells.num_rows, pa.string())
            store.append("intelligence_release_cells", cells.add_column(0, "release_id", stamp))
            if values.num_rows:
                stamp = pa.array([identity] * values.num_rows, pa.string())
                store.append("intelligence_release_values", values.add_column(0, "release_id", stamp))
    return identity, True


def count(store: Store, period_kind: str) -> int:
    """How many releases whose cells use `period_kind` are kept (the record only grows)."""
    return int(store.rows("SELECT count(*) AS n FROM intelligence_releases WHERE period_kind = ?",
                          (period_kind,))[0]["n"])


def load(store: Store, period_kind: str) -> dict[str, list[Release]]:
    """Every kept release whose cells use `period_kind`, per segment kind, in the order they were made."""
    order = store.query("SELECT release_id FROM intelligence_releases WHERE period_kind = ? ORDER BY sequence",
                        (period_kind,)).column("release_id").to_pylist()
    if not order:
        return {}
    rank = {identity: i for i, identity in enumerate(order)}
    cells = store.query("SELECT c.* FROM intelligence_release_cells c JOIN intelligence_releases r "
                        "ON r.release_id = c.release_id WHERE r.period_kind = ?", (period_kind,))
    values = store.query("SELECT v.* FROM intelligence_release_values v JOIN intelligence_releases r "
                         "ON r.release_id = v.release_id WHERE r.period_kind = ?", (period_kind,))
    found: dict[str, list[tuple[int, Release]]] = {}
    cell_groups = _groups(cells)
    value_groups = _groups(values)
    for (identity, kind), rows in cell_groups.items():
        found.setdefault(kind, []).append((rank[identity], _release(rows, value_groups.get((identity, kind)))))
    return {kind: [release for _, release in sorted(listed, key=lambda pair: pair[0])] for kind, listed in found.items()}


def _groups(table: pa.Table) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """A stored table's columns (numpy) split by (release id, kind)."""
    if table.num_rows == 0:
        return {}
    columns = {name: np.asarray(table.column(name).to_numpy(zero_copy_only=False)) for name in table.column_names}
    key = np.char.add(np.char.add(columns["release_id"].astype(str), "\x1f"), columns["kind"].astype(str))
    labels, codes = np.unique(key, return_inverse=True)
    codes = np.asarray(codes).reshape(-1)
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(len(labels)))
    bounds = [*starts[1:], len(order)]
    groups: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    for label, start, end in zip(labels, starts, bounds, strict=True):
        identity, kind = str(label).split("\x1f", 1)
        groups[(identity, kind)] = {name: values[order[start:end]] for name, values in columns.items()}
    return groups


def _release(cells: dict[str, np.ndarray], values: dict[str, np.ndarray] | None) -> Release:
    """One kind's release rebuilt from its stored rows: the table's layout (`disclosure.two_way`) from
    its interior cells, its margins summed again."""
    order = np.argsort(cells["position"])
    segment, period = cells["segment"][order].astype(str), cells["period"][order].astype(str)
    interior = (segment != "*") & (period != "*")
    rows = list(dict.fromkeys(segment[interior].tolist()))
    periods = list(dict.fromkeys(period[interior].tolist()))
    names: list[str] = sorted(set(values["sightholder_id"].astype(str).tolist())) if values is not None else []
    dense = np.zeros((len(MAGNITUDES), len(names), len(rows) * len(periods)))
    if values is not None and len(names):
        who = np.searchsorted(np.asarray(names), values["sightholder_id"].astype(str))
        for v, name in enumerate(COLUMNS):
            dense[v, who, values["position"].astype(np.int64)] = values[name].astype(np.float64)
    table = two_way(dense.reshape(len(MAGNITUDES), len(names), len(rows), len(periods)), rows, periods, MAGNITUDES, names)
    published_at = {(s, p): bool(flag) for s, p, flag in zip(segment, period, cells["published"][order], strict=True)}
    return Release(table, np.array([published_at[key] for key in table.cells], bool))


def releases_of(market: Any) -> dict[str, Release]:
    """A protected market as a release: each segment kind's own table (without the earlier versions
    it was joined to) and its published cells."""
    return {kind: protected.release() for kind, protected in market.kinds.items()}
