"""Each HTTP attempt of an unlink is paced by the limiter and reports its throttle to it.

botocore retries a throttled unlink once; the retry must wait for a limiter slot like any call,
and the throttle it absorbed must still reach the limiter, or a fleet overshoots the quota for
as long as second attempts get through.
"""

from __future__ import annotations

import time

import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from consumer.aws.cognito import CognitoExecutor
from consumer.core import errors
from consumer.core.clock import SystemClock
from consumer.core.commands import UnlinkDeveloperIdentity
from consumer.local.seed import seed_in_process
from consumer.local.stack import LocalStack
from consumer.rate.laws import LocalLaw
from consumer.rate.limiter import QuotaLimiter
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


async def test_a_command_throttled_on_receive_after_receive_does_not_slow_the_worker(
    clean_faults: LocalStack, aws_env: dict[str, str]
) -> None:
    stack = clean_faults
    poisoned, *others = seed_in_process(stack, developer=22).developer
    commands = [
        UnlinkDeveloperIdentity.model_validate(
            {"action": "UnlinkDeveloperIdentity", **d.unlink_request()}
        )
        for d in (poisoned, *others)
    ]
    stack.faults.fail_identities[poisoned.identity_id] = "TooManyRequestsException"
    limiter = QuotaLimiter(SystemClock(), local=LocalLaw(rate=1000.0))
    async with get_session().create_client(
        "cognito-identity", region_name="us-east-1", config=ONE_RETRY
    ) as client:
        executor = CognitoExecutor(client, limiter, 10.0)
        for command in commands[1:-1]:  # other calls get through
            await executor.execute(command)
        rate = limiter.rate
        assert rate is not None
        with pytest.raises(errors.Throttled):  # its third receive: throttled twice before
            await executor.execute(commands[0], throttled_before=2)
        assert (limiter.repeats, limiter.tally.throttles) == (2, 0)  # both attempts
        assert limiter.rate == rate
        with pytest.raises(errors.Throttled):  # a first receive: the quota's, as far as known
            await executor.execute(commands[0])
        assert limiter.tally.throttles == 2
        assert limiter.rate is not None
        assert limiter.rate < rate
        await executor.execute(commands[-1])
    assert limiter.tally.successes == len(others)
