"""`memory-soak`: the worker's own memory over a long stream, in one process, without the stack.

The `soak` scenario runs the real worker against the local stack, whose SQS carries a few hundred
commands a second on this machine: 200,000 commands would take the better part of an hour. This
runs the same loop in-process instead: the real `Worker`, `Processor`, `Router` and in-memory
store (at its default bound, shrunk with ``--memory-store-max``), over a queue that hands out new
messages as fast as they are asked for and an executor that succeeds at once. What it leaves out
is the AWS clients (aiobotocore's pools, botocore's caches), which `soak` and `hold` cover.

RSS is sampled at every tenth of the commands; the goal is no growth after the store is full:
RSS at the end within a few MB of RSS once the store has reached its bound.

    make bench ARGS="--scenario memory-soak -n 200000"
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from consumer.aws.idempotency import MemoryStore
from consumer.core.clock import SystemClock
from consumer.core.commands import Command
from consumer.core.messages import Message, QueueDepth
from consumer.core.policy import RetryPolicy
from consumer.core.processor import Processor
from consumer.core.router import Router
from consumer.core.visibility import lock_seconds
from consumer.core.worker import Worker, WorkerConfig

DEFAULT_N = 200_000
STORE_MAX = 50_000  # UNLINK_MEMORY_STORE_MAX_RECORDS's default
GROWTH_TARGET_MB = 5.0
POOL = "us-east-1:11111111-2222-3333-4444-555555555555"


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class StreamQueue:
    """A `MessageQueue` that hands out ``n`` fresh commands and forgets each once it is acked."""

    def __init__(self, n: int) -> None:
        self._left = n
        self._ids = itertools.count()
        self.acked = 0
        self.other = 0  # anything but an ack: a retry, a dead letter, a visibility change

    @property
    def is_fifo(self) -> bool:
        return False

    async def receive(self, max_messages: int, wait_seconds: int) -> list[Message]:
        await asyncio.sleep(0)
        count = min(max_messages, self._left)
        self._left -= count
        return [self._message(next(self._ids)) for _ in range(count)]

    def _message(self, i: int) -> Message:
        body = {
            "action": "UnlinkDeveloperIdentity",
            "IdentityId": f"us-east-1:{uuid.uuid4()}",
            "IdentityPoolId": POOL,
            "DeveloperProviderName": "login.bench",
            "DeveloperUserIdentifier": f"user-{i}",
        }
        now_ms = int(time.time() * 1000)
        return Message(f"m-{i}", f"r-{i}", json.dumps(body), 1, now_ms)

    async def delete(self, message: Message) -> None:
        self.acked += 1

    async def send(
        self, body: str, attributes: dict[str, str], *, delay: int, like: Message
    ) -> None:
        self.other += 1

    async def dead_letter(self, body: str, attributes: dict[str, str], *, like: Message) -> None:
        self.other += 1

    async def change_visibility(self, message: Message, seconds: int) -> None:
        self.other += 1

    async def room(self, body: str, *, dead_letter: bool = False) -> int:
        return 262_144 - len(body.encode())

    async def depth(self) -> QueueDepth:
        return QueueDepth(self._left, 0, 0)

    async def flush(self) -> None:
        return None


class Instant:
    """An `Executor` whose every call succeeds at once."""

    async def execute(
        self,
        command: Command,
        on_started: Callable[[], None] | None = None,
        *,
        throttled_before: int = 0,
    ) -> None:
        if on_started is not None:
            on_started()
        await asyncio.sleep(0)

    async def is_applied(self, command: Command, since: float) -> bool:
        return True


async def _run(n: int, store_max: int) -> dict[str, Any]:
    clock = SystemClock()
    queue = StreamQueue(n)
    store = MemoryStore(clock, 86_400, store_max)
    config = WorkerConfig(wait_time_seconds=0, visibility_timeout_seconds=30)
    processor = Processor(Instant(), store, RetryPolicy(), lock_seconds(30), clock=clock)
    worker = Worker(queue, processor, Router(queue), config, clock)
    samples: list[tuple[int, int]] = []  # (acked, RSS kB)
    running = asyncio.create_task(worker.run(until_idle=True))
    started = time.monotonic()
    step = max(1, n // 10)
    while not running.done():
        await asyncio.sleep(0.05)
        while queue.acked >= step * (len(samples) + 1):  # one sample per tenth passed
            gc.collect()
            samples.append((queue.acked, _rss_kb()))
    await running
    samples.append((queue.acked, _rss_kb()))
    return {
        "seconds": time.monotonic() - started,
        "acked": queue.acked,
        "other": queue.other,
        "samples": samples,
        "store_records": store.records,
    }


async def run_memory_soak(n: int | None = None, store_max: int = STORE_MAX) -> dict[str, Any]:
    count = n or DEFAULT_N
    # A line per command would measure the terminal; the worker's warnings still show.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    found = await _run(count, store_max)
    samples = found["samples"]
    full = next((kb for acked, kb in samples if acked >= store_max), samples[-1][1])
    end = samples[-1][1]
    growth = round((end - full) / 1024, 1)
    lost = count - found["acked"]
    return {
        "scenario": "memory-soak",
        "n": count,
        "store_max_records": store_max,
        "store_records_at_end": found["store_records"],
        "seconds": round(found["seconds"], 1),
        "acked": found["acked"],
        "not_acked": lost,
        "retried_or_dead_lettered": found["other"],
        "rss_mb_by_tenth": [round(kb / 1024, 1) for _, kb in samples],
        "rss_store_full_mb": round(full / 1024, 1),
        "rss_end_mb": round(end / 1024, 1),
        "rss_growth_after_full_mb": growth,
        "correct": lost == 0 and found["other"] == 0,
        "summary": (
            f"memory soak ({count} commands in-process, store bound {store_max}): RSS "
            f"{round(full / 1024, 1)} MB once the store is full -> {round(end / 1024, 1)} MB at "
            f"the end (+{growth}); by tenths {[round(kb / 1024) for _, kb in samples]} MB; "
            f"{found['store_records']} records kept; {found['seconds']:.0f} s"
        ),
        "own_targets": {
            "memory_growth": {
                "goal": f"RSS growth after the store is full <= {GROWTH_TARGET_MB:g} MB",
                "value": growth,
                "met": growth <= GROWTH_TARGET_MB,
            }
        },
    }
