"""The worker's loop itself: an in-memory queue, a virtual clock, the real processor and router.

Every wait is virtual (see `worker_fakes.VirtualClock`), so grace periods, backoffs and visibility
timeouts are exact and a test runs in milliseconds. The same behaviours are tested through the
local stack in tests/integration (test_process, test_ordering).
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable
from typing import Any

from structlog.testing import capture_logs

from consumer.aws.idempotency import MemoryStore
from consumer.core import errors
from consumer.core.observer import NullObserver
from consumer.core.policy import Backoff, RetryPolicy
from consumer.core.processor import Processor
from consumer.core.router import Router
from consumer.core.visibility import lock_seconds
from consumer.core.worker import Worker, WorkerConfig, WorkerStats
from tests.unit.worker_fakes import MemoryQueue, Plan, TimedExecutor, VirtualClock, body_for


class Recorder(NullObserver):
    def __init__(self) -> None:
        self.in_flight_counts: list[int] = []
        self.receive_failures = 0

    def in_flight(self, count: int) -> None:
        self.in_flight_counts.append(count)

    def receive_failed(self) -> None:
        self.receive_failures += 1


class RenewalStore(MemoryStore):
    """The in-memory store, noting when each renewal was asked for; ``failing`` of them raise."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__(clock, 3600)
        self._at = clock
        self.renewed_at: list[float] = []
        self.failing = 0

    async def renew(self, key: str, lock_seconds: float) -> bool:
        self.renewed_at.append(self._at.monotonic() - 1_000.0)
        if self.failing:
            self.failing -= 1
            raise errors.StoreUnavailable("ServiceUnavailable")
        return await super().renew(key, lock_seconds)


class Rig:
    """One worker over one in-memory queue, on one virtual clock."""

    def __init__(self, *, fifo: bool = False, **config: Any) -> None:
        self.clock = VirtualClock()
        self.queue = MemoryQueue(self.clock, fifo=fifo)
        self.executor = TimedExecutor(self.clock)
        self.observer = Recorder()
        policy = RetryPolicy(backoff=Backoff(1, 1, rng=random.Random(1)))
        self.store = RenewalStore(self.clock)
        settings = {"wait_time_seconds": 20, "visibility_timeout_seconds": 60, **config}
        self.config = WorkerConfig(**settings)
        lock = lock_seconds(self.config.visibility_timeout_seconds)
        processor = Processor(self.executor, self.store, policy, lock, fifo=fifo)
        self.worker = Worker(
            self.queue,
            processor,
            Router(self.queue),
            self.config,
            self.clock,
            self.observer,
        )
        self.task: asyncio.Task[WorkerStats] | None = None

    def put(self, user: str, plan: Plan | None = None, group: str | None = None) -> str:
        if plan is not None:
            self.executor.plans[user] = plan
        return self.queue.put(body_for(user), group)

    def start(self, *, until_idle: bool = False) -> None:
        self.task = asyncio.create_task(self.worker.run(until_idle=until_idle))

    async def finish(self) -> WorkerStats:
        assert self.task is not None
        await self.clock.run_until(self.task.done)
        return self.task.result()

    async def run_until_idle(self) -> WorkerStats:
        self.start(until_idle=True)
        return await self.finish()

    def users_started(self) -> list[str]:
        return [user for user, _ in self.executor.started]

    def set_to(self, message_id: str) -> list[int]:
        """Every visibility the worker set on ``message_id``, in order."""
        return [seconds for mid, seconds, _ in self.queue.visibility if mid == message_id]


def deleted(rig: Rig, count: int) -> Callable[[], bool]:
    return lambda: len(rig.queue.deleted) == count


# -- capacity ---------------------------------------------------------------------------------


async def test_never_more_commands_in_flight_than_the_concurrency() -> None:
    rig = Rig(concurrency=4)
    for i in range(30):
        rig.put(f"u{i}", Plan(seconds=1 + i % 7))
    stats = await rig.run_until_idle()
    assert stats.outcomes["applied"] == 30
    assert max(rig.observer.in_flight_counts) == 4
    assert rig.executor.most_running == 4


async def test_a_busy_worker_waits_for_ten_free_slots_and_receives_full_batches() -> None:
    rig = Rig(concurrency=12)
    for i in range(40):
        rig.put(f"u{i}", Plan(seconds=1 + i))  # they finish one at a time
    seen: list[tuple[int, int]] = []
    rig.queue.on_receive = lambda asked: seen.append((asked, rig.worker.in_flight))
    stats = await rig.run_until_idle()
    assert stats.outcomes["applied"] == 40
    assert {asked for asked, _ in seen} == {10}
    assert all(12 - busy >= 10 for _, busy in seen)
    assert len(seen) <= 8  # four batches, then the empty polls that find it idle


async def test_a_backlog_is_received_by_two_long_polls_at_once_and_an_idle_queue_by_one() -> None:
    drained_in: dict[int, float] = {}
    for receives in (1, 2):
        rig = Rig(concurrency=32, receives=receives)
        rig.queue.latency["receive"] = 1.0  # a loaded queue: a second per receive
        for i in range(200):
            rig.put(f"u{i}", Plan(seconds=0.1))
        started = rig.clock.now
        rig.start()
        await rig.clock.run_until(deleted(rig, 200))
        drained_in[receives] = rig.clock.now - started
        assert rig.queue.most_open_receives == receives
        await rig.clock.advance(60)  # idle from here on: long polls only
        rig.queue.most_open_receives = 0
        await rig.clock.advance(60)
        assert rig.queue.most_open_receives == 1  # an idle worker keeps one long poll open
        rig.worker.stop()
        await rig.finish()
    # Ten commands per receive's second with one long poll, twenty with two.
    assert drained_in[1] >= 20
    assert drained_in[2] <= 0.6 * drained_in[1]


async def test_the_loop_receives_again_once_the_commands_it_waited_on_finish() -> None:
    # Two long polls took the backlog, the first waits for ten free slots, the other for a
    # backlog: a command that finishes wakes both, and neither may swallow the other's wake-up.
    for count in (21, 25, 32):
        rig = Rig(concurrency=32)
        for i in range(count):
            rig.put(f"u{i}", Plan(seconds=5.0))
        rig.start()
        await rig.clock.run_until(deleted(rig, count))
        later = [rig.put(f"later{i}") for i in range(3)]
        await rig.clock.advance(30)
        assert set(later) <= set(rig.queue.deleted), count
        rig.worker.stop()
        await rig.finish()


# -- shutdown ---------------------------------------------------------------------------------


async def test_stop_hands_back_unstarted_commands_at_once_and_lets_started_ones_finish() -> None:
    rig = Rig(concurrency=10)
    limiter = asyncio.Event()  # never opens: eight commands wait to start
    ids = {f"u{i}": rig.put(f"u{i}", Plan(seconds=10)) for i in range(2)}
    ids |= {f"u{i}": rig.put(f"u{i}", Plan(wait_to_start=limiter)) for i in range(2, 10)}
    rig.start()
    await rig.clock.run_until(lambda: len(rig.executor.started) == 2)
    stopped_at = rig.clock.now
    rig.worker.stop()
    stats = await rig.finish()

    given_back = {mid: (s, t) for mid, s, t in rig.queue.visibility if s == 0}
    assert set(given_back) == {ids[f"u{i}"] for i in range(2, 10)}
    assert {t for _, t in given_back.values()} == {stopped_at}  # at once, not after the others
    assert sorted(rig.queue.deleted) == sorted([ids["u0"], ids["u1"]])
    assert rig.users_started() == ["u0", "u1"]
    assert stats.outcomes == {"applied": 2, "released": 8}
    assert rig.queue.flushes >= 1
    assert rig.worker.in_flight == 0


async def test_a_batch_that_arrives_with_the_stop_goes_back_untouched() -> None:
    rig = Rig()
    ids = [rig.put(f"u{i}") for i in range(3)]
    rig.queue.on_receive = lambda _: rig.worker.stop()
    stats = await rig.run_until_idle()
    assert stats.received == 3
    assert sorted(rig.queue.visibility) == sorted((mid, 0, 1_000.0) for mid in ids)
    assert rig.executor.started == []


async def test_commands_still_running_after_the_grace_period_are_released() -> None:
    rig = Rig(grace_period_seconds=25)
    slow = rig.put("slow", Plan(seconds=100))
    rig.start()
    await rig.clock.run_until(lambda: len(rig.executor.started) == 1)
    stopped_at = rig.clock.now
    with capture_logs() as logs:
        rig.worker.stop()
        stats = await rig.finish()
    assert rig.clock.now == stopped_at + 25
    assert rig.executor.cancelled == ["slow"]
    assert rig.queue.visibility[-1] == (slow, 0, stopped_at + 25)
    assert stats.outcomes == {"released": 1}
    expired = [e for e in logs if e["event"] == "grace_period_expired"]
    assert [e["released"] for e in expired] == [1]


async def test_a_drain_never_cancels_an_outcome_being_routed() -> None:
    rig = Rig()
    rig.queue.latency["dead_letter"] = 10  # the DLQ has the copy; its answer is slow
    poison = rig.queue.put("{not json")
    rig.start()
    await rig.clock.run_until(lambda: len(rig.queue.dlq) == 1)
    rig.worker.stop()  # the command never called Cognito, but its outcome is decided
    stats = await rig.finish()
    assert len(rig.queue.dlq) == 1
    assert rig.queue.deleted == [poison]  # finished, not handed back for a second DLQ copy
    assert rig.set_to(poison) == []
    assert stats.outcomes == {"dead_lettered": 1}


async def test_the_grace_period_never_cancels_an_outcome_being_routed() -> None:
    rig = Rig(grace_period_seconds=25)
    rig.queue.latency["dead_letter"] = 10
    bad = rig.put("bad", Plan(seconds=20, fail=[errors.InvalidParameter("no such pool")]))
    rig.start()
    await rig.clock.run_until(lambda: len(rig.executor.started) == 1)
    stopped_at = rig.clock.now
    with capture_logs() as logs:
        rig.worker.stop()
        stats = await rig.finish()  # routing runs from +20 to +30, across the grace's end
    assert rig.clock.now == stopped_at + 30
    assert len(rig.queue.dlq) == 1
    assert rig.queue.deleted == [bad]
    assert rig.set_to(bad) == []
    assert stats.outcomes == {"dead_lettered": 1}
    assert not [e for e in logs if e["event"] == "grace_period_expired"]


# -- FIFO -------------------------------------------------------------------------------------


async def test_a_failing_group_head_holds_back_its_group_and_no_other() -> None:
    rig = Rig(fifo=True)
    ids = {
        "a0": rig.put("a0", Plan(fail=[errors.InternalError("blip")]), group="a"),
        "a1": rig.put("a1", group="a"),
        "a2": rig.put("a2", group="a"),
        "b0": rig.put("b0", group="b"),
        "b1": rig.put("b1", group="b"),
    }
    stats = await rig.run_until_idle()

    order = rig.users_started()
    assert [u for u in order if u.startswith("a")] == ["a0", "a0", "a1", "a2"]
    assert [u for u in order if u.startswith("b")] == ["b0", "b1"]
    assert order.index("b1") < order.index("a1")  # group b did not wait for group a's trouble
    starts = [t for u, t in rig.executor.started if u.startswith("a")]
    assert all(later - earlier >= 1 for earlier, later in itertools.pairwise(starts))
    # The held-back messages went back untouched, once, when the head failed.
    assert rig.set_to(ids["a1"]) == [0]
    assert rig.set_to(ids["a2"]) == [0]
    assert rig.set_to(ids["a0"]) == [1]  # the head's retry delay, not overwritten
    assert rig.set_to(ids["b0"]) == rig.set_to(ids["b1"]) == []
    assert stats.outcomes == {"applied": 5, "retried": 1}
    assert rig.queue.dlq == []


async def test_on_a_standard_queue_a_group_is_a_tenant_and_changes_nothing() -> None:
    """A fair queue (a MessageGroupId on a standard queue): no order, no hold-back, no release."""
    rig = Rig(fifo=False)
    ids = {
        "a0": rig.put("a0", Plan(seconds=5, fail=[errors.InternalError("blip")]), group="a"),
        "a1": rig.put("a1", group="a"),
        "a2": rig.put("a2", group="a"),
    }
    with capture_logs() as logs:
        stats = await rig.run_until_idle()

    starts = dict(rig.executor.started[:3])
    assert set(starts) == {"a0", "a1", "a2"}
    assert len(set(starts.values())) == 1  # all three ran at once, none waited for the head
    assert rig.set_to(ids["a1"]) == rig.set_to(ids["a2"]) == []  # never handed back
    assert stats.outcomes == {"applied": 3, "retried": 1}
    retried = [s for s in rig.queue.stored if s.message_id not in ids.values()]
    assert retried == []  # the retry copy ran and was deleted too
    lines = [e for e in logs if e["event"] == "command"]
    assert len(lines) == 4
    assert all(e.get("group") == "a" for e in lines)  # the tenant is on every line


async def test_a_drain_while_a_group_waits_finishes_the_head_and_gives_back_the_rest() -> None:
    rig = Rig(fifo=True)
    head = rig.put("a0", Plan(seconds=10), group="a")
    waiting = rig.put("a1", group="a")
    rig.start()
    await rig.clock.run_until(lambda: len(rig.executor.started) == 1)
    with capture_logs() as logs:
        rig.worker.stop()
        stats = await rig.finish()
    assert stats.outcomes == {"applied": 1, "released": 1}
    assert rig.queue.deleted == [head]
    assert rig.set_to(waiting) == [0]
    assert rig.worker.in_flight == 0
    assert not [e for e in logs if e["log_level"] == "error"]


# -- visibility -------------------------------------------------------------------------------


async def test_a_long_command_stays_hidden_and_each_extension_renews_its_lock() -> None:
    rig = Rig()
    slow = rig.put("slow", Plan(seconds=190))
    stats = await rig.run_until_idle()
    assert stats.outcomes == {"applied": 1}
    assert rig.users_started() == ["slow"]
    assert rig.queue.deleted == [slow]
    extended_at = [t - 1_000.0 for mid, s, t in rig.queue.visibility if mid == slow and s == 60]
    assert extended_at == [40.0, 80.0, 120.0, 160.0]
    # One pass renews the message and its command's lock together.
    assert rig.store.renewed_at == extended_at


async def test_a_renewal_that_fails_is_tried_again_on_the_next_pass() -> None:
    rig = Rig()
    rig.store.failing = 1  # the store does not answer the first renewal
    slow = rig.put("slow", Plan(seconds=100))
    with capture_logs() as logs:
        stats = await rig.run_until_idle()
    assert stats.outcomes == {"applied": 1}
    assert rig.queue.deleted == [slow]
    # The keeper looks every 10 s: the failed renewal at 40 is repeated at 50, then on the beat.
    assert rig.store.renewed_at == [40.0, 50.0, 80.0]
    assert [e["count"] for e in logs if e["event"] == "renewal_failed"] == [1]
    assert not [e for e in logs if e["event"] == "claim_lost"]


async def test_a_message_handed_back_is_never_extended_again() -> None:
    rig = Rig()
    rig.queue.latency["change_visibility"] = 15  # a slow SQS: the hand-back takes a while
    waiting = rig.put("waiting", Plan(wait_to_start=asyncio.Event()))
    rig.start()
    await rig.clock.advance(29)  # the keeper's next look (+40) falls inside the hand-back
    rig.worker.stop()
    await rig.finish()
    assert rig.set_to(waiting) == [0]
    stored = rig.queue.get(waiting)
    assert stored is not None
    assert stored.visible_at <= rig.clock.now  # visible again, not re-hidden


# -- receive errors ---------------------------------------------------------------------------


async def test_receive_errors_back_off_exponentially_up_to_the_cap_and_log_once_a_minute() -> None:
    rig = Rig(receive_backoff_max_seconds=60, outage_log_interval_seconds=60)
    rig.queue.receive_errors = [ConnectionError("sqs is down") for _ in range(12)]
    with capture_logs() as logs:
        await rig.run_until_idle()
    times = [t for _, t in rig.queue.receives]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert gaps[:12] == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60, 60, 60]
    failed = [(e["consecutive"], e["suppressed"]) for e in logs if e["event"] == "receive_failed"]
    # t = 0, 1, 3, 7, 15, 31 share one line; then a line per minute.
    assert failed == [(1, 0), (7, 5), (8, 0), (9, 0), (10, 0), (11, 0), (12, 0)]
    recovered = [e["after_failures"] for e in logs if e["event"] == "receive_recovered"]
    assert recovered == [12]
    assert rig.observer.receive_failures == 12


# -- liveness ---------------------------------------------------------------------------------


async def test_liveness_goes_stale_when_the_loop_is_wedged_though_commands_run() -> None:
    rig = Rig()
    rig.queue.wedge_receives_after = 1  # the second receive never answers
    slow = rig.put("slow", Plan(seconds=1_000))
    rig.start()
    await rig.clock.run_until(lambda: len(rig.queue.receives) == 2)
    wedged_at = rig.clock.now
    await rig.clock.advance(300)
    assert rig.worker.loop_heartbeat_at <= wedged_at
    assert rig.set_to(slow)  # the visibility keeper ran all along: it is not the loop
    rig.worker.stop()
    await rig.finish()


async def test_liveness_ticks_while_the_loop_waits_on_purpose() -> None:
    full = Rig(concurrency=1)
    full.put("slow", Plan(seconds=1_000))
    full.put("next")
    full.start()
    failing = Rig()
    failing.queue.receive_errors = [ConnectionError("down") for _ in range(100)]
    failing.start()
    for rig in (full, failing):
        await rig.clock.advance(300)
        assert rig.clock.now - rig.worker.loop_heartbeat_at <= rig.config.liveness_tick_seconds
        rig.worker.stop()
        await rig.finish()
    assert full.worker.stats.received == 1  # it was waiting for a slot all along
    assert failing.observer.receive_failures >= 5
