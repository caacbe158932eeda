"""Shared fixtures: a store on every engine, and fixtures written in the domain's own language."""

from __future__ import annotations

import io
import itertools
import os
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from typer.testing import CliRunner, Result

from roughtrace.cli import run
from roughtrace.domain import kinds
from roughtrace.domain.money import CARAT_PLACES, USD_PLACES
from roughtrace.provenance import boxes
from roughtrace.store import Store, open_store
from roughtrace.wiring import wire

wire()  # the composition root, as every entry point runs it: the areas' migrations and settings

PG_URL = os.environ.get("ROUGHTRACE_TEST_PG")
ENGINES = ["duckdb", "postgresql"]
KEPT_ENVIRONMENT = ("ROUGHTRACE_TEST_PG", "ROUGHTRACE_REQUIRE_PG")
"""The suite's own variables; every other ROUGHTRACE_* setting of the caller's shell is dropped."""


def _homed(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("HOME", str(home))
    for variable, folder in (("XDG_CONFIG_HOME", ".config"), ("XDG_DATA_HOME", ".local/share"),
                             ("XDG_CACHE_HOME", ".cache"), ("XDG_STATE_HOME", ".local/state")):
        monkeypatch.setenv(variable, str(home / folder))
    for variable in list(os.environ):
        if variable.startswith("ROUGHTRACE_") and variable not in KEPT_ENVIRONMENT:
            monkeypatch.delenv(variable)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Wire the library as every entry point does: the tests call its functions directly."""
    from roughtrace.wiring import wire

    wire()


@pytest.fixture(scope="session", autouse=True)
def suite_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A home of the suite's own from its start: fixtures shared by a module's tests are made
    before any test's own home, and must not write keys into the user's ~/.config either."""
    home = tmp_path_factory.mktemp("suite-home")
    with pytest.MonkeyPatch.context() as monkeypatch:
        _homed(monkeypatch, home)
        yield home


@pytest.fixture(autouse=True)
def own_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets a home, config, data, cache and state folder of its own, and no ROUGHTRACE_*
    setting from the caller's environment: no test reads or writes the user's ~/.config/roughtrace
    (where signing keys live), and none depends on how the developer's shell is set up. Child
    processes inherit the same."""
    home = tmp_path_factory.mktemp("home")
    _homed(monkeypatch, home)
    return home


class CommandLine:
    """Runs a command (the root app or one area's) as `roughtrace` runs it: through `roughtrace.cli.run`,
    the one translation of errors into problems and exit codes, with its output captured as typer's
    CliRunner captures it (`obj` stands in for the context the root builds: store and settings)."""

    def invoke(self, command: Any, args: list[str], obj: Any = None, **extra: Any) -> Result:
        runner = CliRunner()
        if obj is not None:
            extra["obj"] = obj
        with runner.isolation() as (stdout, stderr, output):
            code = run(command, list(args), **extra)
            sys.stdout.flush()
            sys.stderr.flush()
            return Result(runner, stdout.getvalue(), stderr.getvalue(), output.getvalue(), None, code, None)


def _pg_store() -> Iterator[Store]:
    if not PG_URL:
        if os.environ.get("ROUGHTRACE_REQUIRE_PG"):
            pytest.fail("ROUGHTRACE_TEST_PG is not set but PostgreSQL is required (scripts/test.sh starts one)")
        pytest.skip("no PostgreSQL: set ROUGHTRACE_TEST_PG (scripts/test.sh starts one)")
    schema = "rt_" + uuid.uuid4().hex[:12]
    admin = open_store(PG_URL)
    admin.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in PG_URL else "?"
    store = open_store(f"{PG_URL}{separator}options=-csearch_path%3D{schema}")
    try:
        yield store
    finally:
        store.close()
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


def make_store(engine: str, tmp_path: Path) -> Iterator[Store]:
    if engine == "duckdb":
        store = open_store(f"duckdb:///{tmp_path / 'store.duckdb'}")
        try:
            yield store
        finally:
            store.close()
    else:
        yield from _pg_store()


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def store(engine: str, tmp_path: Path) -> Iterator[Store]:
    """A migrated, empty store on each engine in turn."""
    for opened in make_store(engine, tmp_path):
        opened.migrate()
        yield opened


@pytest.fixture
def duck(tmp_path: Path) -> Iterator[Store]:
    """A migrated, empty DuckDB store (for tests about the embedded default only)."""
    for opened in make_store("duckdb", tmp_path):
        opened.migrate()
        yield opened


@pytest.fixture
def pg_url() -> str:
    if not PG_URL:
        if os.environ.get("ROUGHTRACE_REQUIRE_PG"):
            pytest.fail("ROUGHTRACE_TEST_PG is not set but PostgreSQL is required")
        pytest.skip("no PostgreSQL")
    return PG_URL


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    """A fixture file from an indented literal: tests read like the CSV a user sends."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding=encoding)
    return path


PARTIES = """
    party_id,name,role,category,country
    DB,Producer,producer,,BW
    SH1,Cutter One,sightholder,manufacturer,IN
    SH2,Dealer Two,sightholder,dealer,BE
    TR1,Trader,trader,,AE
    """
BOXES = """
    box_id,sight,sale_date,seller_id,buyer_id,origin,assortment,model,size_min_ct,size_max_ct,colour,quality,stones,carats,price_usd,kp_certificate_id
    B1,2026-01,2026-01-20,DB,SH1,BW,A-100,stones,0.75,2.00,white,high,10,12.500,25000.00,BW0001
    B2,2026-01,2026-01-20,DB,SH2,BW,A-200,shapes,0.10,1.00,off_white,medium,100,50.000,9000.00,BW0001
    """


@pytest.fixture
def market(store: Store, tmp_path: Path) -> Store:
    """A store holding two parties' worth of rough: SH1 bought B1, SH2 bought B2."""
    from roughtrace.ingest import import_file

    assert import_file(store, "parties", write(tmp_path, "parties.csv", PARTIES)).rows_rejected == 0
    assert import_file(store, "rough_sales", write(tmp_path, "rough_sales.csv", BOXES)).rows_rejected == 0
    return store


ARROW_TYPES = {
    kinds.TEXT: pa.string(), kinds.DATE: pa.date32(), kinds.CARATS: pa.decimal128(18, CARAT_PLACES),
    kinds.USD: pa.decimal128(18, USD_PLACES), kinds.INTEGER: pa.int64(), kinds.ENUM: pa.string(),
    kinds.COUNTRY: pa.string(), kinds.ORIGIN: pa.string(), kinds.PARTY: pa.string(),
}
"""Arrow types of the store's columns, by contract type."""

_batch_ids = itertools.count(1)


def new_store() -> Store:
    """An empty in-memory DuckDB store at the newest schema."""
    store = open_store("duckdb:///:memory:")
    store.migrate()
    return store


def load(store: Store, kind: str, text: str) -> int:
    """Append a CSV text's rows straight to a kind's table, typed by the kind's columns, bypassing
    the importer's checks (for fixtures that must hold what an import would refuse); returns the
    batch id given to them."""
    spec = kinds.KINDS[kind]
    body = textwrap.dedent(text).strip() + "\n"
    header = body.splitlines()[0].split(",")
    types = {c.name: ARROW_TYPES[c.type] for c in spec.columns if c.name in header}
    table = pacsv.read_csv(io.BytesIO(body.encode()), convert_options=pacsv.ConvertOptions(
        column_types=types, strings_can_be_null=True, null_values=[""]))
    batch = next(_batch_ids)
    table = table.append_column("batch_id", pa.array([batch] * table.num_rows, pa.int64()))
    table = table.append_column("source_row", pa.array(range(1, table.num_rows + 1), pa.int64()))
    store.append(kind, table)
    boxes.refresh(store, kind, batch)  # as an import would: the provenance records follow the rows
    return batch
