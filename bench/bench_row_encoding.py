"""Cost of the row encodings: rendering and hashing N rough_sales rows in DuckDB, encoding 1 (bare
U+001F separators) against encoding 2 (length-prefixed text fields), by `imports.leaf_chunks`,
the function an import and `ledger verify` hash rows with.

Usage: .venv/bin/python bench/bench_row_encoding.py [--rows 2000000] [--repeat 3]
Prints the best time of each encoding and their ratio.
"""

from __future__ import annotations

import argparse
import time

import duckdb

from roughtrace.domain import kinds
from roughtrace.ledger.imports import leaf_chunks
from roughtrace.wiring import wire

wire()  # the composition root, as every entry point runs it

ROWS_SQL = """CREATE TABLE r AS SELECT i AS _row, 'B' || i AS box_id, '2026-01' AS sight, DATE '2026-01-20' AS sale_date,
 'DB' AS seller_id, 'SH' || (i % 50) AS buyer_id, 'BW' AS origin, 'A-' || (i % 300) AS assortment, 'stones' AS model,
 CAST(0.75 AS DECIMAL(12,3)) AS size_min_ct, CAST(2 AS DECIMAL(12,3)) AS size_max_ct, 'white' AS colour, 'high' AS quality,
 CAST(i % 100 AS BIGINT) AS stones, CAST(i % 1000 / 7.0 AS DECIMAL(12,3)) AS carats,
 CAST(i % 100000 * 1.5 AS DECIMAL(18,2)) AS price_usd, CASE WHEN i % 3 = 0 THEN NULL ELSE 'BW' || i END AS kp_certificate_id
 FROM range(?) t(i)"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute(ROWS_SQL, [args.rows])
    kind = kinds.KINDS["rough_sales"]
    best = {}
    for _ in range(args.repeat):
        for encoding in (1, 2):
            start = time.perf_counter()
            hashed = sum(len(c) for c in leaf_chunks(lambda sql: con.sql(sql).to_arrow_reader(1 << 16), "duckdb", kind, "r",
                                                     "_row", 1 << 20, encoding=encoding))
            assert hashed == args.rows
            best[encoding] = min(best.get(encoding, float("inf")), time.perf_counter() - start)
    for encoding, seconds in best.items():
        print(f"encoding {encoding}: {args.rows:,} rows in {seconds:.2f} s ({args.rows / seconds / 1e6:.2f} M rows/s)")
    print(f"encoding 2 / encoding 1: {best[2] / best[1]:.2f}")


if __name__ == "__main__":
    main()
