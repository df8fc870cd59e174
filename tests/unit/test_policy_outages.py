"""The policy during outages: nothing charged while a dependency is down, and a finite life."""

from __future__ import annotations

import pytest

from consumer.core import errors
from consumer.core.outcomes import Attempts, DeadLetter, Retry
from consumer.core.policy import Backoff, RetryPolicy

POLICY = RetryPolicy(max_attempts=3, backoff=Backoff(5, 900), max_age_seconds=3600)


@pytest.mark.parametrize(
    "error",
    [
        errors.NetworkFault(),
        errors.InternalError(),
        errors.WorkerFault(),
        errors.StoreUnavailable(),
    ],
)
def test_a_failure_during_an_outage_spends_nothing_and_comes_back_soon(
    error: errors.UnlinkError,
) -> None:
    attempts = Attempts(failures=2)
    for _ in range(100):
        outcome = POLICY.decide(error, attempts, own=False)
        assert isinstance(outcome, Retry)
        assert outcome.delay_seconds == POLICY.outage_delay_seconds
        assert outcome.attempts.failures == 2
        attempts = outcome.attempts
    assert attempts.deferrals == 100


def test_the_same_failure_while_others_succeed_spends_the_budget() -> None:
    outcome = POLICY.decide(errors.NetworkFault(), Attempts(failures=2), own=True)
    assert isinstance(outcome, DeadLetter)
    assert outcome.reason == "retries_exhausted"


def test_permanent_errors_and_throttles_ignore_the_outage_flag() -> None:
    assert isinstance(POLICY.decide(errors.ResourceConflict(), Attempts(), own=False), DeadLetter)
    throttled = POLICY.decide(errors.Throttled(), Attempts(), own=False)
    assert isinstance(throttled, Retry)
    assert throttled.attempts.throttles == 1


def test_a_command_older_than_the_max_age_is_dead_lettered_with_its_last_error() -> None:
    outcome = POLICY.decide(
        errors.WorkerFault("AccessDeniedException"), Attempts(deferrals=40), age_seconds=3601
    )
    assert outcome == DeadLetter(
        "max_age_exceeded", "last error worker_fault: AccessDeniedException", Attempts(deferrals=40)
    )
    young = POLICY.decide(errors.WorkerFault(), Attempts(deferrals=40), age_seconds=3599)
    assert isinstance(young, Retry)
    also_down = POLICY.decide(errors.NetworkFault(), Attempts(), own=False, age_seconds=4000)
    assert isinstance(also_down, DeadLetter)


def test_a_command_turned_away_while_paused_keeps_its_counts_until_its_max_age() -> None:
    outcome = POLICY.paused("network_error", Attempts(failures=1))
    assert outcome == Retry(POLICY.outage_delay_seconds, "network_error", Attempts(failures=1))
    old = POLICY.paused("network_error", Attempts(failures=1), age_seconds=3601)
    assert isinstance(old, DeadLetter)
    assert old.reason == "max_age_exceeded"
