"""The composition root: the store and the settings registry import no area; `wiring.wire()` hands
them the areas' migrations and settings, once, and nothing works in part without it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from roughtrace import settings, wiring
from roughtrace.settings import SettingError, Settings
from roughtrace.store import migrations, open_store

SOURCE = Path(__file__).resolve().parent.parent / "src" / "roughtrace"
AREAS = ("checks", "ingest", "ledger", "pricing", "provenance", "valuation", "sim", "app")


def test_the_store_layer_and_the_settings_registry_import_no_area() -> None:
    for module in [*(SOURCE / "store").glob("*.py"), SOURCE / "settings.py"]:
        text = module.read_text()
        named = [area for area in AREAS if f"from ..{area}" in text or f"from .{area}" in text and module.name == "settings.py"]
        assert not named, f"{module.name} imports {named}"
    assert not (SOURCE / "setting_areas.py").exists()


def test_wiring_twice_changes_nothing() -> None:
    before = (settings.registry(), migrations.all_migrations())
    wiring.wire()
    wiring.wire_migrations()
    wiring.wire_settings()
    assert (settings.registry(), migrations.all_migrations()) == before


def test_the_schema_versions_stay_as_stores_were_migrated() -> None:
    listed = [(m.version, m.description) for m in migrations.all_migrations()]
    assert [version for version, _ in listed] == list(range(1, 18))
    assert sorted(m.version for m in wiring.area_migrations()) == [2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 14, 15, 16, 17]


def test_an_unwired_store_is_never_migrated_in_part(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(migrations, "_AREAS", None)
    store = open_store(f"duckdb:///{tmp_path / 'unwired.duckdb'}")
    try:
        with pytest.raises(RuntimeError, match=r"roughtrace\.wiring\.wire\(\)"):
            store.migrate()
        assert store.schema_version() == 0
    finally:
        store.close()


def test_settings_before_wiring_name_the_composition_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "_REGISTRY", {})
    with pytest.raises(RuntimeError, match=r"roughtrace\.wiring\.wire\(\)"):
        Settings()


def test_importing_an_areas_settings_registers_nothing() -> None:
    script = textwrap.dedent("""
        from roughtrace import settings
        from roughtrace.checks import settings as checks
        from roughtrace.pricing.settings import SETTINGS
        assert checks.SETTINGS and SETTINGS
        try:
            settings.registry()
        except RuntimeError:
            print("empty")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "empty", done.stderr


def test_a_layer_below_the_environment_gives_a_value_the_environment_can_override() -> None:
    config = {"price_period": "quarter", "price_min_trades": "4"}
    built = Settings(environ={"ROUGHTRACE_PRICE_MIN_TRADES": "6"}, layers=[config, {"price_period": "year"}])
    assert built["price_period"] == "quarter"
    assert built["price_min_trades"] == 6
    assert Settings({"price_period": "week"}, environ={}, layers=[config])["price_period"] == "week"
    with pytest.raises(SettingError, match="no setting called 'price_perod'"):
        Settings(environ={}, layers=[{"price_perod": "year"}])


def test_wiring_at_start_up_loads_no_schema(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import sys
        from roughtrace.cli import main
        try:
            main(["--help"])
        except SystemExit:
            pass
        print(*sorted(m for m in ("roughtrace.store.schema", "roughtrace.domain.kinds", "pyarrow", "duckdb")
                      if m in sys.modules))
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "", done.stdout
