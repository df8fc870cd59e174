"""A command IAM denies on its own (its pool outside the worker's policy) is the command's fault:
charged while other commands get through, then dead-lettered with the code."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING

import pytest

from consumer.local.stack import LocalStack
from tests.integration.conftest import (
    Pool,
    Queues,
    developer_command,
    developer_user,
    drain,
    send_all,
)
from tests.integration.running import background, until
from tests.integration.worker_runner import settings_for

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient
    from types_aiobotocore_sqs import SQSClient

pytestmark = pytest.mark.slow

DENIED = "AccessDeniedException"
MAX_ATTEMPTS = 8  # the default budget, above the breaker's five consecutive failures


async def test_a_denied_command_among_good_ones_is_charged_then_dead_lettered_with_the_code(
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
    queues: Queues,
    pool: Pool,
    clean_faults: LocalStack,
) -> None:
    denied = await developer_user(cognito, pool)
    clean_faults.faults.fail_identities[denied.identity_id] = DENIED
    good = [await developer_user(cognito, pool) for _ in range(60)]
    await send_all(sqs, queues.url, [developer_command(pool, denied)])

    async def keep_feeding() -> None:
        """Other commands keep succeeding while the denied one is retried."""
        for user in good:
            await send_all(sqs, queues.url, [developer_command(pool, user)])
            await asyncio.sleep(0.4)

    settings = settings_for(queues.url, max_attempts=MAX_ATTEMPTS, cognito_max_attempts=1)
    async with background(settings) as worker:
        feeder = asyncio.create_task(keep_feeding())
        try:
            await until(lambda s: s.outcomes["dead_lettered"] >= 1, worker, limit_seconds=45)
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder

    dead = await drain(sqs, queues.dlq_url)
    print("outcomes:", dict(worker.stats.outcomes))
    print("dead letter:", [d["attributes"] for d in dead])
    [only] = dead
    attributes = only["attributes"]
    assert json.loads(only["body"])["IdentityId"] == denied.identity_id
    assert attributes["unlink-reason"] == "retries_exhausted"
    assert attributes["unlink-detail"].startswith(f"last error {DENIED}")
    assert attributes["unlink-attempts"] == str(MAX_ATTEMPTS)
    assert worker.stats.outcomes["applied"] >= 1
