"""Command-line flags generated from the `Settings` model, so flags, help and settings cannot drift.

Each setting `foo_bar` is the flag `--foo-bar`; its help is the field's description, its default
and its environment variable. A bad value is reported under the name the user gave it: the flag
when it came from the command line, the variable otherwise.
"""

from __future__ import annotations

import argparse
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import AliasChoices, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from consumer.core.errors import ConfigurationError
from consumer.settings import Settings

ENV_PREFIX = str(Settings.model_config.get("env_prefix", ""))


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def env_names(name: str) -> list[str]:
    """The environment variables a setting is read from, in the order they are tried."""
    alias = Settings.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices):
        # The upper-case choices are variables; a lower-case one is the field's own name.
        return [c for c in alias.choices if isinstance(c, str) and c.isupper()]
    return [f"{ENV_PREFIX}{name.upper()}"]


def _plain(annotation: Any) -> tuple[Any, bool]:
    """The annotation without `| None`, and whether it allowed None."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return (args[0] if len(args) == 1 else str), True
    return annotation, False


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        return "computed"
    if field.default is PydanticUndefined:
        return "required"
    if field.default is None:
        return "unset"
    if isinstance(field.default, bool):
        return "on" if field.default else "off"
    return str(field.default)


def help_text(name: str) -> str:
    field = Settings.model_fields[name]
    description = (field.description or "").rstrip(".")
    variables = " or ".join(env_names(name))
    text = f"{description} (default: {_default(field)}; env {variables})"
    return text.replace("%", "%%")  # argparse formats help with %


def _kind(name: str) -> dict[str, Any]:
    """argparse's type, choices or action for the setting's annotation."""
    annotation, _ = _plain(Settings.model_fields[name].annotation)
    if typing.get_origin(annotation) is Literal:
        # Accepted in any case, as the environment variable is.
        return {"type": str.lower, "choices": list(typing.get_args(annotation))}
    if annotation is bool:
        return {"action": argparse.BooleanOptionalAction}
    metavar = "SECONDS" if name.endswith("_seconds") else "URL" if name.endswith("_url") else None
    if annotation in (int, float):
        return {"type": annotation, "metavar": metavar or "N"}
    return {"type": str, "metavar": metavar or name.rsplit("_", 1)[-1].upper()}


def add_setting(parser: argparse.ArgumentParser, name: str, **overrides: Any) -> None:
    """Adds `--name` for one setting (default None: not given, the environment decides)."""
    options: dict[str, Any] = {"dest": name, "default": None, "help": help_text(name)}
    parser.add_argument(flag(name), **(options | _kind(name) | overrides))


def add_settings(parser: argparse.ArgumentParser, skip: Iterable[str] = ()) -> None:
    """One flag per setting, in the model's order."""
    skipped = set(skip)
    for name in Settings.model_fields:
        if name not in skipped:
            add_setting(parser, name)


def given(args: argparse.Namespace) -> dict[str, Any]:
    """The settings set on the command line."""
    values = vars(args)
    return {n: values[n] for n in Settings.model_fields if values.get(n) is not None}


def load(flags: Mapping[str, Any]) -> Settings:
    """Settings from the environment with the flags on top; errors name what the user set."""
    try:
        return Settings(**flags)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        name = str(first["loc"][0]) if first["loc"] else ""
        if name in flags:
            where = flag(name)
        elif name in Settings.model_fields:
            where = env_names(name)[0]
        else:
            where = "settings"
        raise ConfigurationError(f"{where}: {first['msg']}") from None
