"""Progress tells the truth: every step reaches its end, a finished step leaves one line, and
nothing is printed on a pipe or with --json."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from conftest import write
from roughtrace.ingest import import_file
from roughtrace.progress import StepProgress
from roughtrace.store import Store

OUTCOMES_HEADER = "stone_id,lab,sightholder_id,box_id,polished_date,shape,carat,color,clarity"


def _outcomes(tmp_path: Path, good: int) -> Path:
    rows = [f"S{i:06d},GIA,SH1,B1,2026-02-01,round,0.{300 + i % 600},G,VS1" for i in range(good)]
    rows.append("BAD,GIA,SH1,B1,2026-02-01,round,-1,G,VS1")
    path = tmp_path / "outcomes.csv"
    path.write_text("\n".join([OUTCOMES_HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def test_every_step_of_an_import_reaches_its_end(market: Store, tmp_path: Path) -> None:
    calls: list[tuple[str, int, int | None]] = []
    result = import_file(market, "polished_outcomes", _outcomes(tmp_path, 2_000), progress=lambda *call: calls.append(call))
    steps = list(dict.fromkeys(step for step, _, _ in calls))
    assert steps == ["reading", "checking", "storing", "quarantine", "box records", "hashing", "committing"]
    last = {step: (done, total) for step, done, total in calls}
    size = (tmp_path / "outcomes.csv").stat().st_size
    assert last["reading"] == (size, size)
    assert last["checking"] == (result.rows_read, result.rows_read) == (2_001, 2_001)
    assert last["storing"] == (2_000, 2_000) and last["quarantine"] == (1, 1) and last["hashing"] == (2_000, 2_000)
    assert last["box records"] == last["committing"] == (0, 0)


def test_a_terminal_shows_one_line_per_finished_step(market: Store, tmp_path: Path) -> None:
    screen = io.StringIO()
    path = _outcomes(tmp_path, 2_000)
    with StepProgress(Console(file=screen, force_terminal=True, width=120)) as progress:
        assert progress is not None
        import_file(market, "polished_outcomes", path, progress=progress)
    done = re.findall(r"done [^\r\n]*? s\b", _plain(screen.getvalue()))
    assert [line.split(":")[0].split(" in ")[0] for line in done] == [
        "done reading", "done checking", "done storing", "done quarantine", "done box records", "done hashing", "done committing"]
    megabytes = f"{path.stat().st_size / 1e6:.1f}"
    assert re.fullmatch(rf"done reading: {re.escape(megabytes)} MB, 2,001 rows in \d+\.\d s", done[0])
    assert re.fullmatch(r"done checking: 2,001 rows in \d+\.\d s", done[1])
    assert re.fullmatch(r"done quarantine: 1 row in \d+\.\d s", done[3])


@pytest.mark.parametrize("terminal", [False, True])
def test_nothing_is_shown_on_a_pipe_or_when_turned_off(terminal: bool) -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=terminal)
    with StepProgress(console, enabled=not terminal) as progress:  # a pipe; a terminal with --json
        assert progress is None
    assert screen.getvalue() == ""


def test_the_command_line_shows_progress_on_a_terminal_and_none_with_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from roughtrace import cli

    screen = io.StringIO()
    monkeypatch.setattr(cli, "err", Console(file=screen, force_terminal=True, width=120))
    db = f"duckdb:///{tmp_path / 'cli.duckdb'}"
    parties = write(tmp_path, "parties.csv", "party_id,name,role,category,country\nSH1,Cutter One,sightholder,manufacturer,IN\n")
    with pytest.raises(SystemExit):
        cli.main(["--db", db, "import", "parties", str(parties), "--json"])
    assert screen.getvalue() == ""
    more = write(tmp_path, "more.csv", "party_id,name,role,category,country\nTR1,Trader,trader,,AE\n")
    with pytest.raises(SystemExit):
        cli.main(["--db", db, "import", "parties", str(more)])
    assert "done checking: 1 row" in _plain(screen.getvalue())
    capsys.readouterr()


def test_the_demo_reports_its_analysis_steps(tmp_path: Path) -> None:
    from roughtrace.app import Context
    from roughtrace.app.demo import ANALYSIS_STEPS, run_demo
    from roughtrace.settings import Settings
    from roughtrace.store import open_store

    calls: list[tuple[str, int, int | None]] = []
    store = open_store(f"duckdb:///{tmp_path / 'demo.duckdb'}")
    try:
        store.migrate()
        run_demo(Context(store, Settings()), seed=5, size="small", out_dir=tmp_path / "market", progress=lambda *call: calls.append(call))
    finally:
        store.close()
    for step in ["generating the market", *ANALYSIS_STEPS.values()]:
        assert [(d, t) for s, d, t in calls if s == step] == [(0, None), (0, 0)], step
    checking = [(d, t) for s, d, t in calls if s.endswith(": checking")]
    assert checking and all(t is not None for _, t in checking)
    assert all(any(d == t for d, t in [(d, t) for s2, d, t in calls if s2 == s]) for s, _, _ in calls if s.endswith(": checking"))
