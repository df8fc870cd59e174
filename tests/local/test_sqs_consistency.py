"""The stack's SQS under concurrent senders, receivers and deleters: nothing lost, nothing twice.

moto's SQS is not thread-safe on its own (a delete rebuilds the queue from a snapshot, a receive
checks and marks in two steps); `consumer.local.moto_fixes.sqs_serial` makes each operation atomic.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import TYPE_CHECKING, Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

MESSAGES = 1500
SENDERS = 6
RECEIVERS = 6


async def _send(sqs: SQSClient, url: str, bodies: list[str]) -> None:
    for start in range(0, len(bodies), 10):
        entries: Any = [
            {"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies[start : start + 10])
        ]
        response = await sqs.send_message_batch(QueueUrl=url, Entries=entries)
        assert not response.get("Failed")


async def _receive(sqs: SQSClient, url: str, seen: Counter[str], sending: asyncio.Event) -> None:
    while True:
        got = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        messages = got.get("Messages", [])
        if not messages:
            if not sending.is_set():
                return
            continue
        seen.update(m["Body"] for m in messages)
        entries: Any = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
        ]
        response = await sqs.delete_message_batch(QueueUrl=url, Entries=entries)
        assert not response.get("Failed")


async def test_concurrent_sends_receives_and_deletes_lose_nothing(
    aws_env: dict[str, str],
) -> None:
    bodies = [f"message-{i}" for i in range(MESSAGES)]
    config = AioConfig(max_pool_connections=SENDERS + RECEIVERS + 2)
    async with get_session().create_client("sqs", region_name="us-east-1", config=config) as sqs:
        url = (
            await sqs.create_queue(QueueName="consistency", Attributes={"VisibilityTimeout": "300"})
        )["QueueUrl"]
        seen: Counter[str] = Counter()
        sending = asyncio.Event()
        sending.set()
        receivers = [
            asyncio.create_task(_receive(sqs, url, seen, sending)) for _ in range(RECEIVERS)
        ]
        share = len(bodies) // SENDERS + 1
        await asyncio.gather(
            *(_send(sqs, url, bodies[i * share : (i + 1) * share]) for i in range(SENDERS))
        )
        sending.clear()
        await asyncio.gather(*receivers)
        attributes = await sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
        await sqs.delete_queue(QueueUrl=url)
    assert set(seen) == set(bodies)  # none lost
    assert [b for b, n in seen.items() if n > 1] == []  # none handed out twice
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0"
    assert attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "0"  # none back
