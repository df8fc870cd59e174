"""The loop while a dependency is down: it stops receiving, probes, and resumes by itself.

An hour-long Cognito outage runs in milliseconds on the virtual clock (see `worker_fakes`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass

from structlog.testing import capture_logs

from consumer.aws.idempotency import MemoryStore
from consumer.core import errors
from consumer.core.breaker import BreakerConfig, HealthGate
from consumer.core.commands import Command
from consumer.core.policy import Backoff, RetryPolicy
from consumer.core.processor import Processor
from consumer.core.receive_budget import ReceiveBudget
from consumer.core.router import Router
from consumer.core.worker import Worker, WorkerConfig
from tests.unit.worker_fakes import MemoryQueue, TimedExecutor, VirtualClock, body_for

OUTAGE_SECONDS = 3600.0


@dataclass
class FlakyCognito(TimedExecutor):
    """Every call fails with a dropped connection while `down` says so."""

    down: Callable[[], bool] = lambda: False

    async def execute(
        self,
        command: Command,
        on_started: Callable[[], None] | None = None,
        *,
        throttled_before: int = 0,
    ) -> None:
        await super().execute(command, on_started)
        if self.down():
            raise errors.NetworkFault("ConnectionClosedError")


async def test_an_hour_long_outage_pauses_the_loop_and_dead_letters_nothing() -> None:
    clock = VirtualClock()
    queue = MemoryQueue(clock)
    outage = {"from": clock.now + 30, "until": clock.now + 30 + OUTAGE_SECONDS}
    executor = FlakyCognito(clock, down=lambda: outage["from"] <= clock.now < outage["until"])
    gate = HealthGate(clock, BreakerConfig(failures=5, probe_min_seconds=2, probe_max_seconds=30))
    policy = RetryPolicy(max_attempts=3, backoff=Backoff(1, 4, rng=random.Random(1)))
    processor = Processor(executor, MemoryStore(clock, 86400), policy, 90, gate=gate, clock=clock)
    config = WorkerConfig(concurrency=8, wait_time_seconds=20, visibility_timeout_seconds=60)
    worker = Worker(queue, processor, Router(queue), config, clock, gate=gate)
    users = [f"user-{n}" for n in range(400)]
    for user in users:
        queue.put(body_for(user))

    with capture_logs() as logs:
        task = asyncio.create_task(worker.run(until_idle=True))
        await clock.run_until(lambda: clock.now >= outage["from"] + 60)
        assert gate.paused
        applied_before = sum(1 for _, at in executor.finished if at < outage["from"])
        receives_before, calls_before = len(queue.receives), len(executor.started)
        await clock.run_until(lambda: clock.now >= outage["until"] - 1)
        receives = len(queue.receives) - receives_before
        calls = len(executor.started) - calls_before
        await clock.run_until(task.done)
    resumed = clock.now - outage["until"]

    assert queue.dlq == []  # nothing dead-lettered, however long the outage
    applied = {user for user, _ in executor.finished} - set(executor.cancelled)
    assert applied == set(users)
    # While paused: one probe (one receive of one message, one call) per 30 s at most.
    probes = (OUTAGE_SECONDS - 60) / 30
    assert receives <= probes + 2
    assert calls <= probes + 2
    assert all(n == 1 for n, at in queue.receives if outage["from"] + 60 < at < outage["until"])
    assert [e["event"] for e in logs if e["event"].startswith("dependency_")] == [
        "dependency_down",
        "dependency_recovered",
    ]
    # Work resumed within one probe wait (30 s) of Cognito answering, and the backlog ran on.
    first_after = min(at for _, at in executor.finished if at >= outage["until"])
    assert first_after - outage["until"] <= 30 + 1
    assert resumed < 2 * (len(users) - applied_before) / 8 + 30


def test_a_fifo_message_keeps_receives_for_the_rest_of_its_life() -> None:
    budget = ReceiveBudget(max_receives=100, life_seconds=3 * 86400)
    assert budget.hide_seconds(5, receive_count=10, age_seconds=600) == 5  # early: unchanged
    # Half spent: the rest of the life shared by the receives left (one kept for the end).
    assert budget.hide_seconds(5, receive_count=50, age_seconds=86400) == int(2 * 86400 / 49)
    assert budget.hide_seconds(5, receive_count=99, age_seconds=0) == 12 * 3600  # SQS's cap
    assert budget.hide_seconds(5, receive_count=90, age_seconds=4 * 86400) == 5  # life is over


async def test_a_fifo_group_head_outlives_a_long_outage_without_sqs_redrive_taking_it() -> None:
    """Every probe while paused is one more receive of the FIFO head: the hides are stretched
    so it never reaches the queue's maxReceiveCount, and it is applied once Cognito is back."""
    clock = VirtualClock()
    queue = MemoryQueue(clock, fifo=True)
    max_receives, life = 20, 86400.0
    outage = {"from": clock.now, "until": clock.now + 2 * 3600}
    executor = FlakyCognito(clock, down=lambda: outage["from"] <= clock.now < outage["until"])
    gate = HealthGate(clock, BreakerConfig(failures=2, probe_min_seconds=2, probe_max_seconds=30))
    policy = RetryPolicy(max_attempts=3, backoff=Backoff(1, 4, rng=random.Random(1)))
    processor = Processor(
        executor, MemoryStore(clock, 4 * 86400), policy, 90, fifo=True, gate=gate, clock=clock
    )
    router = Router(queue, ReceiveBudget(max_receives, life), clock)
    config = WorkerConfig(concurrency=8, wait_time_seconds=20, visibility_timeout_seconds=60)
    worker = Worker(queue, processor, router, config, clock, gate=gate)
    for group in ("a", "b", "c"):
        queue.put(body_for(f"user-{group}"), group)

    most = 0

    def watch(_: int) -> None:
        nonlocal most
        most = max([most, *(s.receive_count for s in queue.stored)])

    queue.on_receive = watch
    task = asyncio.create_task(worker.run(until_idle=True))
    await clock.run_until(task.done, limit=life)

    assert most < max_receives  # SQS's redrive would have moved it at the next receive
    assert queue.dlq == []
    applied = {user for user, _ in executor.finished if user not in executor.cancelled}
    assert applied >= {"user-a", "user-b", "user-c"}
    assert clock.now - outage["until"] < life
