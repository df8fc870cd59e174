"""FIFO queues keep the same budgets: a throttled group head spends its throttle budget only.

On FIFO a retry keeps the message (hidden), so its receive count grows with every throttle,
every hand-back and every message held behind the head. Counting receives as failures
dead-lettered a head throttled more often than the failure budget at its first real failure;
the counts now live in the claim record, so only the command's own failures spend its failure
budget.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from consumer.local.stack import LocalStack
from tests.integration.conftest import Pool, developer_command, developer_user, drain, make_queues
from tests.integration.worker_runner import UNPACED, run_until_idle, settings_for

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient
    from types_aiobotocore_sqs import SQSClient

# botocore tries each call twice: five throttled attempts of the head, then one failed one.
SCRIPT = ["TooManyRequestsException"] * 10 + ["InternalErrorException"] * 2
MAX_ATTEMPTS = 2


async def test_a_group_throttled_more_often_than_the_failure_budget_still_applies_in_order(
    sqs: SQSClient, cognito: CognitoIdentityClient, pool: Pool, stack: LocalStack
) -> None:
    queues = await make_queues(sqs, fifo=True, max_receive=100)
    users = [await developer_user(cognito, pool) for _ in range(3)]
    entries: Any = [
        {
            "Id": str(index),
            "MessageBody": json.dumps(developer_command(pool, user)),
            "MessageGroupId": "g",
            "MessageDeduplicationId": f"{index}-{user.user}",
        }
        for index, user in enumerate(users)
    ]
    await sqs.send_message_batch(QueueUrl=queues.url, Entries=entries)
    head = users[0].identity_id
    script = list(SCRIPT)
    stack.faults.fail_identities[head] = script[0]
    original = stack.ledger.record_call

    def count_down(operation: str, outcome: str) -> None:
        original(operation, outcome)
        if script and outcome == script[0] and head in stack.faults.fail_identities:
            script.pop(0)
            if script:
                stack.faults.fail_identities[head] = script[0]
            else:
                del stack.faults.fail_identities[head]

    stack.ledger.record_call = count_down  # type: ignore[method-assign]
    try:
        settings = settings_for(
            queues.url,
            visibility_timeout_seconds=10,
            max_attempts=MAX_ATTEMPTS,
            # Unpaced: a learned rate would slow to a crawl after these throttles, and pacing
            # is not what this asserts (test_pacing and the quota tests cover it).
            fleet_rate_limit=UNPACED,
        )
        stats = await run_until_idle(settings, limit_seconds=120)
    finally:
        stack.ledger.record_call = original  # type: ignore[method-assign]
        stack.faults.fail_identities.pop(head, None)

    assert script == []  # the head really was throttled that often, then failed once
    assert stats.outcomes["retried"] == 6
    assert await drain(sqs, queues.dlq_url) == []
    assert stats.outcomes["applied"] == 3
    ids = {u.identity_id for u in users}
    order = [e.identity_id for e in stack.ledger.applied() if e.identity_id in ids]
    assert order == [u.identity_id for u in users]
