"""`roughtrace ledger ...`: the signed log on the command line, a thin layer over the library."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from .. import render
from ..app import context_of
from ..app.ledger import (
    latest_head,
    prove_consistency,
    prove_entry,
    prove_row,
    publish_log,
    verify_ledger,
    verify_receipt_file,
    verify_remote_log,
)
from ..app.ledger import public_key as signing_public_key
from ..cli_errors import fail
from ..errors import Problem, UsageError
from .heads import key_id, public_key_pem
from .receipts import Receipt, RowReceipt

app = typer.Typer(no_args_is_help=True, help="The tamper-evident log: signed tree heads, receipts and proofs (RFC 9162).")
key_app = typer.Typer(no_args_is_help=True, help="The ledger's signing key.")
app.add_typer(key_app, name="key")

_JSON = typer.Option(False, "--json", help="Print one JSON object.")


def _print(body: dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        render.emit_json(body)
    else:
        print(text)


def _fail(problems: list[Problem], as_json: bool, **extra: Any) -> None:
    fail(problems, as_json, 1, **extra)


@app.command()
def head(ctx: typer.Context, as_json: bool = _JSON) -> None:
    """The newest signed tree head: how many entries the log holds and their root."""
    current = latest_head(context_of(ctx.obj))
    if current is None:
        _print({"ok": True, "head": None}, as_json, "The ledger is empty.")
        return
    _print({"ok": True, "head": current.to_json()}, as_json,
           f"{current.size:,} entries, root {current.root.hex()}\nsigned {current.timestamp} by key {current.key_id[:16]}…")


def write_receipt(path: Path, body: dict[str, Any]) -> None:
    """Write a receipt or proof file: the JSON object alone, what `ledger verify --receipt` reads."""
    try:
        path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as error:
        raise UsageError(Problem("cannot_write", f"cannot write {path}: {error.strerror or error}", file=str(path))) from None


@app.command()
def prove(
    ctx: typer.Context,
    entry: int = typer.Argument(None, help="The entry to prove (its index)."),
    size: int = typer.Option(None, "--size", help="Prove against the signed head of this size (default: the newest)."),
    batch: int = typer.Option(None, "--batch", help="With --row: prove one row of this import batch."),
    row: int = typer.Option(None, "--row", help="The row's source_row (1-based record number in its file)."),
    out: Path = typer.Option(None, "--out", help="Write the receipt (JSON) to this file, for `ledger verify --receipt`."),
    as_json: bool = _JSON,
) -> None:
    """A receipt: an entry's inclusion proof under a signed head, or one row's proof inside its batch.
    With --out the receipt goes to the file and a summary to the screen; without, the receipt is printed."""
    if (batch is None) != (row is None):
        raise UsageError(Problem("usage", "--batch and --row go together"))
    if batch is not None:
        receipt: Receipt | RowReceipt = prove_row(context_of(ctx.obj), batch, row)
        text = f"row {row} of batch {batch}: position {receipt.position} of its batch, entry {receipt.batch.index}"
    elif entry is None:
        raise UsageError(Problem("usage", "give an entry index, or --batch and --row"))
    else:
        receipt = prove_entry(context_of(ctx.obj), entry, size)
        text = f"entry {entry} in the log of {receipt.head.size:,} entries: {len(receipt.proof)} proof hashes"
    body = receipt.to_json()
    if out is not None:
        write_receipt(out, body)
        _print({"ok": True, "file": str(out), "summary": text}, as_json,
               f"{text}\nreceipt written to {out}; check it with `roughtrace ledger verify --receipt {out} --public-key KEY`")
        return
    _print({"ok": True, "receipt": body}, as_json, json.dumps(body, indent=2))
    if not as_json:  # the summary beside, not before: `prove N > receipt.json` keeps the file pure JSON
        print(text, file=sys.stderr)


@app.command()
def consistency(
    ctx: typer.Context,
    old: int = typer.Argument(..., help="The older signed size."),
    new: int = typer.Argument(None, help="The newer signed size (default: the newest head)."),
    out: Path = typer.Option(None, "--out", help="Write the proof (JSON) to this file, for `ledger verify --receipt`."),
    as_json: bool = _JSON,
) -> None:
    """Proof that the log at an older signed head is a prefix of the log at a newer one."""
    proof = prove_consistency(context_of(ctx.obj), old, new)
    text = f"{proof.old.size:,} -> {proof.new.size:,}: {len(proof.proof)} proof hashes"
    if out is not None:
        write_receipt(out, proof.to_json())
        _print({"ok": True, "file": str(out), "summary": text}, as_json, f"{text}\nproof written to {out}")
        return
    _print({"ok": True, "consistency": proof.to_json()}, as_json, json.dumps(proof.to_json(), indent=2))
    if not as_json:
        print(text, file=sys.stderr)


@app.command()
def verify(
    ctx: typer.Context,
    public_key: Path = typer.Option(None, "--public-key", help="Check heads against this public key (PEM or hex) "
                                    "instead of the deployment's (the ledger_public_key setting, else the key file's)."),
    receipt: list[Path] = typer.Option(None, "--receipt", help="Check this receipt or consistency file alone (needs "
                                       "--public-key; no store is read); with --remote, check it against the served "
                                       "log. Repeatable with --remote."),
    remote: str = typer.Option(None, "--remote", help="Check the log served at this URL in the tlog-tiles layout "
                               "(its checkpoint and every tile) instead of a store; needs --public-key."),
    as_json: bool = _JSON,
) -> None:
    """Recompute the ledger from the stored data and name every mismatch (exit 1 if any); or check a
    receipt file, or a log served elsewhere (--remote), with the public key alone."""
    try:
        key_text = public_key.read_text() if public_key else None
    except OSError as error:
        raise UsageError(Problem("unreadable_key", str(error), file=str(public_key))) from None
    if remote is not None:
        _verify_remote(remote, key_text, receipt or [], as_json)
        return
    if receipt and len(receipt) > 1:
        raise UsageError(Problem("usage", "give one --receipt without --remote"))
    receipt = receipt[0] if receipt else None
    if receipt is not None:
        if key_text is None:
            raise UsageError(Problem("usage", "--receipt needs --public-key"))
        said = verify_receipt_file(receipt, key_text)
        _print({"ok": True, "verified": said}, as_json, f"verified: {said}")
        return
    result = verify_ledger(context_of(ctx.obj), key_text, str(public_key) if public_key else None)
    counts = {"entries": result.entries, "heads": result.heads, "batches": result.batches, "rows": result.rows}
    if not result.ok:
        _fail([Problem(f.code, f.message) for f in result.findings], as_json, checked=counts,
              findings=[{"code": f.code, "message": f.message, "where": f.where} for f in result.findings])
    _print({"ok": True, "checked": counts}, as_json,
           f"verified: {result.entries:,} entries, {result.heads:,} signed heads, {result.batches:,} batches "
           f"({result.rows:,} rows); nothing differs")


def _verify_remote(url: str, key_text: str | None, receipts: list[Path], as_json: bool) -> None:
    if key_text is None:
        raise UsageError(Problem("usage", "--remote needs --public-key: the key the log's operator published"))
    check = verify_remote_log(url, key_text, receipts)
    body = {"origin": check.origin, "tree_size": check.size, "root_hash": check.root.hex(), "tiles": check.tiles,
            "receipts": check.receipts}
    if not check.ok:
        _fail([Problem(f.code, f.message) for f in check.findings], as_json, checked=body,
              findings=[{"code": f.code, "message": f.message, "where": f.where} for f in check.findings])
    _print({"ok": True, "checked": body}, as_json,
           "\n".join([f"verified: {check.origin}, {check.size:,} entries in {check.tiles:,} tiles; the checkpoint's "
                      "signature, every entry and every hash check", *check.receipts]))


@app.command()
def publish(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="The folder to write the log into (checkpoint, tile/...)."),
    as_json: bool = _JSON,
) -> None:
    """Write the log at its newest head as static files in the C2SP tlog-tiles layout, for any web
    server to serve: outside verifiers then check it with `ledger verify --remote URL`."""
    published = publish_log(context_of(ctx.obj), out)
    _print({"ok": True, "folder": published.folder, "tree_size": published.size, "tiles": published.tiles}, as_json,
           f"wrote the log of {published.size:,} entries to {published.folder} ({published.tiles:,} tiles and its checkpoint)")


@key_app.command("export")
def key_export(ctx: typer.Context, as_json: bool = _JSON) -> None:
    """Print the ledger's public key (PEM) for sightholders to keep (the key is made if there is none)."""
    public = signing_public_key(context_of(ctx.obj))
    _print({"ok": True, "key_id": key_id(public), "public_key_pem": public_key_pem(public)}, as_json,
           public_key_pem(public).rstrip())
