"""`roughtrace verify`: one JSON object per call, the one error shape, exit codes."""

from __future__ import annotations

import json

import pytest

from conftest import CommandLine
from roughtrace.checks import riskiest
from roughtrace.checks.cli import app
from test_checks_support import OUTCOMES_HEADER, SALES_HEADER, builder, settings


@pytest.fixture
def build(engine, tmp_path):
    """Markets in the trade's words, on each engine in turn."""
    yield from builder(engine, tmp_path)


SALES = SALES_HEADER + """
B1,2024-01,2024-01-08,P1,M1,BW,A-STONES-8GR,stones,0.750,2.000,white,high,8,10.000,9000.00,
B2,2024-03,2024-03-11,P1,M2,BW,A-STONES-8GR,stones,0.750,2.000,white,high,8,10.000,9000.00,
"""
OUTCOMES = OUTCOMES_HEADER + """
GIA1000001,GIA,M1,B1,,,2024-02-20,round,2.400,G,VS1,EX
GIA1000002,GIA,M2,B2,,,2024-04-20,round,1.400,G,VS1,EX
"""


class Context:
    def __init__(self, store, **overrides):
        self._store = store
        self.settings = settings(**overrides)

    def store(self):
        return self._store


def invoke(build, args, **overrides):
    return CommandLine().invoke(app, args, obj=Context(build(SALES, OUTCOMES), **overrides))


def test_sightholders_json_ranks_the_riskiest_first(build):
    result = invoke(build, ["sightholders", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    first = body["sightholders"][0]
    assert (first["sightholder_id"], first["category"], first["risk"]) == ("M1", "manufacturer", "high")
    assert {"check", "box_id", "message", "evidence"} <= set(first["findings"][0])
    assert first["findings"][0]["evidence"]["largest_polished_carats"] == "2.400"


def test_sightholders_of_one_sight(build):
    body = json.loads(invoke(build, ["sightholders", "--sight", "2024-03", "--json"]).output)
    assert [s["sightholder_id"] for s in body["sightholders"]] == ["M2"]
    assert body["sightholders"][0]["risk"] == "low"


def test_box_lists_its_findings(build):
    body = json.loads(invoke(build, ["box", "B1", "--json"]).output)
    assert body["sightholder_id"] == "M1" and [f["check"] for f in body["findings"]] == ["size_and_timing"]


def test_unknown_box_is_an_error_in_the_one_shape(build):
    result = invoke(build, ["box", "B404", "--json"])
    assert result.exit_code == 1
    body = json.loads(result.output)
    assert body == {"ok": False, "errors": [{"code": "box_not_found", "message": "no box B404 was sold",
                                             "source": {"file": None, "row": None, "column": None}}]}


def test_a_bad_setting_is_a_usage_error_without_traceback(build):
    result = invoke(build, ["sightholders", "--json"], checks_disabled="flipping")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert json.loads(result.output)["ok"] is False


def test_riskiest_for_the_demo_says_why(build):
    top = riskiest(build(SALES, OUTCOMES), n=5, settings=settings())
    assert [t["sightholder_id"] for t in top] == ["M1"]
    assert top[0]["checks"] == ["size_and_timing"] and "larger than the box's largest rough stone" in top[0]["why"][0]
