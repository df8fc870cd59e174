"""The fleet's rate decisions against a simulated token bucket, on a simulated clock.

Each run is the real `QuotaLimiter`, `LocalLaw`, `FleetLaw` and `FleetMember` of every worker
(see tests/support/fleet_sim.py); figures are taken over the steady part of a run, the middle
80% of its commands, as the benchmark does.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests.support.fleet_sim import Spec, run

SECONDS = 300.0  # of work per run at the quota


def _spec(workers: int, quota: float, **changes: Any) -> Spec:
    return Spec(workers=workers, quota=quota, commands=int(quota * SECONDS), **changes)


@pytest.mark.parametrize("quota", [10.0, 25.0, 50.0])
@pytest.mark.parametrize("workers", [1, 3, 5, 10])
def test_with_the_shared_table_the_fleet_holds_the_quota(workers: int, quota: float) -> None:
    result = run(_spec(workers, quota))
    rate, throttled = result.steady()
    assert rate >= 0.97 * quota
    assert throttled <= 0.01
    # Two small requests per worker per second (its own item, the plan item), and the leader's
    # read of every worker and change of rate once per window.
    assert result.dynamo_requests / result.ended_at / workers <= 2.1 + 1.0 / workers


@pytest.mark.parametrize("lag", [0.0, 0.02])
@pytest.mark.parametrize("latency", [0.02, 0.2])
@pytest.mark.parametrize("quota", [10.0, 25.0, 50.0])
@pytest.mark.parametrize("workers", [1, 3, 5, 10])
def test_every_cell_of_the_matrix_gets_the_quota_from_a_cold_start(
    workers: int, quota: float, latency: float, lag: float
) -> None:
    # `python -m bench.ablation`'s matrix with the table: 90 s of work at the quota. Callers
    # woken 20 ms late (a busy machine) lose a little of it.
    result = run(Spec(workers, quota, int(quota * 90), latency=latency, lag=lag))
    rate, throttled = result.steady()
    assert rate >= (0.98 if lag else 0.99) * quota
    assert throttled <= 0.006
    assert result.throttled() <= 0.01  # the cold start included


@pytest.mark.parametrize("quota", [10.0, 25.0, 50.0])
@pytest.mark.parametrize("workers", [1, 3, 5])
def test_without_a_table_each_worker_steers_to_the_same_small_throttle_share(
    workers: int, quota: float
) -> None:
    rate, throttled = run(_spec(workers, quota, shared=False)).steady()
    assert rate >= 0.90 * quota
    assert throttled <= 0.03


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("workers", [1, 3])
def test_with_no_quota_a_cold_worker_is_at_full_speed_in_a_second_a_fleet_in_three(
    workers: int, shared: bool
) -> None:
    # 8 in flight over 20 ms calls: 400 calls/s a worker, about the benchmark's local stack.
    spec = Spec(workers, math.inf, 4000 * workers, shared=shared, concurrency=8)
    result = run(spec)
    full = workers * spec.concurrency / spec.latency  # calls in flight / call latency
    ramp = 3.0 if shared else 1.0  # in a fleet: the prober, then the others doubling
    assert result.applied_between(ramp, ramp + 1.0) >= 0.95 * full
    assert result.applied_between(ramp + 1.0, ramp + 2.0) >= 0.99 * full


@pytest.mark.parametrize("latency", [0.02, 0.2])
# Without a table the goal covers fleets up to 5: ten cold workers start above a quota of 10/s.
@pytest.mark.parametrize(
    ("shared", "workers"), [(True, 1), (True, 5), (True, 10), (False, 1), (False, 5)]
)
@pytest.mark.parametrize("quota", [10.0, 50.0])
def test_a_cold_fleet_finds_the_quota_within_two_seconds_and_throttles_little_meanwhile(
    workers: int, quota: float, shared: bool, latency: float
) -> None:
    result = run(_spec(workers, quota, shared=shared, latency=latency))
    # Alone, a worker's steady cuts (15%) grow back slowly: 90% is its bound without a table.
    assert result.applied_between(2.0, 10.0) >= (0.95 if shared else 0.90) * quota
    startup = sum(throttled for at, throttled in result.calls_at if at < 10.0)
    # The burst's overshoot until the first throttle comes back, and a cut or two after: one
    # sender's with the table, each worker's without, at quick answers and slow ones alike.
    assert startup <= 0.5 * quota + 2 * (1 if shared else workers)


@pytest.mark.parametrize("latency", [0.02, 0.2])
@pytest.mark.parametrize("quota", [10.0, 25.0, 50.0])
@pytest.mark.parametrize("workers", [1, 3, 5, 10])
def test_a_minute_of_work_start_up_included_throttles_at_most_one_call_in_a_hundred(
    workers: int, quota: float, latency: float
) -> None:
    result = run(Spec(workers, quota, int(quota * 60), latency=latency))
    # One worker on 10/s with 200 ms answers: seven in 600 calls, the slow start's overshoot
    # one round trip lets through among them.
    assert result.throttled() <= (0.012 if (workers, quota, latency) == (1, 10.0, 0.2) else 0.01)
    assert result.steady()[0] >= 0.97 * quota


@pytest.mark.parametrize(
    ("shared", "workers"), [(True, 1), (True, 3), (True, 5), (True, 10), (False, 1), (False, 5)]
)
@pytest.mark.parametrize("quota", [25.0, 50.0])
def test_callers_woken_late_by_a_busy_machine_cost_neither_rate_nor_throttles(
    workers: int, quota: float, shared: bool
) -> None:
    # Every caller that sleeps for its slot wakes 20 ms late on average (a shared machine's
    # busy event loop): a slot it missed must not be lost, or a probe never gets its rate
    # through and a worker's own law, raising its rate while calls wait, runs past the quota.
    result = run(Spec(workers, quota, int(quota * 120), shared=shared, lag=0.02))
    rate, throttled = result.steady()
    assert rate >= (0.97 if shared else 0.90) * quota
    assert throttled <= (0.01 if shared else 0.03)


@pytest.mark.parametrize("workers", [1, 3, 5, 10])
@pytest.mark.parametrize("quota", [25.0, 50.0])
def test_a_stack_that_carries_less_than_the_quota_is_run_at_what_it_carries(
    workers: int, quota: float
) -> None:
    # The stack serves calls one after another at 95% of the quota: the fleet is held by it,
    # never by its own rate, and meets no throttle.
    ceiling = 0.95 * quota
    result = run(Spec(workers, quota, int(quota * 60), ceiling=ceiling, lag=0.02))
    rate, _ = result.steady()
    assert rate >= 0.97 * ceiling
    assert result.throttled() == 0.0


@pytest.mark.parametrize(("quota", "concurrency"), [(25.0, 1), (50.0, 2)])
@pytest.mark.parametrize("workers", [3, 5, 10])
def test_a_fleet_whose_workers_each_carry_less_than_the_quota_takes_over_at_it(
    workers: int, quota: float, concurrency: int
) -> None:
    # 100 ms answers: each worker carries 10 calls/s per call in flight, under the quota, so
    # the others join in before the first throttle. The take-over's estimate is what the
    # fleet got through until the bucket ran dry, not since: the others braked to a stop at
    # their next heartbeat, a second or two before the leader looks.
    result = run(Spec(workers, quota, int(quota * 60), concurrency=concurrency, latency=0.1))
    assert result.plans[0].mode == "startup"
    taken_over = next(plan for plan in result.plans if plan.mode != "startup")
    assert taken_over.estimate is not None
    assert 0.97 * quota <= taken_over.estimate <= 1.01 * quota


@pytest.mark.parametrize("known", [20.0, 3.0])
@pytest.mark.parametrize("workers", [1, 3, 5, 10])
def test_a_known_fleet_rate_is_run_within_one_percent_with_no_throttle(
    workers: int, known: float
) -> None:
    # 3/s split ten ways is 0.3/s each: under the laws' least rate, which no share is raised to.
    result = run(_spec(workers, known * 1.25, fixed_rate=known))
    rate, _ = result.steady()
    assert abs(rate - known) <= 0.01 * known
    assert result.throttled() == 0.0


def test_a_known_fleet_rate_is_shared_by_the_live_workers_as_they_come_and_go() -> None:
    spec = _spec(3, 25.0, fixed_rate=20.0, joins=((60.0, 2),), leaves=((120.0, 3),))
    result = run(spec)
    assert result.throttled() == 0.0
    for start in (30.0, 90.0, 150.0):  # 3 workers, then 5, then the 2 that are left
        assert abs(result.applied_between(start, start + 20.0) - 20.0) <= 0.2
    # The dead ones' share is back within 15 s, though the leader was among them.
    assert result.applied_between(135.0, 155.0) >= 0.99 * 20.0


def test_the_fleet_absorbs_workers_joining_and_dying_within_fifteen_seconds() -> None:
    quota = 25.0
    result = run(_spec(3, quota, joins=((100.0, 2),), leaves=((200.0, 2),)))
    for event in (100.0, 200.0):
        assert result.applied_between(event + 15.0, event + 45.0) >= 0.97 * quota
    rate, throttled = result.steady()
    assert rate >= 0.97 * quota
    assert throttled <= 0.01


def test_adding_workers_never_lowers_the_fleet_total() -> None:
    one = run(_spec(1, 25.0)).steady()[0]
    for workers in (3, 5, 10):
        assert run(_spec(workers, 25.0)).steady()[0] >= 0.98 * one


def test_a_changed_quota_is_followed_within_a_minute_without_a_throttle_storm() -> None:
    result = run(_spec(3, 25.0, quota_changes=((100.0, 40.0), (200.0, 15.0))))
    assert result.applied_between(160.0, 200.0) >= 0.9 * 40.0
    assert 0.9 * 15.0 <= result.applied_between(230.0, 270.0) <= 15.0 * 1.02
    calls = [throttled for at, throttled in result.calls_at if 100.0 <= at < 200.0]
    assert sum(calls) / len(calls) <= 0.02


def test_an_unreachable_table_keeps_workers_on_their_last_share_then_they_rejoin() -> None:
    quota = 25.0
    result = run(_spec(3, quota, table_down=(100.0, 160.0)))
    assert result.applied_between(100.0, 160.0) >= 0.9 * quota  # never stops
    assert result.applied_between(175.0, 215.0) >= 0.97 * quota  # coordinated again
    assert result.throttled() <= 0.02
