"""Page loads of the dashboard, on 127.0.0.1 only.

Loads a simulated market into a PostgreSQL schema of its own (`bench_web_<size>_<seed>`, kept
between runs, under ROUGHTRACE_TEST_PG or the server `scripts/pg.sh` starts), starts `roughtrace
serve` on it, signs in as a producer analyst, a sightholder, a KP authority and a retailer through
the sign-in form, and loads each of their pages one after the other (one warm-up load, then
`--loads` timed ones: the time to the last byte of the HTML, as a browser's navigation waits for
it). Prints p50 and p95 per page and the ratio of p95 to the 300 ms target.

The service keeps whole-market results (the checks' findings, the certificate lines, a certificate's
report, the intelligence market) with each of its reading connections (`app.market_views`), so a
page is first loaded once per reading connection (`--readers`, 4 by default) and the time of the
first load, which computes them, is printed beside the timed ones.

    .venv/bin/python bench/bench_web.py [--size small|medium|large] [--seed 11] [--loads 20]
        [--readers 4] [--market DIR] [--only TEXT]

`--market` takes a market directory already generated (bench/out/checks-<size>-<seed> of another
checkout) instead of generating it; `--only` times the pages whose path holds TEXT. Target (issue
21): every page's p95 < 300 ms on `large`.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

OUT = HERE / "out"
TARGET_MS = 300.0


def prepared_store(size: str, seed: int, market: Path | None) -> str:
    """The URL of this benchmark's PostgreSQL schema holding the `size` market with its price index
    and book; loaded once and kept, as bench_serve keeps its own."""
    from bench_serve import prepared_store as kept_schema

    return kept_schema(size, seed, prefix="bench_web", market=market)


def callers_and_pages(url: str) -> dict[str, tuple[str, list[str]]]:
    """An account for each role (the producer with most sales, the sightholder with most boxes,
    the KP authority of the country exporting most certificates, a retailer) and the pages each loads."""
    from roughtrace.app import Context
    from roughtrace.app.accounts import add_account
    from roughtrace.settings import Settings
    from roughtrace.store import open_store

    store = open_store(url)
    try:
        context, tag = Context(store, Settings()), uuid.uuid4().hex[:8]
        producer = store.rows("SELECT seller_id, count(*) AS n FROM rough_sales GROUP BY seller_id "
                              "ORDER BY n DESC, seller_id LIMIT 1")[0]["seller_id"]
        holder = store.rows("SELECT buyer_id, count(*) AS n FROM rough_sales WHERE seller_id = ? GROUP BY buyer_id "
                            "ORDER BY n DESC, buyer_id LIMIT 1", (producer,))[0]["buyer_id"]
        box = store.rows("SELECT box_id FROM rough_sales WHERE buyer_id = ? AND seller_id = ? ORDER BY sale_date DESC, "
                         "box_id LIMIT 1", (holder, producer))[0]["box_id"]
        country = store.rows("SELECT exporting_country, count(DISTINCT certificate_id) AS n FROM kp_certificates "
                             "GROUP BY exporting_country ORDER BY n DESC, exporting_country LIMIT 1")[0]["exporting_country"]
        certificate = store.rows("SELECT certificate_id FROM kp_certificates WHERE exporting_country = ? "
                                 "ORDER BY issue_date DESC, certificate_id LIMIT 1", (country,))[0]["certificate_id"]
        stone = store.rows("SELECT lab, stone_id FROM polished_outcomes WHERE lab <> 'none' ORDER BY md5(stone_id) "
                           "LIMIT 1")[0]
        cell = store.rows("SELECT shape_family, size_bracket, color, clarity FROM price_index_cells "
                          "ORDER BY n_trades DESC LIMIT 1")[0]
        tokens = {role: add_account(context, f"bench-web-{role}-{tag}", role, party, None, kp).token
                  for role, party, kp in (("producer", producer, None), ("sightholder", holder, None),
                                          ("kp_authority", None, country), ("retailer", None, None))}
    finally:
        store.close()
    cell_query = (f"shape_family={cell['shape_family']}&size={cell['size_bracket']}&color={cell['color']}"
                  f"&clarity={cell['clarity']}")
    return {
        "producer": (tokens["producer"], ["/overview", "/sightholders", f"/sightholders/{holder}", f"/boxes/{box}",
                                          "/prices", f"/prices/cell?{cell_query}", "/pricebook", "/certificates",
                                          "/ledger", "/uploads"]),
        "sightholder": (tokens["sightholder"], [f"/sightholders/{holder}", "/upload", "/uploads", "/intelligence"]),
        "kp_authority": (tokens["kp_authority"], ["/certificates", f"/certificates/{certificate}",
                                                  f"/certificates/{certificate}/pdf", "/certificates/check"]),
        "retailer": (tokens["retailer"], [f"/provenance?lab={stone['lab']}&report={stone['stone_id']}"]),
    }


def signed_in(base: str, token: str) -> Any:
    import httpx

    client = httpx.Client(base_url=base, timeout=600)
    form = client.get("/signin")
    form_token = re.search(r'name="form_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    answer = client.post("/signin", data={"form_token": form_token, "token": token})
    if answer.status_code != 303:
        raise SystemExit(f"sign-in refused: {answer.status_code}")
    return client


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def page_name(path: str) -> str:
    """A page's path with its identifiers replaced by what they name."""
    shape = re.sub(r"/(sightholders|boxes|certificates)/(?!check)[^/?]+", r"/\1/{id}", path)
    return shape.split("?")[0] + ("?..." if "?" in shape else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="large", choices=("small", "medium", "large"))
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--loads", type=int, default=20, help="Timed loads of each page (after one warm-up).")
    parser.add_argument("--market", type=Path, default=None, help="A generated market directory to load.")
    parser.add_argument("--readers", type=int, default=4, help="The service's reading connections.")
    parser.add_argument("--only", default=None, help="Time only the pages whose path contains this text.")
    args = parser.parse_args()
    os.environ["ROUGHTRACE_SERVICE_READERS"] = str(args.readers)

    from roughtrace.wiring import wire

    wire()
    OUT.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    print(f"bench-web: size {args.size}, seed {args.seed}, {args.loads} loads a page, {os.cpu_count()} cores, "
          f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    url = prepared_store(args.size, args.seed, args.market)
    plan = {role: (token, [p for p in paths if args.only is None or args.only in p])
            for role, (token, paths) in callers_and_pages(url).items()}
    plan = {role: pages for role, pages in plan.items() if pages[1]}
    from bench_serve import start_server

    log = OUT / f"web-{args.size}.log"
    process, base = start_server(url, log)
    rows: list[tuple[str, str, float, float, float, int]] = []
    try:
        for role, (token, paths) in plan.items():
            client = signed_in(base, token)
            try:
                for path in paths:
                    started = time.perf_counter()
                    first = client.get(path)
                    cold = (time.perf_counter() - started) * 1000
                    if first.status_code != 200:
                        raise SystemExit(f"{role} {path}: HTTP {first.status_code}: {first.text[:300]}")
                    for _ in range(args.readers - 1):  # each reading connection's first load
                        client.get(path).read()
                    times = []
                    for _ in range(args.loads):
                        started = time.perf_counter()
                        answer = client.get(path)
                        answer.read()
                        times.append((time.perf_counter() - started) * 1000)
                    rows.append((role, page_name(path), cold, _percentile(times, 0.5), _percentile(times, 0.95),
                                 len(first.content)))
            finally:
                client.close()
    finally:
        process.terminate()
        process.wait(60)
    print(f"\n  {'role':<13} {'page':<24} {'first ms':>9} {'p50 ms':>9} {'p95 ms':>9} {'p95/300':>8} {'bytes':>9}")
    for role, name, cold, p50, p95, size in rows:
        print(f"  {role:<13} {name:<24} {cold:9.1f} {p50:9.1f} {p95:9.1f} {p95 / TARGET_MS:7.2f}x {size:9,}"
              + ("" if p95 < TARGET_MS else "  not met"))
    met = sum(1 for row in rows if row[4] < TARGET_MS)
    print(f"\n  {met} of {len(rows)} pages load within the target (p95 < {TARGET_MS:.0f} ms)")


if __name__ == "__main__":
    main()
