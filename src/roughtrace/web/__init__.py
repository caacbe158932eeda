"""The dashboard: server-rendered pages for each of roughtrace's users, served by `roughtrace serve`
at `/` beside the API, over the same use cases and the same rules of who may see what."""

from __future__ import annotations
