"""Idle: one worker on an empty queue, watched for a few long-poll wait periods.

Counts the receives the stack served and the CPU the worker spent between its first receive and
the end of the last period; both must stay flat however long the queue stays empty.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from bench.aws import RawAws
from bench.procs import StackProcess, WorkerProcess, usage, worker_env
from bench.scenarios import RECEIVE, wait_ready
from consumer.local.admin_client import AdminClient


async def run_idle(wait_seconds: int, periods: int, log_dir: Path) -> dict[str, Any]:
    stack = StackProcess(log_dir / "stack-idle.log")
    worker: WorkerProcess | None = None
    try:
        admin = AdminClient(stack.endpoint_url)
        admin.wait_ready(30)
        async with RawAws(stack.endpoint_url) as aws:
            name = f"bench-idle-{uuid.uuid4().hex[:8]}"
            dlq = await aws.create_queue(f"{name}-dlq")
            url = await aws.create_queue(name)
        settings = {
            "UNLINK_QUEUE_URL": url,
            "UNLINK_DLQ_URL": dlq,
            "UNLINK_WAIT_TIME_SECONDS": str(wait_seconds),
            "UNLINK_LOG_LEVEL": "warning",
            "UNLINK_LOG_FORMAT": "json",
        }
        worker = WorkerProcess(worker_env(stack.env, settings), log_dir / "worker-idle.log")
        await wait_ready(admin, [worker])
        before, counted = usage(worker.pid), admin.requests()["by_action"]
        await asyncio.sleep(wait_seconds * periods)
        after, requests = usage(worker.pid), admin.requests()["by_action"]
        exit_code = worker.stop()
    finally:
        if worker is not None:
            worker.stop(5)
        stack.stop()
    seconds = after.at - before.at
    served = {k: v - counted.get(k, 0) for k, v in requests.items() if v > counted.get(k, 0)}
    receives = served.pop(RECEIVE, 0)
    cpu = (after.cpu_s - before.cpu_s) / seconds
    return {
        "scenario": "idle",
        "wait_s": wait_seconds,
        "periods": periods,
        "seconds": round(seconds, 2),
        "cpu_pct": round(100 * cpu, 3),
        "cpu_ms": round(1000 * (after.cpu_s - before.cpu_s), 1),
        "receives": receives,
        "receives_per_period": round(receives / periods, 2),
        "other_requests": served,
        "rss_start_mb": round(before.rss_kb / 1024, 1),
        "rss_end_mb": round(after.rss_kb / 1024, 1),
        "worker_exit_codes": [exit_code],
        "correct": exit_code == 0,
    }
