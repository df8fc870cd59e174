"""Exactly-once effects across a fleet of worker processes, with duplicates and kill -9."""

from __future__ import annotations

import asyncio
import random
import signal
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from consumer.local.stack import LocalStack
from tests.conftest import make_table
from tests.integration.conftest import Queues, make_queues
from tests.integration.processes import start_worker, stop_all, worker_env
from tests.integration.scenario import (
    audit,
    build_mix,
    dlq_bodies,
    feed,
    wait_until_settled,
)

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_sqs import SQSClient

pytestmark = pytest.mark.slow
# Enough that three workers' receives, claims and duplicates overlap for many seconds and every
# kill below lands with calls in flight; the stack applies a few dozen a second, so a larger
# mix adds time, not cases (`make bench` runs the thousands).
COMMANDS = 300


async def test_three_workers_apply_every_command_exactly_once(
    sqs: SQSClient,
    dynamodb: DynamoDBClient,
    stack: LocalStack,
    aws_env: dict[str, str],
    tmp_path: Path,
) -> None:
    queues: Queues = await make_queues(sqs)
    table = await make_table(dynamodb)
    mix = build_mix(stack, COMMANDS, duplicate_share=0.2, bad_share=0.1)
    env = worker_env(aws_env, queues.url, idempotency_table=table, concurrency="16")
    workers = [start_worker(env, tmp_path / f"w{i}.log") for i in range(3)]
    try:
        await feed(sqs, queues.url, mix.bodies)
        seconds = await wait_until_settled(sqs, queues.url, stack, mix, 300)
    finally:
        stop_all(workers)
    result = audit(stack, mix, await dlq_bodies(sqs, queues.dlq_url))
    print(f"\nfleet: {result.line()} seconds={seconds:.1f}")
    assert [w.returncode for w in workers] == [0, 0, 0]
    assert result.applied_once == len(mix.valid)
    assert result.applied_twice == result.never_applied == 0
    assert result.valid_in_dlq == 0
    assert result.doomed_missing == 0
    # A dead letter absorbs nothing: every copy sent of a malformed or failing command reaches
    # the DLQ, and none twice.
    sent_twice = Counter(b for b in mix.bodies if b in mix.doomed)
    assert result.dlq_copies == sum(n - 1 for n in sent_twice.values())


async def test_kill_9_at_random_moments_loses_nothing_and_applies_nothing_twice(
    sqs: SQSClient,
    dynamodb: DynamoDBClient,
    stack: LocalStack,
    aws_env: dict[str, str],
    tmp_path: Path,
) -> None:
    queues: Queues = await make_queues(sqs)
    table = await make_table(dynamodb)
    mix = build_mix(stack, COMMANDS, duplicate_share=0.2, bad_share=0.05, seed=2)
    env = worker_env(
        aws_env,
        queues.url,
        idempotency_table=table,
        concurrency="16",
        visibility_timeout_seconds="5",
        call_timeout_seconds="2",
    )
    stack.faults.latency_s = 0.02  # calls in flight when the kill lands
    rng = random.Random(9)
    workers = [start_worker(env, tmp_path / f"w{i}.log") for i in range(2)]
    kills = 0
    feeder = asyncio.create_task(feed(sqs, queues.url, mix.bodies, max_depth=150))
    try:
        while kills < 10:
            await asyncio.sleep(rng.uniform(0.3, 1.2))
            victim = rng.randrange(len(workers))
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait(5)
            kills += 1
            workers[victim] = start_worker(env, tmp_path / f"w{victim}-{kills}.log")
        await feeder
        seconds = await wait_until_settled(sqs, queues.url, stack, mix, 300)
    finally:
        stack.faults.latency_s = 0.0
        feeder.cancel()
        stop_all(workers)
    result = audit(stack, mix, await dlq_bodies(sqs, queues.dlq_url))
    print(f"\nkill -9 x{kills}: {result.line()} seconds={seconds:.1f}")
    assert result.applied_once == len(mix.valid)
    assert result.applied_twice == result.never_applied == 0
    assert result.valid_in_dlq == 0
    assert result.doomed_missing == 0
