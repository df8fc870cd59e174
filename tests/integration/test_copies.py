"""What the queue adapter sends: copies that keep the producer's X-Ray trace, acks in batches."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, cast

from consumer.aws.sqs import SqsQueue
from consumer.core.messages import Message
from consumer.local.stack import LocalStack
from tests.integration.conftest import Queues

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

ACKS = 12
DELETES = "AmazonSQS.DeleteMessageBatch"
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


async def test_acks_at_a_quota_share_go_out_together_not_one_request_each(
    sqs: SQSClient, queues: Queues, stack: LocalStack
) -> None:
    """Eight acks a second (a worker's share of a 25/s quota) cost a few DeleteMessageBatch
    requests, not one each. Holds while the loop keeps more than two acks a second."""
    for i in range(0, ACKS, 10):
        entries = [{"Id": str(j), "MessageBody": "{}"} for j in range(i, min(ACKS, i + 10))]
        await sqs.send_message_batch(QueueUrl=queues.url, Entries=cast(Any, entries))
    queue = SqsQueue(sqs, queues.url, queues.dlq_url, visibility_timeout=30)
    received: list[Message] = []
    while len(received) < ACKS:
        received += await queue.receive(10, 1)
    before = stack.requests.snapshot()["by_action"].get(DELETES, 0)

    acks = []
    for message in received:
        acks.append(asyncio.create_task(queue.delete(message)))
        await asyncio.sleep(1 / 8)
    await asyncio.gather(*acks)

    assert stack.requests.snapshot()["by_action"].get(DELETES, 0) - before <= ACKS // 3
    depth = await queue.depth()
    assert (depth.visible, depth.in_flight) == (0, 0)
