"""Import: readers for every format, mapping profiles, vectorised validation, batches and quarantine.

`import_file(store, kind, path, ...)` is the one entry point the CLI, the demo and the tests use.
The pipeline loads on first use, so that registering the import limits (`limits`, as every
command does) loads no Arrow.
"""

from __future__ import annotations

from ..lazy import lazy_names

__all__ = ["ImportResult", "import_file"]

__getattr__ = lazy_names(__name__, globals(), {name: "pipeline" for name in __all__})
