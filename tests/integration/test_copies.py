"""A copy the worker sends (a retry, a dead letter) stays in the producer's X-Ray trace."""

from __future__ import annotations

from typing import TYPE_CHECKING

from consumer.aws.sqs import SqsQueue
from tests.integration.conftest import Queues

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

XRAY_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


async def _trace_header(sqs: SQSClient, url: str) -> str | None:
    raw = await sqs.receive_message(
        QueueUrl=url, MessageSystemAttributeNames=["AWSTraceHeader"], WaitTimeSeconds=1
    )
    [message] = raw["Messages"]
    return message.get("Attributes", {}).get("AWSTraceHeader")


async def test_a_retried_or_dead_lettered_copy_keeps_the_aws_trace_header(
    sqs: SQSClient, queues: Queues
) -> None:
    await sqs.send_message(
        QueueUrl=queues.url,
        MessageBody="{}",
        MessageSystemAttributes={
            "AWSTraceHeader": {"DataType": "String", "StringValue": XRAY_HEADER}
        },
    )
    queue = SqsQueue(sqs, queues.url, queues.dlq_url, visibility_timeout=30)
    [original] = await queue.receive(1, 1)
    assert original.aws_trace_header == XRAY_HEADER

    await queue.send(original.body, {"unlink-attempts": "1"}, delay=0, like=original)
    await queue.dead_letter(original.body, {"unlink-reason": "malformed"}, like=original)

    assert await _trace_header(sqs, queues.url) == XRAY_HEADER
    assert await _trace_header(sqs, queues.dlq_url) == XRAY_HEADER
