""" "Already applied" only with proof, through the real protocol.

A repeated unlink that already applied answers ResourceNotFound, and so do a wrong pool, an
identity of another pool, a typo in the identifier and a provider the identity never had. These
must reach the DLQ whatever went before them; an unlink whose success answer was lost must be
acknowledged as `already_applied`, with nothing in the DLQ.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import pytest

from consumer.local.stack import LocalStack
from tests.integration.conftest import (
    DeveloperUser,
    FederatedUser,
    Pool,
    Queues,
    developer_command,
    developer_user,
    drain,
    federated_command,
    federated_user,
    linked,
    make_pool,
    send_all,
)
from tests.integration.running import background, until
from tests.integration.worker_runner import UNPACED, run_until_idle, settings_for

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient
    from types_aiobotocore_sqs import SQSClient

MISSING_POOL = "us-east-1:00000000-0000-4000-8000-00000000abcd"


async def wrong_commands(
    cognito: CognitoIdentityClient, pool: Pool
) -> tuple[list[dict[str, Any]], list[DeveloperUser], FederatedUser, Pool]:
    """Five unlinks that can never apply, each answered ResourceNotFound by Cognito."""
    other = await make_pool(
        cognito,
        name="other",
        provider="login.other",
        supported={"accounts.google.com": "client-id"},
    )
    users = [await developer_user(cognito, pool) for _ in range(3)]
    stranger = await developer_user(cognito, other)
    fed = await federated_user(cognito, pool)
    commands = [
        developer_command(pool, users[0], IdentityPoolId=MISSING_POOL),  # no such pool
        developer_command(pool, users[1], IdentityPoolId=other.pool_id),  # a pool, not its own
        # an identity that lives in another pool
        developer_command(pool, stranger, DeveloperUserIdentifier=stranger.user),
        developer_command(pool, users[2], DeveloperUserIdentifier=users[2].user + "-typo"),
        federated_command(fed, LoginsToRemove=["graph.facebook.com"]),  # never linked
    ]
    return commands, [*users, stranger], fed, other


@pytest.mark.parametrize("earlier", ["TooManyRequestsException", "InternalErrorException"])
async def test_wrong_scope_typos_and_never_linked_providers_reach_the_dlq(
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
    queues: Queues,
    pool: Pool,
    clean_faults: LocalStack,
    earlier: str,
) -> None:
    """After throttles (a definite "nothing happened") or even a 5xx (an answer lost), the
    state in the command's scope shows no effect of this command: each is dead-lettered."""
    stack = clean_faults
    commands, developers, fed, other = await wrong_commands(cognito, pool)
    identities = [u.identity_id for u in developers] + [fed.identity_id]
    # LastModifiedDate may come in whole seconds: an identity changed (here: created) within a
    # second of an uncertain attempt cannot be told from one that attempt changed.
    await asyncio.sleep(1.5)
    await send_all(sqs, queues.url, commands)
    for identity_id in identities:
        stack.faults.fail_identities[identity_id] = earlier  # every first attempt meets it

    # Unpaced: a learned rate would slow to a crawl after these throttles, and pacing
    # is not what this asserts (test_pacing and the quota tests cover it).
    async with background(
        settings_for(queues.url, max_attempts=5, fleet_rate_limit=UNPACED)
    ) as worker:
        await until(lambda s: s.outcomes["retried"] >= len(commands), worker)
        stack.faults.fail_identities.clear()

    dead = await drain(sqs, queues.dlq_url)
    print(
        "earlier:",
        earlier,
        "outcomes:",
        dict(worker.stats.outcomes),
        "reasons:",
        sorted(d["attributes"]["unlink-reason"] for d in dead),
    )
    assert worker.stats.outcomes["already_applied"] == 0
    assert sorted(d["attributes"]["unlink-reason"] for d in dead) == [
        "ResourceNotFoundException"
    ] * len(commands)
    assert sorted(json.loads(d["body"])["IdentityId"] for d in dead) == sorted(identities)
    for user, own in zip(developers, [pool, pool, pool, other], strict=True):
        assert own.provider in await linked(cognito, user.identity_id)  # nothing was unlinked
    assert fed.provider in await linked(cognito, fed.identity_id)


@pytest.mark.parametrize("cognito_max_attempts", [1, 2])
async def test_an_unlink_whose_success_answer_was_lost_ends_already_applied(
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
    queues: Queues,
    pool: Pool,
    clean_faults: LocalStack,
    cognito_max_attempts: int,
) -> None:
    """Applied, then answered 500: with botocore's own retry the repeat inside the same call
    meets ResourceNotFound (or NotAuthorized: the token is void); without it the worker's retry
    does. Either way Cognito's state shows the effect, and nothing reaches the DLQ."""
    stack = clean_faults
    dev = await developer_user(cognito, pool)
    fed = await federated_user(cognito, pool)
    for identity_id in (dev.identity_id, fed.identity_id):
        stack.faults.fail_after_apply[identity_id] = "InternalErrorException"
    await send_all(sqs, queues.url, [developer_command(pool, dev), federated_command(fed)])
    before = stack.ledger.applied_count()
    calls = stack.ledger.calls_by_operation()

    stats = await run_until_idle(
        settings_for(queues.url, cognito_max_attempts=cognito_max_attempts)
    )

    after = stack.ledger.calls_by_operation()
    print(
        "cognito_max_attempts:",
        cognito_max_attempts,
        "outcomes:",
        dict(stats.outcomes),
        "look-ups:",
        {op: after[op] - calls[op] for op in ("LookupDeveloperIdentity", "DescribeIdentity")},
    )
    assert stats.outcomes["already_applied"] == 2
    assert await drain(sqs, queues.dlq_url) == []
    assert stack.ledger.applied_count() - before == 2  # each applied exactly once
    assert pool.provider not in await linked(cognito, dev.identity_id)
    assert fed.provider not in await linked(cognito, fed.identity_id)


async def test_a_throttled_verification_is_retried_and_never_acknowledged_unproven(
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
    queues: Queues,
    pool: Pool,
    clean_faults: LocalStack,
) -> None:
    """The look-ups have their own low quota: a throttled one is a throttle (retried on its own
    budget), and the command is acknowledged only once a look-up proves the effect."""
    stack = clean_faults
    dev = await developer_user(cognito, pool)
    stack.faults.fail_after_apply[dev.identity_id] = "InternalErrorException"
    await sqs.send_message(
        QueueUrl=queues.url, MessageBody=json.dumps(developer_command(pool, dev))
    )
    settings = settings_for(queues.url, cognito_max_attempts=1)
    stack.faults.fail_lookups = "TooManyRequestsException"
    async with background(settings) as worker:
        # Applied, answer lost (retried); the repeat meets ResourceNotFound and its look-up is
        # throttled (retried again): nothing is acknowledged until a look-up can prove it.
        await until(lambda s: s.outcomes["retried"] >= 2, worker)
        assert worker.stats.outcomes["already_applied"] == 0
        stack.faults.fail_lookups = None
    print("outcomes:", dict(worker.stats.outcomes))
    assert worker.stats.outcomes["already_applied"] == 1
    assert await drain(sqs, queues.dlq_url) == []
