"""One exception tree, one translation: every error roughtrace raises on purpose is a RoughtraceError
carrying its problems, and `cli.run` answers any exception through `errors.problems_from`; an
exception outside the tree is a bug and answers `internal_error`, never a user's mistake."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import pkgutil

import pytest
import typer

import roughtrace
from conftest import CommandLine
from roughtrace.checks import registry
from roughtrace.checks.cli import app as verify_app
from roughtrace.domain.money import AmountError
from roughtrace.errors import Problem, RoughtraceError, problems_from
from roughtrace.ledger.heads import HeadError
from roughtrace.ledger.merkle import ProofError
from roughtrace.ledger.receipts import ReceiptError
from roughtrace.settings import SettingError
from roughtrace.valuation.method import CostModelError
from roughtrace.valuation.pricer import PricerUnavailable
from test_checks_cli import OUTCOMES, SALES, Context, build  # noqa: F401 - fixture


def _public_exceptions() -> dict[str, type[BaseException]]:
    """Every exception class roughtrace's modules define, by its qualified name; private ones
    (a leading underscore: control flow inside one module) left out."""
    found: dict[str, type[BaseException]] = {}
    for module in pkgutil.walk_packages(roughtrace.__path__, "roughtrace."):
        loaded = importlib.import_module(module.name)
        for name, value in vars(loaded).items():
            if (inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == module.name
                    and not name.startswith("_")):
                found[f"{module.name}.{name}"] = value
    return found


def test_every_public_exception_is_a_roughtrace_error() -> None:
    exceptions = _public_exceptions()
    assert "roughtrace.settings.SettingError" in exceptions and "roughtrace.ledger.receipts.ReceiptError" in exceptions
    outside = sorted(name for name, cls in exceptions.items() if not issubclass(cls, RoughtraceError))
    assert outside == []


FORMERLY_OUTSIDE = [
    (SettingError("import_threads takes a positive whole number, not 0"), "bad_setting", 2),
    (AmountError("binary_float", "carats must be given as an exact decimal, not a binary float"), "binary_float", 2),
    (CostModelError("cost margin must be from 0 to below 1, not 1.5"), "bad_option", 2),
    (PricerUnavailable("there is no polished price index to value the outcomes with"), "no_price_index", 1),
    (ProofError("the proof has the wrong length"), "proof_invalid", 1),
    (HeadError("the head's signature does not check"), "head_invalid", 1),
    (ReceiptError("entry 1 does not record batch 2"), "receipt_invalid", 1),
]


def _raising(error: BaseException) -> typer.Typer:
    """A command line whose one command raises `error`, as a library call under a command would."""
    app = typer.Typer()

    @app.command()
    def fails(as_json: bool = typer.Option(False, "--json")) -> None:
        raise error

    return app


@pytest.mark.parametrize(("error", "code", "exit_code"), FORMERLY_OUTSIDE, ids=lambda v: type(v).__name__)
def test_each_formerly_outside_error_answers_in_the_one_shape(error: RoughtraceError, code: str, exit_code: int) -> None:
    assert problems_from(error) == [Problem(code, str(error))]
    answered = CommandLine().invoke(_raising(error), ["--json"])
    assert answered.exit_code == exit_code
    assert json.loads(answered.stdout) == {"ok": False, "errors": [
        {"code": code, "message": str(error), "source": {"file": None, "row": None, "column": None}}]}
    shown = CommandLine().invoke(_raising(error), [])
    assert shown.exit_code == exit_code and shown.stdout == ""
    assert shown.stderr == f"error {error} ({code})\n"


@pytest.mark.parametrize("bug", [ValueError("a rule divided by nothing"), KeyError("sightholder_id"),
                                 TypeError("unsupported operand")], ids=lambda e: type(e).__name__)
def test_an_exception_outside_the_tree_is_an_internal_error(bug: Exception) -> None:
    [problem] = problems_from(bug)
    assert problem.code == "internal_error" and type(bug).__name__ in problem.message
    answered = CommandLine().invoke(_raising(bug), ["--json"])
    assert answered.exit_code == 1 and json.loads(answered.stdout)["errors"][0]["code"] == "internal_error"
    assert "Traceback" not in answered.output


def test_a_bug_in_a_rule_is_an_internal_error_not_a_bad_setting(build, monkeypatch) -> None:  # noqa: F811
    def broken(facts, settings):
        raise ValueError("the rule met a box it cannot read")

    market = Context(build(SALES, OUTCOMES))
    monkeypatch.setattr(registry, "CHECKS", tuple(dataclasses.replace(c, rule=broken) if c.name == "mass_balance" else c
                                                  for c in registry.CHECKS))
    answered = CommandLine().invoke(verify_app, ["sightholders", "--json"], obj=market)
    [problem] = json.loads(answered.stdout)["errors"]
    assert answered.exit_code == 1 and problem["code"] == "internal_error"
    assert "ValueError: the rule met a box it cannot read" in problem["message"]


def test_a_setting_a_check_cannot_take_is_still_a_bad_setting(build) -> None:  # noqa: F811
    answered = CommandLine().invoke(verify_app, ["sightholders", "--json"],
                                    obj=Context(build(SALES, OUTCOMES), checks_disabled="flipping"))
    [problem] = json.loads(answered.stdout)["errors"]
    assert answered.exit_code == 2 and problem["code"] == "bad_setting" and "no check called flipping" in problem["message"]


def _engine_short_of_memory() -> BaseException:
    """The exception a real DuckDB engine raises when a step needs more than its memory limit."""
    import duckdb

    engine = duckdb.connect(config={"memory_limit": "8MB", "threads": 1})
    try:
        engine.sql("SELECT list(range) AS every FROM range(5000000)").fetchall()
    except duckdb.Error as short:
        return short
    finally:
        engine.close()
    raise AssertionError("an 8MB engine held five million values in one list")


def test_an_engine_short_of_memory_names_the_setting_to_raise_in_the_one_shape() -> None:
    short = _engine_short_of_memory()
    answered = CommandLine().invoke(_raising(short), ["--json"])
    [problem] = json.loads(answered.stdout)["errors"]
    assert answered.exit_code == 1 and problem["code"] == "out_of_memory"
    assert "import_memory_limit" in problem["message"] and "SET threads" not in problem["message"]
    assert "Traceback" not in answered.output
    wrapped = RuntimeError(f"the Arrow stream stopped: {short}")  # its message inside another type
    assert [p.code for p in problems_from(wrapped)] == ["out_of_memory"]
    assert [p.code for p in problems_from(ValueError("Out of range"))] == ["internal_error"]
