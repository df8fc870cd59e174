"""Decodes a message body: a raw command, or one wrapped by SNS or EventBridge.

Wrapping lets an account-deletion event be routed straight to the queue. The envelope's own id
never names the command: one event published twice gets two ids (two EventBridge events, two SNS
publishes) but is one unlink, so a command without a ``command_id`` is keyed by its effect.
"""

from __future__ import annotations

import json
from typing import Any

from consumer.core.commands import Command, parse_payload
from consumer.core.errors import MalformedCommand

MAX_BODY_BYTES = 1024 * 1024


def _is_sns(payload: dict[str, Any]) -> bool:
    return payload.get("Type") == "Notification" and "TopicArn" in payload and "Message" in payload


def _is_eventbridge(payload: dict[str, Any]) -> bool:
    return "detail-type" in payload and "source" in payload and "detail" in payload


def _unwrap(payload: Any) -> Any:
    """The command inside its envelopes; an EventBridge event published through SNS
    (rule -> topic -> queue) is unwrapped twice."""
    if not isinstance(payload, dict):
        return payload
    if _is_sns(payload):
        message = payload["Message"]
        if not isinstance(message, str):
            raise MalformedCommand("SNS Message: expected a JSON string")
        inner = _loads(message, "SNS Message")
        if isinstance(inner, dict) and _is_eventbridge(inner):
            return inner["detail"]
        return inner
    if _is_eventbridge(payload):
        return payload["detail"]
    return payload


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


def decode(body: str) -> Command:
    """Body text -> validated command, or `MalformedCommand` naming what is wrong."""
    # Characters first: a body this long in characters is too long in bytes without encoding it.
    if len(body) > MAX_BODY_BYTES or len(body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        raise MalformedCommand(f"body: larger than {MAX_BODY_BYTES} bytes")
    payload = _loads(body, "body")
    return parse_payload(_unwrap(payload))


def inner_payload(body: str) -> Any:
    """The command object inside a body, unvalidated, or None: for tools that describe messages
    (`dlq peek`) and must cope with the bodies that were dead-lettered for being malformed."""
    try:
        return _unwrap(json.loads(body))
    except (ValueError, RecursionError, MalformedCommand):
        return None
