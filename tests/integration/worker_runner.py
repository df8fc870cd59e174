"""Runs the real worker in-process against the local stack until the queue is idle."""

from __future__ import annotations

import asyncio
from typing import Any

from consumer.app import build_worker
from consumer.aws.clients import open_clients
from consumer.core.worker import WorkerStats
from consumer.settings import Settings

# A known quota far above what the stack serves: calls go unpaced, throttles change no rate.
UNPACED = 10_000.0


def settings_for(queue_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "queue_url": queue_url,
        "wait_time_seconds": 1,
        "backoff_base_seconds": 1,
        "backoff_max_seconds": 1,
        "visibility_timeout_seconds": 30,
        "log_format": "json",
        "region": "us-east-1",
        **overrides,
    }
    return Settings(**values)


async def run_until_idle(settings: Settings, limit_seconds: float = 90) -> WorkerStats:
    async with open_clients(settings) as clients:
        worker, _ = await build_worker(settings, clients)
        return await asyncio.wait_for(worker.run(until_idle=True), limit_seconds)
