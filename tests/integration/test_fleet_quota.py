"""A fleet shares one quota through its table, and waiting for the quota is never a failure.

Real worker processes (`python -m consumer run`) against the local stack's token-bucket quota;
the rate decisions themselves are tested fast in tests/unit/test_fleet_rate.py.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from consumer.aws.cognito import CognitoExecutor
from consumer.local.stack import LocalStack
from tests.conftest import make_table
from tests.integration.conftest import Queues, make_queues
from tests.integration.limiters import RecordingLimiter, two_developer_commands
from tests.integration.processes import start_worker, stop_all, worker_env
from tests.integration.scenario import audit, build_mix, dlq_bodies, feed, wait_until_settled

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_sqs import SQSClient


async def test_a_retry_waiting_longer_than_the_call_timeout_for_its_slot_is_no_failure(
    clean_faults: LocalStack, aws_env: dict[str, str]
) -> None:
    stack = clean_faults
    _, commands = two_developer_commands(stack)
    # The retry's wait for its slot is a second longer than the call timeout, which leaves each
    # HTTP attempt 2 s: a loaded machine may take a second to answer, never two.
    limiter = RecordingLimiter(wait_s=3.0)
    # A token per 2.5 s (a quota of its own: the stack keeps a bucket per quota setting).
    stack.faults.quota_rps, stack.faults.quota_burst = 0.4, 1.0
    config = AioConfig(retries={"mode": "standard", "total_max_attempts": 2})
    async with get_session().create_client(
        "cognito-identity", region_name="us-east-1", config=config
    ) as client:
        executor = CognitoExecutor(client, limiter, timeout_seconds=2.0)
        await executor.execute(commands[0])  # takes the bucket's only token
        # Throttled at once; its retry waits 3 s for the limiter, past the 2 s call timeout,
        # then gets through: the timeout bounds the HTTP attempts, not the wait for the quota.
        await executor.execute(commands[1])
    assert limiter.throttles == 1
    assert limiter.successes == 2


def fleet_view(env: dict[str, str]) -> dict[str, object]:
    shown = subprocess.run(
        [sys.executable, "-m", "consumer", "fleet", "--json"],
        env=env,
        capture_output=True,
        check=True,
        timeout=30,
    )
    view: dict[str, object] = json.loads(shown.stdout)
    return view


@pytest.mark.slow
async def test_three_workers_share_one_quota_through_the_table(
    sqs: SQSClient,
    dynamodb: DynamoDBClient,
    clean_faults: LocalStack,
    aws_env: dict[str, str],
    tmp_path: Path,
) -> None:
    stack = clean_faults
    stack.faults.quota_rps, stack.faults.latency_s = 25.0, 0.02
    queues: Queues = await make_queues(sqs)
    table = await make_table(dynamodb)
    mix = build_mix(stack, 300, duplicate_share=0.0, bad_share=0.0, seed=7)
    env = worker_env(aws_env, queues.url, idempotency_table=table, concurrency="16")
    before = stack.ledger.calls()
    workers = [start_worker(env, tmp_path / f"w{i}.log") for i in range(3)]
    try:
        started = time.monotonic()
        await feed(sqs, queues.url, mix.bodies)
        await asyncio.sleep(max(0.0, 4.0 - (time.monotonic() - started)))
        during = await asyncio.to_thread(fleet_view, env)
        seconds = await wait_until_settled(sqs, queues.url, stack, mix, 120)
    finally:
        stop_all(workers)
    calls = stack.ledger.calls() - before
    unlinks = sum(n for (op, _), n in calls.items() if op == "UnlinkDeveloperIdentity")
    unlinks += sum(n for (op, _), n in calls.items() if op == "UnlinkIdentity")
    throttled = sum(n for (_, outcome), n in calls.items() if outcome == "TooManyRequestsException")
    result = audit(stack, mix, await dlq_bodies(sqs, queues.dlq_url))
    print(
        f"\nfleet quota 25/s: {result.line()} seconds={seconds:.1f} "
        f"unlink_calls={unlinks} throttled={throttled} ({100 * throttled / unlinks:.1f}%) "
        f"fleet_view_workers={during['workers']} mode={during['mode']}"
    )
    assert [w.returncode for w in workers] == [0, 0, 0]
    assert result.applied_once == len(mix.valid)
    assert result.valid_in_dlq == 0
    assert result.applied_twice == 0
    assert during["workers"] == 3
    assert throttled <= 0.1 * unlinks  # a short run: mostly slow start, where throttles are
