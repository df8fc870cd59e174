"""Nothing lost to a frozen worker, a failed look-up or a forged attribute (through the stack).

Each test is a workflow a fleet meets: a worker that freezes past its claim lock and comes back,
a lost answer whose proving look-up is throttled, a look-up that fails while the queue is quiet,
and a producer's `unlink-first-seen` that claims the command is days old.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from structlog.testing import capture_logs

from consumer.app import build_rate_limiter
from consumer.aws.clients import open_clients
from consumer.aws.cognito import CognitoExecutor
from consumer.aws.dynamo_store import DynamoStore
from consumer.core import attributes
from consumer.core.clock import SystemClock
from consumer.core.commands import Command
from consumer.core.messages import Message
from consumer.core.outcomes import Ack, Release
from consumer.core.policy import RetryPolicy
from consumer.core.processor import Processor
from consumer.local.stack import LocalStack
from tests.conftest import make_table
from tests.integration.conftest import Pool, Queues, developer_command, developer_user, drain
from tests.integration.worker_runner import run_until_idle, settings_for

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_sqs import SQSClient


def _message(body: str, receive_count: int = 1) -> Message:
    return Message(uuid.uuid4().hex, uuid.uuid4().hex, body, receive_count, 0)


async def _processor(table: str, lock_seconds: float, freeze: Callable[[], None] | None) -> Any:
    """A worker's processor on its own clients; ``freeze`` runs once before its first call."""
    settings = settings_for("https://sqs.us-east-1.amazonaws.com/0/q", idempotency_table=table)
    opened = open_clients(settings)
    clients = await opened.__aenter__()
    executor = CognitoExecutor(clients.cognito, build_rate_limiter(settings, SystemClock()), 10.0)
    if freeze is not None:
        real = executor.execute

        async def frozen(command: Command, *args: Any, **kwargs: Any) -> None:
            freeze()  # blocks this whole event loop: no renewal, no heartbeat, nothing
            await real(command, *args, **kwargs)

        executor.execute = frozen  # type: ignore[method-assign]
    assert clients.dynamodb is not None
    store = DynamoStore(clients.dynamodb, table, SystemClock(), 3600)
    return Processor(executor, store, RetryPolicy(), lock_seconds), opened


async def test_a_worker_frozen_past_its_lock_never_dead_letters_what_another_applied(
    cognito: CognitoIdentityClient, dynamodb: DynamoDBClient, pool: Pool, stack: LocalStack
) -> None:
    table = await make_table(dynamodb)
    user = await developer_user(cognito, pool)
    body = json.dumps(developer_command(pool, user))
    other: dict[str, Any] = {}

    def another_worker_takes_over() -> None:
        async def run() -> None:
            await asyncio.sleep(1.2)  # the frozen worker's lock (1 s) goes stale
            processor, opened = await _processor(table, 1.0, None)
            try:
                other["result"] = await processor.process(_message(body, receive_count=2))
            finally:
                await opened.__aexit__(None, None, None)

        thread = threading.Thread(target=lambda: asyncio.run(run()))
        thread.start()
        thread.join()

    frozen, opened = await _processor(table, 1.0, another_worker_takes_over)
    try:
        result = await frozen.process(_message(body))
    finally:
        await opened.__aexit__(None, None, None)

    assert other["result"].outcome == Ack("applied")
    # Cognito answers the frozen worker ResourceNotFound (the other's unlink is in); it no
    # longer holds the claim, so it hands the message back instead of deciding.
    assert result.outcome == Release(0)
    applied = [e for e in stack.ledger.applied() if e.identity_id == user.identity_id]
    assert len(applied) == 1


async def test_a_lost_answer_whose_look_up_is_throttled_is_still_acknowledged_later(
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
    queues: Queues,
    pool: Pool,
    clean_faults: LocalStack,
) -> None:
    """The unlink applies and its answer is lost; botocore tries again and meets
    ResourceNotFound; the look-up that would prove it is throttled. The evidence of the lost
    answer goes into the record, so the next attempt proves it and acknowledges."""
    stack = clean_faults
    user = await developer_user(cognito, pool)
    stack.faults.fail_after_apply[user.identity_id] = "InternalErrorException"
    stack.faults.fail_lookups = "TooManyRequestsException"
    await sqs.send_message(
        QueueUrl=queues.url, MessageBody=json.dumps(developer_command(pool, user))
    )
    settings = settings_for(queues.url, cognito_max_attempts=2, backoff_max_seconds=1)

    async def heal_after_the_first_attempt() -> None:
        while not any(e.identity_id == user.identity_id for e in stack.ledger.applied()):
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        stack.faults.fail_lookups = None

    healing = asyncio.create_task(heal_after_the_first_attempt())
    stats = await run_until_idle(settings, limit_seconds=60)
    await healing
    assert stats.outcomes["already_applied"] == 1
    assert stats.outcomes.get("dead_lettered", 0) == 0
    assert await drain(sqs, queues.dlq_url) == []


async def test_a_failing_look_up_on_a_quiet_worker_is_the_commands_own_and_reaches_the_dlq(
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
    queues: Queues,
    pool: Pool,
    clean_faults: LocalStack,
) -> None:
    """Typo commands after a lost answer need a look-up that keeps failing: each is charged
    and dead-lettered, the breaker never pauses the worker for them."""
    stack = clean_faults
    users = [await developer_user(cognito, pool) for _ in range(6)]
    commands = [developer_command(pool, u, DeveloperUserIdentifier=u.user + "-typo") for u in users]
    for user in users:  # each first attempt: a 5xx after the call (evidence of a lost answer)
        stack.faults.fail_identities[user.identity_id] = "InternalErrorException"
    stack.faults.fail_lookups = "InternalErrorException"
    entries: Any = [{"Id": str(i), "MessageBody": json.dumps(c)} for i, c in enumerate(commands)]
    await sqs.send_message_batch(QueueUrl=queues.url, Entries=entries)

    async def typos_answer_not_found_from_now_on() -> None:
        await asyncio.sleep(1.0)
        stack.faults.fail_identities.clear()

    clearing = asyncio.create_task(typos_answer_not_found_from_now_on())
    settings = settings_for(queues.url, cognito_max_attempts=1, max_attempts=3)
    with capture_logs() as logs:
        stats = await run_until_idle(settings, limit_seconds=90)
    await clearing
    dead = await drain(sqs, queues.dlq_url)
    assert len(dead) == len(users) == stats.outcomes["dead_lettered"]
    # Those whose look-up kept failing spent their own budget; the rest had no evidence.
    reasons = {d["attributes"][attributes.REASON] for d in dead}
    assert reasons <= {"retries_exhausted", "ResourceNotFoundException"}
    assert "retries_exhausted" in reasons
    assert not [e for e in logs if e["event"] == "dependency_down"]  # never a pause for all


async def test_a_forged_first_seen_neither_ages_a_command_out_nor_keeps_it_young(
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
    queues: Queues,
    pool: Pool,
    clean_faults: LocalStack,
) -> None:
    stack = clean_faults
    user = await developer_user(cognito, pool)
    stack.faults.fail_identities[user.identity_id] = "TooManyRequestsException"
    forged: Any = {
        attributes.FIRST_SEEN: {"DataType": "String", "StringValue": "2020-01-01T00:00:00.000Z"}
    }
    await sqs.send_message(
        QueueUrl=queues.url,
        MessageBody=json.dumps(developer_command(pool, user)),
        MessageAttributes=forged,
    )

    async def heal() -> None:
        await asyncio.sleep(1.5)
        stack.faults.fail_identities.clear()

    healing = asyncio.create_task(heal())
    settings = settings_for(queues.url, cognito_max_attempts=1)
    stats = await run_until_idle(settings, limit_seconds=60)
    await healing
    assert stats.outcomes["applied"] == 1  # throttled first, never "max_age_exceeded"
    assert await drain(sqs, queues.dlq_url) == []
