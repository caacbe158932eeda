"""The command line: a thin layer over the library.

Every failure, of this module's commands and of each area's, is answered here, once (`run`, from
`errors.problems_from`): a message or the one JSON error shape; an exception outside the
`RoughtraceError` tree is a bug and answers `internal_error`. No Python traceback reaches a user
(set ROUGHTRACE_DEBUG=1 to see one). Exit codes: 0 done
(or nothing new), 3 done with rows quarantined, 1 nothing stored / failed, 2 usage error.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import typer
from typer.core import TyperCommand, TyperGroup

from . import __version__, render
from .cli_errors import report
from .cli_help import plain_help
from .errors import Problem, RoughtraceError, UsageError, missing_module, problems_from
from .settings import Settings, redacted, registry

if TYPE_CHECKING:  # the store's modules load Arrow, which `--help` has no use for
    from .app import Context
    from .store import Store

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_QUARANTINED = 0, 1, 2, 3

out = render.console()
err = render.console(stderr=True)
plain_help()

KindName = Literal["parties", "rough_sales", "polished_outcomes", "rough_dispositions", "transactions",
                   "kp_certificates", "parcel_contents"]
"""The input kinds as a choice for `--help` and the parser (the same names as domain.kinds.KINDS,
which a test checks; written out so the command line starts without the contract's imports)."""


READ_ONLY_COMMANDS = frozenset({
    "status", "export", "quarantine list", "quarantine export", "settings show",
    "ledger verify", "ledger head", "ledger prove", "ledger consistency", "ledger publish"})
"""Commands that only read the store: they open it read-only (a DuckDB file without its write lock,
a PostgreSQL session whose transactions are read-only), run no DDL, and so work for a read-only
role. The others bring the schema up to date first, as `init` and `migrate` do."""


def _command_path() -> str:
    """The command being run, without the program's name: `ledger verify`, `status`."""
    from typer.main import get_current_context  # typer's own click, which it does not re-export

    ctx = get_current_context(silent=True)
    return " ".join(ctx.command_path.split()[1:]) if ctx is not None else ""


class App:
    """What every command receives as `ctx.obj`: the settings and the store, opened on demand."""

    def __init__(self, db: str | None, overrides: dict[str, str]) -> None:
        if db:
            overrides = {**overrides, "db": db}
        self.settings = Settings(overrides)
        self._store: Store | None = None

    def store(self) -> Store:
        if self._store is None:
            from .store import open_store
            from .store.migrations import require_current

            read_only = _command_path() in READ_ONLY_COMMANDS
            self._store = open_store(self.settings["db"], self.settings["import_memory_limit"],
                                     int(self.settings["import_threads"]), read_only=read_only,
                                     busy_wait=float(self.settings["store_busy_wait"]))
            if read_only:
                try:
                    require_current(self._store)
                except RoughtraceError:
                    self.close()
                    raise
            else:
                self._store.migrate()
        return self._store

    def context(self) -> Context:
        """The use cases' context for this call: the store, opened, the settings and the command
        line's actor."""
        from .app import context_of

        return context_of(self)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


class AreaUnavailable(RoughtraceError):
    """An area's commands cannot load, most often because a package it needs is not installed."""

    def __init__(self, name: str, error: ImportError) -> None:
        super().__init__(f"`roughtrace {name}` cannot run: {missing_module(error)}", code="area_unavailable")


class Area(TyperCommand):
    """A capability's commands as `roughtrace --help` lists them, loaded only when one is run, so that
    start-up never pays for every area's libraries and an area that cannot load says why when asked for."""

    def __init__(self, name: str, module: str, attribute: str, help: str, group: bool = True) -> None:
        super().__init__(name=name, help=help)
        self.module, self.attribute, self.group = module, attribute, group

    def load(self) -> Any:
        """The area's real command (or group of commands); `AreaUnavailable` when its module cannot import."""
        import importlib

        try:
            source = getattr(importlib.import_module(self.module), self.attribute)
        except ImportError as error:
            raise AreaUnavailable(self.name or "", error) from None
        mount = typer.Typer()
        if self.group:
            mount.add_typer(source, name=self.name)
        else:
            mount.registered_commands += source.registered_commands
        built = typer.main.get_command(mount)
        return built.commands[self.name] if isinstance(built, TyperGroup) else built

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        return self.load().make_context(info_name, args, parent=parent, **extra)


AREAS = [
    Area("provenance", "roughtrace.provenance.cli", "app",
         "Trace a polished stone back to its rough, box, sight, origin and KP certificate.", group=False),
    Area("prices", "roughtrace.pricing.cli", "app", "The transaction price index and price quotes."),
    Area("value", "roughtrace.valuation.cli", "value_app", "Value rough by price reverse engineering."),
    Area("pricebook", "roughtrace.valuation.cli", "pricebook_app", "The rough price book built from tracked boxes."),
    Area("kp", "roughtrace.valuation.cli", "kp_app", "Check KP certificate values against the rough price book."),
    Area("verify", "roughtrace.checks.cli", "app", "Verify sightholders: mass balance, flipping risk, duplicate claims."),
    Area("ledger", "roughtrace.ledger.cli", "app",
         "The tamper-evident log: signed tree heads, receipts and proofs (RFC 9162)."),
    Area("intelligence", "roughtrace.intelligence.cli", "app",
         "Market intelligence for the sightholders who report their outcome, under disclosure control."),
    Area("sim", "roughtrace.sim.cli", "app", "The market simulator: a deterministic market written as interchange files."),
    Area("accounts", "roughtrace.accounts.cli", "app", "Accounts of the HTTP service: roles, parties and API tokens."),
    Area("serve", "roughtrace.service.cli", "app", "Run the HTTP service (the API under /v1) for every party.", group=False),
]
"""Each capability's commands, mounted from its own package; the help here is what `--help` lists."""


class Commands(TyperGroup):
    """The root's commands: those defined in this module, then each area's."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *(area.name for area in AREAS if area.name not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        return super().get_command(ctx, cmd_name) or next((a for a in AREAS if a.name == cmd_name), None)


app = typer.Typer(
    name="roughtrace", cls=Commands, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Track what happens to the rough a producer sells; value rough from polished transaction prices.")
quarantine_app = typer.Typer(no_args_is_help=True, help="Rows an import rejected, kept verbatim with their reasons.")
app.add_typer(quarantine_app, name="quarantine")


def _version(value: bool) -> None:
    if value:
        out.print(f"roughtrace {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    db: str = typer.Option(None, "--db", help="The store: duckdb:///PATH (default roughtrace.duckdb) or postgresql://USER@HOST/DB. Env: ROUGHTRACE_DB."),
    setting: list[str] = typer.Option([], "--set", help="NAME=VALUE for any setting (`roughtrace settings` lists them).", metavar="NAME=VALUE"),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    overrides: dict[str, str] = {}
    for item in setting:
        if "=" not in item:
            raise UsageError(Problem("bad_setting", f"--set takes NAME=VALUE, not {item!r}"))
        name, value = item.split("=", 1)
        overrides[name.strip()] = value
    ctx.obj = App(db, overrides)
    ctx.call_on_close(ctx.obj.close)


emit_json = render.emit_json


# -- init and status ---------------------------------------------------------------------------------
@app.command()
def init(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Create the store (or bring its schema up to date) and the ledger's signing key."""
    from .app.ledger import init_store

    ready = init_store(ctx.obj.context())
    _say_schema(ready.db, ready.schema_version, as_json, f"Store ready: {ready.db} (schema version {ready.schema_version}); "
                "`roughtrace ledger key export` gives the public key.")


@app.command()
def migrate(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Bring the store's schema up to date (needs a role that may change the schema); commands that
    only read never do, and say when it is needed."""
    from .app.status import migrate_store

    current = migrate_store(ctx.obj.context())
    _say_schema(current.db, current.schema_version, as_json, f"Store {current.db} is at schema version {current.schema_version}.")


def _say_schema(db: str, version: int, as_json: bool, sentence: str) -> None:
    if as_json:
        emit_json({"ok": True, "db": db, "schema_version": version})
    else:
        out.print(sentence)


@app.command()
def status(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """What the store holds: rows per kind, batches, quarantined rows."""
    from .app.status import store_status

    held = store_status(ctx.obj.context())
    if as_json:
        emit_json(held.as_dict())
        return
    out.print(render.table(["kind", ("rows", render.RIGHT)], ((kind, render.number(n)) for kind, n in held.rows.items()),
                           title=f"{held.db} ({held.engine}, schema {held.schema_version})"))
    out.print(f"{held.batches:,} import batches; {held.quarantined:,} rows in quarantine")


settings_app = typer.Typer(help="Every setting with its value, default and help; the deployment's settings in the store.",
                           invoke_without_command=True)
app.add_typer(settings_app, name="settings")


@settings_app.callback()
def list_settings(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
                  markdown: bool = typer.Option(False, "--markdown", help="Print the reference page docs/settings.md.")) -> None:
    """Every setting with its value, default and help (this client's: flags, environment, defaults)."""
    if ctx.invoked_subcommand is not None:
        return
    values = ctx.obj.settings.as_dict()
    values["db"] = redacted(values["db"])
    rows = [{"name": s.name, "value": values[s.name], "default": s.default, "env": s.env_var, "area": s.area, "help": s.help}
            for s in registry().values()]
    if as_json:
        emit_json({"ok": True, "settings": rows})
        return
    if markdown:
        print(settings_markdown())
        return
    out.print(render.table(["name", "value", "area", "help"], ((r["name"], r["value"], r["area"], r["help"]) for r in rows)))


@settings_app.command("set")
def set_setting(ctx: typer.Context, name: str = typer.Argument(..., help="The setting's name."),
                value: str = typer.Argument(..., help="Its value, as its flag takes it."),
                as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Set a deployment's setting in the store for every client of it: a new settings version,
    logged in the ledger."""
    _changed(ctx, name, value, as_json)


@settings_app.command("unset")
def unset_setting(ctx: typer.Context, name: str = typer.Argument(..., help="The setting's name."),
                  as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Remove a deployment's setting from the store (each client's own value or the default applies
    again): a new settings version, logged in the ledger."""
    _changed(ctx, name, None, as_json)


def _changed(ctx: typer.Context, name: str, value: str | None, as_json: bool) -> None:
    from .app import context_of
    from .app.deployment import change_setting

    changed = change_setting(context_of(ctx.obj), name, value)
    if as_json:
        emit_json({"ok": True, **changed.as_dict()})
        return
    shown = "removed" if changed.value is None else f"= {changed.value}"
    out.print(f"Settings version {changed.version}: {name} {shown} (logged as entry {changed.receipt['entry_index']}).")


@settings_app.command("show")
def show_settings(ctx: typer.Context, versions: bool = typer.Option(False, "--versions", help="Every change, oldest first."),
                  as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """The deployment's settings the store holds (they win over each client's flags and environment)."""
    from .app import context_of
    from .app.deployment import deployment_settings, setting_versions

    context = context_of(ctx.obj)
    held = deployment_settings(context)
    changes = setting_versions(context) if versions else None
    if as_json:
        emit_json({"ok": True, **held, **({"versions": changes} if changes is not None else {})})
        return
    out.print(render.table(["name", "value"], held["settings"].items(), title=f"settings version {held['version']}"))
    if changes is not None:
        out.print(render.table(["version", "name", "value", "by", "when", "entry"], (
            (c["version"], c["name"], render.DASH if c["value"] is None else c["value"], c["actor"], render.when(c["changed_at"]),
             c["entry_index"]) for c in changes)))


def settings_markdown() -> str:
    """docs/settings.md, made from the registry (a test checks the page against it)."""
    lines = ["# Settings", "", "Every setting roughtrace has. Set one with `roughtrace --set NAME=VALUE ...` or the environment",
             "variable shown; the default applies otherwise. Generated by `roughtrace settings --markdown`.", "",
             "**A deployment's settings live in its store.** `roughtrace settings set NAME VALUE` (and `unset NAME`)",
             "stores one of the rules that decide a verdict or a receipt (the areas checks, import, prices and",
             "valuation) for every client of the store: each change is a new settings version, with who made it",
             "and when, logged in the ledger as a `settings_change` decision; `roughtrace settings show --versions`",
             "lists them. The order is: **the store, then flags, then the environment, then the default**: a",
             "stored value wins over each client's flags and environment, so two analysts on one store get the",
             "same verdicts, and the HTTP service's store wins over each caller alike. Every decision and import",
             "entry in the ledger names the `settings_version` it was made under and its `actor`. The settings",
             "of one machine (the areas store, ledger, service and sim, `import_memory_limit`, `import_threads`)",
             "are never stored: they stay each client's flags and environment.", ""]
    by_area: dict[str, list[Any]] = {}
    for setting in registry().values():
        by_area.setdefault(setting.area, []).append(setting)
    for area in sorted(by_area):
        lines += [f"## {area}", "", "| name | default | environment | what it does |", "|---|---|---|---|"]
        for s in by_area[area]:
            lines.append(f"| `{s.name}` | `{s.default}` | `{s.env_var}` | {s.help} |")
        lines.append("")
    return "\n".join(lines)


# -- import ------------------------------------------------------------------------------------------
@app.command("import")
def import_command(
    ctx: typer.Context,
    kind: KindName = typer.Argument(..., help="What the file holds."),
    path: Path = typer.Argument(..., help="The file: CSV, XLSX, JSON, JSON Lines or Parquet."),
    profile: Path = typer.Option(None, "--profile", help="A TOML mapping profile for your own column names and spellings."),
    strict: bool = typer.Option(False, "--strict", help="Store nothing if any row is bad."),
    file_format: str = typer.Option(None, "--format", help="csv, xlsx, json, jsonl or parquet (default: from the extension)."),
    encoding: str = typer.Option(None, "--encoding", help="The file's encoding when it is not UTF-8 (UTF-16 with a BOM is detected)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Validate a file and store its good rows; bad rows go to the quarantine with their reasons."""
    from .app.imports import import_file
    from .progress import StepProgress

    with StepProgress(err, enabled=not as_json) as progress:
        result = import_file(ctx.obj.context(), kind, path, profile=profile, strict=strict, file_format=file_format,
                             encoding=encoding, progress=progress)
    if as_json:
        emit_json(result.as_dict())
    else:
        _print_import(result, strict)
    if not result.ok:
        raise typer.Exit(EXIT_FAILED)
    if result.stored and result.rows_rejected:
        raise typer.Exit(EXIT_QUARANTINED)


LINE_CAPTION = "line: where the record is in the file, as a spreadsheet numbers its rows (the header is line 1)"


def _print_import(result: Any, strict: bool) -> None:
    head = f"{result.file} -> {result.kind}: {result.rows_read:,} rows read, {result.rows_accepted:,} accepted"
    if result.rows_unchanged:
        head += f" ({result.rows_unchanged:,} already stored, unchanged)"
    head += f", {result.rows_rejected:,} rejected"
    out.print(head)
    if not result.ok and strict:
        out.print("[bold red]--strict: nothing was stored because some rows are bad.[/]")
    elif result.duplicate_of is not None:
        out.print(f"Nothing new: this file was already imported as batch {result.duplicate_of}.")
    elif result.stored:
        out.print(f"Stored as batch {result.batch_id}." + (" Rejected rows are in the quarantine: `roughtrace quarantine list`." if result.rows_rejected else ""))
    else:
        out.print("Nothing new to store.")
    for warning in result.warnings:
        out.print(f"[yellow]warning[/] {warning.message}")
    if result.errors:
        lines = any(problem.line is not None for problem in result.errors)
        out.print(render.table([("line" if lines else "row", render.RIGHT), "column", "code", "problem"], (
            (render.number(p.line or p.row) if (p.line or p.row) else "", p.column or "", p.code, p.message)
            for p in result.errors[:50]), caption=LINE_CAPTION if lines else None))
        hidden = len(result.errors) - 50 + result.errors_not_shown
        if hidden > 0:
            out.print(f"... and {hidden:,} more problems (see the quarantine).")


SNAPSHOT = "parquet"
"""`export parquet DIR`: every kind's rows as a Parquet snapshot for the spark engine (`spark_snapshot`)."""


@app.command("export")
def export_command(ctx: typer.Context,
                   kind: Literal[KindName, "parquet"] = typer.Argument(  # type: ignore[valid-type]
                       ..., help="The kind to write, or parquet: every kind, one Parquet file each, into the directory PATH."),
                   path: Path = typer.Argument(..., help="The file to write (the directory, for parquet)."),
                   file_format: str = typer.Option(None, "--format", help="csv, xlsx, json, jsonl or parquet (default: from the extension)."),
                   as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Write a kind's stored rows in a format the importer reads (they re-import as the same records),
    or, as `export parquet DIR`, a snapshot of every kind for the spark analytics engine."""
    if kind == SNAPSHOT:
        from .app.analytics import export_snapshot

        written = export_snapshot(ctx.obj.context(), path)
        if as_json:
            emit_json({"ok": True, "directory": str(path), "format": "parquet", "rows": written})
        else:
            out.print(f"Wrote {sum(written.values()):,} rows of {len(written)} kinds to {path} (spark_snapshot={path})")
        return
    from .app.imports import export_kind

    fmt, rows = export_kind(ctx.obj.context(), kind, path, file_format)
    if as_json:
        emit_json({"ok": True, "kind": kind, "file": str(path), "format": fmt, "rows": rows})
    else:
        out.print(f"Wrote {rows:,} {kind} rows to {path}")


# -- quarantine ----------------------------------------------------------------------------------------
@quarantine_app.command("list")
def quarantine_list(ctx: typer.Context, batch: int = typer.Option(None, "--batch", help="Only this import batch."),
                    as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """The rejected rows with their reasons."""
    from .app.quarantine import quarantined

    rows = quarantined(ctx.obj.context(), batch)
    if as_json:
        emit_json({"ok": True, "rows": [r.as_dict() for r in rows]})
        return
    out.print(render.table([("batch", render.RIGHT), "file", ("line", render.RIGHT), "problems"], (
        (r.batch_id, r.file_name, render.number(r.line) if r.line is not None else f"record {render.number(r.source_row)}",
         "; ".join(f"{p['code']}: {p['message']}" for p in r.problems))
        for r in rows[:500]), caption=LINE_CAPTION))
    if len(rows) > 500:
        out.print(f"... {len(rows) - 500:,} more: `roughtrace quarantine export` writes them all.")


@quarantine_app.command("export")
def quarantine_export(ctx: typer.Context, out_path: Path = typer.Option(Path("quarantine.csv"), "--out", help="The CSV file to write."),
                      batch: int = typer.Option(None, "--batch", help="Only this import batch."),
                      as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Write the rejected rows to CSV, verbatim, with their reasons (formula-looking cells escaped)."""
    from .app.quarantine import export_quarantine

    rows = export_quarantine(ctx.obj.context(), out_path, batch)
    if as_json:
        emit_json({"ok": True, "file": str(out_path), "rows": rows})
    else:
        out.print(f"Wrote {rows:,} quarantined rows to {out_path}")


# -- the demo ---------------------------------------------------------------------------------------
@app.command()
def demo(
    ctx: typer.Context,
    seed: int = typer.Option(7, "--seed", help="The market's random seed: the same seed gives the same market."),
    size: Literal["small", "medium", "large"] = typer.Option("small", "--size", help="small (seconds), medium or large (10M polished outcomes)."),
    out_dir: Path = typer.Option(Path("demo"), "--out", help="Where the generated market's files go."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Generate a realistic market, import it through the real importers, and summarise it."""
    from .app.demo import run_demo
    from .progress import StepProgress

    with StepProgress(err, enabled=not as_json) as progress:
        summary = run_demo(ctx.obj.context(), seed=seed, size=size, out_dir=out_dir, progress=progress,
                           say=None if as_json else out.print)
    if as_json:
        emit_json({"ok": True, **summary})


def debugging() -> bool:
    """Whether ROUGHTRACE_DEBUG asks for tracebacks: 1, true, yes or on; 0, false, empty or unset do not."""
    return os.environ.get("ROUGHTRACE_DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}


def run(command: Any, args: list[str], **extra: Any) -> int:
    """Run `command` (the root app, or one area's) on `args` and answer every failure: the one place
    the command line turns an exception into problems (`problems_from`) and an exit code. Returns the
    exit code; `extra` goes to the command's context (`obj=` a context with store and settings)."""
    wants_json = "--json" in args
    try:
        code = command(args=args, prog_name="roughtrace", standalone_mode=False, **extra)
        return code if isinstance(code, int) else EXIT_OK
    except typer.Exit as done:
        return done.exit_code
    except SystemExit as done:  # a command that answered with its own problems (`cli_errors.fail`)
        return done.code if isinstance(done.code, int) else EXIT_OK if done.code is None else EXIT_FAILED
    except (typer.Abort, KeyboardInterrupt):
        err.print("Stopped.")
        return 130
    except typer.TyperException as exc:  # usage errors: bad option, missing argument
        if wants_json or not hasattr(exc, "show"):
            report([Problem("usage", exc.format_message())], wants_json)
        else:
            exc.show()
        return EXIT_USAGE if exc.exit_code else EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback for users
        if debugging() and not isinstance(exc, RoughtraceError):
            raise
        report(problems_from(exc), wants_json)
        return exc.exit_code if isinstance(exc, RoughtraceError) else EXIT_FAILED


def main(argv: list[str] | None = None) -> None:
    """Entry point: wires the areas in (`roughtrace.wiring`), runs the app and leaves with its exit code."""
    from .wiring import wire

    wire()
    sys.exit(run(app, list(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    main()
