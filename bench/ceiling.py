"""The local stack's own ceiling: the worker's request pattern with no worker logic at all.

Receivers take ten messages at a time, make every message's Cognito call at once, and delete the
ten in one batch, while a feeder keeps the queue shallow: per command that is a tenth of a send,
a receive and a delete, and one unlink, the best any worker can do. Whatever rate this reaches is
what the stack (one Python process) can serve; the worker cannot beat it on this machine.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bench.aws import COGNITO, AwsError, RawAws
from bench.feeder import Feeder
from bench.procs import usage


@dataclass(frozen=True, slots=True)
class Ceiling:
    commands: int
    seconds: float
    commands_per_s: float
    requests_per_s: float
    stack_cpu_share: float  # of one core, while it ran
    receivers: int
    errors: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "commands": self.commands,
            "seconds": round(self.seconds, 2),
            "commands_per_s": round(self.commands_per_s, 1),
            "requests_per_s": round(self.requests_per_s, 1),
            "stack_cpu_pct": round(100 * self.stack_cpu_share, 1),
            "in_flight": self.receivers * 10,
            "errors": dict(self.errors),
        }


async def _unlink(aws: RawAws, body: str) -> str:
    payload = json.loads(body)
    operation = payload.pop("action")
    try:
        await aws.call(COGNITO, operation, payload)
    except AwsError as error:
        return error.code
    return "ok"


async def measure(
    endpoint_url: str, stack_pid: int, bodies: list[str], receivers: int = 8, depth: int = 200
) -> Ceiling:
    """Runs `bodies` (valid unlink commands) through the stack with `receivers` receive loops."""
    async with RawAws(endpoint_url, connections=receivers * 12 + 8) as aws:
        url = await aws.create_queue(f"bench-ceiling-{uuid.uuid4().hex[:8]}")
        feeder = Feeder(aws, url, bodies, depth)
        remaining = len(bodies)
        errors: Counter[str] = Counter()
        finished = asyncio.Event()

        async def receive_loop() -> None:
            nonlocal remaining, errors
            while remaining > 0:
                messages = await aws.receive(url, 10, wait=1)
                if not messages:
                    continue
                results = await asyncio.gather(*(_unlink(aws, m["Body"]) for m in messages))
                errors.update(r for r in results if r != "ok")
                await aws.delete_batch(url, [m["ReceiptHandle"] for m in messages])
                remaining -= len(messages)
                if remaining <= 0:
                    finished.set()

        start_usage = usage(stack_pid)
        start_counts = sum(aws.counts.values())
        started = time.monotonic()
        feeding = asyncio.create_task(feeder.run())
        loops = [asyncio.create_task(receive_loop()) for _ in range(receivers)]
        await finished.wait()
        seconds = time.monotonic() - started
        end_usage = usage(stack_pid)
        requests = sum(aws.counts.values()) - start_counts
        for task in [feeding, *loops]:
            task.cancel()
        await asyncio.gather(feeding, *loops, return_exceptions=True)
    cpu = (end_usage.cpu_s - start_usage.cpu_s) / max(1e-9, end_usage.at - start_usage.at)
    return Ceiling(
        commands=len(bodies),
        seconds=seconds,
        commands_per_s=len(bodies) / seconds,
        requests_per_s=requests / seconds,
        stack_cpu_share=cpu,
        receivers=receivers,
        errors=dict(errors),
    )
