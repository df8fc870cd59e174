"""`hold`: a fleet whose every slot is taken, waiting for its share of a quota to come round.

Three workers share the idempotency table and a known fleet quota so small (0.3 calls/s, and
each worker's own ceiling at its share) that almost nothing starts: each holds what its share lets
it hold and waits. What a worker spends
then is the price of waiting (limiter wake-ups, heartbeats, the visibility keeper's passes, lock
renewals), paid all day by a fleet at its quota. Sampled after a settling period, over a fixed
window: CPU per worker, wake-ups (voluntary context switches) and the requests served.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from bench.aws import RawAws
from bench.procs import StackProcess, WorkerProcess, usage, worker_env
from bench.scenarios import wait_ready
from bench.workload import Mix, build
from consumer.local.admin_client import AdminClient

WORKERS = 3
QUOTA = 0.3  # calls/s for the fleet: a share of 0.1/s each, one start every ten seconds
MESSAGES = 200  # more than the fleet can hold: every slot is taken, the rest stay queued
SETTLE_SECONDS = 10.0  # start-up and the first heartbeats, receives and claims
CPU_TARGET_PCT = 1.0


async def run_hold(window_seconds: float, log_dir: Path) -> dict[str, Any]:
    stack = StackProcess(log_dir / "stack-hold.log")
    workers: list[WorkerProcess] = []
    try:
        admin = AdminClient(stack.endpoint_url)
        admin.wait_ready(30)
        commands = build(MESSAGES, Mix(), admin.seed(*Mix().seeds(MESSAGES)))
        async with RawAws(stack.endpoint_url) as aws:
            name = f"bench-hold-{uuid.uuid4().hex[:8]}"
            dlq = await aws.create_queue(f"{name}-dlq")
            url = await aws.create_queue(name)
            table = f"bench-hold-{uuid.uuid4().hex[:8]}"
            await aws.create_table(table)
            bodies = [c.body for c in commands]
            for i in range(0, len(bodies), 10):
                await aws.send_batch(url, bodies[i : i + 10])
        settings = {
            "UNLINK_QUEUE_URL": url,
            "UNLINK_DLQ_URL": dlq,
            "UNLINK_IDEMPOTENCY_TABLE": table,
            "UNLINK_FLEET_RATE_LIMIT": str(QUOTA),
            # Each worker's own ceiling at its share: a fleet still finding its feet may send
            # more than a known quota for a while, and that would be work, not waiting.
            "UNLINK_RATE_LIMIT": str(QUOTA / WORKERS),
            "UNLINK_LOG_LEVEL": "warning",
            "UNLINK_LOG_FORMAT": "json",
        }
        env = worker_env(stack.env, settings)
        workers = [WorkerProcess(env, log_dir / f"worker-hold-{i}.log") for i in range(WORKERS)]
        await wait_ready(admin, workers)
        await asyncio.sleep(SETTLE_SECONDS)
        before = [usage(w.pid) for w in workers]
        counted = admin.requests()["by_action"]
        await asyncio.sleep(window_seconds)
        after = [usage(w.pid) for w in workers]
        requests = admin.requests()["by_action"]
        exit_codes = [w.stop() for w in workers]
    finally:
        for worker in workers:
            worker.stop(5)
        stack.stop()
    seconds = max(1e-9, after[0].at - before[0].at)
    served = {
        k.split(".", 1)[-1]: round((v - counted.get(k, 0)) / seconds / WORKERS, 3)
        for k, v in requests.items()
        if v > counted.get(k, 0)
    }
    cpu = [100 * (a.cpu_s - b.cpu_s) / seconds for a, b in zip(after, before, strict=True)]
    wakeups = [(a.wakeups - b.wakeups) / seconds for a, b in zip(after, before, strict=True)]
    worst = round(max(cpu), 3)
    return {
        "scenario": "hold",
        "workers": WORKERS,
        "fleet_quota_rps": QUOTA,
        "seconds": round(seconds, 1),
        "cpu_pct_per_worker": [round(c, 3) for c in cpu],
        "wakeups_per_s_per_worker": [round(w, 1) for w in wakeups],
        "requests_per_s_per_worker": served,
        "rss_mb": [round(a.rss_kb / 1024, 1) for a in after],
        "worker_exit_codes": exit_codes,
        "correct": all(code == 0 for code in exit_codes),
        "summary": (
            f"hold ({WORKERS} workers, fleet quota {QUOTA}/s, every slot taken, "
            f"{seconds:.0f} s): worker CPU {', '.join(f'{c:.2f}' for c in cpu)}% of a core; "
            f"wake-ups/s {', '.join(f'{w:.0f}' for w in wakeups)}; requests/s per worker "
            + ", ".join(f"{k} {v}" for k, v in sorted(served.items()))
        ),
        "own_targets": {
            "hold_cpu": {
                "goal": f"<= {CPU_TARGET_PCT:g}% of a core per worker while every slot waits",
                "value": worst,
                "met": worst <= CPU_TARGET_PCT,
            }
        },
    }
