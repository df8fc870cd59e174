from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer.core import errors
from consumer.core.outcomes import Ack, Attempts, DeadLetter, Retry
from consumer.core.policy import Backoff, RetryPolicy

PERMANENT_CASES = [
    (errors.MalformedCommand("x"), "malformed"),
    (errors.InvalidParameter("x"), "InvalidParameterException"),
    (errors.ResourceNotFound("x"), "ResourceNotFoundException"),
    (errors.ResourceConflict("x"), "ResourceConflictException"),
    (errors.NotAuthorized("x"), "NotAuthorizedException"),
]
FAILURE_CASES = [errors.InternalError(), errors.ExternalServiceError(), errors.NetworkFault()]
FREE_CASES = [errors.WorkerFault(), errors.StoreUnavailable(), errors.InProgressElsewhere()]


def policy(max_attempts: int = 8, max_throttles: int = 50) -> RetryPolicy:
    return RetryPolicy(max_attempts, max_throttles, Backoff(rng=random.Random(7)))


@pytest.mark.parametrize(("error", "reason"), PERMANENT_CASES)
@pytest.mark.parametrize("before", [Attempts(), Attempts(failures=3, throttles=9)])
def test_permanent_errors_dead_letter_at_once(
    error: errors.UnlinkError, reason: str, before: Attempts
) -> None:
    outcome = policy().decide(error, before)
    assert outcome == DeadLetter(reason=reason, detail="x", attempts=before)


@pytest.mark.parametrize("own", [True, False])
def test_a_user_linked_to_nothing_is_acknowledged_never_dead_lettered(own: bool) -> None:
    old = 4 * 24 * 3600.0  # past max_age: an acknowledgement is no retry, so age cannot matter
    outcome = policy().decide(errors.NotLinked("x"), Attempts(failures=7), own=own, age_seconds=old)
    assert outcome == Ack("not_linked")


@pytest.mark.parametrize("error", FAILURE_CASES)
def test_failures_retry_until_the_budget_is_spent(error: errors.UnlinkError) -> None:
    attempts = Attempts()
    outcomes = []
    for _ in range(8):
        outcome = policy(max_attempts=8).decide(error, attempts)
        outcomes.append(outcome)
        if isinstance(outcome, Retry):
            attempts = outcome.attempts
    assert all(isinstance(o, Retry) for o in outcomes[:7])
    assert [o.attempts.failures for o in outcomes[:7] if isinstance(o, Retry)] == list(range(1, 8))
    last = outcomes[7]
    assert isinstance(last, DeadLetter)
    assert last.reason == "retries_exhausted"
    assert error.code in last.detail
    assert last.attempts.failures == 7  # the router adds the eighth


def test_throttling_has_its_own_larger_budget() -> None:
    p = policy(max_attempts=3, max_throttles=10)
    attempts = Attempts(failures=2)
    for expected in range(1, 10):
        outcome = p.decide(errors.Throttled(), attempts)
        assert isinstance(outcome, Retry), expected
        assert outcome.attempts.failures == 2  # the failure budget is untouched
        attempts = outcome.attempts
    final = p.decide(errors.Throttled(), attempts)
    assert isinstance(final, DeadLetter)
    assert final.reason == "retries_exhausted"


@pytest.mark.parametrize("error", FREE_CASES)
def test_faults_of_the_worker_never_spend_the_budget(error: errors.UnlinkError) -> None:
    attempts = Attempts(failures=7, throttles=49)
    for _ in range(100):
        outcome = policy().decide(error, attempts)
        assert isinstance(outcome, Retry)
        assert (outcome.attempts.failures, outcome.attempts.throttles) == (7, 49)
        attempts = outcome.attempts


def test_unforeseen_errors_spend_the_failure_budget() -> None:
    outcome = policy().decide(errors.UnlinkError("?"), Attempts())
    assert isinstance(outcome, Retry)
    assert outcome.attempts.failures == 1


@given(
    attempt=st.integers(min_value=1, max_value=10_000),
    base=st.floats(min_value=0.01, max_value=900),
    cap=st.floats(min_value=0.01, max_value=5000),
    seed=st.integers(),
)
def test_backoff_stays_within_sqs_bounds(attempt: int, base: float, cap: float, seed: int) -> None:
    delay = Backoff(base, cap, random.Random(seed)).delay(attempt)
    assert 1 <= delay <= 900
    ceiling = min(cap, base * 2 ** min(attempt - 1, 30), 900)
    assert delay >= min(900, int(ceiling / 2))
    assert delay <= max(1, int(ceiling) + 1)


def test_backoff_grows_exponentially_until_the_cap() -> None:
    backoff = Backoff(2.0, 900, random.Random(1))
    ceilings = [min(900, 2.0 * 2 ** (n - 1)) for n in range(1, 12)]
    for n, ceiling in enumerate(ceilings, start=1):
        assert ceiling / 2 <= backoff.delay(n) <= ceiling + 1
