"""SendMessageBatch entries keep their `MessageSystemAttributes`, as SQS keeps them.

moto's `send_message_batch` passes each entry's body, attributes, delay, group and
deduplication id on to `send_message` but drops its system attributes, so a batch-sent copy
loses the producer's `AWSTraceHeader` that a single `SendMessage` keeps. This puts them on the
messages the batch made (each carries its entry's `Id` as moto's `user_id`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final

from moto.sqs import models

_INSTALLED: Final = "_consumer_local_sqs_trace"
_lock = threading.Lock()


def _keeping_system_attributes(original: Callable[..., Any]) -> Callable[..., Any]:
    def send_message_batch(self: Any, queue_name: str, entries: dict[str, Any]) -> Any:
        messages, failed = original(self, queue_name, entries)
        wanted = {
            entry["Id"]: entry["MessageSystemAttributes"]
            for entry in entries.values()
            if entry.get("MessageSystemAttributes")
        }
        for message in messages:
            if (system := wanted.get(getattr(message, "user_id", None))) is not None:
                message.system_attributes = system
        return messages, failed

    return send_message_batch


def install() -> None:
    """Wraps moto's `send_message_batch` once per process; idempotent. Install before
    `sqs_serial`, which makes the whole wrapped operation atomic."""
    backend = models.SQSBackend
    with _lock:
        if getattr(backend, _INSTALLED, False):
            return
        backend.send_message_batch = _keeping_system_attributes(backend.send_message_batch)  # type: ignore[method-assign]
        setattr(backend, _INSTALLED, True)
