"""Renders docs/configuration.md from the `Settings` model: `make docs-config` rewrites the page.

The page is generated so it cannot drift from the model; `tests/unit/test_config_reference.py`
fails when the committed page and the model differ.
"""

from __future__ import annotations

import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal

from annotated_types import Ge, Gt, Le, Lt, MinLen
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from consumer.flags import env_names, flag
from consumer.settings import Settings

PAGE = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"

HEADER = """\
# Configuration reference

<!-- Generated from consumer/settings.py by `make docs-config`; do not edit by hand. -->

The worker reads its settings from `UNLINK_*` environment variables; each has a flag of
`unlink-consumer run` that overrides it (`UNLINK_CONCURRENCY=64` or `--concurrency 64`). A missing
or invalid value is one line naming the variable (or flag) and exit code 2. An `UNLINK_*` variable
the model does not know is named in one warning at start-up, with the closest known name.

The standard AWS variables set the region, credentials and endpoints (`AWS_REGION`,
`AWS_ENDPOINT_URL_SQS`, `AWS_ENDPOINT_URL_COGNITO_IDENTITY`, `AWS_ENDPOINT_URL_DYNAMODB`, ...).
Credentials are never settings.

| variable | flag | type | default | description |
| --- | --- | --- | --- | --- |
"""


def _type(annotation: Any) -> str:
    """`int`, `float or unset`, `one of json, console, auto`: the annotation as a reader says it."""
    optional = False
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        annotation = args[0] if len(args) == 1 else annotation
    if typing.get_origin(annotation) is Literal:
        text = "one of " + ", ".join(f"`{a}`" for a in typing.get_args(annotation))
    elif annotation is bool:
        text = "boolean"
    else:
        names = {"str": "string", "int": "integer", "float": "number", "SecretStr": "secret"}
        text = names.get(annotation.__name__, annotation.__name__)
    return f"{text} (optional)" if optional else text


def _bounds(field: FieldInfo) -> str:
    """The field's numeric and length constraints, e.g. `1 ≤ n ≤ 1000`."""
    parts: list[str] = []
    for rule in field.metadata:
        if isinstance(rule, Ge):
            parts.append(f"≥ {rule.ge}")
        elif isinstance(rule, Gt):
            parts.append(f"> {rule.gt}")
        elif isinstance(rule, Le):
            parts.append(f"≤ {rule.le}")
        elif isinstance(rule, Lt):
            parts.append(f"< {rule.lt}")
        elif isinstance(rule, MinLen):
            parts.append("non-empty" if rule.min_length == 1 else f"{rule.min_length}+ characters")
    return ", ".join(parts)


def _default(field: FieldInfo) -> str:
    if field.default is PydanticUndefined:
        return "required"
    if field.default is None:
        return "unset"
    if isinstance(field.default, bool):
        return f"`{str(field.default).lower()}`"
    return f"`{field.default}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render() -> str:
    """The whole page, one row per setting in the model's order."""
    rows = []
    for name, field in Settings.model_fields.items():
        variables = "<br>".join(f"`{v}`" for v in env_names(name))
        kind = _type(field.annotation)
        bounds = _bounds(field)
        if bounds:
            kind = f"{kind}, {bounds}"
        cells = [variables, f"`{flag(name)}`", kind, _default(field), field.description or ""]
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return HEADER + "\n".join(rows) + "\n"


def main() -> int:
    PAGE.write_text(render(), encoding="utf-8")
    print(f"wrote {PAGE.relative_to(Path.cwd()) if PAGE.is_relative_to(Path.cwd()) else PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
