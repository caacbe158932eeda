"""The same seed, size and parameters give byte-identical files, whatever the number of threads."""

from __future__ import annotations

import hashlib
import json

import pytest

from roughtrace.sim import generate_market, market_params
from roughtrace.sim.params import ParameterError

TINY = {"polished_rows": 4_000, "n_transactions": 3_000, "chunk_boxes": 60}
"""Small chunks so that several are drawn concurrently."""


def digests(market) -> dict[str, str]:
    paths = [f.path for f in market.files + market.truth] + [market.manifest]
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def test_same_seed_gives_byte_identical_files_with_any_thread_count(tmp_path):
    one = generate_market(tmp_path / "a", seed=42, workers=1, **TINY)
    two = generate_market(tmp_path / "b", seed=42, workers=3, **TINY)
    assert len(one.files) == 7 and digests(one) == digests(two)


def test_another_seed_gives_another_market(tmp_path):
    one = generate_market(tmp_path / "a", seed=1, **TINY)
    two = generate_market(tmp_path / "b", seed=2, **TINY)
    differ = {name for name, digest in digests(one).items() if digests(two)[name] != digest}
    assert {"rough_sales.csv", "polished_outcomes.csv", "transactions.csv", "kp_certificates.csv"} <= differ


def test_manifest_records_seed_size_parameters_and_files(tmp_path):
    market = generate_market(tmp_path, seed=7, flip_share=0.5, **TINY)
    manifest = json.loads(market.manifest.read_text())
    assert manifest["seed"] == 7 and manifest["size"] == "small"
    assert manifest["parameters"]["flip_share"] == 0.5
    assert manifest["parameters"]["polished_rows"] == TINY["polished_rows"]
    assert [(f["kind"], f["rows"]) for f in manifest["files"]] == [(f.kind, f.rows) for f in market.files]


def test_unknown_parameters_and_sizes_are_refused():
    with pytest.raises(ParameterError, match="unknown simulator parameters"):
        market_params("small", flip_shares=0.3)
    with pytest.raises(ParameterError, match="size must be one of"):
        market_params("huge")
    with pytest.raises(ParameterError, match="flip_share"):
        market_params("small", flip_share=1.5)


def test_presets_scale_to_the_sizes_promised():
    assert market_params("small").polished_rows <= 50_000
    assert market_params("medium").polished_rows == 1_000_000
    assert market_params("large").polished_rows == 10_000_000
    assert 60 <= market_params("large").sightholders <= 70
    assert market_params("large", n_transactions=10_000_000).n_transactions == 10_000_000
