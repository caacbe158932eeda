"""Sightholder verification: is the rough a producer sold really polished by its buyer?

Fact queries (`facts`) reduce the store to per-box and per-sightholder figures in the engine; pure
rules (`rules`, listed in `registry.CHECKS`) turn them into findings with evidence; `verify` weighs
findings into risk per sightholder and per sight.
"""

from . import settings as _settings  # noqa: F401  (registers the "checks" settings)
from .findings import Finding, Risk
from .registry import CHECKS
from .verify import assess, box_findings, riskiest, run_checks

__all__ = ["CHECKS", "Finding", "Risk", "assess", "box_findings", "riskiest", "run_checks"]
