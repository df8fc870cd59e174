"""With UNLINK_OTEL_TRACING each command is a span in the producer's trace, its AWS calls client
spans below it (the SDK's in-memory exporter); without it nothing of OpenTelemetry is imported."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from consumer import app
from tests.conftest import make_table
from tests.integration.conftest import Pool, Queues, developer_command, developer_user
from tests.integration.worker_runner import settings_for
from tests.ops.conftest import run_python

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_sqs import SQSClient

PRODUCER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PRODUCER_SPAN = "00f067aa0ba902b7"


@pytest.fixture
def spans() -> InMemorySpanExporter:
    """Finished spans of the process's global tracer provider (set once, as an SDK would)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


def children_of(parent: ReadableSpan, spans: list[ReadableSpan]) -> list[ReadableSpan]:
    assert parent.context is not None
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


async def test_each_command_is_a_span_in_the_producers_trace(
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
    dynamodb: DynamoDBClient,
    queues: Queues,
    pool: Pool,
    spans: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    traced, untraced = [await developer_user(cognito, pool) for _ in range(2)]
    await sqs.send_message(
        QueueUrl=queues.url,
        MessageBody=json.dumps(developer_command(pool, traced, command_id="erase-1")),
        MessageAttributes={
            "traceparent": {
                "DataType": "String",
                "StringValue": f"00-{PRODUCER_TRACE}-{PRODUCER_SPAN}-01",
            }
        },
    )
    await sqs.send_message(
        QueueUrl=queues.url, MessageBody=json.dumps(developer_command(pool, untraced))
    )
    await sqs.send_message(QueueUrl=queues.url, MessageBody="not a command")
    monkeypatch.setattr(app, "install_signal_handlers", lambda worker: None)
    table = await make_table(dynamodb)
    settings = settings_for(queues.url, otel_tracing=True, idempotency_table=table)

    await app.run(settings, until_idle=True)

    finished = list(spans.get_finished_spans())
    commands = [s for s in finished if s.kind is SpanKind.CONSUMER]
    assert len(commands) == 3
    by_outcome = {str((s.attributes or {})["unlink.outcome"]): s for s in commands}
    applied = next(s for s in commands if (s.attributes or {}).get("unlink.command_id"))
    assert applied.context is not None
    assert format(applied.context.trace_id, "032x") == PRODUCER_TRACE
    assert applied.parent is not None
    assert format(applied.parent.span_id, "016x") == PRODUCER_SPAN
    assert applied.parent.is_remote
    assert [format(link.context.span_id, "016x") for link in applied.links] == [PRODUCER_SPAN]
    assert applied.name == f"process {queues.url.rsplit('/', 1)[-1]}"
    attributes = applied.attributes or {}
    assert attributes["messaging.system"] == "aws_sqs"
    assert attributes["unlink.action"] == "UnlinkDeveloperIdentity"
    assert attributes["unlink.outcome"] == "applied"
    # The claim (DynamoDB) and the unlink (Cognito) as client spans below the command's.
    calls = children_of(applied, finished)
    names = [c.name for c in calls]
    assert "CognitoIdentity.UnlinkDeveloperIdentity" in names
    assert any(name.startswith("DynamoDB.") for name in names)
    assert all(c.kind is SpanKind.CLIENT for c in calls)
    # A message sent without a trace starts one; a poison pill's span says why it failed.
    others = [s for s in commands if s is not applied]
    assert all(s.parent is None for s in others)
    dead = by_outcome["dead_lettered"]
    assert dead.status.status_code is StatusCode.ERROR
    assert (dead.attributes or {})["unlink.error"] == "malformed"


def test_without_the_setting_nothing_of_opentelemetry_is_imported() -> None:
    check = (
        "import sys; import consumer.cli, consumer.app; "
        "from consumer.observe import logs, metrics; "
        "loaded = sorted(m for m in sys.modules if m.startswith('opentelemetry')); "
        "print(loaded); sys.exit(1 if loaded else 0)"
    )
    result = run_python("-c", check)
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_the_extra_the_setting_names_the_extra() -> None:
    run = (
        "import sys; sys.modules['opentelemetry'] = None; "
        "from consumer.cli import main; "
        "sys.exit(main(['run', '--queue-url', 'https://sqs.us-east-1.amazonaws.com/1/q', "
        "'--dlq-url', 'https://sqs.us-east-1.amazonaws.com/1/d', '--otel-tracing', "
        "'--region', 'us-east-1']))"
    )
    result = run_python(
        "-c", run, env={"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "PATH": ""}
    )
    assert result.returncode == 2, result.stderr
    assert "cognito-unlink-consumer[otel]" in result.stderr
