"""What waiting for a slot costs: one timer wake-up per granted call, none while held.

The clock here is virtual and its timers fire only when the test moves time on, so every
wake-up the limiter asks for is counted."""

from __future__ import annotations

import asyncio
import heapq
import itertools

import pytest

from consumer.rate.laws import LocalLaw
from consumer.rate.limiter import QuotaLimiter


class TimerClock:
    """Sleeps are timers on a virtual clock; `run_until` fires them in order."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.wakeups = 0  # timers that fired and woke a sleeper
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        timer: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + seconds, next(self._seq), timer))
        await timer

    async def run_until(self, end: float) -> None:
        while True:
            for _ in range(50):  # every task that can run does, before time moves on
                await asyncio.sleep(0)
            while self._timers and self._timers[0][2].done():
                heapq.heappop(self._timers)  # cancelled: the sleeper woke otherwise
            if not self._timers or self._timers[0][0] > end:
                self.now = end
                return
            at, _, timer = heapq.heappop(self._timers)
            self.now = at
            timer.set_result(None)
            self.wakeups += 1


async def _callers(
    limiter: QuotaLimiter, clock: TimerClock, count: int, granted: list[float]
) -> list[asyncio.Task[None]]:
    async def caller() -> None:
        while True:
            await limiter.acquire()
            granted.append(clock.monotonic())

    return [asyncio.create_task(caller()) for _ in range(count)]


@pytest.mark.parametrize("share", [25.0 / 3, 10.0 / 3, 0.5])
async def test_a_worker_waiting_for_slots_wakes_once_per_granted_call(share: float) -> None:
    # Three workers on a 25/s quota (and slower shares, down to the floor), 32 callers each
    # waiting: one timer per call, whatever the gap between slots.
    clock = TimerClock()
    limiter = QuotaLimiter(clock, local=LocalLaw())
    limiter.assign(share, plan_window=1)
    granted: list[float] = []
    tasks = await _callers(limiter, clock, 32, granted)
    await clock.run_until(clock.now + 60.0)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    # Half a second's calls at once at the start (catch-up from an idle gate), then the share.
    assert 60.0 * share <= len(granted) <= 60.5 * share + 2
    assert clock.wakeups <= len(granted)


async def test_a_caller_held_on_a_nil_share_sleeps_until_one_arrives() -> None:
    clock = TimerClock()
    limiter = QuotaLimiter(clock, local=LocalLaw())
    limiter.assign(0.0, plan_window=0, starting=True)
    granted: list[float] = []
    tasks = await _callers(limiter, clock, 32, granted)
    await clock.run_until(clock.now + 30.0)
    assert (clock.wakeups, granted) == (0, [])  # no timer at all while held
    limiter.assign(10.0, plan_window=1)  # the fleet takes over: the waiter goes at once
    await clock.run_until(clock.now)
    assert granted == [clock.now]
    await clock.run_until(clock.now + 10.0)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert len(granted) == pytest.approx(101, abs=1)
    assert clock.wakeups <= len(granted)


async def test_a_lowered_share_costs_one_wake_up_more_and_is_kept_to() -> None:
    clock = TimerClock()
    limiter = QuotaLimiter(clock, local=LocalLaw())
    limiter.assign(10.0, plan_window=1)
    granted: list[float] = []
    tasks = await _callers(limiter, clock, 4, granted)
    await clock.run_until(clock.now + 1.05)
    limiter.brake()  # a throttle: 9/s from here on
    before, wakeups = len(granted), clock.wakeups
    await clock.run_until(clock.now + 10.0)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert len(granted) - before == pytest.approx(90, abs=1)
    assert clock.wakeups - wakeups <= len(granted) - before + 1
