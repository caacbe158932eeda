"""What the layering of issue 18 costs on the default path: the import and the checks, timed on this
tree and on a baseline commit, alternately, in one run.

    make bench-layers                                   # baseline 4c6ee72, 1M outcome rows, the medium market
    .venv/bin/python bench/bench_layers.py --baseline REF --rows 200000 --size small --repeat 3

The baseline is checked out once under build/ (a detached worktree, the compiled parts copied when
their sources match, else built there). Each timing runs in a child process whose `roughtrace` is the
tree's own, on a DuckDB file: the import of a generated polished_outcomes CSV (parties and boxes loaded
beforehand, not timed), then every check over a simulated market loaded once per tree. Medians of
`--repeat` runs; the ratio is this tree over the baseline (the issue's target: within 5%).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out" / "layers"
BASELINE = "4c6ee72"
"""The last commit before the use-case layer, the one exception tree and the import in stages."""
COMPILED = ("src/roughtrace/ledger/_sha256.c", "src/roughtrace/store/_pgcopy.c")

IMPORT_CHILD = """
import json, sys, time
from pathlib import Path
try:
    from roughtrace.wiring import wire
    wire()
except ImportError:
    pass
from roughtrace.ingest import import_file
from roughtrace.store import open_store
files, db = {k: Path(v) for k, v in json.loads(sys.argv[1]).items()}, Path(sys.argv[2])
for stale in (db, Path(f"{db}.wal")):
    stale.unlink(missing_ok=True)
store = open_store(f"duckdb:///{db}")
store.migrate()
import_file(store, "parties", files["parties"], ledger=False)
import_file(store, "rough_sales", files["rough_sales"], ledger=False)
started = time.perf_counter()
result = import_file(store, "polished_outcomes", files["polished_outcomes"])
seconds = time.perf_counter() - started
store.close()
print(json.dumps({"seconds": seconds, "accepted": result.rows_accepted}))
"""

CHECKS_CHILD = """
import json, sys, time
from pathlib import Path
try:
    from roughtrace.wiring import wire
    wire()
except ImportError:
    pass
from roughtrace.checks import run_checks
from roughtrace.settings import Settings
from roughtrace.store import open_store
from test_checks_support import load_market_directory
market, db = Path(sys.argv[1]), Path(sys.argv[2])
loaded = Path(f"{db}.loaded")
if not loaded.exists():
    for stale in (db, Path(f"{db}.wal")):
        stale.unlink(missing_ok=True)
    store = open_store(f"duckdb:///{db}", memory_limit="4GB")
    store.migrate()
    load_market_directory(store, market)
    store.execute("CHECKPOINT")
    store.close()
    loaded.write_text("")
store = open_store(f"duckdb:///{db}", memory_limit="4GB")
settings = Settings(environ={})
started = time.perf_counter()
findings = run_checks(store, settings)
seconds = time.perf_counter() - started
store.close()
print(json.dumps({"seconds": seconds, "findings": len(findings)}))
"""


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout.strip()


def baseline_tree(ref: str) -> Path:
    """A detached worktree of `ref` under build/, with its compiled parts in place."""
    sha = git("rev-parse", "--short", ref)
    tree = ROOT / "build" / f"baseline-{sha}"
    if not (tree / "src").exists():
        git("worktree", "add", "--detach", str(tree), sha)
    same = subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", sha, "HEAD", "--", *COMPILED]).returncode == 0
    for source in COMPILED:
        folder = Path(source).parent
        built = sorted((ROOT / folder).glob(f"{Path(source).stem}*.so"))
        if same and built and not list((tree / folder).glob(f"{Path(source).stem}*.so")):
            shutil.copy2(built[0], tree / folder / built[0].name)
    if not same:
        subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=tree, check=True,
                       capture_output=True)
    return tree


def run_child(tree: Path, code: str, *args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(str(tree / p) for p in ("src", "tests", "bench")))
    env.setdefault("ROUGHTRACE_LEDGER_KEY_FILE", str(HERE / "out" / "ledger-key.pem"))
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{tree.name}: the child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(label: str, trees: dict[str, Path], repeat: int, code: str, args: dict[str, tuple[str, ...]]) -> float:
    times: dict[str, list[float]] = {name: [] for name in trees}
    for _ in range(repeat):
        for name, tree in trees.items():
            times[name].append(run_child(tree, code, *args[name])["seconds"])
    base, head = statistics.median(times["baseline"]), statistics.median(times["this tree"])
    ratio = head / base
    print(f"{label:<34} baseline {base:7.2f} s   this tree {head:7.2f} s   ratio {ratio:.3f} "
          f"({'within' if ratio <= 1.05 else 'OVER'} 5%)   runs: "
          + "; ".join(f"{name} {', '.join(f'{t:.2f}' for t in ts)}" for name, ts in times.items()))
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--rows", type=int, default=1_000_000, help="polished_outcomes rows in the import file")
    parser.add_argument("--size", default="medium", help="the simulated market the checks run over")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from bench_checks import market_dir
    from bench_import import generate

    OUT.mkdir(parents=True, exist_ok=True)
    trees = {"baseline": baseline_tree(args.baseline), "this tree": ROOT}
    files = {k: str(v) for k, v in generate(args.rows, HERE / "out" / "import" / f"rows-{args.rows}").items()}
    market = market_dir(args.size, args.seed)
    sha = {name: git("-C", str(tree), "rev-parse", "--short", "HEAD") for name, tree in trees.items()}
    print(f"baseline {sha['baseline']} against this tree {sha['this tree']}"
          f"{' (with uncommitted changes)' if git('status', '--porcelain', '--', 'src') else ''}; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    import_args = {name: (json.dumps(files), str(OUT / f"import-{name.replace(' ', '-')}.duckdb")) for name in trees}
    checks_args = {name: (str(market), str(OUT / f"checks-{sha[name]}-{args.size}-{args.seed}.duckdb")) for name in trees}
    for name, tree in trees.items():
        run_child(tree, CHECKS_CHILD, *checks_args[name])
    ratios = [
        compare(f"import {args.rows:,} outcome rows", trees, args.repeat, IMPORT_CHILD, import_args),
        compare(f"all checks, {args.size} market", trees, args.repeat, CHECKS_CHILD, checks_args),
    ]
    return 0 if all(r <= 1.05 for r in ratios) else 1


if __name__ == "__main__":
    raise SystemExit(main())
