"""docs/simulator.md documents every simulator parameter and every ground-truth file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from roughtrace.sim import BEHAVIOURS, FATES, MarketParams

DOC = Path(__file__).resolve().parents[1] / "docs" / "simulator.md"


def test_every_parameter_is_documented():
    text = DOC.read_text()
    missing = [f.name for f in dataclasses.fields(MarketParams) if f"`{f.name}`" not in text]
    assert missing == []


def test_every_behaviour_fate_and_truth_file_is_documented(tmp_path):
    from roughtrace.sim import generate_market

    text = DOC.read_text()
    assert [b for b in BEHAVIOURS if b not in text] == []
    assert [f for f in FATES if f not in text] == []
    market = generate_market(tmp_path, seed=0, polished_rows=500, n_transactions=10)
    assert [f.path.name for f in market.truth if f"truth/{f.path.name}" not in text] == []
