"""Injected latency, quota and errors: seen by the client as the service's own, never applied."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import pytest

from consumer.local.faults import Faults, TokenBucket
from consumer.local.seed import seed_in_process
from consumer.local.stack import LocalStack

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient

UNKNOWN_IDENTITY = "us-east-1:00000000-0000-4000-8000-000000000000"


async def test_latency_is_added_to_every_cognito_call(
    cognito: CognitoIdentityClient, stack: LocalStack
) -> None:
    stack.faults.latency_s = 0.25
    started = time.perf_counter()
    with pytest.raises(cognito.exceptions.ResourceNotFoundException):
        await cognito.describe_identity(IdentityId=UNKNOWN_IDENTITY)
    assert time.perf_counter() - started >= 0.25

    stack.faults.latency_s = 0.0
    started = time.perf_counter()
    with pytest.raises(cognito.exceptions.ResourceNotFoundException):
        await cognito.describe_identity(IdentityId=UNKNOWN_IDENTITY)
    assert time.perf_counter() - started < 0.25


async def test_quota_throttles_the_excess_and_throttled_calls_apply_nothing(
    cognito: CognitoIdentityClient, stack: LocalStack
) -> None:
    seeded = seed_in_process(stack, developer=8, federated=4)
    before_applied = stack.ledger.applied_count()
    before_throttled = stack.ledger.throttled()
    stack.faults.quota_rps = 2.0  # a bucket of 2, refilled at 2/s: most of 12 calls are refused

    async def unlink_developer(i: int) -> bool:
        try:
            await cognito.unlink_developer_identity(**seeded.developer[i].unlink_request())
        except cognito.exceptions.TooManyRequestsException:
            return False
        return True

    async def unlink_federated(i: int) -> bool:
        try:
            await cognito.unlink_identity(**seeded.federated[i].unlink_request())
        except cognito.exceptions.TooManyRequestsException:
            return False
        return True

    results = await asyncio.gather(
        *(unlink_developer(i) for i in range(8)), *(unlink_federated(i) for i in range(4))
    )

    passed = sum(results)
    assert 1 <= passed <= 4
    assert stack.ledger.applied_count() - before_applied == passed
    assert stack.ledger.throttled() - before_throttled == len(results) - passed
    for dev, ok in zip(seeded.developer, results[:8], strict=True):
        linked = (await cognito.describe_identity(IdentityId=dev.identity_id)).get("Logins", [])
        assert (dev.developer_provider_name in linked) is not ok


async def test_internal_errors_are_500s_that_change_nothing(
    cognito: CognitoIdentityClient, stack: LocalStack
) -> None:
    seeded = seed_in_process(stack, developer=1, federated=1)
    before = stack.ledger.applied_count()
    stack.faults.internal_error_rate = 1.0

    with pytest.raises(cognito.exceptions.InternalErrorException) as error:
        await cognito.unlink_developer_identity(**seeded.developer[0].unlink_request())
    with pytest.raises(cognito.exceptions.InternalErrorException):
        await cognito.unlink_identity(**seeded.federated[0].unlink_request())
    described = await cognito.describe_identity(IdentityId=seeded.developer[0].identity_id)

    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert described["Logins"] == [seeded.pool.developer_provider_name]  # other calls unharmed
    assert stack.ledger.applied_count() == before


async def test_external_service_errors_hit_unlink_identity_only(
    cognito: CognitoIdentityClient, stack: LocalStack
) -> None:
    seeded = seed_in_process(stack, developer=1, federated=1)
    stack.faults.external_error_rate = 1.0

    with pytest.raises(cognito.exceptions.ExternalServiceException):
        await cognito.unlink_identity(**seeded.federated[0].unlink_request())
    await cognito.unlink_developer_identity(**seeded.developer[0].unlink_request())

    assert stack.identities.current_tokens(seeded.federated[0].identity_id) == dict(
        seeded.federated[0].logins
    )


async def test_a_failing_identity_answers_its_error_every_time(
    cognito: CognitoIdentityClient, stack: LocalStack
) -> None:
    seeded = seed_in_process(stack, developer=2)
    doomed, fine = seeded.developer
    stack.faults.fail_identities[doomed.identity_id] = "InvalidParameterException"

    for _ in range(2):
        with pytest.raises(cognito.exceptions.InvalidParameterException):
            await cognito.unlink_developer_identity(**doomed.unlink_request())
    await cognito.unlink_developer_identity(**fine.unlink_request())

    assert stack.identities.describe(doomed.identity_id).logins == (
        seeded.pool.developer_provider_name,
    )


def test_token_bucket_refills_at_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(clock=lambda: now[0])
    assert [bucket.try_take(2.0) for _ in range(3)] == [True, True, False]
    now[0] += 0.5  # one more token
    assert [bucket.try_take(2.0) for _ in range(2)] == [True, False]
    now[0] += 10.0  # never more than the bucket holds
    assert [bucket.try_take(2.0) for _ in range(3)] == [True, True, False]
    assert bucket.try_take(2.0, burst=5.0)  # a new shape starts full


def test_token_bucket_below_one_per_second_still_lets_one_through() -> None:
    now = [0.0]
    bucket = TokenBucket(clock=lambda: now[0])
    assert [bucket.try_take(0.5) for _ in range(2)] == [True, False]
    now[0] += 2.0
    assert bucket.try_take(0.5)


@pytest.mark.parametrize(
    "changes",
    [
        {"latency_s": -1},
        {"latency_s": "slow"},
        {"quota_rps": 0},
        {"quota_burst": 0.5},
        {"internal_error_rate": 1.5},
        {"external_error_rate": True},
        {"fail_identities": ["x"]},
        {"no_such_knob": 1},
    ],
)
def test_bad_fault_settings_are_refused_and_change_nothing(changes: dict[str, object]) -> None:
    faults = Faults(latency_s=0.1)
    with pytest.raises(ValueError, match=r"\w"):
        faults.update(changes)
    assert faults == Faults(latency_s=0.1)


def test_fault_settings_round_trip_through_json() -> None:
    faults = Faults(quota_rps=5, fail_identities={"us-east-1:0": "InternalErrorException"})
    assert Faults.from_json(faults.to_json()) == faults
