"""Secrets out of every log line, whoever wrote it.

Our own code never logs a provider token, but at debug level botocore logs each request's
parameters and body, and those carry `Logins` (provider tokens), `DeveloperUserIdentifier`
(personal data) and the session token header. The scrubber redacts the values of those keys
wherever they appear: in structured fields, and in text written as JSON or as a Python repr
(`"Logins": {"accounts.google.com": "..."}`, `'X-Amz-Security-Token': b'...'`). For `Logins` it
keeps the provider names, which say what was being unlinked, unless a name is too long to be one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any, Final

REDACTED: Final = "***"
# Keys whose whole value is a secret or personal data.
SECRET_KEYS: Final = frozenset(
    {
        "Logins",  # provider -> token; the provider names are kept
        "DeveloperUserIdentifier",
        "DeveloperUserIdentifierList",
        "SourceUserIdentifier",
        "DestinationUserIdentifier",
        "Token",
        "SecretKey",
        "SessionToken",
        "X-Amz-Security-Token",
        "aws_session_token",
        "aws_secret_access_key",
        "Authorization",  # names the access key id
    }
)
# A quoted string, in JSON or a Python repr, possibly escaped inside another string (`\"...\"`:
# botocore logs a received message's body inside the response body).
_STRING = r"""b?(?P<q>\\*["'])(?:\\.|(?!(?P=q)).)*?(?P=q)"""
_IN_TEXT = re.compile(
    r"""(?P<key>(?P<o>\\*["'])(?:"""
    + "|".join(re.escape(k) for k in sorted(SECRET_KEYS))
    + r""")(?P=o)\s*:\s*)(?P<value>"""
    + _STRING
    + r"""|\{[^{}]*\}|\[[^\[\]]*\])"""
)
# A map's entry: its key (kept when it can be a provider name), a colon, its value.
_MAP_ENTRY = re.compile(
    r"""(?P<kq>\\*["'])(?P<name>(?:\\.|(?!(?P=kq)).)*?)(?P=kq)(?P<sep>\s*:\s*)""" + _STRING
)
# The API's longest provider name: a longer `Logins` key is no provider name but, most likely,
# a token its producer swapped with its provider name.
MAX_PROVIDER_NAME: Final = 128
_ANY_STRING = re.compile(_STRING)


def _redact_value(match: re.Match[str]) -> str:
    value = match["value"]
    if value.startswith("{"):
        redacted = _MAP_ENTRY.sub(_redact_entry, value)
    elif value.startswith("["):
        redacted = _ANY_STRING.sub(lambda m: f"{m['q']}{REDACTED}{m['q']}", value)
    else:
        quote = match["q"]
        redacted = f"{quote}{REDACTED}{quote}"
    return match["key"] + redacted


def _redact_entry(match: re.Match[str]) -> str:
    name = match["name"] if len(match["name"]) <= MAX_PROVIDER_NAME else REDACTED
    return f"{match['kq']}{name}{match['kq']}{match['sep']}{match['q']}{REDACTED}{match['q']}"


def scrub_text(text: str) -> str:
    """The text with the values of secret keys redacted."""
    return _IN_TEXT.sub(_redact_value, text)


def scrub(value: Any) -> Any:
    """A structured value with secrets redacted: under secret keys, and inside strings."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {k: _scrub_item(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def _scrub_item(key: str, value: Any) -> Any:
    if key not in SECRET_KEYS:
        return scrub(value)
    if key == "Logins" and isinstance(value, Mapping):
        return {
            (name if len(str(name)) <= MAX_PROVIDER_NAME else REDACTED): REDACTED for name in value
        }
    return REDACTED


def processor(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: every field of every line, the standard library's included."""
    for key, value in event_dict.items():
        event_dict[key] = _scrub_item(key, value)
    return event_dict
