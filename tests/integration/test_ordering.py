"""FIFO group order and the visibility heartbeat, through the real protocol."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from consumer.local.stack import LocalStack
from tests.integration.conftest import (
    Pool,
    Queues,
    developer_command,
    developer_user,
    drain,
    make_queues,
)
from tests.integration.worker_runner import run_until_idle, settings_for

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient
    from types_aiobotocore_sqs import SQSClient


async def test_fifo_groups_run_in_order_and_a_failure_blocks_only_its_group(
    sqs: SQSClient, cognito: CognitoIdentityClient, pool: Pool, stack: LocalStack
) -> None:
    queues = await make_queues(sqs, fifo=True)
    group_a = [await developer_user(cognito, pool) for _ in range(3)]
    group_b = [await developer_user(cognito, pool) for _ in range(3)]
    entries: Any = []
    for group, users in (("a", group_a), ("b", group_b)):
        for index, user in enumerate(users):
            entries.append(
                {
                    "Id": f"{group}{index}",
                    "MessageBody": json.dumps(developer_command(pool, user)),
                    "MessageGroupId": group,
                    "MessageDeduplicationId": f"{group}-{index}-{user.user}",
                }
            )
    await sqs.send_message_batch(QueueUrl=queues.url, Entries=entries)
    # The head of group a fails twice (an outage on that identity), then recovers.
    failures = {"left": 2}
    head = group_a[0].identity_id
    stack.faults.fail_identities[head] = "InternalErrorException"
    original = stack.ledger.record_call

    def count_down(operation: str, outcome: str) -> None:
        original(operation, outcome)
        if outcome == "InternalErrorException" and head in stack.faults.fail_identities:
            failures["left"] -= 1
            if failures["left"] <= 0:
                del stack.faults.fail_identities[head]

    stack.ledger.record_call = count_down  # type: ignore[method-assign]
    try:
        stats = await run_until_idle(settings_for(queues.url, visibility_timeout_seconds=10))
    finally:
        stack.ledger.record_call = original  # type: ignore[method-assign]
        stack.faults.fail_identities.pop(head, None)

    assert stats.outcomes["applied"] == 6
    order = [
        e.identity_id
        for e in stack.ledger.applied()
        if e.key in {u.user for u in group_a + group_b}
    ]
    a_order = [i for i in order if i in {u.identity_id for u in group_a}]
    assert a_order == [u.identity_id for u in group_a]  # in order despite the retries
    b_order = [i for i in order if i in {u.identity_id for u in group_b}]
    assert b_order == [u.identity_id for u in group_b]
    # Group b did not wait for group a's trouble.
    assert order.index(group_b[-1].identity_id) < order.index(group_a[0].identity_id)
    assert await drain(sqs, queues.dlq_url) == []


async def test_a_slow_command_keeps_its_message_hidden_until_it_finishes(
    sqs: SQSClient, cognito: CognitoIdentityClient, queues: Queues, pool: Pool, stack: LocalStack
) -> None:
    user = await developer_user(cognito, pool)
    await sqs.send_message(
        QueueUrl=queues.url, MessageBody=json.dumps(developer_command(pool, user))
    )
    stack.faults.latency_s = 9.0  # longer than the 5 s visibility
    try:
        stats = await run_until_idle(
            settings_for(queues.url, visibility_timeout_seconds=5, call_timeout_seconds=20)
        )
    finally:
        stack.faults.latency_s = 0.0
    assert stats.received == 1  # never redelivered while it ran
    assert stats.outcomes["applied"] == 1
