"""Import: readers for every format, mapping profiles, vectorised validation, batches and quarantine.

`import_file(store, kind, path, ...)` is the one entry point the CLI, the demo and the tests use.
"""

from .pipeline import ImportResult, import_file

__all__ = ["ImportResult", "import_file"]
