"""Provenance: one polished stone traced back through its rough stone and box to the sight, the
seller, the origin and the KP certificate, with the status of every link."""

from __future__ import annotations

from ..lazy import lazy_names

_SOURCES = {
    "STATUSES": "trace", "Link": "trace", "Provenance": "trace", "trace": "trace",
}
"""Where each public name lives (roughtrace.lazy imports it on first use)."""

__all__ = ["STATUSES", "Link", "Provenance", "trace"]


__getattr__ = lazy_names(__name__, globals(), _SOURCES)
