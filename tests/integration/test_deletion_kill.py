"""Commands that name the user and DeleteIdentities under kill -9: every effect exactly once."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from consumer.local.seed import seed_in_process
from consumer.local.stack import LocalStack
from tests.conftest import make_table
from tests.integration.conftest import make_queues
from tests.integration.processes import start_worker, stop_all, worker_env
from tests.integration.scenario import depth, dlq_bodies, feed

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_sqs import SQSClient

pytestmark = pytest.mark.slow


async def test_kill_9_neither_loses_nor_repeats_an_unlink_by_user_or_a_deletion(
    sqs: SQSClient,
    dynamodb: DynamoDBClient,
    stack: LocalStack,
    aws_env: dict[str, str],
    tmp_path: Path,
) -> None:
    rng = random.Random(28)
    # Enough work that the six kills below land with unlinks and deletions in flight.
    users = seed_in_process(stack, developer=100).developer
    doomed = seed_in_process(stack, developer=80).developer
    unlinks = {
        ("UnlinkDeveloperIdentity", u.identity_id, u.developer_user_identifier): json.dumps(
            {
                "action": "UnlinkDeveloperIdentity",
                "IdentityPoolId": u.identity_pool_id,
                "DeveloperProviderName": u.developer_provider_name,
                "DeveloperUserIdentifier": u.developer_user_identifier,
            }
        )
        for u in users
    }
    ids = [d.identity_id for d in doomed]
    deletions = []
    while ids:
        take = ids[: rng.randint(1, 3)]
        ids = ids[len(take) :]
        deletions.append(json.dumps({"action": "DeleteIdentities", "IdentityIdsToDelete": take}))
    distinct = list(unlinks.values()) + deletions
    bodies = distinct + rng.sample(distinct, len(distinct) // 5)  # published twice
    rng.shuffle(bodies)
    effects = set(unlinks) | {("DeleteIdentities", d.identity_id, "") for d in doomed}

    queues = await make_queues(sqs)
    table = await make_table(dynamodb)
    env = worker_env(
        aws_env,
        queues.url,
        idempotency_table=table,
        concurrency="16",
        visibility_timeout_seconds="5",
        call_timeout_seconds="2",
    )
    before = stack.ledger.applied_counts_by_key()
    stack.faults.latency_s = 0.02  # calls in flight when the kill lands
    workers = [start_worker(env, tmp_path / f"w{i}.log") for i in range(2)]
    kills = 0
    feeder = asyncio.create_task(feed(sqs, queues.url, bodies, max_depth=100))
    try:
        while kills < 6:
            await asyncio.sleep(rng.uniform(0.3, 1.2))
            victim = rng.randrange(len(workers))
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait(5)
            kills += 1
            workers[victim] = start_worker(env, tmp_path / f"w{victim}-{kills}.log")
        await feeder
        deadline = time.monotonic() + 300
        while True:
            applied = stack.ledger.applied_counts_by_key() - before
            if effects <= set(applied) and await depth(sqs, queues.url) == 0:
                break
            assert time.monotonic() < deadline, f"{len(effects - set(applied))} effects missing"
            await asyncio.sleep(0.5)
    finally:
        stack.faults.latency_s = 0.0
        feeder.cancel()
        stop_all(workers)

    applied = stack.ledger.applied_counts_by_key() - before
    twice = [effect for effect, n in applied.items() if n > 1]
    print(f"\nkill -9 x{kills}: effects={len(effects)} applied={sum(applied.values())}")
    assert set(applied) == effects
    assert twice == []
    assert await dlq_bodies(sqs, queues.dlq_url) == []
