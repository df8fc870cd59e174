"""Request field checks from the API reference (seed pages 002 and 003).

Every failure is an `InvalidParameterException` naming the field and the constraint, never the
value: `Logins` values are provider tokens, which are secrets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from consumer.local.errors import INVALID_PARAMETER, CognitoError

ID_PATTERN: Final = re.compile(r"[\w-]+:[0-9a-f-]+")
PROVIDER_NAME_PATTERN: Final = re.compile(r"[\w._-]+")
NEXT_TOKEN_PATTERN: Final = re.compile(r"\S+")
MAX_LOGINS: Final = 10


def _invalid(field: str, constraint: str) -> CognitoError:
    return CognitoError(
        INVALID_PARAMETER,
        f"1 validation error detected: Value at '{field}' failed to satisfy constraint: "
        f"{constraint}",
    )


def _check_string(value: Any, field: str, max_len: int, pattern: re.Pattern[str] | None) -> str:
    if not isinstance(value, str):
        raise _invalid(field, "Member must be a string")
    if not 1 <= len(value) <= max_len:
        raise _invalid(
            field, f"Member must have length greater than or equal to 1 and at most {max_len}"
        )
    if pattern is not None and not pattern.fullmatch(value):
        raise _invalid(field, f"Member must satisfy regular expression pattern: {pattern.pattern}")
    return value


def required_str(
    params: Mapping[str, Any], field: str, max_len: int, pattern: re.Pattern[str] | None = None
) -> str:
    """A required string field."""
    if params.get(field) is None:
        raise _invalid(field, "Member must not be null")
    return _check_string(params[field], field, max_len, pattern)


def optional_str(
    params: Mapping[str, Any], field: str, max_len: int, pattern: re.Pattern[str] | None = None
) -> str | None:
    """An optional string field: absent or null gives None."""
    if params.get(field) is None:
        return None
    return _check_string(params[field], field, max_len, pattern)


def identity_id(params: Mapping[str, Any], field: str = "IdentityId") -> str:
    """A required REGION:GUID identifier (IdentityId or IdentityPoolId)."""
    return required_str(params, field, 55, ID_PATTERN)


def provider_name(params: Mapping[str, Any], field: str = "DeveloperProviderName") -> str:
    """A required developer provider name."""
    return required_str(params, field, 128, PROVIDER_NAME_PATTERN)


def logins(params: Mapping[str, Any], field: str = "Logins", *, required: bool) -> dict[str, str]:
    """A provider-name → token map: at most 10 entries, key 1-128 and value 1-50,000 chars."""
    value = params.get(field)
    if value is None:
        if required:
            raise _invalid(field, "Member must not be null")
        return {}
    if not isinstance(value, dict):
        raise _invalid(field, "Member must be a map")
    if len(value) > MAX_LOGINS:
        raise _invalid(field, f"Member must have at most {MAX_LOGINS} entries")
    checked: dict[str, str] = {}
    for key, token in value.items():
        _check_string(key, f"{field}.key", 128, None)
        _check_string(token, f"{field}.value", 50_000, None)
        checked[key] = token
    return checked


def name_list(params: Mapping[str, Any], field: str) -> list[str]:
    """A required list of provider names, each 1-128 chars."""
    value = params.get(field)
    if value is None:
        raise _invalid(field, "Member must not be null")
    if not isinstance(value, list):
        raise _invalid(field, "Member must be a list")
    return [_check_string(item, f"{field}.member", 128, None) for item in value]


def id_list(params: Mapping[str, Any], field: str, max_items: int) -> list[str]:
    """A required list of 1 to ``max_items`` REGION:GUID identifiers."""
    value = params.get(field)
    if value is None:
        raise _invalid(field, "Member must not be null")
    if not isinstance(value, list):
        raise _invalid(field, "Member must be a list")
    if not 1 <= len(value) <= max_items:
        raise _invalid(
            field, f"Member must have length greater than or equal to 1 and at most {max_items}"
        )
    return [_check_string(item, f"{field}.member", 55, ID_PATTERN) for item in value]


def optional_int(params: Mapping[str, Any], field: str, low: int, high: int) -> int | None:
    """An optional integer within [low, high]."""
    value = params.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(field, "Member must be an integer")
    if not low <= value <= high:
        raise _invalid(
            field, f"Member must have value greater than or equal to {low} and at most {high}"
        )
    return value
