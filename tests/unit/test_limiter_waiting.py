"""What waiting for a slot costs: one timer wake-up per granted call, none while held.

The clock is virtual (`worker_fakes.VirtualClock`): its sleeps end only when the test moves time
on, so every wake-up the limiter asks for is counted."""

from __future__ import annotations

import asyncio

import pytest

from consumer.rate.laws import LocalLaw
from consumer.rate.limiter import QuotaLimiter
from tests.unit.worker_fakes import VirtualClock


async def _callers(
    limiter: QuotaLimiter, clock: VirtualClock, count: int, granted: list[float]
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
    clock = VirtualClock()
    limiter = QuotaLimiter(clock, local=LocalLaw())
    limiter.assign(share, plan_window=1)
    granted: list[float] = []
    tasks = await _callers(limiter, clock, 32, granted)
    await clock.advance(60.0)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    # Half a second's calls at once at the start (catch-up from an idle gate), then the share.
    assert 60.0 * share <= len(granted) <= 60.5 * share + 2
    assert clock.wakeups <= len(granted)


async def test_a_caller_held_on_a_nil_share_sleeps_until_one_arrives() -> None:
    clock = VirtualClock()
    limiter = QuotaLimiter(clock, local=LocalLaw())
    limiter.assign(0.0, plan_window=0, starting=True)
    granted: list[float] = []
    tasks = await _callers(limiter, clock, 32, granted)
    await clock.advance(30.0)
    assert (clock.wakeups, granted) == (0, [])  # no timer at all while held
    limiter.assign(10.0, plan_window=1)  # the fleet takes over: the waiter goes at once
    await clock.advance(0.0)
    assert granted == [clock.now]
    await clock.advance(10.0)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert len(granted) == pytest.approx(101, abs=1)
    assert clock.wakeups <= len(granted)


async def test_a_lowered_share_costs_one_wake_up_more_and_is_kept_to() -> None:
    clock = VirtualClock()
    limiter = QuotaLimiter(clock, local=LocalLaw())
    limiter.assign(10.0, plan_window=1)
    granted: list[float] = []
    tasks = await _callers(limiter, clock, 4, granted)
    await clock.advance(1.05)
    limiter.brake()  # a throttle: 9/s from here on
    before, wakeups = len(granted), clock.wakeups
    await clock.advance(10.0)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert len(granted) - before == pytest.approx(90, abs=1)
    assert clock.wakeups - wakeups <= len(granted) - before + 1
