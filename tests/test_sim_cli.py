"""`roughtrace sim generate`: files written, one JSON object, usage errors in the one error shape."""

from __future__ import annotations

import json

from conftest import CommandLine
from roughtrace.sim.cli import app

runner = CommandLine()


def test_generate_writes_a_market_and_prints_one_json_object(tmp_path):
    result = runner.invoke(app, ["generate", str(tmp_path), "--seed", "4", "--set", "polished_rows=1500",
                                 "--set", "n_transactions=100", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["ok"] is True and [f["kind"] for f in body["files"]][0] == "parties"
    assert (tmp_path / "manifest.json").exists() and (tmp_path / "truth" / "boxes.csv").exists()


def test_an_unknown_parameter_is_a_usage_error_in_the_one_shape(tmp_path):
    result = runner.invoke(app, ["generate", str(tmp_path), "--set", "flips=0.3", "--json"])
    assert result.exit_code == 2
    body = json.loads(result.output)
    assert body["ok"] is False and body["errors"][0]["code"] == "bad_parameter"
    assert set(body["errors"][0]["source"]) == {"file", "row", "column"}
    assert not (tmp_path / "manifest.json").exists()


def test_a_bad_size_is_a_usage_error_without_traceback(tmp_path):
    result = runner.invoke(app, ["generate", str(tmp_path), "--size", "huge"])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_a_knob_is_set_by_name_from_the_command_line(tmp_path):
    result = runner.invoke(app, ["generate", str(tmp_path), "--set", "polished_rows=1500", "--set", "n_transactions=100",
                                 "--set", "row_order=by_sightholder", "--set", "producers=2", "--json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["parameters"]["row_order"] == "by_sightholder" and manifest["parameters"]["producers"] == 2
    holders = [line.split(",")[2] for line in (tmp_path / "polished_outcomes.csv").read_text().splitlines()[1:]]
    assert holders == sorted(holders)
    bad = runner.invoke(app, ["generate", str(tmp_path / "b"), "--set", "row_order=sideways", "--json"])
    assert bad.exit_code == 2 and json.loads(bad.output)["errors"][0]["code"] == "bad_parameter"
