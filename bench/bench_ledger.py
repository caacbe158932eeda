"""Benchmark of the ledger (issue 7) against pymerkle 7, in one run.

1. Appends: N entries (default 1M) appended in batches to a DuckDB store, with tiles and a signed
   head per batch, against pymerkle's in-memory tree and a raw Python SHA-256 loop.
2. Roots agree with pymerkle's (RFC 9162 hashing: sha256, pymerkle's security prefixes on).
3. An inclusion proof from a cold process at 10M entries, against pymerkle's SQLite tree cold at 1M.
4. The Merkle root of a batch's rows: cost per million rows.

Usage: .venv/bin/python bench/bench_ledger.py [--entries 1000000] [--cold-size 10000000]
       [--pymerkle 100000] [--sqlite 1000000] [--rows 1000000]
Data goes under bench/out/ledger/ (kept between runs: the 10M store is reused when present).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from roughtrace.ledger import kernel, keys, log, merkle
from roughtrace.store import open_store
from roughtrace.wiring import wire

wire()  # the composition root, as every entry point runs it

OUT = Path(__file__).resolve().parent / "out" / "ledger"
BATCH = 100_000


def bodies(start: int, count: int) -> pa.Array:
    """`count` canonical JSON entries, like a decision's, numbered from `start`."""
    numbers = pc.cast(pa.array(np.arange(start, start + count)), pa.string())
    return pc.binary_join_element_wise('{"decision":"bench","n":', numbers, "}", "")


def ledger_store(path: Path):
    store = open_store(f"duckdb:///{path}")
    store.migrate()
    return store


def fresh_store(name: str):
    path = OUT / name
    for leftover in (path, Path(f"{path}.wal"), Path(f"{path}.ledger-key.pem")):
        leftover.unlink(missing_ok=True)
    return ledger_store(path)


def append(store, total: int, batch: int = BATCH) -> float:
    """Seconds to append `total` entries, `batch` at a time (each batch signed and committed); the
    entries are made before the clock starts, as a caller would hold them."""
    signer = keys.load_signer(store)
    batches = [bodies(first, min(batch, total - first)) for first in range(0, total, batch)]
    start = time.perf_counter()
    for entries in batches:
        log.append_entries(store, entries, "decision", signer)
    return time.perf_counter() - start


def python_sha256_rate(count: int = 1_000_000) -> float:
    message = b"\x01" + bytes(64)
    sha = hashlib.sha256
    start = time.perf_counter()
    for _ in range(count):
        sha(message).digest()
    return count / (time.perf_counter() - start)


def pymerkle_appends(count: int) -> tuple[float, bytes]:
    from pymerkle import InmemoryTree

    tree = InmemoryTree(algorithm="sha256")  # RFC 9162: sha256, security prefixes on (the default)
    data = [b.as_py().encode() for b in bodies(0, count)]
    start = time.perf_counter()
    for item in data:
        tree.append_entry(item)
    elapsed = time.perf_counter() - start
    return count / elapsed, tree.get_root()


COLD_PROOF = textwrap.dedent("""
    import json, random, sys, time
    start = time.perf_counter()
    from roughtrace.store import open_store
    from roughtrace.ledger import log, merkle
    imported = time.perf_counter()
    store = open_store("duckdb:///" + sys.argv[1])
    opened = time.perf_counter()
    index = int(sys.argv[2])
    receipt = log.prove_entry(store, index)
    first = time.perf_counter()
    merkle.verify_inclusion(index, receipt.head.size, receipt.leaf_hash, receipt.proof, receipt.head.root)
    later = []
    for other in random.Random(index).sample(range(receipt.head.size), 20):
        t = time.perf_counter()
        log.prove_entry(store, other)
        later.append(time.perf_counter() - t)
    print(json.dumps({"import_s": imported - start, "open_s": opened - imported, "first_proof_s": first - opened,
                      "warm_proofs_s": later, "proof_hashes": len(receipt.proof), "size": receipt.head.size}))
""")


def cold_proofs(path: Path, size: int, runs: int = 5) -> list[dict]:
    results = []
    for run in range(runs):
        index = (run * 2_654_435_761 + 12_345) % size
        out = subprocess.run([sys.executable, "-c", COLD_PROOF, str(path), str(index)], check=True,
                             capture_output=True, text=True).stdout
        results.append(json.loads(out))
    return results


PYMERKLE_COLD = textwrap.dedent("""
    import json, sys, time
    from pymerkle import SqliteTree
    start = time.perf_counter()
    tree = SqliteTree(sys.argv[1], algorithm="sha256")
    opened = time.perf_counter()
    size = tree.get_size()
    proof = tree.prove_inclusion(int(sys.argv[2]), size)
    done = time.perf_counter()
    print(json.dumps({"open_s": opened - start, "first_proof_s": done - opened, "size": size}))
""")


def pymerkle_sqlite(count: int) -> tuple[float, list[dict]]:
    from pymerkle import SqliteTree

    path = OUT / f"pymerkle-{count}.sqlite"
    if not path.exists():
        partial = Path(f"{path}.part")
        partial.unlink(missing_ok=True)
        tree = SqliteTree(str(partial), algorithm="sha256")
        data = [b.as_py().encode() for b in bodies(0, count)]
        start = time.perf_counter()
        for first in range(0, count, BATCH):
            tree.append_entries(data[first : first + BATCH])
        build = time.perf_counter() - start
        tree.con.close()
        partial.rename(path)
    else:
        build = float("nan")
    runs = []
    for run in range(3):
        index = (run * 7919 + 101) % count + 1  # pymerkle counts leaves from 1
        out = subprocess.run([sys.executable, "-c", PYMERKLE_COLD, str(path), str(index)], check=True,
                             capture_output=True, text=True).stdout
        runs.append(json.loads(out))
    return build, runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--cold-size", type=int, default=10_000_000)
    parser.add_argument("--pymerkle", type=int, default=100_000, help="entries appended to pymerkle's in-memory tree")
    parser.add_argument("--sqlite", type=int, default=1_000_000, help="entries in pymerkle's SQLite tree (0: skip)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="row leaf hashes for the batch-root figure")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"ledger benchmark, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")

    sha_rate = python_sha256_rate()
    print(f"\n[baseline] raw Python hashlib SHA-256 loop: {sha_rate:,.0f} hashes/s")

    store = fresh_store("appends.duckdb")
    elapsed = append(store, args.entries)
    rate = args.entries / elapsed
    print(f"[appends]  roughtrace: {args.entries:,} entries in batches of {BATCH:,}: {elapsed:.2f} s = {rate:,.0f} entries/s "
          f"(target 500,000/s: {'met' if rate >= 500_000 else 'NOT met'})")

    py_rate, py_root = pymerkle_appends(args.pymerkle)
    print(f"[appends]  pymerkle 7 InmemoryTree: {args.pymerkle:,} entries: {py_rate:,.0f} entries/s "
          f"-> roughtrace is {rate / py_rate:.1f}x pymerkle, {rate / sha_rate:.2f} entries per raw hashlib hash-time")
    ours = merkle.tree_root(log.hash_reader(store), args.pymerkle)
    signed = log.head_at(store, args.pymerkle).root if args.pymerkle % BATCH == 0 else ours
    agree = ours == py_root == signed
    print(f"[roots]    at {args.pymerkle:,} entries: roughtrace {ours.hex()[:16]}…, pymerkle {py_root.hex()[:16]}… "
          f"-> {'AGREE' if agree else 'DIFFER'}")
    store.close()

    leaves = kernel.as_matrix(np.random.default_rng(7).integers(0, 256, size=(args.rows, 32), dtype=np.uint8))
    start = time.perf_counter()
    log.rows_root(leaves)
    per_million = (time.perf_counter() - start) / args.rows * 1e6
    print(f"[rows]     Merkle root of a batch's row leaf hashes: {per_million:.2f} s per million rows "
          f"(10M-row batch ~ {per_million * 10:.0f} s)")

    cold_path = OUT / f"cold-{args.cold_size}.duckdb"
    if cold_path.exists():
        cold = ledger_store(cold_path)
        size = (log.latest_head(cold) or type("H", (), {"size": 0})).size
        cold.close()
    else:
        size = 0
    if size != args.cold_size:
        cold = fresh_store(cold_path.name)
        elapsed = append(cold, args.cold_size, 500_000)
        cold.con.execute("CHECKPOINT")
        cold.close()
        print(f"[build]    {args.cold_size:,}-entry store in {elapsed:.0f} s ({args.cold_size / elapsed:,.0f} entries/s), "
              f"{cold_path.stat().st_size / 1e9:.2f} GB")
    runs = cold_proofs(cold_path, args.cold_size)
    firsts = [r["first_proof_s"] * 1000 for r in runs]
    warm = [w * 1000 for r in runs for w in r["warm_proofs_s"]]
    opens = [r["open_s"] * 1000 for r in runs]
    print(f"[cold]     roughtrace inclusion proof at {args.cold_size:,} entries, fresh process each: "
          f"first proof median {statistics.median(firsts):.1f} ms (max {max(firsts):.1f}; target < 20 ms: "
          f"{'met' if statistics.median(firsts) < 20 else 'NOT met'}); store open {statistics.median(opens):.0f} ms; "
          f"later proofs median {statistics.median(warm):.1f} ms; {runs[0]['proof_hashes']} hashes per proof")

    if args.sqlite:
        build, py_runs = pymerkle_sqlite(args.sqlite)
        py_first = [r["first_proof_s"] * 1000 for r in py_runs]
        built = f"built in {build:.0f} s; " if build == build else ""
        print(f"[cold]     pymerkle 7 SqliteTree at {args.sqlite:,} entries: {built}first proof median "
              f"{statistics.median(py_first):.0f} ms -> roughtrace at {args.cold_size:,} is "
              f"{statistics.median(py_first) / statistics.median(firsts):.0f}x faster")
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end (2 cores shared with other work: figures vary with it)")


if __name__ == "__main__":
    main()
