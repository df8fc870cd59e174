"""Keeps the messages the worker is still working on hidden from other consumers.

A command can outlast its message's visibility timeout (a rate-limiter wait, a slow call, a FIFO
group queue), and a message that reappears runs twice. The keeper wakes every sixth of the timeout
and extends any message with less than half of it left, so a live message never reappears while a
dead worker's messages reappear within one timeout.

A message that is handed back (visibility 0, or a FIFO retry's delay) must stop being extended
*before* the hand-back goes out, and an extension already on the wire must land first: otherwise
the extension would re-hide a message just given to another worker. `hand_back` does both.

``renew`` is an optional hook called for each message the keeper extends, so whatever else has to
stay alive as long as the message is hidden (its command's claim lock) is renewed on the same
beat, in the same pass: one periodic pass for every message in flight, not a task per message. A
renewal that fails is tried again on every pass until one lands.

The claim lock (`lock_seconds`) outlives the visibility by a little: the message and the lock are
renewed together, so a copy that reappears while its worker lives (an extension that failed)
still finds the lock held; yet when a worker dies, its lock is stale when a copy deferred by it
comes back (the first deferral is longer than the margin), so the command is taken over about one
visibility timeout after the death.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from consumer.core.clock import Clock
from consumer.core.messages import Message, MessageQueue

log = structlog.get_logger("consumer.core.visibility")

Renew = Callable[[Message], Awaitable[None]]

# Clock skew between hosts and the renewal's round trip; shorter than the first deferral of a copy
# that met the lock (at least half the backoff base, 2.5 s at the defaults).
LOCK_MARGIN_SECONDS = 2.0


def lock_seconds(visibility_seconds: int) -> float:
    """How long a claim's lock lasts from each renewal (see the module docstring)."""
    return visibility_seconds + LOCK_MARGIN_SECONDS


@dataclass(slots=True)
class _Kept:
    message: Message
    visible_until: float
    extending: asyncio.Future[None] | None = None
    renewal_owed: bool = False  # the last renewal failed: try again on the next pass


class VisibilityKeeper:
    """Extends the visibility of tracked messages until they are forgotten or handed back."""

    def __init__(
        self,
        queue: MessageQueue,
        clock: Clock,
        visibility_seconds: int,
        renew: Renew | None = None,
    ) -> None:
        self._queue = queue
        self._clock = clock
        self._visibility = visibility_seconds
        self._renew = renew
        self._kept: dict[str, _Kept] = {}

    def __repr__(self) -> str:
        return f"VisibilityKeeper(visibility={self._visibility}s, kept={len(self._kept)})"

    @property
    def interval(self) -> float:
        return max(1.0, self._visibility / 6)

    def track(self, message: Message) -> None:
        """A message just received: hidden for one visibility timeout from now."""
        self._kept[message.receipt_handle] = _Kept(
            message, self._clock.monotonic() + self._visibility
        )

    def forget(self, message: Message) -> None:
        """The message is finished (deleted, or its fate is no longer this worker's)."""
        self._kept.pop(message.receipt_handle, None)

    async def hand_back(self, message: Message) -> None:
        """Stops extending ``message`` and waits for an extension already sent to land."""
        kept = self._kept.pop(message.receipt_handle, None)
        if kept is not None and kept.extending is not None:
            await asyncio.wait({kept.extending})

    async def run(self) -> None:
        """Extends what is due, forever; the worker cancels it when it stops."""
        while True:
            await self._clock.sleep(self.interval)
            await self.extend_due()

    async def extend_due(self) -> None:
        now = self._clock.monotonic()
        due = [k for k in self._kept.values() if k.visible_until - now < self._visibility / 2]
        for kept in due:
            kept.extending = asyncio.ensure_future(
                self._queue.change_visibility(kept.message, self._visibility)
            )
        results = await asyncio.gather(
            *(k.extending for k in due if k.extending is not None), return_exceptions=True
        )
        failed = 0
        for kept, result in zip(due, results, strict=True):
            if isinstance(result, BaseException):
                failed += 1  # still due: the deadline it had is the one SQS keeps
            else:
                kept.visible_until = now + self._visibility
        if failed:
            log.warning("visibility_extension_failed", count=failed)
        if self._renew is not None:
            handles = {k.message.receipt_handle for k in due}
            owed = [
                k
                for k in self._kept.values()
                if k.renewal_owed and k.message.receipt_handle not in handles
            ]
            renewing = due + owed
            renewed = await asyncio.gather(
                *(self._renew(k.message) for k in renewing), return_exceptions=True
            )
            for kept, result in zip(renewing, renewed, strict=True):
                kept.renewal_owed = isinstance(result, BaseException)
            lost = sum(1 for r in renewed if isinstance(r, BaseException))
            if lost:
                log.warning("renewal_failed", count=lost)
