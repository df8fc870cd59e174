"""Takes the constant factor out of moto's SQS without changing a single answer.

moto's SQS walks the whole queue on most requests, and slowly: every "now" builds two datetimes,
`get_queue_attributes` computes every attribute (three walks of the queue) once per requested
name and then once more per name, and `ReceiveMessage` asks for the retention period that way
for every message it hands out. At a few hundred messages that is tens of milliseconds of CPU
per receive, in a stack whose single Python process serves the worker, its store and its
Cognito calls. Three replacements, each answering exactly what moto's own would:

- `unix_time()` / `unix_time_millis()` without an argument read `time.time()`;
- `get_queue_attributes` computes the attributes once per call;
- the retention check reads the queue's retention period directly.

Requests still cost time in proportion to queue depth (the benchmark keeps queues shallow).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Final

from moto.sqs import models
from moto.sqs.exceptions import InvalidAttributeName

_INSTALLED: Final = "_consumer_local_sqs_speed"
_lock = threading.Lock()
_MODULE: Final = vars(models)
_BACKEND: Final = vars(models.SQSBackend)
# moto's own versions, for whoever wants to compare answers.
ORIGINALS: Final[dict[str, Callable[..., Any]]] = {
    "get_queue_attributes": _BACKEND["get_queue_attributes"],
    "is_message_valid_based_on_retention_period": _BACKEND[
        "is_message_valid_based_on_retention_period"
    ],
    "unix_time": _MODULE["unix_time"],
    "unix_time_millis": _MODULE["unix_time_millis"],
}


def unix_time(dt: Any = None) -> float:
    return time.time() if dt is None else float(ORIGINALS["unix_time"](dt))


def unix_time_millis(dt: Any = None) -> float:
    return unix_time(dt) * 1000.0


def get_queue_attributes(self: Any, queue_name: str, attribute_names: list[str]) -> dict[str, Any]:
    queue = self.get_queue(queue_name)
    if not attribute_names:
        return {}
    valid = ["All", *queue.BASE_ATTRIBUTES, *queue.FIFO_ATTRIBUTES, *queue.KMS_ATTRIBUTES]
    invalid = next((name for name in attribute_names if name not in valid), None)
    if invalid or invalid == "":
        raise InvalidAttributeName(invalid)
    computed: dict[str, Any] = queue.attributes
    if "All" in attribute_names:
        return computed
    return {name: computed[name] for name in attribute_names if computed.get(name) is not None}


def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
    retention_period = self.get_queue(queue_name).message_retention_period
    return bool(retention_period + message.sent_timestamp / 1000 > unix_time())


def install() -> None:
    """Patches moto's SQS models once per process; idempotent."""
    backend = models.SQSBackend
    with _lock:
        if getattr(backend, _INSTALLED, False):
            return
        replacements: dict[str, Callable[..., Any]] = {
            "get_queue_attributes": get_queue_attributes,
            "is_message_valid_based_on_retention_period": (
                is_message_valid_based_on_retention_period
            ),
        }
        for name in replacements:
            if not callable(getattr(backend, name, None)):
                raise RuntimeError(f"moto's SQSBackend no longer has {name}; drop this patch")
        setattr(models, "unix_time", unix_time)  # noqa: B010  # moto's module global
        setattr(models, "unix_time_millis", unix_time_millis)  # noqa: B010
        for name, replacement in replacements.items():
            setattr(backend, name, replacement)
        setattr(backend, _INSTALLED, True)
