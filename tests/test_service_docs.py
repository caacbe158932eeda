"""docs/api.md names every route the service has; the service starts no web page that needs a CDN."""

from __future__ import annotations

from pathlib import Path

from roughtrace.service.app import create_app
from roughtrace.settings import Settings

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_route_is_in_docs_api_md() -> None:
    spec = create_app(Settings({"db": "duckdb:///unused.duckdb"})).openapi()
    page = (DOCS / "api.md").read_text()
    missing = [f"{method.upper()} {path}" for path, item in spec["paths"].items() for method in item
               if f"`{method.upper()} {path}" not in page]
    assert not missing, f"docs/api.md lacks {missing}"


def test_no_page_loads_scripts_from_elsewhere() -> None:
    paths = {route.path for route in create_app(Settings({"db": "duckdb:///unused.duckdb"})).routes}
    assert "/docs" not in paths and "/redoc" not in paths and "/openapi.json" in paths
