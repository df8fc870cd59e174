"""Idempotency keys that neither merge two commands nor split one, through the real protocol."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from consumer.local.stack import LocalStack
from tests.integration.conftest import (
    Pool,
    Queues,
    developer_command,
    developer_user,
    drain,
    federated_command,
    federated_user,
    send_all,
)
from tests.integration.worker_runner import run_until_idle, settings_for

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient
    from types_aiobotocore_sqs import SQSClient


def eventbridge(detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),  # each publish of an event gets its own id
        "detail-type": "AccountDeleted",
        "source": "accounts",
        "account": "123456789012",
        "time": "2026-12-01T10:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


def sns(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),  # each SNS publish gets its own id
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:account-deletions",
        "Message": json.dumps(message),
    }


async def test_one_event_published_twice_under_two_ids_is_applied_once(
    sqs: SQSClient, cognito: CognitoIdentityClient, queues: Queues, pool: Pool, stack: LocalStack
) -> None:
    dev = await developer_user(cognito, pool)
    fed = await federated_user(cognito, pool)
    bodies = [
        eventbridge(developer_command(pool, dev)),
        eventbridge(developer_command(pool, dev)),  # the same event, published again
        sns(federated_command(fed)),
        sns(eventbridge(federated_command(fed))),  # the same unlink, another route and id
    ]
    await send_all(sqs, queues.url, bodies)
    before = stack.ledger.applied_count()

    stats = await run_until_idle(settings_for(queues.url))

    dead = await drain(sqs, queues.dlq_url)
    print("outcomes:", dict(stats.outcomes), "dead letters:", len(dead))
    assert stats.outcomes["applied"] == 2
    assert stats.outcomes["duplicate"] == 2
    assert dead == []
    assert stack.ledger.applied_count() - before == 2


async def test_two_different_unlinks_that_reuse_one_command_id_both_run(
    sqs: SQSClient, cognito: CognitoIdentityClient, queues: Queues, pool: Pool, stack: LocalStack
) -> None:
    """A reused ``command_id`` (a producer's bug) never makes the second command a duplicate;
    a repeat of one command under its own ``command_id`` still is one."""
    first = await developer_user(cognito, pool)
    second = await developer_user(cognito, pool)
    reused = f"deletion-{uuid.uuid4().hex[:8]}"
    bodies = [
        developer_command(pool, first, command_id=reused),
        developer_command(pool, second, command_id=reused),
        developer_command(pool, first, command_id=reused),  # a real duplicate
    ]
    await send_all(sqs, queues.url, bodies)
    before = stack.ledger.applied_count()

    stats = await run_until_idle(settings_for(queues.url, concurrency=1))

    dead = await drain(sqs, queues.dlq_url)
    print("outcomes:", dict(stats.outcomes), "dead letters:", len(dead))
    assert stats.outcomes["applied"] == 2
    assert stats.outcomes["duplicate"] == 1
    assert dead == []
    assert stack.ledger.applied_count() - before == 2
    for user in (first, second):
        described = await cognito.describe_identity(IdentityId=user.identity_id)
        assert pool.provider not in described.get("Logins", [])
