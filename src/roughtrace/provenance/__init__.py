"""Provenance: one polished stone traced back through its rough stone and box to the sight, the
seller, the origin and the KP certificate, with the status of every link."""

from __future__ import annotations

from importlib import import_module
from typing import Any

_SOURCES = {
    "STATUSES": "trace", "Link": "trace", "Provenance": "trace", "trace": "trace",
}
"""Where each public name lives: imported on first use, so that importing the area's settings or
schema (as every command does) does not load its computations and their libraries."""

__all__ = ["STATUSES", "Link", "Provenance", "trace"]


def __getattr__(name: str) -> Any:
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_SOURCES[name]}"), name)
    globals()[name] = value
    return value
