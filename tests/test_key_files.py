"""Signing keys where they belong: the demo leaves none in the working folder (where it would travel
with the data or be committed), a key already beside a store stays in use, and the suite works
in a home of its own, never in the user's ~/.config/roughtrace."""

from __future__ import annotations

import json
import os
import pwd
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from roughtrace.cli import main
from roughtrace.ledger.heads import key_id
from roughtrace.ledger.keys import config_folder, ensure_key, key_path
from roughtrace.settings import Settings
from roughtrace.store import open_store


@pytest.mark.slow
def test_the_demo_writes_no_key_into_the_working_folder(tmp_path: Path, own_home: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        main(["demo", "--json"])
    assert done.value.code == 0
    assert json.loads(capsys.readouterr().out)["ledger"]["size"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo", "roughtrace.duckdb"]
    assert not list(tmp_path.rglob("*.pem"))
    (key,) = (own_home / ".config" / "roughtrace").glob("ledger-key-*.pem")
    assert key.stat().st_mode & 0o777 == 0o600


def test_each_store_has_its_own_key_file_in_the_config_folder(tmp_path: Path, own_home: Path) -> None:
    places = []
    for name in ("north.duckdb", "south.duckdb"):
        store = open_store(f"duckdb:///{tmp_path / name}")
        try:
            places.append(key_path(store, Settings()))
        finally:
            store.close()
    assert len(set(places)) == 2
    assert all(place.parent == own_home / ".config" / "roughtrace" for place in places)


def test_a_key_already_beside_a_store_stays_in_use(tmp_path: Path, own_home: Path) -> None:
    beside = tmp_path / "store.duckdb.ledger-key.pem"
    public = ensure_key(beside)
    store = open_store(f"duckdb:///{tmp_path / 'store.duckdb'}")
    try:
        store.migrate()
        assert key_path(store, Settings()) == beside
        assert ensure_key(store, Settings()) == public
    finally:
        store.close()
    assert not (own_home / ".config" / "roughtrace").exists()


def test_the_suite_never_touches_the_real_home(own_home: Path) -> None:
    real_home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    assert Path.home() == own_home != real_home
    assert Path(os.environ["XDG_CONFIG_HOME"]).is_relative_to(own_home)
    assert config_folder().is_relative_to(own_home)
    shared = SimpleNamespace(url="postgresql://operator@db.example/roughtrace")  # a PostgreSQL store's key
    assert key_path(shared, Settings()).is_relative_to(own_home)
    assert not any(name.startswith("ROUGHTRACE_") and name not in ("ROUGHTRACE_TEST_PG", "ROUGHTRACE_REQUIRE_PG")
                   for name in os.environ)


def test_every_spelling_of_one_postgresql_store_finds_one_key(tmp_path: Path, own_home: Path) -> None:
    """The key file is named by the id the store keeps in its `meta` table, not by the URL's spelling."""
    base = os.environ.get("ROUGHTRACE_TEST_PG")
    if not base:
        pytest.skip("no PostgreSQL: set ROUGHTRACE_TEST_PG")
    schema = "rt_" + uuid.uuid4().hex[:12]
    admin = open_store(base)
    admin.execute(f"CREATE SCHEMA {schema}")
    local = base.replace("127.0.0.1", "localhost") if "127.0.0.1" in base else base.replace("localhost", "127.0.0.1")
    spellings = [base, local, base.replace("postgresql://", "postgres://")]
    try:
        places, public = [], set()
        for spelling in spellings:
            separator = "&" if "?" in spelling else "?"
            store = open_store(f"{spelling}{separator}options=-csearch_path%3D{schema}&application_name=rt{len(places)}")
            try:
                store.migrate()
                places.append(key_path(store, Settings()))
                public.add(key_id(ensure_key(store, Settings())))
            finally:
                store.close()
        assert len(set(places)) == 1 and len(public) == 1, places
        assert places[0].parent == own_home / ".config" / "roughtrace"
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()
