"""Help that reads well. Typer shows each parameter's Python type (`<bool>`, `<list[Path]>`);
the command-line convention (click's, git's) is an upper-case word for a value, nothing for a
flag, and `FILE...` (not `{FILE}...`) for a required argument. `install()` makes Typer's help
do that; a test reads every command's help for leftovers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args, get_origin

from typer import core

_WORDS: dict[Any, str] = {int: "INTEGER", float: "NUMBER", str: "TEXT", Path: "PATH"}


def _value_word(param: Any, ctx: Any) -> str | None:
    if param.metavar is not None:
        return str(param.metavar)
    if getattr(param, "is_flag", False):
        return None
    descriptor = param.type_descriptor
    if descriptor.is_choice:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in descriptor.choices or ()) + "]"
    annotation = descriptor.annotation
    if get_origin(annotation) is list:
        (annotation,) = get_args(annotation)
    return _WORDS.get(annotation, "VALUE")


def _argument_word(param: Any, ctx: Any) -> str | None:
    return None  # the argument's name (its metavar) already stands in the first column


def _usage_name(param: Any) -> str:
    """FILE... for a required argument, [FILE] for an optional one (not Typer's {FILE})."""
    name = str(param.display_name_raw)
    if not param.required:
        name = f"[{name}]"
    if param.nargs != 1 and not name.endswith("..."):
        name += "..."
    return name


def install() -> None:
    core.TyperOption.display_type_rich = _value_word  # type: ignore[method-assign,assignment]
    core.TyperArgument.display_type_rich = _argument_word  # type: ignore[method-assign,assignment]
    core.TyperArgument._usage_display_name = _usage_name  # type: ignore[method-assign,assignment]
