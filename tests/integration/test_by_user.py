"""Commands that name the user: `UnlinkDeveloperIdentity` without `IdentityId`.

The worker finds the identity with LookupDeveloperIdentity and unlinks it exactly once; a user
linked to nothing in a pool that exists with that provider is acknowledged as `not_linked`; a
pool that does not exist, or whose developer provider is another, is dead-lettered.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from consumer.local.stack import LocalStack
from tests.integration.conftest import (
    DeveloperUser,
    Pool,
    Queues,
    developer_user,
    drain,
    linked,
    make_pool,
    send_all,
)
from tests.integration.worker_runner import run_until_idle, settings_for

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient
    from types_aiobotocore_sqs import SQSClient

MISSING_POOL = "us-east-1:00000000-0000-4000-8000-00000000abcd"


def by_user(pool: Pool, user: str, **extra: Any) -> dict[str, Any]:
    return {
        "action": "UnlinkDeveloperIdentity",
        "IdentityPoolId": pool.pool_id,
        "DeveloperProviderName": pool.provider,
        "DeveloperUserIdentifier": user,
        **extra,
    }


async def test_the_user_is_unlinked_once_or_acknowledged_as_not_linked(
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
    queues: Queues,
    pool: Pool,
    clean_faults: LocalStack,
) -> None:
    stack = clean_faults
    dev: DeveloperUser = await developer_user(cognito, pool)
    other = await make_pool(cognito, name="other", provider="login.other")
    commands = [
        by_user(pool, dev.user),
        by_user(pool, dev.user),  # the same deletion event published twice
        by_user(pool, "never-linked-user"),
        by_user(pool, dev.user, IdentityPoolId=MISSING_POOL),  # no such pool
        by_user(pool, dev.user, IdentityPoolId=other.pool_id),  # another developer provider
    ]
    await send_all(sqs, queues.url, commands)
    before = stack.ledger.applied_counts_by_key()

    stats = await run_until_idle(settings_for(queues.url))

    applied = stack.ledger.applied_counts_by_key() - before
    print("outcomes:", dict(stats.outcomes), "applied:", sum(applied.values()))
    assert list(applied.items()) == [(("UnlinkDeveloperIdentity", dev.identity_id, dev.user), 1)]
    assert pool.provider not in await linked(cognito, dev.identity_id)
    assert stats.outcomes["applied"] == 1
    assert stats.outcomes["applied"] + stats.outcomes["duplicate"] == 2
    assert stats.outcomes["not_linked"] == 1
    dead = await drain(sqs, queues.dlq_url)
    reasons = {
        json.loads(d["body"])["IdentityPoolId"]: d["attributes"]["unlink-reason"] for d in dead
    }
    assert reasons == {
        MISSING_POOL: "ResourceNotFoundException",
        other.pool_id: "NotAuthorizedException",
    }
    for message in dead:  # the reason never names the user (personal data)
        assert dev.user not in json.dumps(message["attributes"])


@pytest.mark.parametrize("cognito_max_attempts", [1, 2])
async def test_an_unlink_by_user_whose_answer_was_lost_ends_already_applied(
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
    queues: Queues,
    pool: Pool,
    clean_faults: LocalStack,
    cognito_max_attempts: int,
) -> None:
    """Applied, then answered 500: the repeat (botocore's, or the worker's next receive) finds
    the user linked to nothing, which after an uncertain attempt is that attempt's effect."""
    stack = clean_faults
    dev = await developer_user(cognito, pool)
    stack.faults.fail_after_apply[dev.identity_id] = "InternalErrorException"
    await send_all(sqs, queues.url, [by_user(pool, dev.user)])
    before = stack.ledger.applied_count()

    stats = await run_until_idle(
        settings_for(queues.url, cognito_max_attempts=cognito_max_attempts)
    )

    print("cognito_max_attempts:", cognito_max_attempts, "outcomes:", dict(stats.outcomes))
    assert stats.outcomes["already_applied"] == 1
    assert stats.outcomes["not_linked"] == 0
    assert await drain(sqs, queues.dlq_url) == []
    assert stack.ledger.applied_count() - before == 1
    assert pool.provider not in await linked(cognito, dev.identity_id)
