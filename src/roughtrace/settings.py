"""Every setting roughtrace has, in one registry: name, default, type and help.

The registry feeds the CLI (`--set NAME=VALUE`), environment variables (`ROUGHTRACE_<NAME>`),
the docs (docs/settings.md is checked against it by a test) and, later, the API. Each area lists
its settings as a plain tuple (`<area>/settings.py`, `ingest/limits.py`); the composition root
(`roughtrace.wiring.wire_settings`) gathers them here with `CORE`, so this module imports no area.
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import UsageError


@dataclass(frozen=True)
class Setting:
    """One documented, configurable parameter."""

    name: str
    default: Any
    help: str
    area: str
    """The part of roughtrace it steers: store, import, prices, valuation, checks, ledger, sim."""
    rule: Callable[[Any], Any] | None = None
    """Checks a parsed value and returns it normalised, or raises ValueError saying what the
    setting takes: a value that breaks it never reaches the store or the engine."""

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
                number = int(text.strip())
        except (InvalidOperation, ValueError):
            raise SettingError(f"{self.name} takes a {kind.__name__}, not {text!r}") from None
        return self.check(number if kind is int else text)

    def check(self, value: Any) -> Any:
        """`value` if it obeys this setting's rule (normalised), else a SettingError naming the rule."""
        if self.rule is None:
            return value
        try:
            return self.rule(value)
        except ValueError as broken:
            shown = redacted(value) if isinstance(value, str) else value
            raise SettingError(f"{self.name} takes {broken}, not {shown!r}") from None


class SettingError(UsageError):
    """A setting name or value a user gave that roughtrace cannot take."""

    code = "bad_setting"


_REGISTRY: dict[str, Setting] = {}
"""The settings the composition root registered, by name: empty until `roughtrace.wiring.wire()`."""


def register(*settings: Setting) -> None:
    """Add settings to the registry (the composition root's call); registering one again is harmless,
    two different settings of one name are a bug."""
    for setting in settings:
        if setting.name in _REGISTRY and _REGISTRY[setting.name] != setting:
            raise ValueError(f"setting {setting.name} registered twice")
    _REGISTRY.update((setting.name, setting) for setting in settings)


def registry() -> Mapping[str, Setting]:
    """Every registered setting by name; a RuntimeError before the composition root has run, since
    a registry missing an area's settings would answer that they do not exist."""
    if not _REGISTRY:
        raise RuntimeError("no settings are registered: call roughtrace.wiring.wire() before building Settings")
    return dict(sorted(_REGISTRY.items()))


class Settings:
    """Resolved values: explicit overrides (flags), then the environment, then any further layers of
    text values (a config file or the store's own settings, in the order given), then the default.

    A value, fixed when the Settings are built: the environment is read once, then, so every lookup
    of one Settings answers the same whatever `os.environ` does later (a command or a request builds
    its own). A setting's text is parsed at its first lookup, so a bad value stops only what reads
    it."""

    __slots__ = ("_all", "_texts", "_values", "_version")

    def __init__(self, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None,
                 layers: Sequence[Mapping[str, str]] = ()) -> None:
        """`overrides`: values by setting name (text is parsed, other values checked); `environ`:
        the environment (`os.environ` when None), read for `ROUGHTRACE_<NAME>`; `layers`: text values
        by setting name below the environment, the first winning."""
        self._all = registry()
        source = os.environ if environ is None else environ
        texts: dict[str, str] = {}
        for layer in reversed(layers):
            for name, text in layer.items():
                self._lookup(name)
                texts[name] = text
        texts.update((name, source[setting.env_var]) for name, setting in self._all.items() if setting.env_var in source)
        self._texts = texts
        self._values: dict[str, Any] = {}
        self._version = 0
        for name, value in (overrides or {}).items():
            setting = self._lookup(name)
            self._values[name] = setting.parse(value) if isinstance(value, str) else setting.check(value)

    @property
    def version(self) -> int:
        """The deployment's settings version these values are under (`under`); 0 for none."""
        return self._version

    def under(self, deployment: Mapping[str, str], version: int) -> Settings:
        """These settings with a deployment's values (text by name, as the store holds them) over
        every other source, flags and environment included: one set of rules for every client of a
        store. `version` is the deployment's settings version they come from."""
        ruled = Settings.__new__(Settings)
        ruled._all = self._all
        for name in deployment:
            self._lookup(name)
        ruled._texts = {**self._texts, **deployment}
        ruled._values = {name: value for name, value in self._values.items() if name not in deployment}
        ruled._version = version
        return ruled

    def _lookup(self, name: str) -> Setting:
        try:
            return self._all[name]
        except KeyError:
            raise SettingError(f"there is no setting called {name!r}; `roughtrace settings` lists them") from None

    def __getitem__(self, name: str) -> Any:
        if name in self._values:
            return self._values[name]
        setting = self._lookup(name)
        text = self._texts.get(name)
        value = setting.default if text is None else setting.parse(text)
        self._values[name] = value
        return value

    def as_dict(self) -> dict[str, Any]:
        return {name: self[name] for name in self._all}


_SIZE = re.compile(r"(\d{1,15})\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)
_SPELLED = {"kb": "KB", "mb": "MB", "gb": "GB", "tb": "TB", "kib": "KiB", "mib": "MiB", "gib": "GiB", "tib": "TiB"}
_UNITS = {"kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}


def size_bytes(text: str) -> int:
    """The bytes a size written like `800MB` or `2GiB` stands for; ValueError for anything else."""
    match = _SIZE.fullmatch(str(text).strip())
    if match is None:
        raise ValueError("a size such as 800MB or 2GB")
    return int(match[1]) * _UNITS[match[2].lower()]


def size_at_least(minimum: str) -> Callable[[Any], str]:
    """A rule: a memory size (digits and a unit, KB to TB or KiB to TiB) of at least `minimum`,
    returned in the canonical spelling the engine is given."""
    floor = size_bytes(minimum)

    def rule(value: Any) -> str:
        match = _SIZE.fullmatch(str(value).strip())
        if match is None or size_bytes(str(value)) < floor:
            raise ValueError(f"a size of at least {minimum}, written like 800MB or 2GB")
        return match[1] + _SPELLED[match[2].lower()]
    return rule


def at_least(minimum: int) -> Callable[[Any], int]:
    """A rule: a whole number no smaller than `minimum`."""
    def rule(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError("a positive whole number" if minimum == 1 else f"a whole number of at least {minimum}")
        return value
    return rule


def one_of(*choices: str) -> Callable[[Any], str]:
    """A rule: one of `choices` (case and surrounding spaces ignored), returned as listed."""
    def rule(value: Any) -> str:
        chosen = str(value).strip().lower()
        if chosen not in choices:
            raise ValueError("one of " + ", ".join(choices))
        return chosen
    return rule


def text_encoding(value: Any) -> str:
    """A rule: the name of a text encoding Python knows (not a transform such as rot13)."""
    try:
        info = codecs.lookup(str(value))
    except LookupError:
        info = None
    if info is None or not getattr(info, "_is_text_encoding", True):
        raise ValueError("the name of a text encoding, such as utf-8, latin-1 or cp1252")
    return str(value)


def one_character(value: Any) -> str:
    """A rule: one character other than a quote, a line break or NUL (a CSV delimiter)."""
    if not isinstance(value, str) or len(value) != 1 or value in {'"', "\n", "\r", "\x00"}:
        raise ValueError("one character, such as , ; or a tab, other than a quote or a line break")
    return value


def store_address(value: Any) -> str:
    """A rule: duckdb:///PATH or postgresql://... with a path or database; never an in-memory store."""
    text = str(value)
    if text.startswith("duckdb:"):
        path = text[len("duckdb:"):]
        if not path.startswith("///") or not path[3:].strip("/") or "\x00" in path:
            raise ValueError("duckdb:///PATH naming the store's file (duckdb:///roughtrace.duckdb, or duckdb:////abs/path); "
                             "an address without a path would keep the data in memory and lose it")
    elif not text.startswith(("postgresql://", "postgres://")):
        raise ValueError("duckdb:///PATH or postgresql://USER@HOST/DB")
    return text


def redacted(text: str) -> str:
    """`text` fit to print: the password of every `scheme://user:password@host` in it shown as ***,
    and a `password=` parameter likewise (store addresses carry secrets; messages must not)."""
    shown = re.sub(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^/@:?#\s]*:)[^@/?#\s]*@", r"\1***@", text)
    return re.sub(r"(?i)(password\s*=\s*)[^&\s'\"]*", r"\1***", shown)


ENGINE_MEMORY_LIMIT = "800MB"
"""The import engine's default memory limit (setting import_memory_limit): it keeps a 10M-row import
under the issue's 1.5 GiB of process memory; DuckDB keeps a table's indexes in memory whole, so a
store holding well over 10M outcome rows needs it raised (figures in docs/performance.md)."""
MIN_MEMORY_LIMIT = "64MB"
"""The smallest import_memory_limit a setting may give: below it the engine cannot hold one batch."""

CORE: tuple[Setting, ...] = (
    Setting("db", "duckdb:///roughtrace.duckdb", "The store: duckdb:///PATH (embedded) or postgresql://USER@HOST/DB.", "store",
            store_address),
    Setting("import_memory_limit", ENGINE_MEMORY_LIMIT, "Memory the import engine may use before it spills to disk, "
            "a size of at least 64MB (a store of well over 10M outcome rows needs more: DuckDB holds its indexes whole).",
            "import", size_at_least(MIN_MEMORY_LIMIT)),
    Setting("import_threads", 2, "Threads the import engine uses (a positive whole number).", "import", at_least(1)),
    Setting("max_reported_errors", 1000, "Most problems an import lists in its answer; every one is kept in the quarantine.",
            "import", at_least(0)),
    Setting("max_text_length", 1000, "Longest text value accepted in any column, in characters.", "import", at_least(1)),
)
"""The settings of the store and the import engine, which belong to no area."""
