"""A worker killed with kill -9 while it holds claimed commands: how soon another applies them."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from consumer.core.visibility import LOCK_MARGIN_SECONDS
from consumer.local.stack import LocalStack
from consumer.settings import Settings
from tests.conftest import make_table
from tests.integration.conftest import make_queues
from tests.integration.processes import start_worker, stop_all, worker_env
from tests.integration.scenario import (
    applied_of,
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

DEFAULTS = Settings.model_fields
# Receiving the copy that reappeared, the call and the ledger's write: seconds, not a speed.
SLACK_SECONDS = 5.0
# A third of the default 30 s: the takeover is the same (hidden messages reappear, a copy meets
# the dead worker's lock, is deferred once and finds it stale) and the bound below scales with it.
VISIBILITY_SECONDS = 10


async def test_a_killed_workers_commands_are_applied_within_a_visibility_timeout_of_its_death(
    sqs: SQSClient,
    dynamodb: DynamoDBClient,
    stack: LocalStack,
    aws_env: dict[str, str],
    tmp_path: Path,
) -> None:
    queues = await make_queues(sqs)
    table = await make_table(dynamodb)
    mix = build_mix(stack, 30, duplicate_share=0, bad_share=0, seed=26)
    # The default lock margin and backoff; the victim's quota keeps claimed commands waiting
    # for the limiter, so the kill strands them with live locks and hidden messages.
    defaults = worker_env(
        aws_env,
        queues.url,
        idempotency_table=table,
        visibility_timeout_seconds=str(VISIBILITY_SECONDS),
        backoff_base_seconds=str(DEFAULTS["backoff_base_seconds"].default),
        backoff_max_seconds=str(DEFAULTS["backoff_max_seconds"].default),
    )
    victim = start_worker({**defaults, "UNLINK_RATE_LIMIT": "1"}, tmp_path / "victim.log")
    workers = [victim]
    try:
        await feed(sqs, queues.url, mix.bodies)
        deadline = time.monotonic() + 60
        while applied_of(stack, mix) < 3:
            assert time.monotonic() < deadline, "the victim applied nothing"
            await asyncio.sleep(0.1)
        victim.send_signal(signal.SIGKILL)
        killed_at = time.time()
        victim.wait(5)
        stranded = len(mix.valid) - applied_of(stack, mix)
        workers.append(start_worker(defaults, tmp_path / "survivor.log"))
        await wait_until_settled(sqs, queues.url, stack, mix, 180)
    finally:
        stop_all(workers)
    result = audit(stack, mix, await dlq_bodies(sqs, queues.dlq_url))
    keys = set(mix.valid.values())
    last_apply = max(e.at for e in stack.ledger.applied() if (e.identity_id, e.key) in keys)
    recovery = last_apply - killed_at
    # A dead worker's message reappears within one visibility timeout; a copy that meets its lock
    # (renewed with the message, a margin longer) is deferred once and finds it stale.
    visibility = VISIBILITY_SECONDS
    first_deferral = DEFAULTS["backoff_base_seconds"].default
    bound = visibility + LOCK_MARGIN_SECONDS + first_deferral + SLACK_SECONDS
    print(f"\nkill -9, {stranded} not yet applied: {result.line()}")
    print(f"recovery={recovery:.1f}s bound={bound}s")
    assert stranded >= 5
    assert result.applied_once == len(mix.valid)
    assert result.applied_twice == result.never_applied == 0
    assert recovery <= bound
