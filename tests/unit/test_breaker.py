"""The dependency-health gate's states and charge rule, on a fake clock."""

from __future__ import annotations

import itertools
import random

import pytest

from consumer.core import errors
from consumer.core.breaker import (
    COGNITO,
    COGNITO_ANSWERED,
    CREDENTIALS,
    STORE,
    BreakerConfig,
    Change,
    HealthGate,
    State,
    dependency_of,
)
from tests.fakes import FakeClock

CONFIG = BreakerConfig(failures=3, probe_min_seconds=2, probe_max_seconds=30, window=10)


def gate() -> tuple[HealthGate, FakeClock, list[Change]]:
    clock = FakeClock()
    changes: list[Change] = []
    return HealthGate(clock, CONFIG, (changes.append,)), clock, changes


KEYS = itertools.count()


def new() -> str:
    """A command key never seen before: each call below is another command's."""
    return f"command-{next(KEYS)}"


def paused(health: HealthGate) -> bool:
    return health.paused  # a call, so that mypy does not narrow the property between steps


def warm(health: HealthGate, answers: int = 10) -> None:
    for _ in range(answers):
        health.answered(new(), COGNITO)


def test_consecutive_failures_across_commands_open_the_breaker_once() -> None:
    health, _, changes = gate()
    warm(health)
    for _ in range(2):
        health.failed(new(), COGNITO, "network_error")
    assert not paused(health)
    health.failed(new(), COGNITO, "network_error")
    assert paused(health)
    assert not health.admits()
    health.failed(new(), COGNITO, "network_error")  # stragglers change nothing
    assert changes == [Change(COGNITO, True, "network_error")]
    assert [o.dependency for o in health.outages()] == [COGNITO]
    assert health.last_error() == "network_error"


def test_an_answer_between_failures_keeps_it_closed() -> None:
    health, _, _ = gate()
    warm(health)
    for _ in range(20):
        health.failed(new(), COGNITO, "InternalErrorException")
        health.failed(new(), COGNITO, "InternalErrorException")
        health.answered(new(), COGNITO)
    assert not paused(health)


def test_the_probe_is_due_after_a_capped_doubling_backoff() -> None:
    health, clock, _ = gate()
    for _ in range(3):
        health.failed(new(), COGNITO, "network_error")
    waits = []
    for _ in range(6):
        waits.append(health.probe_in())
        clock.now += health.probe_in()
        assert health.admits()  # half-open: a probe may go
        assert health.outages()[0].state is State.HALF_OPEN
        health.failed(new(), COGNITO, "network_error")  # the probe fails
        assert not health.admits()
    assert waits == [2, 4, 8, 16, 30, 30]


def test_a_probe_answered_closes_it_and_reports_the_outage_length() -> None:
    health, clock, changes = gate()
    for _ in range(3):
        health.failed(new(), STORE, "idempotency_store_unavailable")
    clock.now += 45
    health.answered(new(), STORE)
    assert not paused(health)
    assert health.admits()
    assert changes[-1].down  # not over until the closing has held for the longest probe wait
    clock.now += 30
    assert not paused(health)
    assert changes[-1] == Change(STORE, False, "idempotency_store_unavailable", 45)
    # Over: the next outage starts from the shortest probe.
    for _ in range(3):
        health.failed(new(), STORE, "idempotency_store_unavailable")
    assert health.probe_in() == 2
    assert [c.down for c in changes] == [True, False, True]


def test_a_brownout_flaring_up_again_soon_is_one_outage_with_growing_probe_waits() -> None:
    health, clock, changes = gate()
    for flare in range(4):
        for _ in range(3):
            health.failed(new(), COGNITO, "InternalErrorException")
        assert paused(health)
        waits = health.probe_in()
        assert waits == [2, 4, 8, 16][flare]
        clock.now += waits
        health.answered(new(), COGNITO)  # a lucky probe
        clock.now += 5
    assert [c.down for c in changes] == [True]
    clock.now += 30
    assert not paused(health)
    assert changes[-1] == Change(
        COGNITO, False, "InternalErrorException", 2 + 5 + 4 + 5 + 8 + 5 + 16
    )


def test_a_cognito_answer_also_clears_the_credentials() -> None:
    health, clock, changes = gate()
    for _ in range(3):
        health.failed(new(), CREDENTIALS, "worker_fault")
    assert paused(health)
    health.answered(new(), *COGNITO_ANSWERED)
    assert not paused(health)
    clock.now += 30
    assert not paused(health)
    assert [c.down for c in changes] == [True, False]


def test_each_dependency_trips_on_its_own_failures() -> None:
    health, _, _ = gate()
    health.failed(new(), COGNITO, "network_error")
    health.failed(new(), STORE, "idempotency_store_unavailable")
    health.failed(new(), COGNITO, "network_error")
    assert not paused(health)


def test_a_failure_is_charged_only_while_the_dependency_otherwise_answers() -> None:
    health, _, _ = gate()
    assert health.failed("first", COGNITO, "x")  # nothing else seen: nothing speaks for an outage
    assert health.failed("first", COGNITO, "x")  # its own failures prove nothing either
    warm(health)
    assert health.failed(new(), COGNITO, "x")  # others answer: this one is its own
    assert not health.failed(new(), COGNITO, "x")  # two in a row: maybe everyone's
    health.answered(new(), COGNITO)
    assert health.failed(new(), COGNITO, "x")


def test_a_command_failing_among_good_ones_is_charged_every_time() -> None:
    health, _, _ = gate()
    warm(health)
    charged = 0
    for _ in range(8):
        charged += health.failed("bad", COGNITO, "InternalErrorException")
        warm(health, 3)
    assert charged == 8
    assert not paused(health)


def test_a_command_failing_alone_after_the_others_finished_is_charged_and_never_trips() -> None:
    health, _, _ = gate()
    warm(health)
    charged = [health.failed("bad", COGNITO, "InternalErrorException") for _ in range(5)]
    # Its own failures are no evidence against Cognito: the other commands' answers still stand,
    # and one command failing alone never pauses the worker for everyone.
    assert charged == [True] * 5
    assert not paused(health)
    # A second command failing too is: the run of failures now spans two commands.
    health.failed("other", COGNITO, "InternalErrorException")
    assert paused(health)


def test_the_latest_answer_for_another_command_is_the_evidence() -> None:
    health, _, _ = gate()
    warm(health)
    assert health.failed("a", COGNITO, "x")
    assert not health.failed("b", COGNITO, "x")  # after a's failure: maybe everyone's
    assert not health.failed("a", COGNITO, "x")  # b's failure is the latest of the others


@pytest.mark.parametrize("failure_rate", [0.90, 0.95, 1.0])
def test_a_brownout_charges_almost_nobody(failure_rate: float) -> None:
    health, clock, _ = gate()
    rng = random.Random(7)
    warm(health)
    charged = failed = 0
    for _ in range(5000):
        if not health.admits():
            clock.now += health.probe_in()
            continue
        if rng.random() < failure_rate:
            failed += 1
            charged += health.failed(new(), COGNITO, "InternalErrorException")
        else:
            health.answered(new(), COGNITO)
        clock.now += 0.01
    # At most the first failure after a success is charged, and only while most calls answer.
    assert charged <= 2
    assert failed > 100


def test_dependencies_of_errors() -> None:
    assert dependency_of(errors.NetworkFault()) == COGNITO
    assert dependency_of(errors.InternalError()) == COGNITO
    assert dependency_of(errors.WorkerFault()) == CREDENTIALS
    assert dependency_of(errors.StoreUnavailable()) == STORE
    assert dependency_of(errors.Throttled()) is None  # an answer: "slow down"
    assert dependency_of(errors.ResourceNotFound()) is None
    assert dependency_of(errors.InProgressElsewhere()) is None
    assert dependency_of(errors.UnexpectedError()) is None


def test_at_shutdown_a_closed_breaker_reports_its_outage_over() -> None:
    health, clock, changes = gate()
    for _ in range(3):
        health.failed(new(), COGNITO, "network_error")
    clock.now += 10
    health.answered(new(), COGNITO)
    health.finish()
    assert changes == [
        Change(COGNITO, True, "network_error"),
        Change(COGNITO, False, "network_error", 10),
    ]
