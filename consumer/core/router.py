"""Carries an outcome out on the queue: the only place outcomes become SQS calls.

Order matters for "no message lost": a copy (retry or DLQ) is sent and confirmed before the
original is deleted; if the send fails the original stays and comes back after its visibility.
"""

from __future__ import annotations

from consumer.core import attributes
from consumer.core.messages import Message, MessageQueue
from consumer.core.outcomes import Ack, DeadLetter, Outcome, Release, Retry


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
            case DeadLetter() as dead:
                copy = attributes.dead_letter_copy(message, dead)
                await self._queue.dead_letter(message.body, copy, like=message)
                await self._queue.delete(message)
            case Retry(delay_seconds=delay) as retry:
                if self._queue.is_fifo:
                    # Re-sending would reorder the group: keep the message and hide it instead.
                    await self._queue.change_visibility(message, delay)
                    return
                copy = attributes.retry_copy(message, retry)
                await self._queue.send(message.body, copy, delay=delay, like=message)
                await self._queue.delete(message)
            case Release(delay_seconds=delay):
                await self._queue.change_visibility(message, delay)
