"""Stored hashes as tiles, the layout of Go's sumdb tlog (tile height 8): a pure core, no I/O.

Every complete subtree's hash is kept, but not one database row per hash: the tree is cut into
bands of 8 levels, and a tile holds up to 256 consecutive hashes of a band's bottom level
(tree levels 0, 8, 16, ...). Any hash at (level, index) is the MTH of at most 128 consecutive hashes
of one tile, so it costs one tile read and at most 127 SHA-256 calls. A tree of 10M leaves is
about 39,000 tile rows instead of 20M hash rows: appends write few rows and a proof reads at most
two tiles per band from a small table, which DuckDB serves in milliseconds from a cold start.
Only the last tile of each band is partial; an append rewrites it whole.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from . import kernel
from .merkle import HASH_SIZE, Position

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
_CHUNK = 1 << 20
"""Hashes reduced at a time when building tiles (bounds memory to ~100 MB whatever the batch)."""

TileKey = tuple[int, int]
"""(band, index): the tile of band `band` (tree level 8 * band) holding hashes 256 * index onwards."""


@dataclass(frozen=True)
class TileSpan:
    """Where a complete subtree's hash comes from: `count` hashes of a tile from `start`."""

    tile: TileKey
    start: int
    count: int


def span_of(position: Position) -> TileSpan:
    """The tile hashes whose MTH is the hash at `position` (level, index)."""
    level, index = position
    band, rise = divmod(level, TILE_HEIGHT)
    first = index << rise
    return TileSpan((band, first >> TILE_HEIGHT), first & (TILE_WIDTH - 1), 1 << rise)


def partial_tiles(size: int) -> dict[int, TileKey]:
    """The partial last tile of each band of a tree of `size` leaves, by band: what an append
    must read before it can extend the tree."""
    wanted: dict[int, TileKey] = {}
    band, count = 0, size
    while count:
        if count & (TILE_WIDTH - 1):
            wanted[band] = (band, count >> TILE_HEIGHT)
        count >>= TILE_HEIGHT
        band += 1
    return wanted


def reduce_band(hashes: np.ndarray) -> np.ndarray:
    """From complete tiles (a multiple of 256 hashes) to one hash per tile, 8 levels up."""
    parts = []
    for start in range(0, len(hashes), _CHUNK):
        level = hashes[start : start + _CHUNK]
        for _ in range(TILE_HEIGHT):
            level = kernel.pair_hashes(level)
        parts.append(level)
    return np.concatenate(parts) if parts else np.empty((0, HASH_SIZE), dtype=np.uint8)


@dataclass(frozen=True)
class TileRows:
    """Tiles of one band to write, each replacing a stored tile of the same key."""

    band: int
    first_index: int
    hashes: np.ndarray
    """(n, 32): the band's hashes from tile `first_index`'s first hash to the band's end."""

    def arrow(self) -> pa.Table:
        """The tiles as rows: band, idx, width, hashes (width * 32 bytes concatenated)."""
        n = len(self.hashes)
        tiles = -(-n // TILE_WIDTH)
        widths = np.minimum(TILE_WIDTH, n - TILE_WIDTH * np.arange(tiles, dtype=np.int64))
        ends = np.concatenate([[0], np.cumsum(widths * HASH_SIZE)])
        data = pa.py_buffer(np.ascontiguousarray(self.hashes))
        if ends[-1] < 2**31:  # int32 offsets: the store's binary type, no copy
            blobs = pa.BinaryArray.from_buffers(pa.binary(), tiles, [None, pa.py_buffer(ends.astype(np.int32)), data])
        else:
            blobs = pa.LargeBinaryArray.from_buffers(pa.large_binary(), tiles, [None, pa.py_buffer(ends.astype(np.int64)), data]).cast(pa.binary())
        return pa.table(
            {
                "band": pa.array(np.full(tiles, self.band, dtype=np.int32)),
                "idx": pa.array(self.first_index + np.arange(tiles, dtype=np.int64)),
                "width": pa.array(widths.astype(np.int32)),
                "hashes": blobs,
            }
        )


def extend(size: int, leaves: np.ndarray, partials: Mapping[int, np.ndarray]) -> Iterator[TileRows]:
    """The tiles that change when `leaves` (n, 32 leaf hashes) are appended to a tree of `size`
    leaves, band by band. `partials` holds the stored hashes of each band's partial last tile
    (see `partial_tiles`)."""
    fresh, count, band = leaves, size, 0
    while len(fresh):
        kept = partials.get(band, np.empty((0, HASH_SIZE), dtype=np.uint8))
        if len(kept) != count & (TILE_WIDTH - 1):
            raise ValueError(f"band {band} tile holds {len(kept)} hashes, expected {count & (TILE_WIDTH - 1)}")
        hashes = np.concatenate([kept, fresh]) if len(kept) else fresh
        yield TileRows(band, count >> TILE_HEIGHT, hashes)
        complete = len(hashes) - len(hashes) % TILE_WIDTH
        fresh = reduce_band(hashes[:complete])
        count >>= TILE_HEIGHT
        band += 1


def build(leaves: np.ndarray) -> dict[TileKey, np.ndarray]:
    """Every tile of a tree over `leaves` (n, 32), in memory."""
    tiles: dict[TileKey, np.ndarray] = {}
    for rows in extend(0, leaves, {}):
        for i in range(0, len(rows.hashes), TILE_WIDTH):
            tiles[(rows.band, rows.first_index + i // TILE_WIDTH)] = rows.hashes[i : i + TILE_WIDTH]
    return tiles


class TileHashes:
    """Complete-subtree hashes computed from tiles (a `HashReader` once tiles are loaded).

    `load` is called with the tile keys needed and returns each tile's (width, 32) hashes."""

    def __init__(self, load) -> None:
        self._load = load
        self._levels: dict[TileKey, list[np.ndarray]] = {}

    def __call__(self, positions) -> list[bytes]:
        spans = [span_of(p) for p in positions]
        missing = sorted({s.tile for s in spans} - self._levels.keys())
        if missing:
            loaded = self._load(missing)
            for key in missing:
                if key not in loaded:
                    raise LookupError(f"tile {key} is not stored")
                levels = [loaded[key]]
                while len(levels[-1]) > 1:
                    levels.append(kernel.pair_hashes(levels[-1]))
                self._levels[key] = levels
        out = []
        for span in spans:
            levels = self._levels[span.tile]
            rise = span.count.bit_length() - 1
            row = span.start >> rise
            if rise >= len(levels) or row >= len(levels[rise]):
                raise LookupError(f"tile {span.tile} is too short for the hash asked for")
            out.append(levels[rise][row].tobytes())
        return out
