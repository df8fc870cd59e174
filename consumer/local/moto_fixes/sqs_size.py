"""A message's size as SQS counts it: the body's UTF-8 bytes plus every message attribute.

SQS refuses a message whose body and attributes (each name, data type and value) together pass
the queue's `MaximumMessageSize` (at most 1 MiB), and a `SendMessageBatch` whose entries together
pass 1 MiB. moto counts the body's characters only, so a copy that adds attributes to a body near
the limit would pass here and be refused by SQS. This counts as SQS does.

Where the reference is silent the stack chooses: a batch entry that is too long on its own fails
alone (`InvalidParameterValue`, a sender fault), as SQS reports an invalid entry, while a batch too
long as a whole fails entirely (`BatchRequestTooLong`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final

from moto.sqs import models
from moto.sqs.constants import MAXIMUM_MESSAGE_LENGTH
from moto.sqs.exceptions import BatchRequestTooLong, InvalidParameterValue

_INSTALLED: Final = "_consumer_local_sqs_size"
_lock = threading.Lock()


def message_size(body: str, attributes: dict[str, Any] | None) -> int:
    """Bytes a message counts against its queue's limit."""
    size = len(body.encode())
    for name, value in (attributes or {}).items():
        size += len(name.encode()) + len(str(value.get("DataType", "")).encode())
        if "StringValue" in value:
            size += len(str(value["StringValue"]).encode())
        elif "BinaryValue" in value:
            size += len(value["BinaryValue"])
    return size


def _too_long(limit: int) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes."
    )


def _sized_send(original: Callable[..., Any]) -> Callable[..., Any]:
    def send_message(
        self: Any, queue_name: str, message_body: str, *args: Any, **kwargs: Any
    ) -> Any:
        limit = int(self.get_queue(queue_name).maximum_message_size)
        attributes = kwargs.get("message_attributes") or (args[0] if args else None)
        if message_size(message_body, attributes) > limit:
            raise _too_long(limit)
        return original(self, queue_name, message_body, *args, **kwargs)

    return send_message


def _sized_batch(original: Callable[..., Any]) -> Callable[..., Any]:
    def send_message_batch(self: Any, queue_name: str, entries: dict[str, Any]) -> Any:
        sizes = {
            key: message_size(entry["MessageBody"], entry.get("MessageAttributes"))
            for key, entry in entries.items()
        }
        if sum(sizes.values()) > MAXIMUM_MESSAGE_LENGTH:
            raise BatchRequestTooLong(sum(sizes.values()))
        limit = int(self.get_queue(queue_name).maximum_message_size)
        failed = [
            {
                "Id": entries[key]["Id"],
                "SenderFault": True,
                "Code": "InvalidParameterValue",
                "Message": _too_long(limit).message,
            }
            for key, size in sizes.items()
            if size > limit
        ]
        kept = {key: entry for key, entry in entries.items() if sizes[key] <= limit}
        if not kept:
            return [], failed
        messages, more_failed = original(self, queue_name, kept)
        return messages, [*failed, *more_failed]

    return send_message_batch


def install() -> None:
    """Wraps moto's send operations once per process; idempotent. Install before `sqs_serial`."""
    backend = models.SQSBackend
    with _lock:
        if getattr(backend, _INSTALLED, False):
            return
        backend.send_message = _sized_send(backend.send_message)  # type: ignore[method-assign]
        backend.send_message_batch = _sized_batch(backend.send_message_batch)  # type: ignore[method-assign]
        setattr(backend, _INSTALLED, True)
