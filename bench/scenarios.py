"""Runs one load scenario: a stack, queues, seeded identities, workers, the feeder, then tallies.

Order of events: the stack starts (its own process) and seeds identities; the stack's ceiling is
measured when asked; counters are reset; the workers start and each makes its first receive
("ready": CPU and memory sampled); the feeder sends every command while keeping the queue
shallow; once everything is sent and the queue holds nothing (no visible, in-flight or delayed
message) the workers are sampled and stopped with SIGTERM; then the ledger, the request counts
and the DLQ are read.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bench import ceiling
from bench.aws import RawAws
from bench.config import Scenario
from bench.cpu_profile import Sampler
from bench.feeder import Feeder
from bench.procs import StackProcess, Usage, WorkerProcess, usage, worker_env
from bench.tenants import tenants
from bench.workload import APPLIED, Command, Mix, build
from bench.write_units import item_bytes
from consumer.local.admin_client import AdminClient
from consumer.local.ledger import LedgerSnapshot
from consumer.local.request_counts import RequestsJson

POLL_SECONDS = 0.25
READY_TIMEOUT_SECONDS = 60.0
RECEIVE = "AmazonSQS.ReceiveMessage"


@dataclass(slots=True)
class Run:
    """What one scenario run observed; `results` turns it into figures."""

    scenario: Scenario
    commands: list[Command]
    sent_at: list[float] = field(default_factory=list)
    first_send: float = 0.0
    done_at: float = 0.0
    timed_out: bool = False
    ready: list[Usage] = field(default_factory=list)
    warm: list[Usage] = field(default_factory=list)
    end: list[Usage] = field(default_factory=list)
    stack_start: Usage | None = None
    stack_end: Usage | None = None
    worker_requests: dict[str, int] = field(default_factory=dict)
    dynamodb_writes: dict[str, int] = field(default_factory=dict)  # by first clause (stack)
    largest_item: int = 0  # bytes: the largest item in the table at the end
    ledger: LedgerSnapshot | None = None
    dlq: list[tuple[str, str]] = field(default_factory=list)  # (body, unlink-reason)
    exit_codes: list[int] = field(default_factory=list)
    worker_errors: int = 0
    max_depth: int = 0
    ceiling: ceiling.Ceiling | None = None
    samplers: list[Sampler] = field(default_factory=list)  # --profile


async def _queues(aws: RawAws, scenario: Scenario) -> tuple[str, str]:
    name = f"bench-{scenario.name}-{uuid.uuid4().hex[:8]}"
    dlq = await aws.create_queue(f"{name}-dlq")
    redrive = {"deadLetterTargetArn": await aws.queue_arn(dlq), "maxReceiveCount": "10"}
    attributes = {
        "RedrivePolicy": json.dumps(redrive),
        "VisibilityTimeout": str(scenario.visibility_timeout_seconds),
    }
    return await aws.create_queue(name, attributes), dlq


async def _read_dlq(aws: RawAws, url: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    while True:
        messages = await aws.receive(url, 10, wait=0, visibility=600)
        if not messages:
            return found
        for message in messages:
            reason = message.get("MessageAttributes", {}).get("unlink-reason", {})
            found.append((message["Body"], str(reason.get("StringValue", "?"))))
        await aws.delete_batch(url, [m["ReceiptHandle"] for m in messages])


def _seed_and_build(admin: AdminClient, n: int, mix: Mix) -> list[Command]:
    developer, federated = mix.seeds(n)
    return build(n, mix, admin.seed(developer, federated))


async def _measure_ceiling(stack: StackProcess, admin: AdminClient, run: Run) -> None:
    scenario = run.scenario
    bodies = [c.body for c in _seed_and_build(admin, scenario.ceiling_n, Mix())]
    receivers = max(1, (scenario.queue_depth - 10) // 10)
    run.ceiling = await ceiling.measure(
        stack.endpoint_url, stack.pid, bodies, receivers, scenario.queue_depth
    )


def _start_workers(scenario: Scenario, env: dict[str, str], log_dir: Path) -> list[WorkerProcess]:
    return [
        WorkerProcess(env, log_dir / f"worker-{scenario.name}-{i}.log")
        for i in range(scenario.workers)
    ]


async def wait_ready(admin: AdminClient, workers: list[WorkerProcess]) -> None:
    """Returns once the stack served a receive per worker: every worker is polling."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while True:
        receives = (await asyncio.to_thread(admin.requests))["by_action"].get(RECEIVE, 0)
        if receives >= len(workers):
            return
        if not all(w.alive() for w in workers):
            raise RuntimeError("a worker exited before its first receive; see its log")
        if time.monotonic() > deadline:
            raise RuntimeError("the workers did not start polling in time; see their logs")
        await asyncio.sleep(0.1)


async def _drive(
    scenario: Scenario, aws: RawAws, admin: AdminClient, url: str, run: Run, pids: list[int]
) -> None:
    """Feeds every command and waits until the queue is empty (or the timeout)."""
    groups = tenants(len(run.commands)) if scenario.tenants else None
    feeder = Feeder(aws, url, [c.body for c in run.commands], scenario.queue_depth, groups=groups)
    feeding = asyncio.create_task(feeder.run())
    valid = sum(1 for c in run.commands if c.expect == APPLIED)
    warm_mark = max(1, valid // 10)
    deadline = time.monotonic() + scenario.timeout_seconds
    try:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            if feeding.done() and feeding.exception() is not None:
                raise RuntimeError(f"the feeder failed: {feeding.exception()!r}")
            if not run.warm:
                applied = (await asyncio.to_thread(admin.ledger, events=False))["applied_count"]
                if applied >= warm_mark:
                    run.warm = [usage(pid) for pid in pids]
            if feeder.done.is_set() and await aws.depth(url) == 0:
                break
            if time.monotonic() > deadline:
                run.timed_out = True
                break
    finally:
        run.done_at = time.time()
        feeding.cancel()
        await asyncio.gather(feeding, return_exceptions=True)
    run.sent_at, run.first_send = feeder.sent_at, feeder.first_send or run.done_at
    run.max_depth = feeder.max_depth_seen


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    keys = set(after) | set(before)
    return {
        k: after.get(k, 0) - before.get(k, 0)
        for k in sorted(keys)
        if after.get(k, 0) - before.get(k, 0)
    }


async def _count_requests(
    run: Run, admin: AdminClient, aws: RawAws, before: tuple[RequestsJson, dict[str, int]]
) -> None:
    """The requests the workers made since ``before`` (the stack's counts less the bench's)."""
    counted, own_before = before
    after = await asyncio.to_thread(admin.requests)
    own = _delta(dict(aws.counts), own_before)
    served = _delta(after["by_action"], counted["by_action"])
    run.worker_requests = {k: v - own.get(k, 0) for k, v in served.items()}
    run.dynamodb_writes = _delta(after["dynamodb_writes"], counted["dynamodb_writes"])


class Disruption(Protocol):
    """Trouble a scenario causes while it runs (see `bench.outage`)."""

    def settings(self, stack_env: dict[str, str]) -> dict[str, str]:
        """Worker environment to add (e.g. an endpoint that goes through a proxy)."""
        ...

    async def run(self, admin: AdminClient, pids: list[int]) -> None:
        """Runs beside the feeder from the moment the workers poll; cancelled at the end."""
        ...


def _samplers(scenario: Scenario, log_dir: Path, pids: list[int]) -> list[Sampler]:
    """With --profile, one CPU sampler per worker, from the first receive on (as the figures)."""
    if not scenario.profile:
        return []
    prefixes = [log_dir / f"profile-{scenario.name}-{i}" for i in range(len(pids))]
    return [Sampler(pid, p) for pid, p in zip(pids, prefixes, strict=True)]


async def run_load(scenario: Scenario, log_dir: Path, disruption: Disruption | None = None) -> Run:
    stack = StackProcess(
        log_dir / f"stack-{scenario.name}.log",
        scenario.latency_ms,
        scenario.quota,
        scenario.internal_error_rate,
    )
    workers: list[WorkerProcess] = []
    try:
        admin = AdminClient(stack.endpoint_url)
        admin.wait_ready(30)
        run = Run(scenario, _seed_and_build(admin, scenario.n, scenario.mix))
        if scenario.ceiling_n > 0:
            await _measure_ceiling(stack, admin, run)
        async with RawAws(stack.endpoint_url) as aws:
            url, dlq_url = await _queues(aws, scenario)
            settings = {"UNLINK_QUEUE_URL": url, "UNLINK_DLQ_URL": dlq_url}
            if scenario.store == "dynamodb":
                table = f"bench-idempotency-{uuid.uuid4().hex[:8]}"
                await aws.create_table(table)
                settings["UNLINK_IDEMPOTENCY_TABLE"] = table
            settings.update(scenario.worker_settings())
            if disruption is not None:
                settings.update(disruption.settings(stack.env))
            admin.reset_counters()
            workers = _start_workers(scenario, worker_env(stack.env, settings), log_dir)
            await wait_ready(admin, workers)
            pids = [w.pid for w in workers]
            run.samplers = _samplers(scenario, log_dir, pids)
            run.ready = [usage(pid) for pid in pids]
            run.stack_start = usage(stack.pid)
            before, own_before = admin.requests(), dict(aws.counts)
            trouble = asyncio.create_task(disruption.run(admin, pids)) if disruption else None
            try:
                await _drive(scenario, aws, admin, url, run, pids)
            finally:
                if trouble is not None:
                    trouble.cancel()
                    await asyncio.gather(trouble, return_exceptions=True)
            run.end = [usage(pid) for pid in pids]
            run.stack_end = usage(stack.pid)
            run.exit_codes = [w.stop() for w in workers]
            for sampler, end, ready in zip(run.samplers, run.end, run.ready, strict=False):
                sampler.finish(scenario.n, end.cpu_s - ready.cpu_s)  # none without --profile
            await _count_requests(run, admin, aws, (before, own_before))
            if "UNLINK_IDEMPOTENCY_TABLE" in settings:
                items = await aws.scan(settings["UNLINK_IDEMPOTENCY_TABLE"])
                run.largest_item = max((item_bytes(i) for i in items), default=0)
            run.ledger = admin.ledger(events=True)
            run.dlq = await _read_dlq(aws, dlq_url)
        run.worker_errors = sum(
            _count_errors(log_dir / f"worker-{scenario.name}-{i}.log")
            for i in range(scenario.workers)
        )
        return run
    finally:
        for worker in workers:
            worker.stop(5)
        stack.stop()


def _count_errors(log: Path) -> int:
    """Log lines at error level (the worker logs warnings and errors only in the bench)."""
    count = 0
    for line in log.read_text(errors="replace").splitlines():
        try:
            record: Any = json.loads(line)
        except ValueError:
            count += "Traceback" in line
            continue
        count += isinstance(record, dict) and record.get("level") in {"error", "critical"}
    return count
