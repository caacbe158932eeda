"""Public names of a package imported on first use.

An area's package lists where each of its public names lives; importing the package (as every
command does, when the composition root reads the area's settings) then loads none of its
computations and their libraries until a name is asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_names(package: str, namespace: dict[str, Any], sources: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package` that imports each name of `sources` (name -> submodule)
    from its submodule when first asked for, and keeps it in `namespace` (the package's globals)."""

    def __getattr__(name: str) -> Any:
        if name not in sources:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{sources[name]}"), name)
        namespace[name] = value
        return value

    return __getattr__
