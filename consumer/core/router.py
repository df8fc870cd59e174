"""Carries an outcome out on the queue: the only place outcomes become SQS calls.

Order matters for "no message lost": a copy (retry or DLQ) is sent and confirmed before the
original is deleted; if the send fails the original stays and comes back after its visibility.

A copy always fits its queue: a body near the size limit sheds attributes (`attributes.fit`),
and a retry whose own attributes would not fit keeps the message and hides it instead (the
budgets live in the claim record, so nothing is lost by not re-sending).
"""

from __future__ import annotations

import structlog

from consumer.core import attributes
from consumer.core.clock import Clock, SystemClock
from consumer.core.messages import Message, MessageQueue
from consumer.core.outcomes import Ack, DeadLetter, Outcome, Release, Retry
from consumer.core.receive_budget import ReceiveBudget

log = structlog.get_logger("consumer.core.router")


class Router:
    """Applies outcomes to one queue and its DLQ."""

    def __init__(
        self,
        queue: MessageQueue,
        receives: ReceiveBudget | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._queue = queue
        # FIFO only: hides stretched so SQS's redrive never takes a live command (receive_budget).
        self._receives = receives if queue.is_fifo else None
        self._clock = clock or SystemClock()

    def __repr__(self) -> str:
        return f"Router({self._queue!r}, {self._receives!r})"

    def _hide(self, message: Message, delay: int) -> int:
        if self._receives is None:
            return delay
        age = self._clock.time() - message.sent_timestamp_ms / 1000
        return self._receives.hide_seconds(delay, message.receive_count, age)

    async def apply(self, message: Message, outcome: Outcome) -> None:
        match outcome:
            case Ack():
                await self._queue.delete(message)
            case DeadLetter() as dead:
                wanted = attributes.dead_letter_copy(message, dead)
                room = await self._queue.room(message.body, dead_letter=True)
                copy = attributes.fit(wanted, room)
                if dropped := [k for k in wanted if k not in copy]:
                    log.warning("dead_letter_copy_trimmed", dropped=dropped, reason=dead.reason)
                await self._queue.dead_letter(message.body, copy, like=message)
                await self._queue.delete(message)
            case Retry(delay_seconds=delay) as retry:
                kept = await self._retry_copy(message, retry)
                if kept is None:
                    # FIFO (re-sending would reorder the group) or a body too large for the
                    # copy's attributes: keep the message and hide it instead.
                    await self._queue.change_visibility(message, self._hide(message, delay))
                    return
                await self._queue.send(message.body, kept, delay=delay, like=message)
                await self._queue.delete(message)
            case Release(delay_seconds=delay):
                await self._queue.change_visibility(message, self._hide(message, delay))

    async def _retry_copy(self, message: Message, retry: Retry) -> dict[str, str] | None:
        """The retry copy's attributes, or None when the retry must keep the message."""
        if self._queue.is_fifo:
            return None
        wanted = attributes.retry_copy(message, retry)
        copy = attributes.fit(wanted, await self._queue.room(message.body))
        if any(k not in copy for k in wanted if k in attributes.OWN_ATTRIBUTES):
            return None
        return copy
