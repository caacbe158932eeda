"""Sightholder verification: is the rough a producer sold really polished by its buyer?

Fact queries (`facts`) reduce the store to per-box and per-sightholder figures in the engine; pure
rules (`rules`, listed in `registry.CHECKS`) turn them into findings with evidence; `verify` weighs
findings into risk per sightholder and per sight.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from . import settings as _settings  # noqa: F401  (registers the "checks" settings)

_SOURCES = {
    "Finding": "findings", "Risk": "findings", "CHECKS": "registry", "assess": "verify", "box_findings": "verify",
    "riskiest": "verify", "run_checks": "verify",
}
"""Where each public name lives: imported on first use, so that importing the area's settings or
schema (as every command does) does not load its computations and their libraries."""

__all__ = ["CHECKS", "Finding", "Risk", "assess", "box_findings", "riskiest", "run_checks"]


def __getattr__(name: str) -> Any:
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_SOURCES[name]}"), name)
    globals()[name] = value
    return value
