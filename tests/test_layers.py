"""The layers' directions: ingest and the store import no area; the areas plug in at wiring time."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import roughtrace
from roughtrace.ingest import hooks

PACKAGE = Path(roughtrace.__file__).parent
AREAS = ("ledger", "provenance", "checks", "pricing", "valuation")


def _imported(text: str, package: str) -> set[str]:
    """Every module the source `text` of a module of `package` imports, at module level or inside
    functions, as absolute names."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("layer", ["ingest", "store", "analytics"])
def test_ingest_and_the_store_import_no_area(layer: str) -> None:
    offenders = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
        for module in _imported(path.read_text(), package):
            parts = module.split(".")
            if len(parts) > 1 and parts[0] == "roughtrace" and parts[1] in AREAS:
                offenders.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert not offenders, offenders


def test_the_walk_sees_imports_inside_functions() -> None:
    text = "import os\n\ndef f():\n    from ..ledger import imports\n    from . import hooks\n"
    found = _imported(text, "roughtrace.ingest")
    assert {"roughtrace.ledger.imports", "roughtrace.ingest.hooks", "os"} <= found


def test_an_import_refuses_when_nothing_was_wired(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from roughtrace.ingest import import_file
    from roughtrace.store import open_store

    monkeypatch.setattr(hooks, "REGISTRY", hooks.HookRegistry())
    path = tmp_path / "parties.csv"
    path.write_text("party_id,name,role,category,country\nDB,Producer,producer,,BW\n")
    store = open_store(f"duckdb:///{tmp_path / 's.duckdb'}")
    try:
        store.migrate()
        with pytest.raises(RuntimeError, match=r"roughtrace\.wiring\.wire\(\)"):
            import_file(store, "parties", path)
        assert store.rows("SELECT count(*) AS n FROM batches") == [{"n": 0}]
    finally:
        store.close()


def test_wiring_registers_the_ledger_then_provenance_once() -> None:
    from roughtrace.wiring import wire

    wire()
    wire()
    assert hooks.REGISTRY.wired
    assert hooks.REGISTRY.names() == ["ledger", "provenance"]


def test_wiring_loads_no_area_and_no_arrow() -> None:
    """Every command wires at its start: it may read the areas' settings tuples (small modules of
    plain values) and nothing else of an area, and no Arrow."""
    import subprocess
    import sys

    code = ("import sys; from roughtrace.wiring import wire; wire(); "
            "print(sorted(m for m in sys.modules if m == 'pyarrow' or m.split('.')[:2] in "
            "[['roughtrace', a] for a in ('ledger', 'provenance', 'checks', 'pricing', 'valuation')]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    loaded = eval(done.stdout.strip())  # noqa: S307 - a list of module names this test printed
    allowed = {f"roughtrace.{area}{part}" for area in AREAS for part in ("", ".settings")}
    assert [m for m in loaded if m not in allowed] == [], loaded
