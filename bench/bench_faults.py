"""Fault benchmark (issue 16): kill -9 during imports, then hostile files, then the race campaign.

    make bench-faults                                   # both engines, real hostile sizes (a few minutes)
    .venv/bin/python bench/bench_faults.py --kills 4 --rows 50000 --small   # a quick look

1. The kill -9 campaign: on each engine (PostgreSQL when one is reachable), imports of a
   --rows outcome file are killed with SIGKILL, half at a random moment of the import and half in
   its last tenth (the store's commit). After each kill the store must hold what it held before or
   the whole batch, `ledger verify` must pass, and importing the same file again must store it
   whole. Printed: tries, survived, lost.
2. Peak memory (VmHWM of a child process) and time on each hostile file of issue 16 at its real
   size: a profile at /dev/zero, one 2 GB line, a 2.2 MB workbook of 1 GB shared text, a small
   workbook of 1M records with a cell too many, a workbook naming shared text it lacks, a header
   over 64 KiB. Each must be refused under 1 GB.
3. The race campaign: bench/bench_races.py, when present.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_import import generate, pg_url  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from workbook_support import MAIN, PARTS  # noqa: E402

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "faults"
CLI = "import sys; from roughtrace.cli import main; main(sys.argv[1:])"
GB = 1 << 30


def cli(db: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CLI, "--db", db, *args], capture_output=True, text=True, env=env)


def stored(db: str, env: dict[str, str]) -> tuple[int, int]:
    """(outcome rows, batches) the store holds, through `status`."""
    done = cli(db, "status", "--json", env=env)
    body = json.loads(done.stdout)
    if not body.get("ok"):
        raise RuntimeError(done.stdout + done.stderr)
    return int(body["rows"]["polished_outcomes"]), int(body["batches"])


def variant(base: Path, folder: Path, n: int) -> Path:
    """The outcome file with stone ids of its own: each try imports records not yet stored."""
    path = folder / f"outcomes-{n}.csv"
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * REPLACE ('K{n}-' || stone_id AS stone_id) FROM read_csv('{base}', all_varchar = true)) "
                f"TO '{path}' (HEADER)")
    con.close()
    return path


def campaign(engine: str, db: str, files: dict[str, Path], kills: int, env: dict[str, str], folder: Path) -> dict[str, int]:
    """Kill `kills` imports into `db`; count those after which the store is whole."""
    for kind in ("parties", "rough_sales"):
        done = cli(db, "import", kind, str(files[kind]), env=env)
        assert done.returncode == 0, done.stdout + done.stderr
    started = time.perf_counter()
    first = cli(db, "import", "polished_outcomes", str(variant(files["polished_outcomes"], folder, 0)), env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    whole = time.perf_counter() - started
    rows = stored(db, env)[0]
    figures = {"tries": 0, "survived": 0, "lost": 0, "finished_first": 0, "at_commit": 0}
    rng = random.Random(16)
    before = stored(db, env)
    for n in range(1, kills + 1):
        path = variant(files["polished_outcomes"], folder, n)
        at_commit = n % 2 == 0
        delay = whole * (rng.uniform(0.88, 1.02) if at_commit else rng.uniform(0.05, 0.85))
        child = subprocess.Popen([sys.executable, "-c", CLI, "--db", db, "import", "polished_outcomes", str(path), "--json"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
        time.sleep(delay)
        finished = child.poll() is not None
        if not finished:
            os.kill(child.pid, signal.SIGKILL)
        answer = child.communicate()[0].decode(errors="replace")
        figures["tries"] += 1
        figures["finished_first"] += finished
        figures["at_commit"] += at_commit
        after = stored(db, env)
        whole_or_none = after in (before, (before[0] + rows, before[1] + 1))
        verified = cli(db, "ledger", "verify", env=env).returncode == 0
        again = cli(db, "import", "polished_outcomes", str(path), env=env)
        now = stored(db, env)
        reimported = again.returncode in (0, 3) and now[0] == before[0] + rows
        ok = whole_or_none and verified and reimported
        figures["survived" if ok else "lost"] += 1
        # the label compares the store after the kill with the store before this try, so it is read
        # before `before` moves on to the store after the re-import
        state = "as before" if after == before else "whole batch" if whole_or_none else f"DAMAGED {before} -> {after}"
        print(f"  {engine} kill {n:2d} at {delay:5.2f}s ({'commit' if at_commit else 'random'}): "
              f"{'finished before the kill (exit ' + str(child.returncode) + _codes(answer) + ')' if finished else 'killed'}; "
              f"{state}, verify {'ok' if verified else 'FAILED'}, re-import {'ok' if reimported else 'FAILED'} "
              f"-> {'survived' if ok else 'LOST'}", flush=True)
        before = now
    return figures


def _codes(answer: str) -> str:
    """The problem codes of an import's JSON answer, if it failed."""
    try:
        body = json.loads(answer[answer.index("{"):])
    except ValueError:
        return ""
    return "" if body.get("ok", True) else ": " + ", ".join(e.get("code", "") for e in body.get("errors", [])[:3])


# -- hostile files ----------------------------------------------------------------------------------
HEADER_ROW = ('<row r="1">' + "".join(f'<c r="{c}1" t="inlineStr"><is><t>{t}</t></is></c>'
              for c, t in zip("ABCDE", ("party_id", "name", "role", "category", "country"), strict=True)) + "</row>")


def workbook(path: Path, rows: object, shared: object) -> Path:
    """A workbook whose sheet rows and shared-text items come from iterables of XML text, streamed."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, text in PARTS.items():
            archive.writestr(name, text)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
            part.write(f'<worksheet xmlns="{MAIN}"><sheetData>'.encode())
            for chunk in rows:  # type: ignore[attr-defined]
                part.write(chunk.encode())
            part.write(b"</sheetData></worksheet>")
        with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as part:
            part.write(f'<sst xmlns="{MAIN}">'.encode())
            for chunk in shared:  # type: ignore[attr-defined]
                part.write(chunk.encode())
            part.write(b"</sst>")
    return path


def hostile_files(folder: Path, small: bool) -> list[tuple[str, str, Path]]:
    """(what, kind or 'profile', path) of each hostile file of issue 16, written once."""
    folder.mkdir(parents=True, exist_ok=True)
    scale = 64 if small else 1
    files: list[tuple[str, str, Path]] = [("profile at /dev/zero", "profile", Path("/dev/zero"))]
    line = folder / "one-line.csv"
    size = 2 * GB // scale
    if not line.exists() or line.stat().st_size < size:
        with line.open("wb") as out:
            out.write(b"party_id,name,role,category,country\nSH1,")
            block = b"x" * (64 << 20)
            for _ in range(size // len(block) or 1):
                out.write(block)
            out.write(b",sightholder,dealer,BE\n")
    files.append((f"one {size / GB:.2g} GB line", "parties", line))
    shared = folder / "shared-strings.xlsx"
    if not shared.exists():
        item = "<si><t>" + "s" * 1000 + "</t></si>"
        workbook(shared, [HEADER_ROW], (item * 1000 for _ in range(GB // scale // (len(item) * 1000))))
    files.append((f"{shared.stat().st_size / 1e6:.1f} MB workbook, {1 / scale:.2g} GB shared text", "parties", shared))
    extra = folder / "extra-cells.xlsx"
    if not extra.exists():
        records = 1_000_000 // scale
        workbook(extra, (HEADER_ROW if i == 1 else f'<row r="{i}"><c r="F{i}"><v>1</v></c></row>' for i in range(1, records + 2)), [])
    files.append((f"{extra.stat().st_size / 1e3:.0f} KB workbook, {1_000_000 // scale:,} records of a cell too many", "parties", extra))
    crafted = folder / "missing-shared-text.xlsx"
    if not crafted.exists():
        rng = random.Random(7)
        rows = 200_000 // scale

        def records() -> object:
            yield HEADER_ROW
            for i in range(2, rows + 2):
                name = f'<c r="B{i}" t="s"><v>{5 if i == rows + 1 else 0}</v></c>'
                yield (f'<row r="{i}"><c r="A{i}" t="inlineStr"><is><t>P{rng.getrandbits(48):x}</t></is></c>{name}'
                       f'<c r="C{i}" t="inlineStr"><is><t>trader</t></is></c><c r="E{i}" t="inlineStr"><is><t>BE</t></is></c></row>')

        workbook(crafted, records(), ["<si><t>Cutter</t></si>"])
    files.append((f"{crafted.stat().st_size / 1e6:.1f} MB workbook naming missing shared text", "parties", crafted))
    header = folder / "long-header.csv"
    header.write_text("party_id,name,role,category,country" + ",x" * 40_000 + "\nSH1,One,sightholder,dealer,BE\n")
    files.append(("header over 64 KiB", "parties", header))
    return files


PEAK = """
import sys, time
from pathlib import Path
from roughtrace.errors import RoughtraceError
from roughtrace.wiring import wire
wire()
started = time.perf_counter()
kind, path, db = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
try:
    if kind == "profile":
        from roughtrace.ingest.profile import load_profile
        load_profile(path)
        answer = "read"
    else:
        from roughtrace.ingest import import_file
        from roughtrace.store import open_store
        store = open_store(db)
        store.migrate()
        result = import_file(store, kind, path)
        answer = f"stored {result.rows_accepted}, quarantined {result.rows_rejected}"
except RoughtraceError as exc:
    answer = exc.problems[0].code
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(answer, round(time.perf_counter() - started, 2), peak // 1024)
"""


def peak_memory(files: list[tuple[str, str, Path]], folder: Path, env: dict[str, str]) -> bool:
    """Import each hostile file in a child process; print its answer, seconds and peak MB."""
    print(f"\n{'hostile file':<58} {'answer':<22} {'seconds':>8} {'peak MB':>8}")
    under = True
    for what, kind, path in files:
        db = f"duckdb:///{folder / ('peak-' + uuid.uuid4().hex[:8] + '.duckdb')}"
        done = subprocess.run([sys.executable, "-c", PEAK, kind, str(path), db], capture_output=True, text=True, env=env, timeout=600)
        line = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else f"crashed({done.returncode}) 0 0"
        answer, seconds, peak = line.rsplit(" ", 2)
        under = under and int(peak) < 1024 and done.returncode == 0
        print(f"{what:<58} {answer:<22} {seconds:>8} {peak:>8}", flush=True)
    return under


def races(env: dict[str, str]) -> None:
    """The race campaign of the `integrity` work, when bench/bench_races.py is there."""
    script = HERE / "bench_races.py"
    if not script.exists():
        print("\nrace campaign: bench/bench_races.py is not here yet; `make bench-faults` runs it once it is")
        return
    print("\nrace campaign (bench/bench_races.py):", flush=True)
    subprocess.run([sys.executable, str(script)], env=env, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=10, help="kills per engine (half at commit)")
    parser.add_argument("--rows", type=int, default=30_000, help="outcome rows per killed import")
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--small", action="store_true", help="hostile files at 1/64 of their real size")
    parser.add_argument("--skip-kills", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="home-", dir=OUT))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("ROUGHTRACE_")},
           "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    totals = {"tries": 0, "survived": 0, "lost": 0}
    if not args.skip_kills:
        files = generate(args.rows, OUT / f"data-{args.rows}")
        engines: list[tuple[str, str]] = []
        work = Path(tempfile.mkdtemp(prefix="kills-", dir=OUT))
        engines.append(("duckdb", f"duckdb:///{work / 'store.duckdb'}"))
        url = None if args.no_pg else pg_url()
        schema = "rt_faults_" + uuid.uuid4().hex[:8]
        if url:
            import psycopg

            with psycopg.connect(url, autocommit=True) as admin:
                admin.execute(f"CREATE SCHEMA {schema}")
            engines.append(("postgresql", f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"))
        else:
            print("PostgreSQL: not reachable, DuckDB only")
        try:
            for engine, db in engines:
                figures = campaign(engine, db, files, args.kills, env, work)
                print(f"{engine}: tries {figures['tries']}, survived {figures['survived']}, lost {figures['lost']} "
                      f"({figures['at_commit']} at commit, {figures['finished_first']} finished before the kill)", flush=True)
                for key in totals:
                    totals[key] += figures[key]
        finally:
            if url:
                with psycopg.connect(url, autocommit=True) as admin:
                    admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        print(f"kill -9 campaign: tries {totals['tries']}, survived {totals['survived']}, lost {totals['lost']}")
    under = peak_memory(hostile_files(OUT / ("hostile-small" if args.small else "hostile"), args.small), OUT, env)
    print("every hostile file refused under 1 GB" if under else "SOME HOSTILE FILE WENT OVER 1 GB OR CRASHED")
    races(env)
    if totals["lost"] or not under:
        sys.exit(1)


if __name__ == "__main__":
    main()
