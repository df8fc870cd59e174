"""Runs a worker's `FleetMember` against the fleet's table: one heartbeat a second, come what may.

The member decides; this module does the I/O. A heartbeat writes the worker's entry and reads the
plan; the leader, when the member asks, reads every worker's entry too, and writes a changed rate
or split at once rather than with the next heartbeat. A heartbeat that fails keeps the last
share; after a few the worker steers on its own (`QuotaLimiter.detach`), its heartbeats back off
to at most one per ``max_backoff_seconds``, and the first one answered joins the fleet again.
Stopping cleanly takes the worker off the roster, so the leader splits its share at once.
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
        self._down_since: float | None = None
        self._listeners: list[Callable[[int, float | None, float | None], None]] = []

    def listen(self, listener: Callable[[int, float | None, float | None], None]) -> None:
        """Called after each answered heartbeat with (live workers, quota estimate, share)."""
        self._listeners.append(listener)

    def __repr__(self) -> str:
        return f"FleetCoordinator({self.member.member}, workers={self.member.workers})"

    async def beat(self) -> bool:
        """One heartbeat; True when the table answered."""
        member = self.member
        try:
            outbox = member.outbox()
            board = await self._table.beat(member.entry(), outbox)
            if member.absorb(board, outbox) and member.lead(await self._table.members()):
                outbox = member.outbox()  # a changed rate or split: written at once
                member.absorb(await self._table.beat(member.entry(), outbox), outbox)
        except Exception as exc:  # any failure of the table: keep going on the last share
            self._failed(exc)
            return False
        if self._down_since is not None:
            log.info(
                "fleet_table_rejoined",
                after_seconds=round(self._clock.monotonic() - self._down_since, 1),
            )
        self.failures, self._down_since = 0, None
        plan = member.plan.plan if member.plan is not None else None
        for listener in self._listeners:
            listener(member.workers, plan.estimate if plan else None, member.limiter.share)
        return True

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        if self._down_since is None:
            self._down_since = self._clock.monotonic()
            log.warning("fleet_table_unreachable", error=type(exc).__name__)
        if self.failures == self.member.config.detach_after_failures:
            self.member.limiter.detach()
            self.member.rejoin()

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
        """Takes this worker off the roster, so the leader splits its share at once."""
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
