"""The queue adapter: receive, ack, re-enqueue, dead-letter and visibility changes, all batched."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

from consumer.aws.ack_linger import AckLinger
from consumer.aws.batching import MAX_BATCH_BYTES, BatchEntryFailed, Batcher
from consumer.core.attributes import ATTEMPTS, size
from consumer.core.messages import Message, QueueDepth
from consumer.core.policy import SQS_MAX_DELAY_SECONDS

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient


def string_attributes(attributes: dict[str, str]) -> dict[str, Any]:
    """Plain name -> value pairs in SQS's MessageAttributes shape."""
    return {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()}


def entry_size(body: str, attributes: dict[str, str]) -> int:
    """What an entry counts against SendMessageBatch's byte limit (body and attributes)."""
    return len(body.encode()) + size(attributes)


async def receive(
    client: SQSClient, url: str, max_messages: int, wait_seconds: int, visibility: int
) -> list[Message]:
    """One ReceiveMessage with every attribute the worker and the tools read."""
    response = await client.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=max(1, min(10, max_messages)),
        WaitTimeSeconds=wait_seconds,
        VisibilityTimeout=visibility,
        MessageSystemAttributeNames=["All"],
        MessageAttributeNames=["All"],
    )
    return [Message.from_sqs(raw) for raw in response.get("Messages", [])]


# The batchers build entries as plain dicts; the typed stubs want TypedDicts.
def send_batcher(client: SQSClient, url: str, name: str, linger: float) -> Batcher:
    """SendMessageBatch to ``url``; entries are SendMessageBatch entries without their Id."""

    async def call(entries: list[dict[str, Any]]) -> dict[str, Any]:
        return dict(await client.send_message_batch(QueueUrl=url, Entries=cast(Any, entries)))

    return Batcher(call, name, linger)


def delete_batcher(client: SQSClient, url: str, linger: float) -> Batcher:
    """DeleteMessageBatch on ``url``; entries are ``{"ReceiptHandle": ...}``."""

    async def call(entries: list[dict[str, Any]]) -> dict[str, Any]:
        return dict(await client.delete_message_batch(QueueUrl=url, Entries=cast(Any, entries)))

    return Batcher(call, "delete", linger)


def visibility_batcher(client: SQSClient, url: str, linger: float) -> Batcher:
    """ChangeMessageVisibilityBatch on ``url``; entries: ReceiptHandle and VisibilityTimeout."""

    async def call(entries: list[dict[str, Any]]) -> dict[str, Any]:
        response = await client.change_message_visibility_batch(
            QueueUrl=url, Entries=cast(Any, entries)
        )
        return dict(response)

    return Batcher(call, "visibility", linger)


async def make_visible(client: SQSClient, url: str, messages: list[Message]) -> None:
    """Shows messages this process holds hidden again at once.

    A message that cannot be changed simply reappears when its visibility runs out; a call that
    fails as a whole is raised, so the caller can tell.
    """
    if not messages:
        return
    batcher = visibility_batcher(client, url, linger=0.02)
    results = await batcher.submit_many(
        [({"ReceiptHandle": m.receipt_handle, "VisibilityTimeout": 0}, 0) for m in messages]
    )
    for result in results:
        if result is not None and not isinstance(result, BatchEntryFailed):
            raise result


def _copy_entry(body: str, attributes: dict[str, str], like: Message) -> dict[str, Any]:
    """A copy of ``like`` with ``attributes``, still in the producer's X-Ray trace (SQS does not
    count the trace header against the message size)."""
    entry: dict[str, Any] = {
        "MessageBody": body,
        "MessageAttributes": string_attributes(attributes),
    }
    if like.aws_trace_header:
        entry["MessageSystemAttributes"] = {
            "AWSTraceHeader": {"DataType": "String", "StringValue": like.aws_trace_header}
        }
    return entry


class SqsQueue:
    """An SQS queue and its DLQ behind one long-lived aiobotocore client."""

    def __init__(
        self,
        client: SQSClient,
        queue_url: str,
        dlq_url: str,
        visibility_timeout: int,
        linger: float = 0.02,
    ) -> None:
        self._client = client
        self.queue_url = queue_url
        self.dlq_url = dlq_url
        self._visibility = visibility_timeout
        # Acks can wait for company (the message stays hidden meanwhile), the longer the rarer
        # they are (`AckLinger`); sends gate the delete of their original, so they wait less.
        self._deletes = delete_batcher(client, queue_url, linger * 5)
        self._ack_linger = AckLinger(linger * 5)
        self._sends = send_batcher(client, queue_url, "send", linger)
        self._dlq_sends = send_batcher(client, dlq_url, "dlq-send", linger)
        self._visibility_changes = visibility_batcher(client, queue_url, linger)
        self._limits: dict[str, int] = {}  # MaximumMessageSize by queue URL, read once

    def __repr__(self) -> str:
        return f"SqsQueue({self.queue_url!r}, dlq={self.dlq_url!r})"

    @property
    def is_fifo(self) -> bool:
        return self.queue_url.endswith(".fifo")

    async def receive(self, max_messages: int, wait_seconds: int) -> list[Message]:
        return await receive(
            self._client, self.queue_url, max_messages, wait_seconds, self._visibility
        )

    async def delete(self, message: Message) -> None:
        self._deletes.linger = self._ack_linger.next()
        await self._deletes.submit({"ReceiptHandle": message.receipt_handle})

    async def send(
        self, body: str, attributes: dict[str, str], *, delay: int, like: Message
    ) -> None:
        entry = _copy_entry(body, attributes, like)
        if self.is_fifo:
            # FIFO queues have no per-message delay; FIFO retries use visibility instead.
            entry["MessageGroupId"] = like.group_id or "default"
            entry["MessageDeduplicationId"] = f"{like.message_id}-{attributes.get(ATTEMPTS, 0)}"
        else:
            entry["DelaySeconds"] = max(0, min(SQS_MAX_DELAY_SECONDS, delay))
            if like.group_id is not None:
                entry["MessageGroupId"] = like.group_id  # a fair queue's tenant stays its own
        await self._sends.submit(entry, entry_size(body, attributes))

    async def dead_letter(self, body: str, attributes: dict[str, str], *, like: Message) -> None:
        entry = _copy_entry(body, attributes, like)
        if self.dlq_url.endswith(".fifo"):
            entry["MessageGroupId"] = like.group_id or "default"
            entry["MessageDeduplicationId"] = f"{like.message_id}-dlq"
        elif like.group_id is not None:
            entry["MessageGroupId"] = like.group_id
        await self._dlq_sends.submit(entry, entry_size(body, attributes))

    async def room(self, body: str, *, dead_letter: bool = False) -> int:
        limit = await self._limit(self.dlq_url if dead_letter else self.queue_url)
        return limit - len(body.encode())

    async def _limit(self, url: str) -> int:
        """The queue's MaximumMessageSize; SQS's own maximum while it cannot be read."""
        if url not in self._limits:
            try:
                response = await self._client.get_queue_attributes(
                    QueueUrl=url, AttributeNames=["MaximumMessageSize"]
                )
            except Exception:  # the copy's send will say what is wrong; assume SQS's bound
                return MAX_BATCH_BYTES
            size = response.get("Attributes", {}).get("MaximumMessageSize")
            self._limits[url] = int(size) if size else MAX_BATCH_BYTES
        return self._limits[url]

    async def change_visibility(self, message: Message, seconds: int) -> None:
        await self._visibility_changes.submit(
            {"ReceiptHandle": message.receipt_handle, "VisibilityTimeout": max(0, seconds)}
        )

    async def depth(self) -> QueueDepth:
        response = await self._client.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )
        attrs = response.get("Attributes", {})
        return QueueDepth(
            visible=int(attrs.get("ApproximateNumberOfMessages", 0)),
            in_flight=int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
            delayed=int(attrs.get("ApproximateNumberOfMessagesDelayed", 0)),
        )

    async def flush(self) -> None:
        for batcher in (self._sends, self._dlq_sends, self._visibility_changes, self._deletes):
            await batcher.flush()


async def redrive_max_receives(client: SQSClient, queue_url: str) -> int | None:
    """The queue's RedrivePolicy `maxReceiveCount`; None without one, or when it cannot be read
    (then nothing is stretched: the worker behaves as it would without a redrive policy)."""
    try:
        response = await client.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["RedrivePolicy"]
        )
        policy = response.get("Attributes", {}).get("RedrivePolicy")
        return int(json.loads(policy)["maxReceiveCount"]) if policy else None
    except Exception:  # the worker runs without it; the queue's own errors surface elsewhere
        return None


async def resolve_dlq_url(client: SQSClient, queue_url: str) -> str | None:
    """The DLQ named by the queue's RedrivePolicy, when there is one."""
    response = await client.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["RedrivePolicy", "QueueArn"]
    )
    policy = response.get("Attributes", {}).get("RedrivePolicy")
    if not policy:
        return None
    arn = json.loads(policy)["deadLetterTargetArn"]
    name = arn.rsplit(":", 2)
    owner, queue_name = name[-2], name[-1]
    url = await client.get_queue_url(QueueName=queue_name, QueueOwnerAWSAccountId=owner)
    return url["QueueUrl"]
