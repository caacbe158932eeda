"""The ledger in a store: receipts from imports and decisions, row proofs, and `verify` catching
every change to a stored row, entry, hash, head or batch record. Runs on every engine."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import CommandLine
from roughtrace.domain import kinds
from roughtrace.ledger import audit, canonical, kernel, keys, log, merkle, receipts, tiles
from roughtrace.ledger.cli import app as ledger_app
from roughtrace.ledger.heads import HeadError, key_id, public_key_pem, sign_head, verify_head
from roughtrace.ledger.imports import row_leaf_hashes
from roughtrace.settings import Settings

PARTIES = """
    party_id,name,role,category,country
    DB,Producer,producer,,BW
    SH1,Cutter One,sightholder,manufacturer,IN
    SH2,Dealer Two,sightholder,dealer,BE
    """
BOXES = """
    box_id,sight,sale_date,seller_id,buyer_id,origin,assortment,model,size_min_ct,size_max_ct,colour,quality,stones,carats,price_usd,kp_certificate_id
    B1,2026-01,2026-01-20,DB,SH1,BW,A-100,stones,0.75,2.00,white,high,10,12.5,25000,BW0001
    B2,2026-01,2026-01-20,DB,SH2,BW,A-200,shapes,0.10,1.00,off_white,medium,100,50.000,9000.00,
    B3,2026-02,2026-02-17,DB,SH1,BW,A-300,stones,2.00,4.00,white,high,4,11.020,61000.50,BW0002
    """
SECOND_BOXES = """
    box_id,sight,sale_date,seller_id,buyer_id,origin,assortment,model,size_min_ct,size_max_ct,colour,quality,stones,carats,price_usd,kp_certificate_id
    B4,2026-03,2026-03-16,DB,SH2,BW,A-100,stones,0.75,2.00,white,high,8,10.000,20000.00,BW0003
    """


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


@pytest.fixture
def ledger(store, tmp_path, monkeypatch):
    """A migrated store (the ledger's tables included) and a signing key in the test's folder."""
    monkeypatch.setenv("ROUGHTRACE_LEDGER_KEY_FILE", str(tmp_path / "ledger-key.pem"))
    keys.ensure_key(store, Settings())
    return store


@pytest.fixture
def books(ledger, tmp_path):
    """Parties and three boxes imported (each import logged), then a check run decided."""
    from roughtrace.ingest import import_file

    for kind, name, text in (("parties", "parties.csv", PARTIES), ("rough_sales", "sales.csv", BOXES)):
        result = import_file(ledger, kind, _file(tmp_path, name, text))
        assert result.rows_rejected == 0, result.errors
        assert result.receipt is not None  # every import answers with a receipt
        receipts.verify_receipt(keys.ensure_key(ledger, Settings()), receipts.Receipt.from_json(result.receipt))
    log.record_decision(ledger, "check_run", {"rule": "mass_balance", "findings": 0, "carats": "62.520"})
    return ledger


def _public_key(store):
    return keys.ensure_key(store, Settings())


def _sales_batch(store) -> int:
    return store.query("SELECT batch_id FROM batches WHERE kind = 'rough_sales'").column("batch_id")[0].as_py()


def test_a_batch_receipt_checks_with_only_the_public_key(books):
    key = _public_key(books)
    receipt = log.prove_entry(books, 1)
    carried = receipts.Receipt.from_json(json.loads(json.dumps(receipt.to_json())))
    receipts.verify_receipt(key, carried)
    entry = json.loads(carried.entry)
    assert entry["type"] == "batch" and entry["kind"] == "rough_sales" and entry["row_count"] == 3
    assert entry["file_sha256"] == books.query("SELECT file_sha256 FROM batches WHERE kind = 'rough_sales'").column(0)[0].as_py()


def test_a_receipt_for_another_entry_or_under_another_key_is_refused(books):
    receipt = log.prove_entry(books, 1)
    forged = receipts.Receipt(receipt.index, receipt.entry.replace('"row_count":3', '"row_count":2'), receipt.head, receipt.proof)
    with pytest.raises(receipts.ReceiptError):
        receipts.verify_receipt(_public_key(books), forged)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    with pytest.raises(receipts.ReceiptError):
        receipts.verify_receipt(Ed25519PrivateKey.generate().public_key(), receipt)


def test_each_row_is_proven_alone_against_the_logged_root(books):
    key = _public_key(books)
    batch = _sales_batch(books)
    texts = {}
    for source_row in (1, 2, 3):
        proof = log.prove_row(books, batch, source_row)
        receipts.verify_row_receipt(key, receipts.RowReceipt.from_json(json.loads(json.dumps(proof.to_json()))))
        texts[source_row] = proof.row
    assert texts[1].split(canonical.UNIT_SEPARATOR) == [
        "2:B1", "7:2026-01", "2026-01-20", "2:DB", "3:SH1", "2:BW", "5:A-100", "6:stones", "0.750", "2.000", "5:white",
        "4:high", "10", "12.500", "25000.00", "6:BW0001"]
    assert texts[2].endswith(canonical.UNIT_SEPARATOR + ":")  # no KP certificate: NULL is ":", apart from "" ("0:")
    other = log.prove_row(books, batch, 2)
    swapped = receipts.RowReceipt(batch, 1, 0, other.row, log.prove_row(books, batch, 1).proof, other.batch)
    with pytest.raises(receipts.ReceiptError):
        receipts.verify_row_receipt(key, swapped)


def test_canonical_row_text_is_the_same_in_python_and_in_the_store(books):
    kind = kinds.KINDS["rough_sales"]
    batch = _sales_batch(books)
    rows = books.query("SELECT * FROM rough_sales WHERE batch_id = ? ORDER BY source_row", (batch,)).to_pylist()
    in_store = books.query(f"SELECT {canonical.row_text_sql(kind, books.engine)} AS t FROM rough_sales "
                           "WHERE batch_id = ? ORDER BY source_row", (batch,)).column("t").to_pylist()
    assert in_store == [canonical.row_text(kind, r) for r in rows]
    hashes = [bytes(h) for h in row_leaf_hashes(books, kind, batch)]
    assert hashes == [merkle.leaf_hash(t.encode()) for t in in_store]


def test_leaf_hashes_come_in_row_order_whatever_order_the_engine_returns(books):
    from roughtrace.ledger.imports import leaf_chunks

    kind = kinds.KINDS["rough_sales"]
    batch = _sales_batch(books)
    relation = f"(SELECT * FROM rough_sales WHERE batch_id = {batch}) AS b"

    def reversed_rows(sql: str) -> pa.Table:
        table = books.query(sql)
        return table.take(pa.array(range(table.num_rows - 1, -1, -1), pa.int64()))

    in_order = np.concatenate(list(leaf_chunks(books.query, books.engine, kind, relation, "source_row")))
    assert np.array_equal(np.concatenate(list(leaf_chunks(reversed_rows, books.engine, kind, relation, "source_row"))), in_order)
    assert np.array_equal(in_order, row_leaf_hashes(books, kind, batch))


@given(st.lists(st.integers(0, 400), unique=True, max_size=120), st.randoms(use_true_random=False),
       st.booleans())
@settings(max_examples=150, deadline=None)
def test_hashes_are_put_in_row_order_with_or_without_gaps(numbers, shuffle, contiguous):
    """Streamed row numbers in any order: a gap-free run (placed directly) or with gaps (sorted)."""
    from roughtrace.ledger.imports import _in_row_order

    if contiguous:
        numbers = list(range(7, 7 + len(numbers)))
    shuffle.shuffle(numbers)
    leaves = np.zeros((len(numbers), 32), dtype=np.uint8)
    leaves[:, :8] = np.array(numbers, dtype=np.int64).view(np.uint8).reshape(-1, 8)  # each hash names its row
    rows = pa.chunked_array([pa.array(numbers[:5], pa.int64()), pa.array(numbers[5:], pa.int64())])
    expected = leaves[np.argsort(np.array(numbers, dtype=np.int64), kind="stable")] if numbers else leaves
    assert np.array_equal(_in_row_order(leaves, rows), expected)


def test_heads_grow_consistently_and_are_signed(books, tmp_path):
    from roughtrace.ingest import import_file

    key = _public_key(books)
    before = log.latest_head(books)
    import_file(books, "rough_sales", _file(tmp_path, "more.csv", SECOND_BOXES))
    log.record_decision(books, "valuation", {"box_id": "B4", "value_usd": "20000.00"})
    after = log.latest_head(books)
    assert after.size > before.size
    proof = log.prove_consistency(books, before.size)
    receipts.verify_consistency(key, receipts.Consistency.from_json(proof.to_json()))
    verify_head(key, after)
    with pytest.raises(HeadError):
        verify_head(key, type(after)(after.size + 1, after.root, after.timestamp, after.key_id, after.signature))


def test_appends_in_uneven_batches_keep_every_proof_valid(ledger):
    key = _public_key(ledger)
    bodies = [canonical.canonical_json({"type": "decision", "n": i}) for i in range(700)]
    for start, end in ((0, 1), (1, 256), (256, 257), (257, 600), (600, 700)):
        log.append_entries(ledger, pa.array(bodies[start:end]), "decision")
    head = log.latest_head(ledger)
    assert head.size == 700
    assert head.root == merkle.root_of([merkle.leaf_hash(b.encode()) for b in bodies])
    for index in (0, 255, 256, 511, 699):
        receipts.verify_receipt(key, log.prove_entry(ledger, index))
    receipts.verify_consistency(key, log.prove_consistency(ledger, 257, 700))
    assert audit.verify(ledger).ok


@pytest.mark.parametrize("cuts", [(), (1,), (255, 256, 257), (100, 65_536, 65_537), (256 * 255, 256 * 256)])
def test_a_row_tree_written_in_chunks_is_the_tree_built_at_once(ledger, cuts):
    """record_batch takes a batch's leaf hashes in chunks (as an import streams them): whatever the
    cuts, it stores exactly the tiles and root of the tree built from all leaves in memory."""
    size = 70_000
    leaves = kernel.as_matrix(np.random.default_rng(len(cuts)).integers(0, 256, size=(size, 32), dtype=np.uint8))
    bounds = [0, *cuts, size]
    chunks = [leaves[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    summary = {"batch_id": 1, "kind": "rough_sales", "file_name": "f.csv", "file_sha256": "0" * 64}
    receipt = log.record_batch(ledger, summary, iter(chunks))
    entry = json.loads(receipt.entry)
    assert entry["row_count"] == size
    assert entry["rows_root"] == merkle.root_of([bytes(leaf) for leaf in leaves]).hex()
    built = tiles.build(leaves)
    stored = ledger.query(f"SELECT band, idx, hashes FROM ledger_tiles WHERE tree = {log.row_tree(receipt.index)}").to_pylist()
    assert {(r["band"], r["idx"]) for r in stored} == built.keys()
    for r in stored:
        assert bytes(r["hashes"]) == built[(r["band"], r["idx"])].tobytes()


def test_an_untouched_ledger_verifies(books):
    result = audit.verify(books, _public_key(books))
    assert result.ok, result.findings
    assert (result.entries, result.batches, result.rows) == (3, 2, 6)


def _flip(blob: bytes, at: int = 0) -> bytes:
    changed = bytearray(blob)
    changed[at] ^= 1
    return bytes(changed)


def _change_row(store):
    store.execute("UPDATE rough_sales SET carats = 12.501 WHERE box_id = 'B1'")


def _delete_row(store):
    store.execute("DELETE FROM rough_sales WHERE box_id = 'B3'")


def _change_entry(store):
    body = log.entry_body(store, 2)
    store.execute("UPDATE ledger_entries SET body = ? WHERE entry_index = 2", (body.replace("mass_balance", "timing"),))


def _rewrite_entry_and_leaf(store):
    body = log.entry_body(store, 2).replace("mass_balance", "timing")
    store.execute("UPDATE ledger_entries SET body = ? WHERE entry_index = 2", (body,))
    blob = bytearray(store.query("SELECT hashes FROM ledger_tiles WHERE tree = 0 AND band = 0 AND idx = 0").column(0)[0].as_py())
    blob[2 * 32 : 3 * 32] = merkle.leaf_hash(body.encode())
    store.execute("UPDATE ledger_tiles SET hashes = ? WHERE tree = 0 AND band = 0 AND idx = 0", (bytes(blob),))


def _change_tile(tree):
    def change(store):
        if tree == "rows":
            entry = store.query("SELECT entry_index FROM ledger_batches WHERE kind = 'rough_sales'").column(0)[0].as_py()
            number = log.row_tree(entry)
        else:
            number = log.LOG_TREE
        blob = store.query("SELECT hashes FROM ledger_tiles WHERE tree = ? AND band = 0 AND idx = 0", (number,)).column(0)[0].as_py()
        store.execute("UPDATE ledger_tiles SET hashes = ? WHERE tree = ? AND band = 0 AND idx = 0", (_flip(blob, 40), number))
    return change


def _change_head(store):
    root = store.query("SELECT root_hash FROM ledger_heads WHERE tree_size = 3").column(0)[0].as_py()
    store.execute("UPDATE ledger_heads SET root_hash = ? WHERE tree_size = 3", (_flip(root),))


def _drop_last_entry(store):
    store.execute("DELETE FROM ledger_entries WHERE entry_index = 2")


def _change_batch_root(store):
    root = store.query("SELECT rows_root FROM ledger_batches WHERE kind = 'rough_sales'").column(0)[0].as_py()
    store.execute("UPDATE ledger_batches SET rows_root = ? WHERE kind = 'rough_sales'", (_flip(root),))


def _change_file_hash(store):
    store.execute("UPDATE batches SET file_sha256 = ? WHERE kind = 'rough_sales'", ("0" * 64,))


def _insert_unlogged_row(store):
    row = store.query("SELECT * FROM rough_sales WHERE box_id = 'B1'")
    row = row.set_column(row.column_names.index("batch_id"), "batch_id", pa.array([999], row.schema.field("batch_id").type))
    row = row.set_column(row.column_names.index("box_id"), "box_id", pa.array(["B9"], row.schema.field("box_id").type))
    store.append("rough_sales", row)


def _delete_whole_ledger(store):
    for table in ("ledger_entries", "ledger_tiles", "ledger_heads", "ledger_batches"):
        store.execute(f"DELETE FROM {table}")


def _delete_all_heads(store):
    store.execute("DELETE FROM ledger_heads")


def _delete_newest_head(store):
    store.execute("DELETE FROM ledger_heads WHERE tree_size = 3")


def _truncate_log_consistently(store):
    """Remove the sales batch and the decision after it everywhere, leaving a log of one entry
    that is consistent in itself: only the head kept outside the store can tell."""
    entry = store.query("SELECT entry_index FROM ledger_batches WHERE kind = 'rough_sales'").column(0)[0].as_py()
    assert entry == 1
    store.execute("DELETE FROM rough_sales")
    store.execute("DELETE FROM batches WHERE kind = 'rough_sales'")
    store.execute("DELETE FROM ledger_batches WHERE kind = 'rough_sales'")
    store.execute("DELETE FROM ledger_tiles WHERE tree = ?", (log.row_tree(entry),))
    store.execute("DELETE FROM ledger_entries WHERE entry_index >= 1")
    store.execute("DELETE FROM ledger_heads WHERE tree_size >= 2")
    blob = store.query("SELECT hashes FROM ledger_tiles WHERE tree = 0 AND band = 0 AND idx = 0").column(0)[0].as_py()
    store.execute("UPDATE ledger_tiles SET hashes = ?, width = 1 WHERE tree = 0 AND band = 0 AND idx = 0", (bytes(blob)[:32],))


def _re_sign_with_a_key_of_ones_own(store):
    """Re-sign every head with a new key and record that key in the store, as someone who can write
    the store but does not hold the deployment's key would."""
    forger = Ed25519PrivateKey.generate()
    keys.record_public_key(store, forger.public_key())
    for row in store.query("SELECT tree_size, root_hash, signed_at FROM ledger_heads").to_pylist():
        forged = sign_head(forger, int(row["tree_size"]), bytes(row["root_hash"]), row["signed_at"])
        store.execute("UPDATE ledger_heads SET key_id = ?, signature = ? WHERE tree_size = ?",
                      (forged.key_id, forged.signature, forged.size))


TAMPERING = {
    "a stored row's carats": (_change_row, "batch_rows_changed"),
    "a stored row deleted": (_delete_row, "batch_rows_count"),
    "an entry's text": (_change_entry, "entry_changed"),
    "an entry and its leaf hash together": (_rewrite_entry_and_leaf, "head_root"),
    "a hash of the log": (_change_tile("log"), "tile_mismatch"),
    "a hash of a batch's row tree": (_change_tile("rows"), "tile_mismatch"),
    "a signed head's root": (_change_head, "head_signature"),
    "the last entry removed": (_drop_last_entry, "head_beyond_log"),
    "a batch's recorded row root": (_change_batch_root, "batch_record"),
    "an import's file hash": (_change_file_hash, "batch_summary"),
    "a row inserted with a batch id never logged": (_insert_unlogged_row, "rows_unlogged"),
    "the whole ledger deleted, the data kept": (_delete_whole_ledger, "ledger_missing"),
    "every head deleted": (_delete_all_heads, "heads_missing"),
    "only the newest head deleted": (_delete_newest_head, "entries_unsigned"),
    "the newest entries removed everywhere": (_truncate_log_consistently, "log_shorter_than_witness"),
    "every head re-signed by a key recorded in the store": (_re_sign_with_a_key_of_ones_own, "head_key_untrusted"),
}


@pytest.mark.parametrize("what", list(TAMPERING))
def test_verify_names_what_was_changed(books, what):
    change, code = TAMPERING[what]
    assert audit.verify(books).ok
    change(books)
    for key in (_public_key(books), None):  # the sightholder's key, or the deployment's from its settings
        result = audit.verify(books, key)
        assert not result.ok
        assert code in {f.code for f in result.findings}, result.findings
    code_, out = _run(books, "verify", "--json")
    assert code_ == 1 and code in {e["code"] for e in json.loads(out)["errors"]}


def test_a_field_boundary_moved_across_a_unit_separator_changes_the_row_hash(books):
    """Encoding 1 gives the same text for ("B\x1f1", "2026-01") and ("B", "1\x1f2026-01"); a batch logged
    now names encoding 2, where each text field says its length, so the moved boundary is seen."""
    kind = kinds.KINDS["rough_sales"]
    row = books.query("SELECT * FROM rough_sales WHERE box_id = 'B1'").to_pylist()[0]
    moved = {**row, "box_id": "B", "sight": "1\x1f2026-01"}
    original = {**row, "box_id": "B\x1f1", "sight": "2026-01"}
    assert canonical.row_text(kind, original, 1) == canonical.row_text(kind, moved, 1)
    assert canonical.row_text(kind, original) != canonical.row_text(kind, moved)
    table = books.query("SELECT * FROM rough_sales WHERE box_id = 'B1'")
    for name, value in (("batch_id", 900), ("box_id", "B\x1f1")):
        table = table.set_column(table.column_names.index(name), name, pa.array([value], table.schema.field(name).type))
    books.append("rough_sales", table)
    receipt = log.record_batch(books, {"batch_id": 900, "kind": "rough_sales", "file_name": "control.csv",
                                       "file_sha256": "0" * 64}, row_leaf_hashes(books, kind, 900), keys.load_signer(books))
    assert json.loads(receipt.entry)["row_encoding"] == canonical.ROW_ENCODING == 2
    assert audit.verify(books).ok
    books.execute("UPDATE rough_sales SET box_id = 'B', sight = ? WHERE batch_id = 900", ("1\x1f2026-01",))
    assert "batch_rows_changed" in {f.code for f in audit.verify(books).findings}


def test_a_batch_logged_in_encoding_1_keeps_verifying(books):
    kind = kinds.KINDS["rough_sales"]
    table = books.query("SELECT * FROM rough_sales WHERE box_id = 'B1'")
    for name, value in (("batch_id", 901), ("box_id", "B8")):  # a box of its own: each box is stored once
        table = table.set_column(table.column_names.index(name), name, pa.array([value], table.schema.field(name).type))
    books.append("rough_sales", table)
    log.record_batch(books, {"batch_id": 901, "kind": "rough_sales", "file_name": "old.csv", "file_sha256": "0" * 64,
                             "row_encoding": 1}, row_leaf_hashes(books, kind, 901, encoding=1), keys.load_signer(books))
    assert audit.verify(books).ok
    assert canonical.row_text(kind, table.to_pylist()[0], 1) == log.prove_row(books, 901, int(table.column("source_row")[0].as_py())).row
    books.execute("UPDATE rough_sales SET carats = 1 WHERE batch_id = 901")
    assert "batch_rows_changed" in {f.code for f in audit.verify(books).findings}


def test_a_replaced_key_file_is_refused_until_the_operator_rotates(books, tmp_path, monkeypatch):
    from roughtrace.ingest import import_file
    from roughtrace.ledger.keys import LedgerKeyError

    path = tmp_path / "ledger-key.pem"
    path.unlink()
    new = keys.ensure_key(path)
    with pytest.raises(LedgerKeyError) as refused:
        import_file(books, "rough_sales", _file(tmp_path, "more.csv", SECOND_BOXES))
    assert refused.value.code == "ledger_key_replaced"
    named = {f.code for f in audit.verify(books).findings}
    assert {"ledger_key_replaced", "head_key_untrusted"} <= named  # the new key never signed here and trusts no old head
    monkeypatch.setenv("ROUGHTRACE_LEDGER_ROTATE_KEY", key_id(new))
    result = import_file(books, "rough_sales", _file(tmp_path, "more.csv", SECOND_BOXES))
    assert result.receipt is not None and result.receipt["head"]["key_id"] == key_id(new)
    assert audit.verify(books).ok, audit.verify(books).findings  # the rotation, signed by the new key, vouches for the old


def test_the_trusted_key_comes_from_the_settings_not_the_store(books, tmp_path, monkeypatch):
    other = Ed25519PrivateKey.generate().public_key()
    monkeypatch.setenv("ROUGHTRACE_LEDGER_PUBLIC_KEY", public_key_pem(other))
    assert "head_key_untrusted" in {f.code for f in audit.verify(books).findings}
    pem = tmp_path / "deployment.pub"
    pem.write_text(public_key_pem(_public_key(books)))
    monkeypatch.setenv("ROUGHTRACE_LEDGER_PUBLIC_KEY", str(pem))
    assert audit.verify(books).ok


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o602])
def test_a_key_file_open_to_others_is_refused(books, tmp_path, mode):
    from roughtrace.ingest import import_file
    from roughtrace.ledger.keys import LedgerKeyError

    (tmp_path / "ledger-key.pem").chmod(mode)
    with pytest.raises(LedgerKeyError) as refused:
        import_file(books, "rough_sales", _file(tmp_path, "more.csv", SECOND_BOXES))
    assert refused.value.code == "ledger_key_permissions" and "chmod 600" in str(refused.value)
    code, out = _run(books, "verify", "--json")
    assert code != 0 and "ledger_key_permissions" in out


class _Context:
    def __init__(self, store) -> None:
        self._store = store
        self.settings = Settings()

    def store(self):
        return self._store


def _run(store, *args):
    result = CommandLine().invoke(ledger_app, list(args), obj=_Context(store))
    return result.exit_code, result.stdout


def test_the_command_line_proves_and_verifies(books, tmp_path):
    code, out = _run(books, "head", "--json")
    assert code == 0 and json.loads(out)["head"]["tree_size"] == 3
    code, out = _run(books, "key", "export", "--json")
    key_file = tmp_path / "ledger.pub"
    key_file.write_text(json.loads(out)["public_key_pem"])
    assert json.loads(out)["public_key_pem"] == public_key_pem(_public_key(books))
    code, out = _run(books, "prove", "--batch", str(_sales_batch(books)), "--row", "2", "--json")
    assert code == 0
    receipt_file = tmp_path / "row.json"
    receipt_file.write_text(out)
    code, out = _run(books, "verify", "--receipt", str(receipt_file), "--public-key", str(key_file), "--json")
    assert code == 0 and json.loads(out)["ok"], out
    code, out = _run(books, "consistency", "1", "--json")
    assert code == 0 and json.loads(out)["consistency"]["new_head"]["tree_size"] == 3
    code, out = _run(books, "verify", "--json")
    assert code == 0 and json.loads(out)["checked"]["rows"] == 6


def test_the_command_line_reports_mismatches_in_the_one_error_shape(books, tmp_path):
    _change_row(books)
    code, out = _run(books, "verify", "--json")
    body = json.loads(out)
    assert code == 1 and body["ok"] is False
    assert {"code", "message", "source"} <= set(body["errors"][0])
    assert any(e["code"] == "batch_rows_changed" for e in body["errors"])
    forged = log.prove_entry(books, 0).to_json()
    forged["entry_index"] = 1
    receipt_file = tmp_path / "forged.json"
    receipt_file.write_text(json.dumps(forged))
    key_file = tmp_path / "ledger.pub"
    key_file.write_text(public_key_pem(_public_key(books)))
    code, out = _run(books, "verify", "--receipt", str(receipt_file), "--public-key", str(key_file), "--json")
    assert code == 1 and json.loads(out)["errors"][0]["code"] == "receipt_invalid"


def test_the_private_key_stays_out_of_the_database_and_private(ledger, tmp_path):
    path = tmp_path / "ledger-key.pem"
    assert path.exists() and (os.stat(path).st_mode & 0o077) == 0
    columns = ledger.query("SELECT * FROM ledger_keys").column_names
    assert columns == ["key_id", "public_key", "created_at"]



def test_a_head_signed_in_an_import_that_rolled_back_is_no_false_alarm(books, tmp_path):
    """The witness keeps the head an import signs before its transaction commits as pending only:
    a crash or rollback after it leaves a store that still verifies."""
    from roughtrace.ledger import witness

    kind = kinds.KINDS["rough_sales"]
    assert audit.verify(books).ok  # confirms the witness at the current head
    with pytest.raises(RuntimeError), books.transaction():
        receipt = log.record_batch(books, {"batch_id": 902, "kind": "rough_sales", "file_name": "lost.csv",
                                           "file_sha256": "0" * 64}, row_leaf_hashes(books, kind, 902), keys.load_signer(books))
        witness.note(books, receipt.head, Settings())
        raise RuntimeError("killed before the commit")
    assert witness.read_witness(witness.witness_path(books, Settings()))["pending"].size == 4
    assert audit.verify(books).ok, audit.verify(books).findings


def test_the_witness_confirms_an_import_once_it_committed(books, tmp_path):
    """The import's own head is confirmed right after its commit, not at some later signing or
    `verify`: a log cut back to before it at once is named."""
    from roughtrace.ingest import import_file
    from roughtrace.ledger import witness

    result = import_file(books, "rough_sales", _file(tmp_path, "more.csv", SECOND_BOXES))
    kept = witness.read_witness(witness.witness_path(books, Settings()))
    assert set(kept) == {"confirmed"} and kept["confirmed"].size == result.receipt["head"]["tree_size"] == 4
    assert kept["confirmed"].root.hex() == result.receipt["head"]["root_hash"]


def test_a_log_cut_back_right_after_an_import_is_named(books):
    """No `verify` between the import and the cut: the witness confirmed the import's head at its commit."""
    _truncate_log_consistently(books)
    assert "log_shorter_than_witness" in {f.code for f in audit.verify(books).findings}


def test_a_decision_logged_on_its_own_is_confirmed_in_the_witness(books):
    from roughtrace.ledger import witness
    from roughtrace.ledger.decisions import log_decision

    receipt = log_decision(books, Settings(), "check_run", {"rule": "timing", "findings": 0})
    kept = witness.read_witness(witness.witness_path(books, Settings()))
    assert set(kept) == {"confirmed"} and kept["confirmed"].size == receipt["head"]["tree_size"]


def test_only_a_key_id_is_taken_for_a_rotation():
    from roughtrace.settings import SettingError

    with pytest.raises(SettingError, match="64 hex digits"):
        Settings({"ledger_rotate_key": "x'; DROP TABLE ledger_heads; --"})
    assert Settings({"ledger_rotate_key": " " + "AB" * 32 + " "})["ledger_rotate_key"] == "ab" * 32
