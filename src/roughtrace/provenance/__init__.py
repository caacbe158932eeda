"""Provenance: one polished stone traced back through its rough stone and box to the sight, the
seller, the origin and the KP certificate, with the status of every link."""

from .trace import STATUSES, Link, Provenance, trace

__all__ = ["STATUSES", "Link", "Provenance", "trace"]
