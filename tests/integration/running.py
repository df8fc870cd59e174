"""The real worker run in the background against the local stack, for tests that change the
stack's faults between one attempt of a command and the next."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from consumer.app import build_worker
from consumer.aws.clients import open_clients
from consumer.core.worker import Worker, WorkerStats
from consumer.settings import Settings


@contextlib.asynccontextmanager
async def started(
    settings: Settings, *, until_idle: bool = False
) -> AsyncIterator[tuple[Worker, asyncio.Task[WorkerStats]]]:
    """The worker and its running task; a task still running on leaving is cancelled."""
    async with open_clients(settings) as clients:
        worker, _ = await build_worker(settings, clients)
        task = asyncio.create_task(worker.run(until_idle=until_idle))
        try:
            yield worker, task
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


@contextlib.asynccontextmanager
async def background(settings: Settings) -> AsyncIterator[Worker]:
    """A worker in drain mode; on leaving, waits for it to go idle (at most a minute)."""
    async with started(settings, until_idle=True) as (worker, task):
        yield worker
        await asyncio.wait_for(asyncio.shield(task), 60)


async def until(
    condition: Callable[[WorkerStats], bool], worker: Worker, limit_seconds: float = 60
) -> None:
    """Waits until the worker's stats satisfy ``condition``."""
    deadline = time.monotonic() + limit_seconds
    while not condition(worker.stats):
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {limit_seconds}s: {worker.stats}")
        await asyncio.sleep(0.05)


async def eventually(condition: Callable[[], bool], limit_seconds: float) -> None:
    """Waits until ``condition()`` holds, checking every 0.2 s."""
    deadline = time.monotonic() + limit_seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.2)
