"""Idempotency through the real protocol: the DynamoDB store's claims, and crash recovery."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

from consumer.aws.dynamo_store import DynamoStore
from consumer.core.ports import ClaimState, History
from consumer.local.stack import LocalStack
from tests.conftest import make_table
from tests.fakes import FakeClock
from tests.integration.conftest import (
    Pool,
    Queues,
    developer_command,
    developer_user,
    drain,
    federated_command,
    federated_user,
)
from tests.integration.worker_runner import run_until_idle, settings_for

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_sqs import SQSClient


async def test_dynamodb_claims_are_one_conditional_write_each(dynamodb: DynamoDBClient) -> None:
    table = await make_table(dynamodb)
    clock = FakeClock(now=1_700_000_000)
    mine = DynamoStore(dynamodb, table, clock, ttl_seconds=3600)
    theirs = DynamoStore(dynamodb, table, clock, ttl_seconds=3600)

    assert (await mine.claim("k", 30)).state is ClaimState.CLAIMED
    assert (await theirs.claim("k", 30)).state is ClaimState.IN_PROGRESS  # a live lock
    clock.now += 31
    stale = await theirs.claim("k", 30)  # the first worker died: its lock is taken over
    assert stale.state is ClaimState.CLAIMED
    assert stale.took_over_stale_lock
    await mine.release("k")  # not the owner any more: must not free the other's lock
    assert (await mine.claim("k", 30)).state is ClaimState.IN_PROGRESS
    await theirs.complete("k", "applied")
    done = await mine.claim("k", 30)
    assert (done.state, done.outcome) == (ClaimState.COMPLETED, "applied")
    clock.now += 3601  # expired records are claimable again
    assert (await mine.claim("k", 30)).state is ClaimState.CLAIMED

    # A dead letter absorbs nothing: the next copy claims it, with the evidence kept.
    await mine.claim("dead", 30)
    await mine.release("dead", History(uncertain_since=clock.now - 5), "dead_lettered")
    again = await theirs.claim("dead", 30)
    assert (again.state, again.history) == (
        ClaimState.CLAIMED,
        History(uncertain_since=clock.now - 5),
    )
    await theirs.complete("dead", "applied")
    await theirs.release("dead", History(failures=1))  # applied never moves again
    assert not await theirs.renew("dead", 30)
    assert (await mine.claim("dead", 30)).state is ClaimState.COMPLETED

    await mine.claim("failed", 30)
    await mine.release("failed", History(failures=2, throttles=3))  # counts for the retry
    failed = await theirs.claim("failed", 30)
    assert (failed.state, failed.history) == (ClaimState.CLAIMED, History(2, 3))

    # A renewed lock is not stale; a lock whose worker died is, with its claim time as evidence.
    await mine.claim("live", 30)
    clock.now += 20
    assert await mine.renew("live", 30)
    clock.now += 20
    assert (await theirs.claim("live", 30)).state is ClaimState.IN_PROGRESS
    clock.now += 31
    taken = await theirs.claim("live", 30)
    assert taken.took_over_stale_lock
    assert taken.history.uncertain_since == clock.now - 71

    item = await dynamodb.get_item(TableName=table, Key={"id": {"S": "k"}})
    assert int(item["Item"]["expires_at"]["N"]) > clock.now  # the TTL attribute


class DiesAfterOneWrite:
    """A DynamoDB client whose process is killed the moment its first write has landed."""

    def __init__(self, client: DynamoDBClient) -> None:
        self._client = client
        self._wrote = False

    async def update_item(self, **request: Any) -> Any:
        self._alive()
        answer = await self._client.update_item(**request)
        self._wrote = True
        return answer

    async def get_item(self, **request: Any) -> Any:
        self._alive()
        return await self._client.get_item(**request)

    def _alive(self) -> None:
        if self._wrote:
            raise ConnectionError("killed")


class LosesFirstAnswer:
    """A DynamoDB client whose first UpdateItem lands but loses its answer, and is tried again
    at once, as botocore retries a dropped connection: the caller sees the retry's answer."""

    def __init__(self, client: DynamoDBClient) -> None:
        self._client = client
        self.lost = False

    async def update_item(self, **request: Any) -> Any:
        if not self.lost:
            self.lost = True
            await self._client.update_item(**request)
        return await self._client.update_item(**request)

    async def get_item(self, **request: Any) -> Any:
        return await self._client.get_item(**request)


async def test_a_claim_whose_first_try_lost_its_answer_is_still_this_worker_s(
    dynamodb: DynamoDBClient,
) -> None:
    # The retry meets the lock the lost try took: that lock is this claim's, not a live one
    # elsewhere (which would hold the command back for the whole lock, 70 s by default).
    table = await make_table(dynamodb)
    clock = FakeClock(now=1_700_000_000)
    mine = DynamoStore(dynamodb, table, clock, ttl_seconds=3600)
    await mine.claim("k", 30)
    await mine.release("k", History(failures=1, uncertain_since=clock.now))
    flaky = LosesFirstAnswer(dynamodb)
    retried = DynamoStore(cast("DynamoDBClient", flaky), table, clock, ttl_seconds=3600)
    claim = await retried.claim("k", 30)
    assert flaky.lost
    assert (claim.state, claim.history) == (
        ClaimState.CLAIMED,
        History(failures=1, uncertain_since=clock.now),
    )
    assert await retried.renew("k", 30)  # the lock is this worker's to renew and release
    # Another worker, or another claim of the same process for a duplicate, still waits.
    assert (await mine.claim("k", 30)).state is ClaimState.IN_PROGRESS
    assert (await retried.claim("k", 30)).state is ClaimState.IN_PROGRESS


async def test_a_worker_killed_just_after_it_took_over_a_stale_lock_leaves_the_evidence(
    dynamodb: DynamoDBClient,
) -> None:
    # The first worker claimed, called Cognito and died; the second took its stale lock over
    # and died at once; the third must still know the first attempt's time, or a
    # ResourceNotFound from the unlink the first applied is dead-lettered as never proven.
    table = await make_table(dynamodb)
    clock = FakeClock(now=1_700_000_000)
    await DynamoStore(dynamodb, table, clock, ttl_seconds=3600).claim("k", 30)
    first_attempt = clock.now
    clock.now += 31
    killed = DynamoStore(cast("DynamoDBClient", DiesAfterOneWrite(dynamodb)), table, clock, 3600)
    taken = await killed.claim("k", 30)
    assert taken.took_over_stale_lock
    assert taken.history.uncertain_since == first_attempt
    clock.now += 31
    last = await DynamoStore(dynamodb, table, clock, ttl_seconds=3600).claim("k", 30)
    assert last.took_over_stale_lock
    assert last.history.uncertain_since == first_attempt


async def test_a_restarted_worker_finds_an_unlink_applied_before_its_crash(
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
    queues: Queues,
    pool: Pool,
    stack: LocalStack,
) -> None:
    """In-memory store, so nothing remembers the first attempt: the receive count tells."""
    user = await developer_user(cognito, pool)
    command = developer_command(pool, user)
    await sqs.send_message(QueueUrl=queues.url, MessageBody=json.dumps(command))
    # The crashed attempt: received, applied at Cognito, never deleted.
    got = await sqs.receive_message(QueueUrl=queues.url, VisibilityTimeout=30)
    await cognito.unlink_developer_identity(**{k: v for k, v in command.items() if k != "action"})
    await sqs.change_message_visibility(
        QueueUrl=queues.url, ReceiptHandle=got["Messages"][0]["ReceiptHandle"], VisibilityTimeout=0
    )
    before = stack.ledger.calls_by_operation()

    stats = await run_until_idle(settings_for(queues.url))

    assert stats.outcomes["already_applied"] == 1
    assert await drain(sqs, queues.dlq_url) == []
    after = stack.ledger.calls_by_operation()
    assert after["DescribeIdentity"] - before["DescribeIdentity"] == 1  # verified, once


async def test_not_found_on_first_delivery_is_dead_lettered_without_lookups(
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
    queues: Queues,
    pool: Pool,
    stack: LocalStack,
) -> None:
    user = await developer_user(cognito, pool)
    command = developer_command(pool, user)
    await cognito.unlink_developer_identity(**{k: v for k, v in command.items() if k != "action"})
    await sqs.send_message(QueueUrl=queues.url, MessageBody=json.dumps(command))
    before = stack.ledger.calls_by_operation()
    await run_until_idle(settings_for(queues.url))
    [dead] = await drain(sqs, queues.dlq_url)
    assert dead["attributes"]["unlink-reason"] == "ResourceNotFoundException"
    after = stack.ledger.calls_by_operation()
    assert after["DescribeIdentity"] == before["DescribeIdentity"]  # low-rate APIs spared
    assert after["LookupDeveloperIdentity"] == before["LookupDeveloperIdentity"]


async def test_a_redelivered_federated_unlink_applied_before_a_crash_is_acknowledged(
    sqs: SQSClient, cognito: CognitoIdentityClient, queues: Queues, pool: Pool
) -> None:
    """The removed login's token no longer authorises: the retry meets NotAuthorized."""
    user = await federated_user(cognito, pool)
    command = federated_command(user)
    await sqs.send_message(QueueUrl=queues.url, MessageBody=json.dumps(command))
    got = await sqs.receive_message(QueueUrl=queues.url, VisibilityTimeout=30)
    await cognito.unlink_identity(
        IdentityId=user.identity_id,
        Logins={user.provider: user.token},
        LoginsToRemove=[user.provider],
    )
    await sqs.change_message_visibility(
        QueueUrl=queues.url, ReceiptHandle=got["Messages"][0]["ReceiptHandle"], VisibilityTimeout=0
    )
    stats = await run_until_idle(settings_for(queues.url))
    assert stats.outcomes["already_applied"] == 1
    assert await drain(sqs, queues.dlq_url) == []
