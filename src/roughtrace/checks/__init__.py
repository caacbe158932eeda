"""Sightholder verification: is the rough a producer sold really polished by its buyer?

Fact queries (`facts`) reduce the store to per-box and per-sightholder figures in the engine; pure
rules (`rules`, listed in `registry.CHECKS`) turn them into findings with evidence; `verify` weighs
findings into risk per sightholder and per sight.
"""

from __future__ import annotations

from ..lazy import lazy_names

_SOURCES = {
    "Finding": "findings", "Risk": "findings", "CHECKS": "registry", "assess": "verify", "box_findings": "verify",
    "riskiest": "verify", "run_checks": "verify",
}
"""Where each public name lives (roughtrace.lazy imports it on first use)."""

__all__ = ["CHECKS", "Finding", "Risk", "assess", "box_findings", "riskiest", "run_checks"]


__getattr__ = lazy_names(__name__, globals(), _SOURCES)
