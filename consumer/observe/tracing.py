"""OpenTelemetry spans: one per command, in the producer's trace, with a client span per AWS call.

Imported only with `UNLINK_OTEL_TRACING` on (the `[otel]` extra). The spans go to the process's
global tracer provider, so they reach whatever the OpenTelemetry SDK of the process is set up to
export to (`opentelemetry-instrument`, or an SDK configured by the deployment); without a
configured SDK they cost next to nothing.

A command's span (kind CONSUMER, `process <queue>`) is the child of the span that sent the message
(W3C `traceparent` or X-Ray's `AWSTraceHeader`) and links to it, as the messaging conventions ask;
the claim's DynamoDB calls and the Cognito calls are its CLIENT children, timed by botocore's own
`before-call`/`after-call` events, so botocore's retries are inside them.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)

from consumer import __version__
from consumer.answers import error_code
from consumer.core.commands import Command
from consumer.core.messages import Message
from consumer.core.outcomes import DeadLetter, Outcome, Retry, outcome_label
from consumer.core.tracecontext import TraceParent

INSTRUMENTATION: Final = "cognito-unlink-consumer"
_SPAN: Final = "unlink_otel_span"  # in botocore's per-call context


def producer_context(trace_parent: TraceParent | None) -> SpanContext | None:
    """The sender's span as a remote span context; None without a span id to continue."""
    if trace_parent is None or trace_parent.span_id is None:
        return None
    flags = TraceFlags(TraceFlags.SAMPLED if trace_parent.sampled else TraceFlags.DEFAULT)
    return SpanContext(
        trace_id=int(trace_parent.trace_id, 16),
        span_id=int(trace_parent.span_id, 16),
        is_remote=True,
        trace_flags=flags,
    )


class _CommandSpan:
    """Opens the span as the current one on entry; ends it (with an exception, if any) on exit."""

    def __init__(self, tracer: trace.Tracer, name: str, message: Message) -> None:
        producer = producer_context(message.trace)
        parent = trace.set_span_in_context(NonRecordingSpan(producer)) if producer else None
        self._span = tracer.start_span(
            name,
            context=parent,
            kind=SpanKind.CONSUMER,
            links=[Link(producer)] if producer else None,
            attributes={
                "messaging.system": "aws_sqs",
                "messaging.operation.type": "process",
                "messaging.destination.name": name.removeprefix("process "),
                "messaging.message.id": message.message_id,
                "unlink.receive_count": message.receive_count,
            },
        )
        self._token: object | None = None

    def __enter__(self) -> _CommandSpan:
        self._token = otel_context.attach(trace.set_span_in_context(self._span))
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if error is not None:
            self._span.record_exception(error)
            self._span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        if self._token is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]
        self._span.end()

    def finished(self, outcome: Outcome, command: Command | None) -> None:
        span = self._span
        span.set_attribute("unlink.action", command.action_name() if command else "unknown")
        span.set_attribute("unlink.outcome", outcome_label(outcome))
        if command is not None and command.command_id is not None:
            span.set_attribute("unlink.command_id", command.command_id)
        if isinstance(outcome, DeadLetter):
            span.set_attribute("unlink.error", outcome.reason)
            span.set_status(Status(StatusCode.ERROR, outcome.reason))
        elif isinstance(outcome, Retry):
            span.set_attribute("unlink.error", outcome.error)


class OtelTracer:
    """The processor's `CommandTracer`, and the instrumentation of the AWS clients."""

    def __init__(self, queue_url: str, provider: trace.TracerProvider | None = None) -> None:
        self._tracer = trace.get_tracer(INSTRUMENTATION, __version__, tracer_provider=provider)
        self._name = f"process {queue_url.rstrip('/').rsplit('/', 1)[-1]}"

    def __repr__(self) -> str:
        return f"OtelTracer({self._name!r})"

    def command(self, message: Message) -> _CommandSpan:
        return _CommandSpan(self._tracer, self._name, message)

    def instrument(self, client: Any) -> None:
        """A CLIENT span per API call of ``client``, the child of the command being processed."""
        service = client.meta.service_model.service_id
        events = client.meta.events
        hyphenized = service.hyphenize()
        events.register(f"before-call.{hyphenized}", self._started(str(service)))
        events.register(f"after-call.{hyphenized}", self._ended)
        events.register(f"after-call-error.{hyphenized}", self._failed)

    def _started(self, service: str) -> Any:
        rpc_service = service.replace(" ", "")

        def started(context: dict[str, Any], model: Any = None, **_: Any) -> None:
            operation = str(getattr(model, "name", "unknown"))
            context[_SPAN] = self._tracer.start_span(
                f"{rpc_service}.{operation}",
                kind=SpanKind.CLIENT,
                attributes={
                    "rpc.system": "aws-api",
                    "rpc.service": rpc_service,
                    "rpc.method": operation,
                },
            )

        return started

    def _ended(self, context: dict[str, Any] | None = None, parsed: Any = None, **_: Any) -> None:
        span: Span | None = (context or {}).pop(_SPAN, None)
        if span is None:
            return
        # An error answer arrives here too (botocore raises ClientError after this event).
        code = error_code(parsed)
        if code is not None:
            span.set_attribute("aws.error_code", code)
            span.set_status(Status(StatusCode.ERROR, code))
        span.end()

    def _failed(
        self, context: dict[str, Any] | None = None, exception: Any = None, **_: Any
    ) -> None:
        span: Span | None = (context or {}).pop(_SPAN, None)
        if span is None:
            return
        if isinstance(exception, BaseException):
            span.record_exception(exception)
            span.set_status(Status(StatusCode.ERROR, type(exception).__name__))
        span.end()
