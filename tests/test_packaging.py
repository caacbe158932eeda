"""roughtrace installs as users install it and starts at once: every module the library imports is
declared in pyproject.toml, the runtime lock holds what it needs to run and nothing of the tests'
or benchmarks', `--help` and `status` load no area's computations, and an area that cannot load
says why instead of vanishing from the command line."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import textwrap
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from roughtrace import cli

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _name(requirement: str) -> str:
    """A requirement's distribution name, normalised: 'psycopg[binary]>=3.2' -> 'psycopg'."""
    return re.sub(r"[-_.]+", "-", re.split(r"[\[<>=!~; ]", requirement.strip(), maxsplit=1)[0]).lower()


def _pins(lock: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / lock).read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            name, version = line.split("==")
            pins[_name(name)] = version.strip()
    return pins


def _imported_packages(every_place: bool = False) -> dict[str, Any]:
    """Top-level third-party modules src/ imports anywhere (at module level or inside functions),
    each with one place that imports it (every place, as a list, with `every_place`)."""
    found: dict[str, Any] = {}
    for path in sorted((ROOT / "src").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("roughtrace", "__future__"):
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    if every_place:
                        found.setdefault(top, []).append(where)
                    else:
                        found.setdefault(top, where)
    return found


SPARK_ONLY = ("src/roughtrace/analytics/ibis_engine.py", "src/roughtrace/analytics/spark.py",
              "src/roughtrace/pricing/portable.py", "src/roughtrace/valuation/portable.py",
              "src/roughtrace/checks/portable.py", "src/roughtrace/intelligence/portable.py",
              "src/roughtrace/valuation/portable_kp.py", "src/roughtrace/valuation/portable_book.py")
"""The modules only the Spark engine loads (tests/test_analytics.py: the default engine loads neither
Ibis nor pyspark): they may import the `spark` extra's packages."""


def test_every_module_the_library_imports_is_a_declared_dependency() -> None:
    declared = {_name(d) for d in PROJECT["project"]["dependencies"]}
    spark = {_name(d) for d in PROJECT["project"]["optional-dependencies"]["spark"]}
    owners = packages_distributions()
    undeclared = {}
    for module, places in _imported_packages(every_place=True).items():
        owned = {_name(d) for d in owners.get(module, [module])}
        if owned & declared:
            continue
        outside = [where for where in places if where.split(":")[0] not in SPARK_ONLY]
        if outside or not owned & spark:
            undeclared[module] = (outside or places)[0]
    assert undeclared == {}


def test_the_runtime_lock_pins_every_dependency_and_nothing_for_tests_or_benchmarks() -> None:
    runtime = _pins("requirements.lock")
    assert {_name(d) for d in PROJECT["project"]["dependencies"]} <= set(runtime)
    extras = {_name(d) for group in PROJECT["project"]["optional-dependencies"].values() for d in group}
    assert extras & set(runtime) == {"pydantic"}  # typer validates its options with pydantic
    assert not {"pytest", "ruff", "hypothesis", "pandas", "plotnine", "matplotlib", "ibis-framework"} & set(runtime)


def test_the_development_lock_adds_to_the_runtime_one_without_changing_it() -> None:
    runtime, development = _pins("requirements.lock"), _pins("requirements-dev.lock")
    assert {name: development.get(name) for name in runtime} == runtime
    extras = {_name(d) for group in PROJECT["project"]["optional-dependencies"].values() for d in group}
    assert extras <= set(development)
    (backend,) = (Requirement(r) for r in PROJECT["build-system"]["requires"])
    assert backend.specifier.contains(development[backend.name])  # `make setup` builds with it, unisolated


BLOCK_SCIPY = """
import sys
class NoScipy:
    def find_spec(self, name, path=None, target=None):
        if name == "scipy" or name.startswith("scipy."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoScipy())
"""

RUN_CLI = """
import sys
from roughtrace.cli import main
try:
    main()
finally:
    loaded = [m for m in sys.modules if m.split(".")[0] in ("scipy", "pandas") or m in HEAVY]
    print("LOADED", *sorted(loaded), file=sys.stderr)
"""

HEAVY = ("roughtrace.checks.registry", "roughtrace.checks.rules", "roughtrace.pricing.index",
         "roughtrace.pricing.model", "roughtrace.valuation.pricebook", "roughtrace.ledger.audit",
         "roughtrace.provenance.trace", "roughtrace.sim.market", "roughtrace.ingest.pipeline")
"""Modules of the areas' computations, which neither `--help` nor `status` needs."""


def _roughtrace(args: list[str], cwd: Path, block_scipy: bool = False) -> tuple[int, str, str]:
    """Run the command line as the console script does, in a fresh process: (exit code, stdout,
    stderr), stderr ending with the line `LOADED` and the heavy modules the run imported."""
    code = (BLOCK_SCIPY if block_scipy else "") + f"HEAVY = {HEAVY!r}\n" + RUN_CLI
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)
    lines = done.stderr.splitlines()
    loaded = next(line for line in lines if line.startswith("LOADED"))
    stderr = "\n".join(line for line in lines if not line.startswith("LOADED"))
    return done.returncode, done.stdout, stderr + "\n" + loaded


def test_help_and_status_answer_without_scipy(tmp_path: Path) -> None:
    assert _roughtrace(["init"], tmp_path)[0] == 0
    code, out, err = _roughtrace(["--help"], tmp_path, block_scipy=True)
    assert code == 0, err
    for area in cli.AREAS:
        assert re.search(rf"\b{area.name}\b", out), f"`{area.name}` is missing from --help"
    code, out, err = _roughtrace(["status", "--json"], tmp_path, block_scipy=True)
    assert code == 0, err
    assert json.loads(out)["rows"]["parties"] == 0


@pytest.mark.parametrize("args", [["--help"], ["status"]])
def test_help_and_status_load_no_area_computations(tmp_path: Path, args: list[str]) -> None:
    assert _roughtrace(["init"], tmp_path)[0] == 0  # a new store's first migration may fill tables: not start-up
    code, _, err = _roughtrace(args, tmp_path)
    assert code == 0, err
    assert err.splitlines()[-1] == "LOADED", err


def test_the_help_listed_for_each_area_is_the_areas_own() -> None:
    for area in cli.AREAS:
        command = area.load()
        assert command.name == area.name
        if area.group:
            assert command.help == area.help


FAKE_AREAS = """
import typer

import rt_package_never_installed  # noqa: F401

app = typer.Typer()
"""

FAKE_BODY = """
import typer

app = typer.Typer()


@app.command("run")
def run() -> None:
    import rt_package_never_installed  # noqa: F401


@app.command("other")
def other() -> None:
    pass
"""


@pytest.fixture
def broken_areas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two areas: one whose module needs a package that is not installed, one whose command does."""
    (tmp_path / "rt_broken_area.py").write_text(textwrap.dedent(FAKE_AREAS))
    (tmp_path / "rt_broken_body.py").write_text(textwrap.dedent(FAKE_BODY))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cli, "AREAS", [*cli.AREAS, cli.Area("assay", "rt_broken_area", "app", "Assay the rough."),
                                       cli.Area("tender", "rt_broken_body", "app", "Tender results.")])


def test_an_area_that_cannot_load_is_listed_and_says_why(broken_areas: None, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--help"])
    assert done.value.code == 0
    assert re.search(r"assay\s+Assay the rough\.", capsys.readouterr().out)

    with pytest.raises(SystemExit) as done:
        cli.main(["assay", "anything"])
    assert done.value.code == 1
    err = capsys.readouterr().err
    assert "`roughtrace assay` cannot run" in err
    assert "`rt_package_never_installed`, which is not installed" in err
    assert "No such command" not in err and "Traceback" not in err

    with pytest.raises(SystemExit) as done:
        cli.main(["assay", "anything", "--json"])
    body = json.loads(capsys.readouterr().out)
    assert done.value.code == 1 and body["ok"] is False and body["errors"][0]["code"] == "area_unavailable"


def test_a_command_whose_package_is_missing_says_which(broken_areas: None, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["tender", "run"])
    assert done.value.code == 1
    err = capsys.readouterr().err
    assert "`rt_package_never_installed`, which is not installed" in err and "(missing_dependency)" in err
    with pytest.raises(SystemExit) as done:
        cli.main(["tender", "other"])
    assert done.value.code == 0
