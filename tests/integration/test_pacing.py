"""Each HTTP attempt of an unlink is paced by the limiter and reports its throttle to it.

botocore retries a throttled unlink once; the retry must wait for a limiter slot like any call,
and the throttle it absorbed must still reach the limiter, or a fleet overshoots the quota for
as long as second attempts get through.
"""

from __future__ import annotations

import time

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from consumer.aws.cognito import CognitoExecutor
from consumer.local.stack import LocalStack
from tests.integration.limiters import RecordingLimiter, two_developer_commands

ONE_RETRY = AioConfig(retries={"mode": "standard", "total_max_attempts": 2})


async def test_a_retried_throttle_waits_for_a_slot_and_is_reported(
    clean_faults: LocalStack, aws_env: dict[str, str]
) -> None:
    stack = clean_faults
    (first, second), commands = two_developer_commands(stack)
    limiter = RecordingLimiter(wait_s=2.1)
    stack.faults.quota_rps, stack.faults.quota_burst = 0.5, 1.0  # a token per 2 s
    calls_before = stack.ledger.calls()
    async with get_session().create_client(
        "cognito-identity", region_name="us-east-1", config=ONE_RETRY
    ) as client:
        executor = CognitoExecutor(client, limiter, 10.0)
        started = time.monotonic()
        await executor.execute(commands[0])  # takes the bucket's only token
        await executor.execute(commands[1])  # throttled at once; botocore's retry gets through
    calls = stack.ledger.calls() - calls_before
    operation = "UnlinkDeveloperIdentity"
    assert calls[(operation, "TooManyRequestsException")] == 1
    assert calls[(operation, "ok")] == 2
    assert limiter.throttles == 1  # the throttle botocore absorbed reached the limiter
    assert limiter.sent_at[0] is not None
    assert started < limiter.sent_at[0] < time.monotonic()  # with the time its attempt left
    assert limiter.acquires == 3  # two first attempts and the retry
    assert limiter.successes == 2
    # Every attempt's round trip, the retry's without its wait for a slot: slow start's pace.
    assert len(limiter.answers) == 3
    assert all(0.0 < seconds < limiter.wait_s / 2 for seconds in limiter.answers)
    applied = {e.key for e in stack.ledger.applied()}
    assert {first.developer_user_identifier, second.developer_user_identifier} <= applied
