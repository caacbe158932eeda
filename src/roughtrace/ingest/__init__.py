"""Import: readers for every format, mapping profiles, vectorised validation, batches and quarantine.

`import_file(store, kind, path, ...)` is the one entry point the CLI, the demo and the tests use.
The pipeline loads on first use, so that registering the import limits (`limits`, as every
command does) loads no Arrow.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ImportResult", "import_file"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import pipeline

        return getattr(pipeline, name)
    raise AttributeError(name)
