"""Decodes a message body: a raw command, or one wrapped by SNS or EventBridge.

Wrapping lets an account-deletion event be routed straight to the queue. The envelope's own id
becomes the command's id when the command has none, so a redelivered event is recognised.
"""

from __future__ import annotations

import json
from typing import Any

from consumer.core.commands import UnlinkDeveloperIdentity, UnlinkIdentity, parse_payload
from consumer.core.errors import MalformedCommand

MAX_BODY_BYTES = 1024 * 1024


def _is_sns(payload: dict[str, Any]) -> bool:
    return payload.get("Type") == "Notification" and "TopicArn" in payload and "Message" in payload


def _is_eventbridge(payload: dict[str, Any]) -> bool:
    return "detail-type" in payload and "source" in payload and "detail" in payload


def _unwrap(payload: Any) -> tuple[Any, str | None]:
    """The command inside, and the id of the innermost envelope (None for a raw command).

    An EventBridge event published through SNS (rule -> topic -> queue) is unwrapped twice; the
    event's id names it, since it stays the same when SNS delivers it again.
    """
    if not isinstance(payload, dict):
        return payload, None
    if _is_sns(payload):
        message = payload["Message"]
        if not isinstance(message, str):
            raise MalformedCommand("SNS Message: expected a JSON string")
        inner = _loads(message, "SNS Message")
        if isinstance(inner, dict) and _is_eventbridge(inner):
            return inner["detail"], _str_or_none(inner.get("id"))
        return inner, _str_or_none(payload.get("MessageId"))
    if _is_eventbridge(payload):
        return payload["detail"], _str_or_none(payload.get("id"))
    return payload, None


def _loads(text: str, what: str) -> Any:
    """JSON text -> value, or `MalformedCommand` saying why ``what`` is not JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedCommand(f"{what} is not JSON: {exc.msg}") from None
    except ValueError as exc:
        raise MalformedCommand(f"{what} is not JSON: {type(exc).__name__}") from None
    except RecursionError:
        raise MalformedCommand(f"{what} is not JSON: nested too deeply") from None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def decode(body: str) -> UnlinkDeveloperIdentity | UnlinkIdentity:
    """Body text -> validated command, or `MalformedCommand` naming what is wrong."""
    # Characters first: a body this long in characters is too long in bytes without encoding it.
    if len(body) > MAX_BODY_BYTES or len(body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        raise MalformedCommand(f"body: larger than {MAX_BODY_BYTES} bytes")
    payload = _loads(body, "body")
    inner, envelope_id = _unwrap(payload)
    if envelope_id is not None and isinstance(inner, dict) and "command_id" not in inner:
        inner = {**inner, "command_id": envelope_id}
    return parse_payload(inner)


def inner_payload(body: str) -> Any:
    """The command object inside a body, unvalidated, or None: for tools that describe messages
    (`dlq peek`) and must cope with the bodies that were dead-lettered for being malformed."""
    try:
        return _unwrap(json.loads(body))[0]
    except (ValueError, RecursionError, MalformedCommand):
        return None
