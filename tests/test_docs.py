"""The docs stay true to the code: every setting, every error code, every package has its place."""

from __future__ import annotations

from pathlib import Path

from roughtrace.cli import settings_markdown
from roughtrace.ingest.rules import all_codes
from roughtrace.settings import registry

DOCS = Path(__file__).resolve().parent.parent / "docs"
PACKAGE = Path(__file__).resolve().parent.parent / "src" / "roughtrace"


def test_every_setting_is_documented_as_the_registry_says() -> None:
    page = (DOCS / "settings.md").read_text()
    assert page.strip() == settings_markdown().strip(), "regenerate: roughtrace settings --markdown > docs/settings.md"
    for name in registry():
        assert f"`{name}`" in page


def test_every_import_error_code_is_documented() -> None:
    page = (DOCS / "formats.md").read_text()
    missing = [code for code in all_codes() if f"`{code}`" not in page]
    assert not missing, f"docs/formats.md lacks {missing}"


def test_every_package_has_a_room_in_the_architecture() -> None:
    page = (DOCS / "architecture.md").read_text()
    packages = [p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()]
    assert packages
    missing = [name for name in packages if f"`{name}/`" not in page]
    assert not missing, f"docs/architecture.md lacks {missing}"
