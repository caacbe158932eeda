"""Every setting roughtrace has, in one registry: name, default, type and help.

The registry feeds the CLI (`--set NAME=VALUE`), environment variables (`ROUGHTRACE_<NAME>`),
the docs (docs/settings.md is checked against it by a test) and, later, the API.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any


@dataclass(frozen=True)
class Setting:
    """One documented, configurable parameter."""

    name: str
    default: Any
    help: str
    area: str
    """The part of roughtrace it steers: store, import, prices, valuation, checks, ledger, sim."""

    @property
    def env_var(self) -> str:
        return "ROUGHTRACE_" + self.name.upper()

    def parse(self, text: str) -> Any:
        """Convert a text value (from a flag or the environment) to this setting's type."""
        kind = type(self.default)
        if kind is bool:
            lowered = text.strip().lower()
            if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                raise SettingError(f"{self.name} takes true or false, not {text!r}")
            return lowered in {"1", "true", "yes", "on"}
        try:
            if kind is Decimal:
                value = Decimal(text.strip())
                if not value.is_finite():
                    raise InvalidOperation
                return value
            if kind is int:
                return int(text.strip())
        except (InvalidOperation, ValueError):
            raise SettingError(f"{self.name} takes a {kind.__name__}, not {text!r}") from None
        return text


class SettingError(ValueError):
    """A setting name or value a user gave that roughtrace cannot take."""


_REGISTRY: dict[str, Setting] = {}


def register(*settings: Setting) -> None:
    """Add settings to the registry; each area's module registers its own at import."""
    for setting in settings:
        if setting.name in _REGISTRY and _REGISTRY[setting.name] != setting:
            raise ValueError(f"setting {setting.name} registered twice")
        _REGISTRY[setting.name] = setting


def registry() -> Mapping[str, Setting]:
    """Every registered setting by name, after each area's settings are loaded."""
    from . import setting_areas  # noqa: F401  (registers every area's settings)

    return dict(sorted(_REGISTRY.items()))


class Settings:
    """Resolved values: explicit overrides, then the environment, then the default."""

    def __init__(self, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> None:
        self._all = registry()
        self._environ = os.environ if environ is None else environ
        self._values: dict[str, Any] = {}
        for name, value in (overrides or {}).items():
            setting = self._lookup(name)
            self._values[name] = setting.parse(value) if isinstance(value, str) else value

    def _lookup(self, name: str) -> Setting:
        try:
            return self._all[name]
        except KeyError:
            raise SettingError(f"there is no setting called {name!r}; `roughtrace settings` lists them") from None

    def __getitem__(self, name: str) -> Any:
        if name in self._values:
            return self._values[name]
        setting = self._lookup(name)
        text = self._environ.get(setting.env_var)
        return setting.default if text is None else setting.parse(text)

    def as_dict(self) -> dict[str, Any]:
        return {name: self[name] for name in self._all}


ENGINE_MEMORY_LIMIT = "800MB"
"""The import engine's default memory limit (setting import_memory_limit). A 10M-row import peaks
near 1.4 GB of process memory with it; DuckDB keeps a table's indexes in memory whole, so a store
holding well over 10M outcome rows needs it raised (docs/performance.md)."""

register(
    Setting("db", "duckdb:///roughtrace.duckdb", "The store: duckdb:///PATH (embedded) or postgresql://USER@HOST/DB.", "store"),
    Setting("import_memory_limit", ENGINE_MEMORY_LIMIT, "Memory the import engine may use before it spills to disk "
            "(a store of well over 10M outcome rows needs more: DuckDB holds its indexes whole).", "import"),
    Setting("import_threads", 2, "Threads the import engine uses.", "import"),
    Setting("max_reported_errors", 1000, "Most problems an import lists in its answer; every one is kept in the quarantine.", "import"),
    Setting("max_text_length", 1000, "Longest text value accepted in any column, in characters.", "import"),
)
