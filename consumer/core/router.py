"""Carries an outcome out on the queue: the only place outcomes become SQS calls.

Order matters for "no message lost": a copy (retry or DLQ) is sent and confirmed before the
original is deleted; if the send fails the original stays and comes back after its visibility.
"""

from __future__ import annotations

import datetime as dt

from consumer.core.attributes import (
    ATTEMPTS,
    DEFERRALS,
    DETAIL,
    FIRST_SEEN,
    LAST_ERROR,
    MAX_ATTRIBUTES,
    OWN_ATTRIBUTES,
    REASON,
    SOURCE_ID,
    THROTTLES,
)
from consumer.core.messages import Message, MessageQueue
from consumer.core.outcomes import Ack, Attempts, DeadLetter, Outcome, Release, Retry

MAX_DETAIL = 512


def _first_seen(message: Message) -> str:
    if FIRST_SEEN in message.attributes:
        return message.attributes[FIRST_SEEN]
    sent = dt.datetime.fromtimestamp(message.sent_timestamp_ms / 1000, tz=dt.UTC)
    return sent.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _carried(message: Message, ours: dict[str, str]) -> dict[str, str]:
    """Our bookkeeping plus the producer's own attributes, within SQS's ten."""
    theirs = {k: v for k, v in message.attributes.items() if k not in OWN_ATTRIBUTES}
    room = MAX_ATTRIBUTES - len(ours)
    return {**dict(list(theirs.items())[: max(0, room)]), **ours}


def _counts(attempts: Attempts) -> dict[str, str]:
    return {
        ATTEMPTS: str(attempts.failures),
        THROTTLES: str(attempts.throttles),
        DEFERRALS: str(attempts.deferrals),
    }


class Router:
    """Applies outcomes to one queue and its DLQ."""

    def __init__(self, queue: MessageQueue) -> None:
        self._queue = queue

    def __repr__(self) -> str:
        return f"Router({self._queue!r})"

    async def apply(self, message: Message, outcome: Outcome) -> None:
        match outcome:
            case Ack():
                await self._queue.delete(message)
            case DeadLetter(reason=reason, detail=detail, attempts=attempts):
                ours = {
                    REASON: reason,
                    DETAIL: (detail or reason)[:MAX_DETAIL],
                    ATTEMPTS: str(attempts.total + 1),
                    SOURCE_ID: message.attributes.get(SOURCE_ID, message.message_id),
                    FIRST_SEEN: _first_seen(message),
                }
                await self._queue.dead_letter(message.body, _carried(message, ours), like=message)
                await self._queue.delete(message)
            case Retry(delay_seconds=delay, error=error, attempts=attempts):
                if self._queue.is_fifo:
                    # Re-sending would reorder the group: keep the message and hide it instead.
                    await self._queue.change_visibility(message, delay)
                    return
                ours = {
                    **_counts(attempts),
                    LAST_ERROR: error,
                    SOURCE_ID: message.attributes.get(SOURCE_ID, message.message_id),
                    FIRST_SEEN: _first_seen(message),
                }
                await self._queue.send(
                    message.body, _carried(message, ours), delay=delay, like=message
                )
                await self._queue.delete(message)
            case Release(delay_seconds=delay):
                await self._queue.change_visibility(message, delay)
