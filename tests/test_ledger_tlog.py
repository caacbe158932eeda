"""The ledger served for outside verification in the C2SP tlog-tiles layout: tile paths, signed
checkpoint notes, the published files checked over real HTTP by `ledger verify --remote`, and a
served log that was tampered with caught."""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from conftest import CommandLine
from roughtrace.app import Context
from roughtrace.app.ledger import log_checkpoint, log_tile, publish_log
from roughtrace.errors import NotFound
from roughtrace.ledger import keys, log, merkle
from roughtrace.ledger.cli import app as ledger_app
from roughtrace.ledger.heads import HeadError, public_key_pem, raw_public_key
from roughtrace.ledger.remote import http_fetch, verify_remote
from roughtrace.ledger.tlog import (
    ENTRIES,
    Tile,
    checkpoint_text,
    entry_bundle,
    index_path,
    open_note,
    parse_tile_path,
    read_checkpoint,
    sign_note,
    split_bundle,
    tiles_of,
    verifier_key,
)
from roughtrace.settings import Settings

ENTRY_COUNT = 700
"""Two full entry bundles and a partial one; level 1 holds two hashes (a partial tile)."""


def test_tile_indexes_are_written_in_groups_of_three_digits() -> None:
    assert index_path(0) == "000"
    assert index_path(7) == "007"
    assert index_path(1000) == "x001/000"
    assert index_path(1234067) == "x001/x234/067"
    assert Tile(0, 1234067).path == "tile/0/x001/x234/067"
    assert Tile(ENTRIES, 2, 188).path == "tile/entries/002.p/188"
    assert parse_tile_path("tile/2/x001/x234/067.p/9") == Tile(2, 1234067, 9)


@pytest.mark.parametrize("path", ["tile/0/1234", "tile/0/x001", "tile/0/000.p/256", "tile/0/000.p/0", "tile/6/000",
                                  "tile/0/x000/001", "checkpoint", "tile/entries/001.p/", "tile/-1/000"])
def test_a_path_that_names_no_tile_is_not_found(path: str) -> None:
    with pytest.raises(NotFound) as caught:
        parse_tile_path(path)
    assert caught.value.problems[0].code == "tile_not_found"


@given(st.integers(0, 10**12), st.one_of(st.just(256), st.integers(1, 255)), st.sampled_from([0, 1, 2, 5, ENTRIES]))
def test_a_tile_path_reads_back_as_its_tile(index: int, width: int, level: int | str) -> None:
    tile = Tile(level, index, width)
    assert parse_tile_path(tile.path) == tile


def test_a_log_of_any_size_has_the_tiles_of_its_levels() -> None:
    assert tiles_of(0) == []
    assert tiles_of(256) == [Tile(0, 0)]
    assert tiles_of(700) == [Tile(0, 0), Tile(0, 1), Tile(0, 2, 188)]
    assert tiles_of(700, 1) == [Tile(1, 0, 2)]
    assert tiles_of(700, ENTRIES)[-1] == Tile(ENTRIES, 2, 188)
    assert tiles_of(65536, 1) == [Tile(1, 0)] and tiles_of(65536, 2) == [Tile(2, 0, 1)]


def test_a_signed_note_opens_with_its_key_and_with_no_other() -> None:
    key = Ed25519PrivateKey.generate()
    text = checkpoint_text("example.org/log", 5, bytes(range(32)))
    note = sign_note(text, "example.org/log", key)
    assert open_note(note, "example.org/log", key.public_key()) == text
    assert read_checkpoint(text).size == 5 and read_checkpoint(text).root == bytes(range(32))
    # the key hash: SHA-256 of the name, a newline, the Ed25519 type byte and the key, first 4 bytes
    signature = base64.b64decode(note.rsplit(" ", 1)[1])
    wanted = hashlib.sha256(b"example.org/log\n\x01" + raw_public_key(key.public_key())).digest()[:4]
    assert signature[:4] == wanted and len(signature) == 68
    name, key_hash, encoded = verifier_key("example.org/log", key.public_key()).split("+", 2)
    assert name == "example.org/log" and key_hash == wanted.hex() and base64.b64decode(encoded)[0] == 1
    with pytest.raises(HeadError):
        open_note(note.replace("\n5\n", "\n6\n"), "example.org/log", key.public_key())
    with pytest.raises(HeadError):
        open_note(note, "example.org/log", Ed25519PrivateKey.generate().public_key())


def test_an_entry_bundle_splits_back_into_its_entries() -> None:
    entries = [b"", b"{}", "é".encode() * 300]
    assert split_bundle(entry_bundle(entries)) == entries
    with pytest.raises(HeadError):
        split_bundle(entry_bundle(entries)[:-1])
    with pytest.raises(ValueError):
        entry_bundle([b"x" * 70000])


@pytest.fixture
def logged(store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A store (each engine) whose ledger holds ENTRY_COUNT decisions, signed with a key in the test's folder."""
    monkeypatch.setenv("ROUGHTRACE_LEDGER_KEY_FILE", str(tmp_path / "ledger-key.pem"))
    keys.ensure_key(store, Settings())
    bodies = [json.dumps({"decision": "test", "n": i}, separators=(",", ":")) for i in range(ENTRY_COUNT)]
    log.append_entries(store, bodies[:300], "decision", keys.load_signer(store, Settings()))
    log.append_entries(store, bodies[300:], "decision", keys.load_signer(store, Settings()))
    return store


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1 by the standard library's file server."""
    folder = tmp_path / "log"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        return


def test_the_tiles_are_the_logs_own_hashes(logged) -> None:
    context = Context(logged, Settings())
    bodies = logged.query("SELECT body FROM ledger_entries ORDER BY entry_index").column("body").to_pylist()
    level0 = b"".join(log_tile(context, t.path) for t in tiles_of(ENTRY_COUNT))
    assert level0 == b"".join(merkle.leaf_hash(b.encode()) for b in bodies)
    first_256 = [merkle.leaf_hash(b.encode()) for b in bodies[:256]]
    assert log_tile(context, "tile/1/000.p/1") == merkle.root_of(first_256)
    assert split_bundle(log_tile(context, "tile/entries/002.p/188")) == [b.encode() for b in bodies[512:]]
    assert log_tile(context, "tile/0/002.p/5") == level0[512 * 32: 517 * 32]
    for missing in ("tile/0/003.p/1", "tile/0/002", "tile/0/002.p/189", "tile/1/000", "tile/2/000.p/1"):
        with pytest.raises(NotFound):
            log_tile(context, missing)
    note = log_checkpoint(context)
    origin = note.split("\n", 1)[0]
    point = read_checkpoint(open_note(note, origin, keys.ensure_key(logged, Settings())))
    assert point.size == ENTRY_COUNT and point.root == merkle.root_of([merkle.leaf_hash(b.encode()) for b in bodies])


def test_a_published_log_verifies_over_http_with_its_receipts(logged, served, tmp_path: Path) -> None:
    folder, url = served
    context = Context(logged, Settings())
    published = publish_log(context, folder)
    assert published.size == ENTRY_COUNT and (folder / "checkpoint").exists()
    public = keys.ensure_key(logged, Settings())
    receipt = log.prove_entry(logged, 123, 300)  # a receipt given when the log held 300 entries
    check = verify_remote(http_fetch(url), public, [receipt])
    assert check.ok and check.size == ENTRY_COUNT and len(check.receipts) == 1

    key_file = tmp_path / "public.pem"
    key_file.write_text(public_key_pem(public))
    receipt_file = tmp_path / "receipt.json"
    receipt_file.write_text(json.dumps(receipt.to_json()))
    result = CommandLine().invoke(ledger_app, ["verify", "--remote", url, "--public-key", str(key_file),
                                               "--receipt", str(receipt_file), "--json"])
    assert result.exit_code == 0, result.stdout
    body = json.loads(result.stdout)
    assert body["checked"]["tree_size"] == ENTRY_COUNT and body["checked"]["receipts"]


def test_a_tampered_served_log_is_caught(logged, served, tmp_path: Path) -> None:
    folder, url = served
    publish_log(Context(logged, Settings()), folder)
    public = keys.ensure_key(logged, Settings())
    bundle = folder / "tile" / "entries" / "001"
    entries = split_bundle(bundle.read_bytes())
    entries[5] = entries[5].replace(b'"n":261', b'"n":999')
    bundle.write_bytes(entry_bundle(entries))
    check = verify_remote(http_fetch(url), public)
    assert not check.ok and {f.code for f in check.findings} >= {"tile_differs", "root_differs"}

    key_file = tmp_path / "public.pem"
    key_file.write_text(public_key_pem(public))
    result = CommandLine().invoke(ledger_app, ["verify", "--remote", url, "--public-key", str(key_file), "--json"])
    assert result.exit_code == 1 and json.loads(result.stdout)["ok"] is False

    checkpoint = folder / "checkpoint"
    checkpoint.write_text(checkpoint.read_text().replace(f"\n{ENTRY_COUNT}\n", f"\n{ENTRY_COUNT - 1}\n"))
    with pytest.raises(HeadError):
        verify_remote(http_fetch(url), public)


def test_an_unreachable_log_is_a_clear_error(tmp_path: Path) -> None:
    key_file = tmp_path / "public.pem"
    key_file.write_text(public_key_pem(Ed25519PrivateKey.generate().public_key()))
    result = CommandLine().invoke(ledger_app, ["verify", "--remote", "http://127.0.0.1:9/none", "--public-key",
                                               str(key_file), "--json"])
    errors = json.loads(result.stdout)["errors"]
    assert result.exit_code != 0 and errors[0]["code"] == "remote_unreadable" and "Traceback" not in result.stdout
