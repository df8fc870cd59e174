"""A received message and the queue it came from, as the core sees them (the seam SQS fills)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from consumer.core.tracecontext import TRACEPARENT, TraceParent, trace_of


@dataclass(frozen=True, slots=True)
class Message:
    """One received message, with the attributes the worker needs decoded."""

    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    sent_timestamp_ms: int
    group_id: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    aws_trace_header: str | None = None  # X-Ray's, an SQS system attribute

    @property
    def trace(self) -> TraceParent | None:
        """The trace the producer sent it in (a `traceparent` attribute or X-Ray's header)."""
        return trace_of(self.attributes.get(TRACEPARENT), self.aws_trace_header)

    @classmethod
    def from_sqs(cls, raw: Any) -> Message:
        system = raw.get("Attributes", {})
        attributes = {
            name: value["StringValue"]
            for name, value in raw.get("MessageAttributes", {}).items()
            if "StringValue" in value
        }
        return cls(
            message_id=raw["MessageId"],
            receipt_handle=raw["ReceiptHandle"],
            body=raw.get("Body", ""),
            receive_count=int(system.get("ApproximateReceiveCount", "1")),
            sent_timestamp_ms=int(system.get("SentTimestamp", "0")),
            group_id=system.get("MessageGroupId"),
            attributes=attributes,
            aws_trace_header=system.get("AWSTraceHeader"),
        )


@dataclass(frozen=True, slots=True)
class QueueDepth:
    visible: int
    in_flight: int
    delayed: int

    @property
    def empty(self) -> bool:
        return self.visible == self.in_flight == self.delayed == 0


class MessageQueue(Protocol):
    """What the worker and the router need from a queue."""

    @property
    def is_fifo(self) -> bool: ...

    async def receive(self, max_messages: int, wait_seconds: int) -> list[Message]: ...

    async def delete(self, message: Message) -> None: ...

    async def send(
        self, body: str, attributes: dict[str, str], *, delay: int, like: Message
    ) -> None: ...

    async def dead_letter(
        self, body: str, attributes: dict[str, str], *, like: Message
    ) -> None: ...

    async def change_visibility(self, message: Message, seconds: int) -> None: ...

    async def room(self, body: str, *, dead_letter: bool = False) -> int:
        """Bytes a copy of ``body`` has left for attributes on the queue (or its DLQ)."""
        ...

    async def depth(self) -> QueueDepth: ...

    async def flush(self) -> None: ...
