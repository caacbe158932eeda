"""Benchmark start-up: the median wall time of `roughtrace --help` and `roughtrace status` (on an
empty store) against `python -c "import duckdb, pyarrow"`, the floor of any command that reads a
store. Target (issue 17): each within 2x of that floor.

Every run is a fresh process; the three commands take turns, round after round, so a change of load
on a shared machine touches each alike; CPU time (user + system) is printed beside the wall time as
the figure load does not inflate.

    .venv/bin/python bench/bench_startup.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 2.0


def roughtrace_command() -> list[str]:
    """The console script beside this interpreter, as a user runs it; the module when there is none."""
    script = Path(sys.executable).parent / "roughtrace"
    return [str(script)] if script.exists() else [sys.executable, "-m", "roughtrace.cli"]


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of `command`, which must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="Runs of each command (median reported).")
    args = parser.parse_args()

    roughtrace = roughtrace_command()
    commands = {
        'python -c "import duckdb, pyarrow"': [sys.executable, "-c", "import duckdb, pyarrow"],
        "roughtrace --help": [*roughtrace, "--help"],
        "roughtrace status": [*roughtrace, "status"],
    }
    work = Path(tempfile.mkdtemp(prefix="rt-startup-"))
    # an installed package runs from its bytecode: let the first (uncounted) run write it, as pip does at install
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUGHTRACE_") and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(XDG_CONFIG_HOME=str(work / "config"), COLUMNS="100")
    try:
        subprocess.run([*roughtrace, "init"], cwd=work, env=env, check=True, capture_output=True)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for command in commands.values():  # warm the file cache and write bytecode; not counted
            timed(command, work, env)
        for _ in range(args.repeat):
            for name, command in commands.items():
                times[name].append(timed(command, work, env))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    medians = {name: (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs))
               for name, runs in times.items()}
    baseline, *measured = medians
    base_wall, base_cpu = medians[baseline]
    print(f"start-up, median of {args.repeat} runs each; load average {os.getloadavg()[0]:.1f}; {' '.join(roughtrace)}")
    print(f"{'command':36} {'wall s':>7} {'CPU s':>7} {'wall ratio':>11} {'CPU ratio':>10}")
    print(f"{baseline:36} {base_wall:7.3f} {base_cpu:7.3f} {'baseline':>11} {'baseline':>10}")
    for name in measured:
        wall, cpu = medians[name]
        verdict = "met" if wall / base_wall <= TARGET_RATIO else "NOT met"
        print(f"{name:36} {wall:7.3f} {cpu:7.3f} {wall / base_wall:10.2f}x {cpu / base_cpu:9.2f}x"
              f"  (target <= {TARGET_RATIO:g}x: {verdict})")

if __name__ == "__main__":
    main()
