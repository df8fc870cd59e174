"""Runs a worker's `FleetMember` against the fleet item: one heartbeat a second, come what may.

The member decides; this module does the I/O. A heartbeat that fails keeps the last share; after
a few the worker steers on its own (`QuotaLimiter.detach`), its heartbeats back off to at most one
per ``max_backoff_seconds``, and the first one answered rejoins the fleet. A leader's change of
the fleet's rate is written at once rather than with the next heartbeat. Stopping cleanly removes
the worker's entry, so the others take its share at their next heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import structlog

from consumer.core.clock import Clock
from consumer.rate.member import FleetMember, FleetTable

log = structlog.get_logger("consumer.aws.fleet")


class FleetCoordinator:
    """Heartbeats a `FleetMember` through a `FleetTable` until cancelled."""

    def __init__(self, table: FleetTable, member: FleetMember, clock: Clock) -> None:
        self._table = table
        self.member = member
        self._clock = clock
        self.failures = 0
        self.requests = 0
        self._down_since: float | None = None
        self._listeners: list[Callable[[int, float | None, float | None], None]] = []

    def listen(self, listener: Callable[[int, float | None, float | None], None]) -> None:
        """Called after each answered heartbeat with (live workers, quota estimate, share)."""
        self._listeners.append(listener)

    def __repr__(self) -> str:
        return f"FleetCoordinator({self.member.member}, live={len(self.member.live)})"

    async def beat(self) -> bool:
        """One heartbeat; True when the table answered."""
        member = self.member
        outbox = member.outbox()
        self.requests += 1
        try:
            view = await self._table.beat(member.entry(), outbox.plan, outbox.remove)
        except Exception as exc:  # any failure of the table: keep going on the last share
            self._failed(exc)
            return False
        if self._down_since is not None:
            log.info(
                "fleet_table_rejoined",
                after_seconds=round(self._clock.monotonic() - self._down_since, 1),
            )
        self.failures, self._down_since = 0, None
        member.sent(outbox)
        if member.absorb(view):
            await self._publish()  # the leader changed the rate: written at once
        plan = member.plan.plan if member.plan is not None else None
        for listener in self._listeners:
            listener(len(member.live), plan.estimate if plan else None, member.limiter.share)
        return True

    async def _publish(self) -> None:
        member = self.member
        outbox = member.outbox()
        self.requests += 1
        try:
            await self._table.beat(member.entry(), outbox.plan, outbox.remove)
        except Exception as exc:  # the next heartbeat carries the decision instead
            self._failed(exc)
            return
        member.sent(outbox)  # the decision stands on the item the heartbeat returned

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        if self._down_since is None:
            self._down_since = self._clock.monotonic()
            log.warning("fleet_table_unreachable", error=type(exc).__name__)
        if self.failures == self.member.config.detach_after_failures:
            self.member.limiter.detach()

    def pause(self) -> float:
        """Seconds to the next heartbeat: longer while the table does not answer."""
        config = self.member.config
        if self.failures == 0:
            return config.heartbeat_seconds
        backoff = config.heartbeat_seconds * 2.0**self.failures
        return min(config.max_backoff_seconds, backoff)

    async def run(self) -> None:
        while True:
            await self.beat()
            await self._clock.sleep(self.pause())

    async def leave(self) -> None:
        """Removes this worker's entry, so the others take its share at their next heartbeat."""
        with contextlib.suppress(Exception):
            await self._table.leave(self.member.member)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[FleetCoordinator]:
        """Heartbeats in the background for the duration; leaves the fleet at the end."""
        task = asyncio.create_task(self.run(), name="fleet-heartbeat")
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self.leave()
