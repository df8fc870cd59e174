"""`dlq redrive`: moves dead letters back to their queue once the cause is fixed.

Each copy is sent and accepted before its dead letter is deleted, so an interruption can
duplicate a command (which idempotency absorbs) but never lose one. Sends, deletes and
visibility changes go through the SQS adapter's batchers, as the worker's do; the attributes of
a copy come from the attribute codec (`attributes.redrive_copy`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from consumer.aws.batching import BatchEntryFailed, Batcher
from consumer.aws.sqs import (
    delete_batcher,
    entry_size,
    make_visible,
    receive,
    send_batcher,
    string_attributes,
)
from consumer.core import attributes
from consumer.core.messages import Message
from consumer.tools.progress import Progress

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

# Long enough for one batch to be sent back and deleted; an interrupted redrive's messages come
# back to the DLQ on their own after this.
REDRIVE_HIDE_SECONDS = 60
# `submit_many` sends at once; only an entry the service failed waits this long to go again.
LINGER_SECONDS = 0.02


@dataclass(slots=True)
class RedriveReport:
    """What a redrive did: copies accepted by the source queue, and dead letters left behind."""

    moved: int = 0
    not_sent: int = 0
    not_deleted: int = 0
    skipped: int = 0
    error: str | None = None  # why it stopped early; what was not moved is still in the DLQ


async def redrive(
    sqs: SQSClient, dlq_url: str, queue_url: str, reason: str | None, limit: int | None
) -> RedriveReport:
    """Moves dead letters (all, or those with ``reason``; at most ``limit``) to ``queue_url``.

    Messages this call holds hidden (not chosen, not sent, or in hand when it is interrupted)
    are made visible again on the way out; if even that fails they reappear on their own after
    the receive's visibility timeout.
    """
    depth = await sqs.get_queue_attributes(
        QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    total = int(depth.get("Attributes", {}).get("ApproximateNumberOfMessages", 0))
    progress = Progress(min(total, limit) if limit and reason is None else total, "redriving")
    mover = _Mover(sqs, queue_url, dlq_url, progress.message)
    report = RedriveReport()
    kept: list[Message] = []  # hidden by us and staying in the DLQ: shown again at the end
    in_hand: list[Message] = []
    try:
        while limit is None or report.moved < limit:
            want = 10 if limit is None else min(10, limit - report.moved)
            in_hand = await receive(sqs, dlq_url, want, 1, REDRIVE_HIDE_SECONDS)
            if not in_hand:
                break
            room = len(in_hand) if limit is None else limit - report.moved
            chosen = [m for m in in_hand if reason is None or _reason(m) == reason]
            chosen, over = chosen[:room], chosen[room:]
            skipped = [m for m in in_hand if m not in chosen]
            report.skipped += len(skipped) - len(over)
            kept.extend(skipped)
            if chosen:
                try:
                    failed, undeleted = await mover.move(chosen)
                except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
                    report.error = str(exc)
                    break
                kept.extend(failed)
                report.not_sent += len(failed)
                report.not_deleted += undeleted
                report.moved += len(chosen) - len(failed)
            in_hand = []
            progress.advance(len(chosen) if reason is None else len(chosen) + len(skipped))
    finally:
        progress.close()
        # Best effort: whatever is not shown again now reappears after its visibility timeout.
        with contextlib.suppress(Exception):
            await make_visible(sqs, dlq_url, kept + in_hand)
    return report


def _reason(message: Message) -> str | None:
    return attributes.read_dead_letter(message).reason


class _Mover:
    """Copies to the source queue, then deletes from the DLQ, each through its batcher."""

    def __init__(
        self, sqs: SQSClient, queue_url: str, dlq_url: str, note: Callable[[str], None]
    ) -> None:
        self._fifo = queue_url.endswith(".fifo")
        self._sends: Batcher = send_batcher(sqs, queue_url, "redrive-send", LINGER_SECONDS)
        self._deletes: Batcher = delete_batcher(sqs, dlq_url, LINGER_SECONDS)
        self._note = note

    def _entry(self, message: Message) -> tuple[dict[str, Any], int]:
        attrs = attributes.redrive_copy(message)
        entry: dict[str, Any] = {
            "MessageBody": message.body,
            "MessageAttributes": string_attributes(attrs),
        }
        if self._fifo:
            entry["MessageGroupId"] = message.group_id or "default"
            entry["MessageDeduplicationId"] = f"{message.message_id}-redrive"
        elif message.group_id is not None:
            entry["MessageGroupId"] = message.group_id  # a fair queue's tenant stays its own
        return entry, entry_size(message.body, attrs)

    async def move(self, messages: list[Message]) -> tuple[list[Message], int]:
        """Returns the messages not sent (still in the DLQ) and how many copies were sent but
        whose dead letter could not be deleted (a later redrive would duplicate them;
        idempotency absorbs that). A call that fails as a whole is raised."""
        results = await self._sends.submit_many([self._entry(m) for m in messages])
        sent: list[Message] = []
        failed: list[Message] = []
        for message, result in zip(messages, results, strict=True):
            if result is None:
                sent.append(message)
            elif isinstance(result, BatchEntryFailed):
                failed.append(message)
                self._note(f"not sent back, left in the DLQ: {message.message_id}: {result.code}")
            else:
                raise result
        deletes = await self._deletes.submit_many(
            [({"ReceiptHandle": m.receipt_handle}, 0) for m in sent]
        )
        undeleted = 0
        for result in deletes:
            if isinstance(result, BatchEntryFailed):
                undeleted += 1
            elif result is not None:
                raise result
        return failed, undeleted
