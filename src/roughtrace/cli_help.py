"""How `--help` names what a parameter takes: TEXT, INTEGER, PATH, a choice `[csv|json]`, nothing
for a flag, and arguments in capitals (`KIND`, `[CERTIFICATE_IDS]...`), as command-line tools have
long written them. Typer writes its Python types instead (`<str>`, `<bool>`, `<list[str]>`,
`{kind}`), which a trade user should not have to read."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

TYPE_NAMES: dict[Any, str] = {str: "TEXT", int: "INTEGER", float: "NUMBER", Path: "PATH", dt.datetime: "DATE",
                              dt.date: "DATE"}


def type_name(parameter: Any) -> str | None:
    """What a Typer parameter takes, in capitals; None for a flag (it takes nothing)."""
    if getattr(parameter, "is_flag", False):
        return None
    descriptor = parameter.type_descriptor
    annotation = descriptor.annotation
    if get_origin(annotation) in (list, tuple):
        annotation = (get_args(annotation) or (str,))[0]
    if descriptor.is_choice and descriptor.choices is not None:
        return "[" + "|".join(str(c.value if isinstance(c, Enum) else c) for c in descriptor.choices) + "]"
    return TYPE_NAMES.get(annotation, "PATH" if descriptor.is_path else "TEXT")


def plain_help() -> None:
    """Make Typer's help and usage lines use these names (once; safe to call again)."""
    from typer import core

    if getattr(core.TyperOption, "_roughtrace_plain", False):
        return

    def option_type(self: Any, ctx: Any) -> str | None:
        if self.metavar is not None:
            return self.metavar
        name = type_name(self)
        return None if name is None else name + ("..." if self.multiple or self.nargs != 1 else "")

    def argument_name(self: Any) -> str:
        return self.metavar if self.metavar is not None else (self.name or "").upper()

    def argument_usage(self: Any) -> str:
        name = argument_name(self)
        name = name if self.required else f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")

    def argument_type(self: Any, ctx: Any) -> str | None:
        name = type_name(self)
        return None if name in ("TEXT", None) else name

    core.TyperOption.display_type_rich = option_type  # type: ignore[method-assign]
    core.TyperArgument.display_name_raw = property(argument_name)  # type: ignore[assignment]
    core.TyperArgument._usage_display_name = argument_usage  # type: ignore[method-assign]
    core.TyperArgument.display_type_rich = argument_type  # type: ignore[method-assign]
    core.TyperOption._roughtrace_plain = True  # type: ignore[attr-defined]
