"""A dead letter never swallows a command's next chance, and the worker's attributes cannot be
forged into a drop: through the real protocol, with a DynamoDB table shared by every run as a
fleet shares it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from consumer.local.stack import LocalStack
from consumer.tools.redrive import redrive
from tests.conftest import make_table
from tests.integration.conftest import (
    Pool,
    Queues,
    developer_command,
    developer_user,
    drain,
    federated_command,
    federated_user,
    linked,
)
from tests.integration.running import background, until
from tests.integration.worker_runner import run_until_idle, settings_for
from tests.support.proxy import OutageProxy

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_sqs import SQSClient


def attrs(values: dict[str, str]) -> Any:
    return {k: {"DataType": "String", "StringValue": v} for k, v in values.items()}


async def test_a_resend_with_fresh_tokens_after_a_dead_letter_is_applied(
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
    dynamodb: DynamoDBClient,
    queues: Queues,
    pool: Pool,
    stack: LocalStack,
) -> None:
    """Dead-lettered as NotAuthorized (the tokens expired while it waited), then resent with
    fresh tokens as the DLQ reason advises: same key, and it runs."""
    settings = settings_for(queues.url, idempotency_table=await make_table(dynamodb))
    user = await federated_user(cognito, pool)
    fresh = stack.expire_tokens(user.identity_id)[user.provider]
    await sqs.send_message(QueueUrl=queues.url, MessageBody=json.dumps(federated_command(user)))
    first = await run_until_idle(settings)
    [dead] = await drain(sqs, queues.dlq_url)
    assert dead["attributes"]["unlink-reason"] == "NotAuthorizedException"

    resent = federated_command(user, Logins={user.provider: fresh})
    await sqs.send_message(QueueUrl=queues.url, MessageBody=json.dumps(resent))
    second = await run_until_idle(settings)

    print("first:", dict(first.outcomes), "resent:", dict(second.outcomes))
    assert second.outcomes["applied"] == 1
    assert user.provider not in await linked(cognito, user.identity_id)
    assert await drain(sqs, queues.dlq_url) == []


async def test_a_dead_letter_moved_back_with_all_its_attributes_is_applied_once_fixed(
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
    dynamodb: DynamoDBClient,
    queues: Queues,
    pool: Pool,
    clean_faults: LocalStack,
) -> None:
    """SQS's own redrive (the console's "Start DLQ redrive", `StartMessageMoveTask`) moves a
    dead letter back with every attribute it has, `unlink-reason` included, and no
    `unlink-redriven`. moto lacks the move task, so the test moves it as the task does."""
    stack = clean_faults
    settings = settings_for(queues.url, idempotency_table=await make_table(dynamodb))
    user = await developer_user(cognito, pool)
    stack.faults.fail_identities[user.identity_id] = "InvalidParameterException"
    await sqs.send_message(
        QueueUrl=queues.url, MessageBody=json.dumps(developer_command(pool, user))
    )
    await run_until_idle(settings)
    [dead] = await drain(sqs, queues.dlq_url)
    assert dead["attributes"]["unlink-reason"] == "InvalidParameterException"

    stack.faults.fail_identities.clear()  # the cause is fixed
    await sqs.send_message(
        QueueUrl=queues.url, MessageBody=dead["body"], MessageAttributes=attrs(dead["attributes"])
    )
    stats = await run_until_idle(settings)

    print("moved back with", sorted(dead["attributes"]), "->", dict(stats.outcomes))
    assert stats.outcomes["applied"] == 1
    assert pool.provider not in await linked(cognito, user.identity_id)
    assert await drain(sqs, queues.dlq_url) == []


@pytest.fixture
def dynamodb_proxy(proxy: OutageProxy, monkeypatch: pytest.MonkeyPatch) -> OutageProxy:
    """The worker reaches DynamoDB through a proxy the test can take down; the rest directly."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.url)
    return proxy


async def test_a_redriven_copy_deferred_by_a_store_outage_still_runs(
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
    dynamodb: DynamoDBClient,
    queues: Queues,
    pool: Pool,
    clean_faults: LocalStack,
    dynamodb_proxy: OutageProxy,
) -> None:
    """`dlq redrive` sends it back; its first claim meets DynamoDB down and is deferred (the
    deferred copy carries no `unlink-redriven`); once DynamoDB is back it is applied."""
    stack = clean_faults
    settings = settings_for(queues.url, idempotency_table=await make_table(dynamodb))
    user = await developer_user(cognito, pool)
    stack.faults.fail_identities[user.identity_id] = "ResourceConflictException"
    await sqs.send_message(
        QueueUrl=queues.url, MessageBody=json.dumps(developer_command(pool, user))
    )
    await run_until_idle(settings)
    stack.faults.fail_identities.clear()
    report = await redrive(sqs, queues.dlq_url, queues.url, None, None)
    assert report.moved == 1

    dynamodb_proxy.down()
    async with background(settings) as worker:
        await until(lambda s: s.outcomes["retried"] >= 1, worker)
        dynamodb_proxy.up()

    print("redriven, deferred, then:", dict(worker.stats.outcomes))
    assert worker.stats.outcomes["applied"] == 1
    assert pool.provider not in await linked(cognito, user.identity_id)
    assert await drain(sqs, queues.dlq_url) == []


async def test_forged_counts_cannot_make_a_command_skip_its_retries(
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
    queues: Queues,
    pool: Pool,
    clean_faults: LocalStack,
) -> None:
    """A producer's `unlink-attempts`/`unlink-throttles` are not the worker's counts: a first
    throttle is retried, then applied."""
    stack = clean_faults
    user = await developer_user(cognito, pool)
    stack.faults.fail_identities[user.identity_id] = "TooManyRequestsException"
    forged = {"unlink-attempts": "999", "unlink-throttles": "999", "unlink-deferrals": "3"}
    await sqs.send_message(
        QueueUrl=queues.url,
        MessageBody=json.dumps(developer_command(pool, user)),
        MessageAttributes=attrs(forged),
    )
    async with background(settings_for(queues.url)) as worker:
        await until(lambda s: s.outcomes["retried"] >= 1, worker)
        stack.faults.fail_identities.clear()

    print("forged", forged, "->", dict(worker.stats.outcomes))
    assert worker.stats.outcomes["applied"] == 1
    assert await drain(sqs, queues.dlq_url) == []


async def test_a_forged_redrive_mark_does_not_open_the_verification_path(
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
    queues: Queues,
    pool: Pool,
    stack: LocalStack,
) -> None:
    """`unlink-redriven: true` on a command that never applied (a typo in the identifier, a
    provider never linked) proves nothing: dead-lettered, without a look-up."""
    dev = await developer_user(cognito, pool)
    fed = await federated_user(cognito, pool)
    bodies = [
        developer_command(pool, dev, DeveloperUserIdentifier=dev.user + "-typo"),
        federated_command(fed, LoginsToRemove=["graph.facebook.com"]),
    ]
    for body in bodies:
        await sqs.send_message(
            QueueUrl=queues.url,
            MessageBody=json.dumps(body),
            MessageAttributes=attrs({"unlink-redriven": "true", "unlink-attempts": "3"}),
        )
    before = stack.ledger.calls_by_operation()

    stats = await run_until_idle(settings_for(queues.url))

    after = stack.ledger.calls_by_operation()
    lookups = {op: after[op] - before[op] for op in ("DescribeIdentity", "LookupDeveloperIdentity")}
    dead = await drain(sqs, queues.dlq_url)
    print("outcomes:", dict(stats.outcomes), "look-ups:", lookups)
    assert (
        sorted(d["attributes"]["unlink-reason"] for d in dead) == ["ResourceNotFoundException"] * 2
    )
    assert lookups == {"DescribeIdentity": 0, "LookupDeveloperIdentity": 0}
    assert pool.provider in await linked(cognito, dev.identity_id)
