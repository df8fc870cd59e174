"""The trace a message arrived in, so the worker's lines and spans continue the producer's trace.

Two carriers reach a queue: a W3C `traceparent` message attribute (OpenTelemetry producers) and
the `AWSTraceHeader` system attribute SQS sets for X-Ray (`Root=1-5759e988-bd862e3fe1be46a9...;
Parent=53995c3f42cd8ad8;Sampled=1`). Both name the same 128-bit trace id; it is kept in the W3C
form (32 lowercase hex digits), which OpenTelemetry uses and X-Ray accepts, whichever carrier
brought it. The explicit `traceparent` wins when both are present.

`CommandTracer` is the seam for spans: the processor opens one per command; without the [otel]
extra it is `NO_TRACER`, which costs nothing and imports nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from consumer.core.commands import Command
    from consumer.core.messages import Message
    from consumer.core.outcomes import Outcome

TRACEPARENT: Final = "traceparent"  # the W3C header, as a message attribute
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_XRAY_ROOT = re.compile(r"^1-([0-9a-f]{8})-([0-9a-f]{24})$")
_SPAN_ID = re.compile(r"^[0-9a-f]{16}$")
_INVALID_TRACE: Final = "0" * 32
_INVALID_SPAN: Final = "0" * 16


@dataclass(frozen=True, slots=True)
class TraceParent:
    """The producer's trace: its id, the span that sent the message (when known), sampling."""

    trace_id: str  # 32 lowercase hex digits
    span_id: str | None  # 16 lowercase hex digits
    sampled: bool


def from_traceparent(value: str) -> TraceParent | None:
    match = _TRACEPARENT.match(value.strip().lower())
    if match is None or match[1] == "ff" or match[2] == _INVALID_TRACE:
        return None
    span = match[3] if match[3] != _INVALID_SPAN else None
    return TraceParent(match[2], span, sampled=bool(int(match[4], 16) & 1))


def from_xray(value: str) -> TraceParent | None:
    fields = {}
    for part in value.split(";"):
        key, _, item = part.strip().partition("=")
        fields[key] = item.strip().lower()
    root = _XRAY_ROOT.match(fields.get("Root", ""))
    if root is None:
        return None
    parent = fields.get("Parent", "")
    span = parent if _SPAN_ID.match(parent) and parent != _INVALID_SPAN else None
    return TraceParent(root[1] + root[2], span, sampled=fields.get("Sampled") == "1")


def trace_of(traceparent: str | None, aws_trace_header: str | None) -> TraceParent | None:
    """The message's trace, or None when neither carrier holds a valid one."""
    if traceparent:
        found = from_traceparent(traceparent)
        if found is not None:
            return found
    if aws_trace_header:
        return from_xray(aws_trace_header)
    return None


class CommandSpan(Protocol):
    """The span of one command, open while the processor decides its outcome."""

    def __enter__(self) -> CommandSpan: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    def finished(self, outcome: Outcome, command: Command | None) -> None:
        """The decided outcome, and the command when the body was one."""
        ...


class CommandTracer(Protocol):
    def command(self, message: Message) -> CommandSpan:
        """A span for this message's command, in the producer's trace when it sent one."""
        ...


class _NoSpan:
    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None

    def finished(self, outcome: Outcome, command: Command | None) -> None:
        return None


class _NoTracer:
    _span: Final = _NoSpan()

    def command(self, message: Message) -> CommandSpan:
        return self._span


NO_TRACER: Final[CommandTracer] = _NoTracer()
