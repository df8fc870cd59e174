"""Each outcome class through the real protocol: SQS and Cognito Identity over HTTP."""

from __future__ import annotations

import datetime as dt
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
    federated_command,
    federated_user,
    linked,
    send_all,
)
from tests.integration.worker_runner import UNPACED, run_until_idle, settings_for

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient
    from types_aiobotocore_sqs import SQSClient

UNKNOWN_IDENTITY = "us-east-1:00000000-0000-0000-0000-000000000000"


async def test_every_outcome_class_ends_where_it_should(
    sqs: SQSClient, cognito: CognitoIdentityClient, queues: Queues, pool: Pool
) -> None:
    dev = await developer_user(cognito, pool)
    fed = await federated_user(cognito, pool)
    other = await developer_user(cognito, pool)
    expired = await federated_user(cognito, pool)
    conflicting = await developer_user(cognito, pool)
    bodies = [
        developer_command(pool, dev),
        federated_command(fed),
        developer_command(pool, dev),  # a duplicate: acknowledged, nothing called
        developer_command(pool, other, IdentityId=UNKNOWN_IDENTITY),  # not found
        # linked, but to another identity: conflict
        developer_command(pool, conflicting, IdentityId=other.identity_id),
        developer_command(pool, other, DeveloperProviderName="not.the.pools.provider"),
        federated_command(expired, Logins={expired.provider: "an-expired-token"}),
        "this is not json",
        {"action": "UnlinkEverything"},
    ]
    await send_all(sqs, queues.url, bodies)

    stats = await run_until_idle(settings_for(queues.url))

    assert stats.outcomes["applied"] == 2
    assert stats.outcomes["duplicate"] == 1
    assert stats.outcomes["dead_lettered"] == 6
    assert pool.provider not in await linked(cognito, dev.identity_id)
    assert fed.provider not in await linked(cognito, fed.identity_id)
    assert pool.provider in await linked(cognito, other.identity_id)  # untouched

    dead = await drain(sqs, queues.dlq_url)
    reasons = sorted(d["attributes"]["unlink-reason"] for d in dead)
    assert reasons == sorted(
        [
            "ResourceNotFoundException",
            "ResourceConflictException",
            "NotAuthorizedException",
            "NotAuthorizedException",
            "malformed",
            "malformed",
        ]
    )
    assert await drain(sqs, queues.url) == []


async def test_dead_letters_carry_the_body_and_their_story_but_no_token(
    sqs: SQSClient, cognito: CognitoIdentityClient, queues: Queues, pool: Pool
) -> None:
    user = await federated_user(cognito, pool)
    secret = "expired-" + user.token
    body = json.dumps(federated_command(user, Logins={user.provider: secret}))
    await sqs.send_message(QueueUrl=queues.url, MessageBody=body)
    sent_id = (await sqs.get_queue_attributes(QueueUrl=queues.url)).get("Attributes", {})

    await run_until_idle(settings_for(queues.url))

    [dead] = await drain(sqs, queues.dlq_url)
    attrs = dead["attributes"]
    assert dead["body"] == body  # the original, so it can be fixed and redriven
    assert attrs["unlink-reason"] == "NotAuthorizedException"
    assert "currently valid tokens" in attrs["unlink-detail"]
    assert attrs["unlink-attempts"] == "1"
    assert attrs["unlink-source-message-id"]
    first_seen = dt.datetime.fromisoformat(attrs["unlink-first-seen"].replace("Z", "+00:00"))
    assert abs((dt.datetime.now(dt.UTC) - first_seen).total_seconds()) < 60
    assert all(secret not in value for value in attrs.values() if value)
    assert sent_id is not None


async def test_transient_failures_retry_with_backoff_then_exhaust(
    sqs: SQSClient, cognito: CognitoIdentityClient, queues: Queues, pool: Pool, stack: LocalStack
) -> None:
    user = await developer_user(cognito, pool)
    await sqs.send_message(
        QueueUrl=queues.url, MessageBody=json.dumps(developer_command(pool, user))
    )
    stack.faults.internal_error_rate = 1.0
    try:
        stats = await run_until_idle(settings_for(queues.url, max_attempts=3))
    finally:
        stack.faults.internal_error_rate = 0.0

    assert stats.outcomes["retried"] == 2
    assert stats.outcomes["dead_lettered"] == 1
    [dead] = await drain(sqs, queues.dlq_url)
    assert dead["attributes"]["unlink-reason"] == "retries_exhausted"
    assert "InternalErrorException" in dead["attributes"]["unlink-detail"]
    assert dead["attributes"]["unlink-attempts"] == "3"
    assert pool.provider in await linked(cognito, user.identity_id)


async def test_a_retry_that_later_succeeds_is_applied_once(
    sqs: SQSClient, cognito: CognitoIdentityClient, queues: Queues, pool: Pool, stack: LocalStack
) -> None:
    user = await developer_user(cognito, pool)
    await sqs.send_message(
        QueueUrl=queues.url, MessageBody=json.dumps(developer_command(pool, user))
    )
    before = stack.ledger.applied_count()
    stack.faults.internal_error_rate = 1.0
    stats_task_settings = settings_for(queues.url)
    try:
        from consumer.app import build_worker
        from consumer.aws.clients import open_clients

        async with open_clients(stats_task_settings) as clients:
            worker, _ = await build_worker(stats_task_settings, clients)
            import asyncio

            running = asyncio.create_task(worker.run(until_idle=True))
            while worker.stats.outcomes["retried"] < 1:
                await asyncio.sleep(0.05)
            stack.faults.internal_error_rate = 0.0
            stats = await asyncio.wait_for(running, 60)
    finally:
        stack.faults.internal_error_rate = 0.0
    assert stats.outcomes["applied"] == 1
    assert stack.ledger.applied_count() - before == 1
    assert await drain(sqs, queues.dlq_url) == []


@pytest.mark.parametrize("count", [25])
async def test_batches_of_commands_are_all_applied(
    sqs: SQSClient, cognito: CognitoIdentityClient, queues: Queues, pool: Pool, count: int
) -> None:
    users = [await developer_user(cognito, pool) for _ in range(count)]
    await send_all(sqs, queues.url, [developer_command(pool, u) for u in users])
    stats = await run_until_idle(settings_for(queues.url, concurrency=8))
    assert stats.outcomes["applied"] == count
    assert stats.receive_calls < count  # received in batches, not one by one
    for user in users:
        assert pool.provider not in await linked(cognito, user.identity_id)


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        ("InvalidParameterException", "dead_lettered"),
        ("ResourceConflictException", "dead_lettered"),
        ("ExternalServiceException", "retried"),
        ("InternalErrorException", "retried"),
        ("TooManyRequestsException", "retried"),
    ],
)
async def test_each_service_error_code_is_routed_by_its_class(
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
    queues: Queues,
    pool: Pool,
    stack: LocalStack,
    code: str,
    outcome: str,
) -> None:
    user = await federated_user(cognito, pool)
    await sqs.send_message(QueueUrl=queues.url, MessageBody=json.dumps(federated_command(user)))
    stack.faults.fail_identities[user.identity_id] = code
    try:
        stats = await run_until_idle(
            # Unpaced: a learned rate would slow to a crawl after these throttles, and pacing
            # is not what this asserts (test_pacing and the quota tests cover it).
            settings_for(
                queues.url, max_attempts=2, max_throttle_attempts=2, fleet_rate_limit=UNPACED
            )
        )
    finally:
        stack.faults.fail_identities.pop(user.identity_id, None)
    [dead] = await drain(sqs, queues.dlq_url)
    if outcome == "retried":
        assert stats.outcomes["retried"] == 1
        assert dead["attributes"]["unlink-reason"] == "retries_exhausted"
        assert code in dead["attributes"]["unlink-detail"]
    else:
        assert stats.outcomes["retried"] == 0
        assert dead["attributes"]["unlink-reason"] == code
    assert user.token not in json.dumps(dead["attributes"])


async def test_throttling_under_a_quota_is_retried_on_its_own_budget_and_all_apply(
    sqs: SQSClient, cognito: CognitoIdentityClient, queues: Queues, pool: Pool, stack: LocalStack
) -> None:
    users = [await developer_user(cognito, pool) for _ in range(12)]
    await send_all(sqs, queues.url, [developer_command(pool, u) for u in users])
    stack.faults.quota_rps = 3.0
    before, throttled_before = stack.ledger.applied_count(), stack.ledger.throttled()
    try:
        # Unpaced, so the quota surely throttles (a learned rate would avoid most of it).
        unpaced = settings_for(queues.url, concurrency=12, max_attempts=1, fleet_rate_limit=UNPACED)
        stats = await run_until_idle(unpaced, limit_seconds=120)
    finally:
        stack.faults.quota_rps = None
    # One failure allowed, yet nothing exhausts: throttles spend their own budget.
    assert stack.ledger.throttled() > throttled_before
    assert stats.outcomes["retried"] >= 1
    assert stats.retries["TooManyRequestsException"] >= 1  # the retries, by the error behind them
    assert sum(stats.retries.values()) == stats.outcomes["retried"]
    assert stats.outcomes["applied"] == 12
    assert stack.ledger.applied_count() - before == 12
    assert await drain(sqs, queues.dlq_url) == []
