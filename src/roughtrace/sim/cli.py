"""`roughtrace sim ...`: write a simulated market as files (without importing it; `roughtrace demo`
generates and imports). Exit 0 done, 1 failed, 2 usage error; `--json` prints one object."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer

from .. import render
from ..errors import CannotWrite
from .params import SIZES, ParameterError, market_params

app = typer.Typer(help="The market simulator: a deterministic market written as interchange files.",
                  no_args_is_help=True)


@app.callback()
def sim() -> None:
    """The market simulator: a deterministic market written as interchange files."""


def _parse_sets(items: list[str]) -> dict[str, Any]:
    """NAME=VALUE pairs; a value is read as JSON when it parses (numbers, lists, objects), else text."""
    values: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise ParameterError(f"--set takes NAME=VALUE, not {item!r}")
        try:
            values[name.strip()] = json.loads(text)
        except json.JSONDecodeError:
            values[name.strip()] = text
    return values


@app.command("generate")
def generate(
    out_dir: Path = typer.Argument(..., help="Directory to write the market into (created if needed)."),
    seed: int = typer.Option(0, help="Random seed: the same seed, size and parameters give byte-identical files."),
    size: str = typer.Option("small", help=f"Size preset: {', '.join(SIZES)}."),
    set_: list[str] = typer.Option([], "--set", help="Override a parameter, NAME=VALUE (see docs/simulator.md)."),
    workers: int = typer.Option(2, help="Threads drawing chunks (does not change the files)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Generate a market: the input files, manifest.json and truth/ (for tests and benchmarks only)."""
    from .market import generate_market

    overrides = _parse_sets(set_)
    market_params(size, **overrides)
    started = time.perf_counter()
    try:
        market = generate_market(out_dir, seed=seed, size=size, workers=workers, **overrides)
    except OSError as exc:
        raise CannotWrite(f"cannot write the market into {out_dir}: {exc.strerror or exc}") from None
    seconds = time.perf_counter() - started
    files = [{"kind": f.kind, "file": str(f.path), "rows": f.rows} for f in market.files]
    if as_json:
        render.emit_json({"seed": seed, "size": size, "seconds": round(seconds, 2),
                          "manifest": str(market.manifest), "files": files})
        return
    say = render.console()
    say.print(f"Market written to {out_dir} in {seconds:.1f} s (seed {seed}, size {size})")
    say.print(render.table(["file", "kind", ("rows", render.RIGHT)],
                           ((Path(f["file"]).name, f["kind"], render.number(f["rows"])) for f in files)))
    say.print(f"Manifest: {market.manifest}; ground truth in {out_dir / 'truth'} (never import it)")
