"""The fleet's pieces one at a time: shares, decisions, the brake, liveness, the item's shape,
the coordinator's back-off, the operator view and the gate the composition root picks."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest

from consumer import app
from consumer.aws.fleet_wire import MEMBER_KEY, entry_value, parse_board, parse_entry, plan_value
from consumer.rate.config import Mode, RateConfig
from consumer.rate.coordinator import FleetCoordinator
from consumer.rate.laws import (
    UNBOUNDED,
    FleetLaw,
    LocalLaw,
    Plan,
    Timeline,
    Window,
    brake_for,
    fixed_plan,
    split_level,
    timelines_bound,
)
from consumer.rate.limiter import QuotaLimiter, Tally
from consumer.rate.member import (
    Board,
    FleetMember,
    FleetView,
    MemberEntry,
    Outbox,
    PlanRecord,
)
from consumer.settings import Settings
from consumer.tools.fleet import render, summarize
from tests.fakes import FakeClock
from tests.support.fleet_sim import Bucket


def test_the_split_meets_small_wants_and_shares_the_rest_evenly() -> None:
    assert split_level(30.0, [2.0, UNBOUNDED, UNBOUNDED, 4.0]) == 12.0  # 2, 4, 12 and 12
    assert split_level(9.0, [UNBOUNDED] * 3) == 3.0
    # Wants below the rate are met, and what is left goes evenly on top: 1 + 3.5, 2 + 3.5.
    assert split_level(10.0, [1.0, 2.0]) == 5.5


def test_a_heavily_throttled_window_measures_the_quota_as_the_accepted_rate() -> None:
    law = FleetLaw()
    cruising = Plan(rate=40.0, estimate=40.0, mode=Mode.CRUISE, window=7)
    plan = law.decide(cruising, Window(5.0, accepted=25.0, throttled=15.0, limited=True))
    assert plan.estimate == 25.0
    assert plan.rate == pytest.approx(25.0 * (1 - law.config.margin))
    assert (plan.mode, plan.window) == ("cruise", 8)


def test_a_probe_s_heavily_throttled_window_under_the_estimate_steps_down_only_a_little() -> None:
    law = FleetLaw()
    probing = Plan(rate=26.0, estimate=25.0, mode=Mode.PROBE, step=0.04, probing=1)
    # A stall or the brake in the window, or a lowered quota: one window cannot tell.
    cut = law.decide(probing, Window(5.0, accepted=21.0, throttled=4.5, limited=True))
    assert cut.mode == "cruise"
    assert cut.estimate == pytest.approx(23.5)
    # A lowered quota shows in the cruise that follows, throttled throughout: measured then,
    # from its second window on (the first may count throttles sent before the decision).
    lowered = Window(law.window_seconds(cut), accepted=20.0, throttled=4.0, limited=True)
    checked = law.decide(cut, lowered)
    assert checked.estimate == pytest.approx(23.5)
    assert law.decide(checked, lowered).estimate == 20.0
    # A raised quota a growing probe ran far past is measured at once.
    grown = replace(probing, rate=50.0, step=1.0)
    raised = Window(5.0, accepted=40.0, throttled=10.0, limited=True)
    assert law.decide(grown, raised).estimate == 40.0


def test_the_window_after_a_take_over_does_not_measure_throttles_sent_before_it() -> None:
    # The others held at a nil share since the first throttle, the prober at what it measured:
    # throttles of calls sent before the take-over (a stack that queues them answers late)
    # come back in a window the fleet sent under the quota. Measured, 20/s of a quota of 25.
    law = FleetLaw()
    taken = Plan(rate=24.5, estimate=25.0, mode=Mode.CRUISE, window=4, dry=True, fresh=True)
    plan = law.decide(taken, Window(5.0, accepted=20.0, throttled=4.0, limited=True))
    assert (plan.mode, plan.estimate, plan.rate) == ("cruise", 25.0, 24.5)


def test_a_throttled_window_above_the_cruise_never_raises_the_estimate() -> None:
    # Just after a take-over: the workers' counts span their own heartbeats, and some still
    # hold the burst that ran the bucket dry.
    law = FleetLaw()
    checking = Plan(rate=51.0, estimate=52.0, mode=Mode.CRUISE, window=11, fresh=True)
    plan = law.decide(checking, Window(2.0, accepted=61.3, throttled=12.0, limited=True))
    assert plan.estimate == 52.0  # was 61.3: cruising 20% over the quota for a window


def test_a_light_throttle_while_cruising_steps_the_estimate_down_a_little() -> None:
    law = FleetLaw()
    cruising = Plan(rate=24.5, estimate=25.0, mode=Mode.CRUISE, window=3, quiet_seconds=10.0)
    plan = law.decide(cruising, Window(5.0, accepted=20.0, throttled=0.2, limited=True))
    margin = law.config.margin
    assert plan.estimate == pytest.approx(25.0 * (1 - 3 * margin))  # not all the way to 20


def test_cruise_holds_then_probes_on_a_schedule_and_the_probe_grows_while_unthrottled() -> None:
    law = FleetLaw()
    config = law.config
    plan = Plan(rate=24.5, estimate=25.0, mode=Mode.CRUISE)
    modes = []
    for _ in range(int(config.probe_every_seconds / config.window_seconds) + 6):
        # Quiet windows that got the plan's rate through, whatever it was.
        quiet = Window(config.window_seconds, accepted=plan.rate, throttled=0.0, limited=True)
        plan = law.decide(plan, quiet)
        modes.append((plan.mode, round(plan.step, 2)))
    assert modes[0] == ("cruise", 0.0)
    probes = [step for mode, step in modes if mode == "probe"]
    assert probes[: config.probe_flat_windows] == [config.probe_step] * config.probe_flat_windows
    assert probes[config.probe_flat_windows] == 2 * config.probe_step
    assert plan.estimate == 25.0  # unthrottled windows measure nothing


def _probe_until_throttled(law: FleetLaw, plan: Plan, bucket: Bucket, carried: float) -> Plan:
    """Five-second windows against ``bucket`` at the plan's rate, or the ``carried`` rate of a
    slow stack for the first half minute, until one throttles: the workers brake at its first
    throttle (`brake_for`)."""
    seconds = law.config.window_seconds
    now = 0.0
    for index in range(40):
        rate = min(plan.rate, carried if index < 6 else math.inf)
        accepted = throttled = 0
        end = (index + 1) * seconds  # the windows tile the time
        while now < end:
            if bucket.take(now):
                accepted += 1
            else:
                throttled += 1
                rate = plan.rate * brake_for(plan, law.config)
            now += 1.0 / rate
        window = Window(seconds, accepted / seconds, throttled / seconds, limited=True)
        plan = law.decide(plan, window)
        if throttled:
            return plan
    raise AssertionError("no throttle")


def test_a_probe_s_throttle_measures_the_quota_from_where_the_bucket_last_ran_dry() -> None:
    # A window throttled throughout (the bucket dry) set a low estimate; the fleet cruised below
    # the 10/s quota, never long enough to fill the bucket, then probed above it. From the dry
    # bucket on, no burst is to be allowed for: what got through since, over the seconds since,
    # is the quota (allowing for a burst, as from a full bucket, says 9.8/s).
    law = FleetLaw()
    dried = law.decide(
        Plan(rate=10.5, estimate=10.5, mode=Mode.CRUISE, window=4),
        Window(5.0, accepted=9.8, throttled=1.1, limited=True),
    )
    assert (dried.mode, dried.estimate, dried.dry) == ("cruise", 9.8, True)
    cut = _probe_until_throttled(law, dried, Bucket(10.0, 10.0, tokens=1.0), carried=math.inf)
    assert (cut.mode, cut.dry) == ("cruise", True)
    assert cut.estimate is not None
    assert 9.9 <= cut.estimate <= 10.0


def test_the_plan_keeps_every_window_since_the_bucket_ran_dry_up_to_its_history() -> None:
    law = FleetLaw()
    config = law.config
    plan = law.decide(
        Plan(rate=10.5, estimate=10.5, mode=Mode.CRUISE, window=4),
        Window(5.0, accepted=9.8, throttled=1.1, limited=True),
    )
    kept = []
    for index in range(config.probe_history + 2):
        plan = law.decide(
            plan, Window(5.0, accepted=9.0 + index / 100, throttled=0.0, limited=True)
        )
        kept.append((len(plan.probed), plan.dry, plan.probed[-1][0]))
    assert kept[: config.probe_history] == [
        (n + 1, True, 5.0 * (9.0 + n / 100)) for n in range(config.probe_history)
    ]
    assert kept[-1] == (config.probe_history, False, 5.0 * (9.0 + (len(kept) - 1) / 100))


def test_a_probe_s_throttle_counts_the_refilled_burst_out_of_what_it_measures() -> None:
    # The stack held the fleet under its 50/s quota for half a minute (the bucket full), then
    # carried the growing probe: its throttled window got the quota and the burst through.
    law = FleetLaw()
    plan = Plan(rate=48.8, estimate=49.8, mode=Mode.PROBE, step=0.04, probing=1)
    cut = _probe_until_throttled(law, plan, Bucket(50.0, 50.0), carried=49.0)
    assert cut.mode == "cruise"
    assert cut.estimate is not None
    assert 49.8 <= cut.estimate <= 50.0  # was the window's 51-52/s: cruising at the quota


def test_a_growing_probe_finds_a_raised_quota_as_a_lower_bound_and_probes_it_again() -> None:
    law = FleetLaw()
    plan = Plan(rate=26.0, estimate=25.0, mode=Mode.PROBE, step=0.04, probing=1)
    cut = _probe_until_throttled(law, plan, Bucket(40.0, 40.0), carried=math.inf)
    assert cut.estimate is not None
    assert 0.85 * 40.0 <= cut.estimate <= 40.0
    quiet = Window(law.config.window_seconds, cut.rate, 0.0, limited=True)
    assert law.decide(cut, quiet).mode == "probe"  # at once, not after the probe interval


def test_a_fleet_short_of_work_does_not_raise_its_rate() -> None:
    law = FleetLaw()
    plan = Plan(rate=10.0, estimate=25.0, mode=Mode.CRUISE, quiet_seconds=100.0)
    idle = Window(5.0, accepted=3.0, throttled=0.0, limited=False)
    assert law.decide(plan, idle).rate == 10.0
    assert law.decide(Plan(rate=4.0), idle).rate == 4.0  # slow start waits for demand too


def test_a_configured_rate_never_moves() -> None:
    plan = fixed_plan(20.0)
    busy = Window(5.0, accepted=10.0, throttled=10.0, limited=True)
    assert FleetLaw().decide(plan, busy).rate == 20.0


def test_the_local_law_cuts_once_per_overshoot_and_grows_by_the_gain_while_quiet() -> None:
    law = LocalLaw(rate=10.0)
    assert law.on_throttle(now=100.0, sent_at=99.9)
    assert law.rate == pytest.approx(8.5)
    assert not law.on_throttle(now=100.05, sent_at=99.95)  # sent before the cut
    steps = []
    for second in range(600):
        before = law.rate
        law.on_success(now=101.0 + second / 10, waited=0.0)
        steps.append(law.rate / before - 1)
    assert steps[1:] == pytest.approx([law.config.gain] * 599)


def test_slow_start_doubles_in_a_fraction_of_a_second_but_only_while_calls_wait() -> None:
    law = LocalLaw()
    config = law.config
    assert config.slow_start_doubling_seconds <= 0.15  # no quota: full speed in about a second
    law.on_success(now=0.0, waited=0.0)
    steps = round(config.slow_start_doubling_seconds * 100)
    for step in range(1, steps + 1):  # a success every 10 ms, calls waiting throughout
        law.on_success(now=step / 100, waited=0.0)
    assert law.rate == pytest.approx(2 * config.initial_rate)
    before = law.rate
    law.on_success(now=1.0, waited=1.0)  # no call waited lately: the rate is not what holds back
    assert law.rate == before


def test_slow_answers_slow_the_doubling_to_once_per_five_round_trips() -> None:
    law = LocalLaw()
    config = law.config
    law.on_answer(0.01)
    assert law.doubling_seconds() == config.slow_start_doubling_seconds  # quick: its floor
    law.on_answer(0.2)  # the last answer's round trip times the doubling
    assert law.doubling_seconds() == pytest.approx(config.slow_start_round_trips * 0.2, rel=1e-3)
    law.on_success(now=0.0, waited=0.0)
    for step in range(1, 101):  # a second of successes, calls waiting throughout
        law.on_success(now=step / 100, waited=0.0)
    assert law.rate == pytest.approx(2 * config.initial_rate, rel=0.01)


def test_the_first_throttle_measures_the_quota_from_the_last_time_the_bucket_was_full() -> None:
    law = LocalLaw()
    for step in range(150):  # 15 calls/s for 10 s, under a quota of 50: the bucket stays full
        law.on_success(now=step / 15, waited=0.0)
    for step in range(100):  # then 100/s: the burst (50) and a second's refill (50) run out
        law.on_success(now=10.0 + step / 100, waited=0.0)
    assert law.rate > 1000.0  # slow start ran far past what the bucket holds
    assert law.on_throttle(now=11.0, sent_at=10.99)
    measured = 50.0
    assert law.rate == pytest.approx(measured, rel=0.02)  # not half of a rate the burst hid
    assert not law.slow_start
    assert law.on_throttle(now=11.3, sent_at=11.2)  # from here, the steady cuts
    assert law.rate == pytest.approx(measured * (1 - law.config.cut), rel=0.02)


@pytest.mark.parametrize("doubling", [0.15, 0.3, 1.0, 3.0])
@pytest.mark.parametrize("quota", [5.0, 25.0, 400.0])
def test_slow_start_leaves_at_the_quota_however_fast_it_ramped(
    quota: float, doubling: float
) -> None:
    bucket = Bucket(quota, quota)  # burst = one second of the quota, full at the start
    law = LocalLaw(RateConfig(slow_start_doubling_seconds=doubling))
    now = 0.0
    while bucket.take(now):  # a call at every slot of the law's rate, calls waiting throughout
        law.on_success(now, waited=0.0)
        now += 1.0 / law.rate
    law.on_throttle(now, sent_at=now)
    # Within a call of the quota: the bucket was last full between two calls.
    assert law.rate == pytest.approx(quota, rel=0.05, abs=0.5)


def test_a_starting_fleet_steers_alone_and_the_leader_takes_over_a_window_after_a_throttle() -> (
    None
):
    law = FleetLaw()
    plan = law.first()
    assert plan.mode == "startup"
    assert law.window_seconds(plan) == law.config.heartbeat_seconds
    plan = law.decide(plan, Window(1.0, accepted=300.0, throttled=0.0, limited=True))
    assert plan.mode == "startup"  # the workers steer alone, however fast they go
    burst = Window(1.0, accepted=90.0, throttled=40.0, limited=True)
    plan = law.decide(plan, burst)
    assert plan.mode == "startup"  # what got through drew on the burst: no estimate yet
    # A window on, every worker has met its own throttle and holds its measured share.
    busy = law.decide(plan, Window(1.0, accepted=50.0, throttled=12.0, limited=True, running=70))
    assert (busy.mode, busy.estimate) == ("cruise", 50.0)  # throttled throughout: the quota
    assert busy.rate == pytest.approx(50.0 * (1 - law.config.margin))
    light = Window(1.0, accepted=48.5, throttled=1.0, limited=True, running=49.0)
    held = law.decide(plan, light)
    assert (held.mode, held.estimate) == ("probe", 49.0)  # the laws' sum: a lower bound,
    # probed above at once
    starting = replace(light, running=300.0)  # one worker still slow-starting
    # ...never above what the fleet sent, nor much above what got through, burst spent.
    assert law.decide(plan, starting).estimate == pytest.approx(48.5 / (1 - law.config.margin))
    quiet = Window(5.0, accepted=held.rate, throttled=0.0, limited=True)
    assert law.decide(replace(busy, fresh=False), quiet).mode == "cruise"


def test_while_the_fleet_starts_a_member_runs_its_own_law_and_takes_its_share_after() -> None:
    clock = FakeClock()
    local = LocalLaw(rate=30.0)
    limiter = QuotaLimiter(clock, local=local)
    limiter.assign(2.0, plan_window=0, steer=True)
    assert limiter.state == "prober"
    assert limiter.rate == 30.0  # the startup plan's even split does not hold it back
    limiter.on_throttle(clock.now)
    assert limiter.rate == 30.0  # out of slow start: it holds until the fleet takes over
    limiter.assign(12.0, plan_window=3)
    assert limiter.rate == 12.0


def test_a_member_of_a_starting_fleet_leaves_slow_start_at_its_first_throttle_then_holds() -> None:
    clock = FakeClock()
    local = LocalLaw()
    limiter = QuotaLimiter(clock, local=local)
    limiter.assign(2.0, plan_window=0, steer=True)
    for _ in range(40):  # 20 calls/s for 2 s, each waiting for its slot
        limiter.waited()
        clock.now += 0.05
        limiter.on_success()
    limiter.on_throttle(clock.now)
    held = limiter.rate
    assert held is not None
    assert not local.slow_start
    assert held == pytest.approx(40 / 3, rel=0.05)  # 40 calls over 2 s and a second's burst
    for _ in range(100):
        limiter.waited()
        clock.now += 0.1
        limiter.on_success()
    limiter.on_throttle(clock.now)
    assert limiter.rate == held  # neither grown nor cut: the fleet's first decision sees it


def _starting(member: str, started: float, clock: FakeClock, **changes: Any) -> MemberEntry:
    return _entry(member, clock.time(), started=started, successes=0, throttles=0, **changes)


def _lead(member: FleetMember, record: PlanRecord, entries: dict[str, MemberEntry]) -> None:
    """One heartbeat of the leader: the plan item it read, then every worker's entry."""
    member._pulse = (member._pulse[0] + 1, member._clock.monotonic())  # its own write: live
    if member.absorb(Board(record, pulse=member._pulse[0]), Outbox()):
        member.lead(entries)


def test_a_cold_fleet_slow_starts_one_worker_the_plan_s_author_while_the_others_wait() -> None:
    clock = FakeClock()
    members = {m: FleetMember(m, "h", QuotaLimiter(clock, local=LocalLaw()), clock) for m in "abc"}
    members["a"].started = clock.time() - 3600.0  # a start an hour early (a skewed clock, a
    # forged entry) takes nothing from the plan's author
    plan = PlanRecord(FleetLaw().first(), clock.time(), "c", 0.0, 3, 3)
    for joins, fm in enumerate(members.values(), start=1):
        fm.absorb(Board(plan, pulse=1, joins=joins), Outbox(join=True))
    assert {m: fm.leading for m, fm in members.items()} == {"a": False, "b": False, "c": True}
    assert members["c"].limiter.rate == RateConfig().initial_rate  # its own slow start
    assert members["a"].limiter.rate == 0.0  # the others spend none of the bucket's burst
    assert members["b"].limiter.rate == 0.0


def test_a_plan_that_stops_changing_is_taken_over_by_a_write_conditioned_on_its_pulse() -> None:
    clock = FakeClock()
    member = FleetMember("m", "h", QuotaLimiter(clock, local=LocalLaw()), clock)
    assert member.outbox().claim == 0  # a cold fleet's lead goes to the first to write
    plan = PlanRecord(
        Plan(rate=20.0, estimate=25.0, mode=Mode.CRUISE), clock.time(), "a", 10.0, 2, 2
    )
    for pulse in range(1, 8):  # "a" writes its plan every second: it leads
        member.absorb(Board(plan, pulse=pulse, joins=2), Outbox(join=pulse == 1))
        assert member.outbox().plan is None
        clock.now += 1.0
    assert member.limiter.share == member.config.min_rate  # its want: it is short of work
    for _ in range(int(member.config.expiry_seconds)):  # then its pulse stops
        member.absorb(Board(plan, pulse=7, joins=2), Outbox())
        clock.now += 1.0
    outbox = member.outbox()
    assert (outbox.claim, outbox.plan and outbox.plan.by) == (7, "m")
    member.absorb(Board(replace(plan, by="m"), pulse=8, joins=2), outbox)  # the claim landed
    assert member.leading
    # It reads the workers at once and leaves the stale author out of the split.
    taken = {"a": _entry("a", clock.time()), "m": member.entry()}
    member.limiter.waited()
    assert member.lead(taken) is False  # alone: nobody waits for the write
    assert member.plan is not None
    assert (member.plan.workers, member.plan.level) == (1, 20.0)
    assert member.outbox().remove == ("a",)


def test_a_worker_taken_for_dead_joins_again_and_waits_until_the_split_counts_it() -> None:
    clock = FakeClock()
    member = FleetMember("m", "h", QuotaLimiter(clock, local=LocalLaw()), clock)
    plan = PlanRecord(
        Plan(rate=20.0, estimate=25.0, mode=Mode.CRUISE), clock.time(), "a", 10.0, 2, 2
    )
    member.limiter.waited()
    member.absorb(Board(plan, pulse=1, joins=2), Outbox(join=True))
    assert member.limiter.share == 10.0
    member.absorb(Board(plan, pulse=2, joins=2, dropped=True), Outbox())  # a long pause
    assert member.outbox().join
    assert member.limiter.share == 0.0  # the leader split the rate without it
    assert math.isinf(member.entry().want)  # it asks for all it may get
    member.absorb(Board(plan, pulse=3, joins=3), Outbox(join=True))
    assert member.limiter.share == 0.0
    member.absorb(Board(replace(plan, counted=3), pulse=4, joins=3), Outbox())
    assert member.limiter.share == 10.0


def test_a_want_that_grows_between_two_splits_waits_for_the_next_one() -> None:
    clock = FakeClock()
    member = FleetMember("m", "h", QuotaLimiter(clock, local=LocalLaw()), clock, fixed_rate=20.0)
    joined = PlanRecord(fixed_plan(20.0), clock.time(), "a", 10.0, 2, 2)
    member.absorb(Board(joined, pulse=1, joins=2), Outbox(join=True))
    least = member.config.min_rate
    for _ in range(2):  # short of work: it wants the least
        assert member.entry().want == least
    split = replace(joined, level=20.0 - least)  # the leader read that: "a" may take the rest
    member.absorb(Board(split, pulse=2, joins=2), Outbox())
    assert member.limiter.share == least
    member.limiter.waited()  # a backlog: its calls wait
    assert math.isinf(member.entry().want)
    member.absorb(Board(split, pulse=3, joins=2), Outbox())
    assert member.limiter.share == least  # not 19.5: the two would send 39/s of 20
    member.entry()
    member.absorb(Board(replace(split, level=10.0), pulse=4, joins=2), Outbox())
    assert member.limiter.share == 10.0  # the next split counts what it wants


def test_the_split_is_one_level_each_worker_takes_up_to() -> None:
    assert split_level(30.0, [UNBOUNDED, UNBOUNDED, 2.0]) == 14.0
    # Nobody wants it all: what is left goes evenly on top, so equal wants that grow before
    # the next split add up to the rate at most.
    assert split_level(30.0, [4.0, 4.0, 4.0]) == 10.0
    assert split_level(30.0, []) == 30.0


def test_a_prober_that_can_send_no_more_has_the_others_join_in_doubling_each_window() -> None:
    law = FleetLaw()
    plan = law.first()
    assert plan.rate == 0.0
    alone = Window(1.0, accepted=200.0, throttled=0.0, limited=True, prober_limited=True)
    assert law.decide(plan, alone).rate == 0.0  # still growing: the quota is its to find
    capped = replace(alone, prober_limited=False)  # its own ceiling, not the quota's
    plan = law.decide(plan, capped)
    assert (plan.mode, plan.rate) == ("startup", 200.0)
    plan = law.decide(plan, replace(capped, accepted=400.0))
    assert (plan.mode, plan.rate) == ("startup", 400.0)
    plan = law.decide(plan, replace(capped, accepted=800.0))
    assert plan.rate == 800.0
    idle = replace(capped, limited=False)  # nobody could use more
    assert law.decide(plan, idle).rate == 800.0
    stuck = replace(capped, accepted=500.0)  # the others' 800/s did not get through
    plan = law.decide(plan, stuck)
    assert plan.rate == 1000.0  # not 1600: what got through bounds it...
    quicker = law.decide(plan, replace(capped, accepted=700.0))
    assert quicker.rate == 1400.0
    assert law.decide(quicker, stuck).rate == 1000.0  # ...the last window's, not the best one's
    # A window the stack stalled through (nothing got through) halves it at most: doubling
    # back from the join rate took five windows.
    assert law.decide(quicker, replace(capped, accepted=0.0)).rate == 700.0
    # A prober that still waits for its slots ten windows on without a throttle has not met
    # the quota alone (its calls come ten at a time): the others join in, holding commands.
    late = replace(law.first(), window=law.config.startup_alone_windows)
    assert law.decide(late, alone).rate == 200.0
    # A prober short of work, the others holding commands: they start all the same.
    done = law.decide(law.first(), replace(capped, accepted=0.0))
    assert done.rate == law.config.initial_rate


def test_the_take_over_from_one_prober_starts_from_the_quota_it_measured() -> None:
    law = FleetLaw()
    plan = law.decide(law.first(), Window(1.0, 12.0, 1.0, True, 9.6, 8.7, True, True, None))
    assert (plan.mode, plan.estimate) == ("startup", 8.7)  # the fleet's bound, kept
    # A window on: 9 calls counted in one second, a call off the 9.6/s the prober holds.
    held = Window(1.0, 9.0, 0.0, True, 9.6, 9.1, True, True, held=9.6)
    took = law.decide(plan, held)
    assert (took.mode, took.estimate) == ("probe", 9.6)  # a lower bound: probed at once


def test_a_fleet_that_joined_in_takes_over_from_the_last_time_the_bucket_was_full() -> None:
    # The stack held the joined-in fleet to 45/s under a 50/s quota, then sped up: the burst
    # the bucket had kept went through on top of the quota before the first throttle. At the
    # first throttle both workers stop (a starting fleet's brake) until the take-over. The
    # two workers' heartbeats are 0.7 s apart: each one's timeline ends at its own.
    clock = FakeClock()
    start = clock.time()
    member = FleetMember("a", "h", QuotaLimiter(clock, local=LocalLaw()), clock)
    bucket = Bucket(50.0, 50.0)
    tallies = {"a": Tally(), "b": Tally()}
    entries: dict[str, MemberEntry] = {}
    record = PlanRecord(Plan(rate=90.0), start, "a")  # the others have joined in
    throttled_at: float | None = None
    for tick in range(1, 3000):
        clock.now = start + tick / 100
        rate = 45.0 if tick < 800 else 75.0
        calls = (
            0 if throttled_at is not None else int(rate * tick / 100) - int(rate * (tick - 1) / 100)
        )
        for call in range(calls):
            tally = tallies["ab"[call % 2]]
            if bucket.take(tick / 100):
                tally.add(clock.now, 1, 0, clock.now)
            else:
                tally.add(clock.now, 0, 1, clock.now)
                throttled_at = clock.now
        heartbeats = {"a": tick % 100 == 0, "b": tick % 100 == 30}
        for name, due in heartbeats.items():
            if due:
                tally = tallies[name]
                entries[name] = _entry(
                    name,
                    clock.now,
                    seq=tick,
                    started=start - (1 if name == "a" else 0),
                    successes=tally.successes,
                    throttles=tally.throttles,
                    timeline=tally.timeline(clock.now),
                )
        if tick % 100 == 0:
            _lead(member, record, dict(entries))
            assert member.plan is not None
            record = member.plan
            if record.plan.mode != "startup":
                break
    assert throttled_at is not None
    assert record.plan.mode == "probe"  # a lower bound: probed at once
    assert record.plan.estimate is not None
    assert 0.97 * 50.0 <= record.plan.estimate <= 50.0


def test_a_long_start_keeps_each_entry_s_timeline_to_its_last_three_seconds() -> None:
    # A fleet that never meets its quota starts for ever: its heartbeats stay small, while
    # the leader keeps the fleet's last 15 s from them.
    clock = FakeClock()
    member = FleetMember("a", "h", QuotaLimiter(clock, local=LocalLaw()), clock)
    for tick in range(6000):  # 60 s at 100 successes a second
        clock.now += 0.01
        member.limiter.tally.add(clock.now, 1, 0, clock.now)
        if tick % 100 == 99:
            _lead(member, member.plan or PlanRecord(Plan(rate=0.0), 0, "a"), {"a": member.entry()})
    timeline = member.entry().timeline
    assert timeline is not None
    assert len(timeline.counts) <= RateConfig().slot_sent
    config = member.config
    bound = timelines_bound(member._timelines.values(), config.burst_seconds, config.slot_seconds)
    assert bound == pytest.approx(100.0 * 15.0 / 16.0, rel=0.02)


def test_a_probe_that_meets_a_throttle_brakes_every_worker_at_its_next_heartbeat() -> None:
    clock = FakeClock()
    member = FleetMember("b", "h", QuotaLimiter(clock, local=LocalLaw()), clock)
    probe = Plan(rate=20.8, estimate=20.0, mode=Mode.PROBE, window=7, step=0.04, probing=1)
    plan = PlanRecord(probe, clock.time(), "a", 10.4, 2, 2)
    member.limiter.waited()  # its calls wait for their slots: it wants all it can get
    member.absorb(Board(plan, pulse=1, joins=2, throttles=3), Outbox(join=True))
    share = member.limiter.rate
    assert share is not None
    assert share == pytest.approx(10.4)
    clock.now += 1.0
    member.absorb(Board(plan, pulse=2, joins=2, throttles=4), Outbox())  # "a" met a throttle
    assert member.limiter.rate == pytest.approx(share * (1 - 0.02) / 1.04)  # back to cruise
    assert member.outbox().throttles == 0  # "b" met none: nothing to count
    member.limiter.on_throttle(clock.now)
    assert member.outbox().throttles == 1  # its own counted for the others
    cruise = PlanRecord(
        replace(probe, mode=Mode.CRUISE, rate=19.6), clock.time(), "a", 19.6 / 3, 3, 3
    )
    calm = FleetMember("c", "h", QuotaLimiter(clock, local=LocalLaw()), clock)
    calm.limiter.waited()
    calm.absorb(Board(cruise, pulse=1, joins=3, throttles=4), Outbox(join=True))
    calm.absorb(Board(cruise, pulse=2, joins=3, throttles=5), Outbox())
    assert calm.limiter.rate == pytest.approx(19.6 / 3)  # cruising, its own throttles brake it


def test_a_starting_fleet_s_first_throttle_stops_the_joined_in_others_until_the_take_over() -> None:
    clock = FakeClock()
    member = FleetMember("b", "h", QuotaLimiter(clock, local=LocalLaw()), clock)
    joined = PlanRecord(Plan(rate=90.0, window=6), clock.time(), "a", 90.0, 2, 2)
    member.limiter.waited()
    member.absorb(Board(joined, pulse=1, joins=2), Outbox(join=True))
    assert member.limiter.rate == pytest.approx(90.0)  # the prober "a" is on its own law
    clock.now += 1.0
    member.absorb(Board(joined, pulse=2, joins=2, throttles=1), Outbox())  # "a" met the quota
    assert member.limiter.rate == 0.0
    took = PlanRecord(
        Plan(rate=49.0, estimate=50.0, mode=Mode.CRUISE, window=8), clock.time(), "a", 24.5, 2, 2
    )
    member.absorb(Board(took, pulse=3, joins=2, throttles=1), Outbox())
    assert member.limiter.rate == pytest.approx(24.5)


def test_a_command_throttled_again_while_other_calls_get_through_does_not_slow_the_worker() -> None:
    clock = FakeClock()
    limiter = QuotaLimiter(clock, local=LocalLaw(rate=20.0))
    for _ in range(100):  # 20 calls/s get through
        clock.now += 0.05
        limiter.waited()
        limiter.on_success()
    grown = limiter.rate
    assert grown is not None
    assert grown > 20.0
    limiter.on_throttle(clock.now, repeated=True)  # a poisoned target, once more
    assert limiter.rate == grown  # not cut
    assert (limiter.repeats, limiter.tally.throttles) == (1, 0)
    clock.now += 0.5
    limiter.on_throttle(clock.now)  # the quota's: the bucket ran dry
    cut = limiter.rate
    assert cut == pytest.approx(grown * (1 - RateConfig().cut))
    clock.now += 0.5
    limiter.on_throttle(clock.now, repeated=True)  # beside the quota's: counted as one of them
    assert (limiter.repeats, limiter.tally.throttles) == (1, 2)
    assert limiter.rate is not None
    assert limiter.rate < cut


def test_repeated_throttles_that_are_many_calls_are_the_quota_s_after_all() -> None:
    clock = FakeClock()
    limiter = QuotaLimiter(clock, local=LocalLaw(rate=20.0))
    for _ in range(10):  # a backlog of retries behind a spent quota: few get through
        clock.now += 0.4
        limiter.on_success()
        limiter.on_throttle(clock.now, repeated=True)
    assert limiter.tally.throttles >= 9
    assert limiter.rate is not None
    assert limiter.rate < 20.0


def test_a_worker_released_from_the_wait_goes_at_its_own_phase_of_a_slot() -> None:
    clock = FakeClock()
    limiter = QuotaLimiter(clock, local=LocalLaw())
    limiter.assign(0.0, plan_window=0, starting=True)
    assert limiter.due() == math.inf
    limiter.assign(4.0, plan_window=1, phase=0.5)
    assert limiter.due() == pytest.approx(clock.now + 0.125)  # half of a 0.25 s slot


def test_a_new_rate_applies_to_callers_already_waiting() -> None:
    clock = FakeClock()
    limiter = QuotaLimiter(clock, local=LocalLaw(rate=1.0))
    limiter.grant()
    assert limiter.due() == pytest.approx(clock.now + 1.0)
    limiter.assign(100.0, plan_window=1)  # a share arrives: the next slot is 10 ms away
    assert limiter.due() == pytest.approx(clock.now + 0.01)


def _calls_at_once(limiter: QuotaLimiter, clock: FakeClock) -> int:
    """Calls granted without waiting, now."""
    count = 0
    while limiter.due() <= clock.now + 1e-9 and count < 1000:
        limiter.grant()
        count += 1
    return count


def test_a_worker_behind_its_fleet_share_catches_up_half_a_second_of_it_at_once() -> None:
    clock = FakeClock()
    limiter = QuotaLimiter(clock, local=LocalLaw())
    limiter.assign(20.0, plan_window=1)  # cruising
    assert _calls_at_once(limiter, clock) == 10  # a first call, then half a second's
    clock.now += 0.2  # its calls held up elsewhere for a fifth of a second: four behind
    assert _calls_at_once(limiter, clock) == 4
    clock.now += 5.0  # a long pause: no more than half a second of its share
    assert _calls_at_once(limiter, clock) == 10
    assert limiter.due() == pytest.approx(clock.now + 0.05)  # then paced again


def test_a_starting_fleet_never_catches_up_a_cruising_or_probing_one_does() -> None:
    clock = FakeClock()
    member = FleetMember("w1", "h", QuotaLimiter(clock, local=LocalLaw()), clock)
    limiter = member.limiter
    for mode, rate, caught_up in [
        (Mode.CRUISE, 20.0, 10),
        (Mode.PROBE, 22.0, 11),
        (Mode.STARTUP, 20.0, 1),
    ]:
        limiter.waited()  # its rate holds calls back: it wants the whole plan
        record = PlanRecord(Plan(rate=rate, mode=mode), clock.time(), "w1", rate)
        member.absorb(Board(record), Outbox())
        clock.now += 5.0
        assert _calls_at_once(limiter, clock) == caught_up, mode


def test_a_share_braked_by_a_throttle_does_not_catch_up() -> None:
    # The throttle says the bucket has just run dry: a catch-up would be so many throttles.
    clock = FakeClock()
    limiter = QuotaLimiter(clock, local=LocalLaw())
    limiter.assign(20.0, plan_window=1, brake=0.5)
    limiter.on_throttle(clock.now)
    clock.now += 5.0
    assert _calls_at_once(limiter, clock) == 1


def test_a_worker_on_its_own_law_catches_up_but_never_while_it_slow_starts() -> None:
    # In slow start the bucket is about empty: a catch-up would be so many throttles. Out of
    # it, calls held up elsewhere catch up, or the law's rate no longer says what is sent.
    clock = FakeClock()
    starting = QuotaLimiter(clock, local=LocalLaw())
    starting.grant()
    clock.now += 5.0
    assert _calls_at_once(starting, clock) == 1
    steady = QuotaLimiter(clock, local=LocalLaw(rate=20.0))
    steady.grant()
    clock.now += 5.0
    assert _calls_at_once(steady, clock) == 10


def test_a_throttle_brakes_a_fleet_share_until_the_fleet_s_next_decision() -> None:
    clock = FakeClock()
    limiter = QuotaLimiter(clock, local=LocalLaw())
    limiter.assign(10.0, plan_window=4, brake=0.5)
    limiter.on_throttle(clock.now)
    assert limiter.rate == 5.0  # at once, before the fleet has heard of it
    limiter.assign(12.0, plan_window=4, brake=0.5)  # the same decision, a worker gone
    assert limiter.rate == 6.0
    limiter.assign(8.0, plan_window=5, brake=0.5)  # the fleet's next decision
    assert limiter.rate == 8.0
    limiter.assign(8.0, plan_window=10, brake=1.0)  # a configured rate never brakes
    limiter.on_throttle(clock.now)
    assert limiter.rate == 8.0


def _entry(member: str, at: float, **changes: Any) -> MemberEntry:
    values: dict[str, Any] = {
        "member": member,
        "host": "h",
        "started": at - 100,
        "at": at,
        "seq": 1,
        "successes": 10,
        "throttles": 1,
        "want": UNBOUNDED,
        "share": 5.0,
        **changes,
    }
    return MemberEntry(**values)


@pytest.mark.parametrize("skew", [-30.0, 0.0, 30.0])
def test_a_worker_is_live_while_its_entry_changes_by_the_reader_s_clock_alone(
    skew: float,
) -> None:
    clock = FakeClock()
    member = FleetMember("a", "h", QuotaLimiter(clock, local=LocalLaw()), clock, fixed_rate=20.0)
    # Its clock is `skew` seconds off ours: its `at` and `started` say nothing to us.
    other = _entry("b", clock.time() + skew, seq=1)
    plan = PlanRecord(Plan(rate=20.0, estimate=21.0, mode=Mode.CRUISE), clock.time(), "a", 20.0)
    for seq in range(2, 12):  # ten heartbeats a second apart: live throughout
        member.limiter.waited()  # both rate-bound: an even split
        _lead(member, member.plan or plan, {"b": other})
        assert "b" in member.live
        assert member.limiter.share == 10.0  # counted: half the plan each
        clock.now += 1.0
        other = replace(other, seq=seq, at=other.at + 1.0)
    _lead(member, member.plan or plan, {"b": other})
    clock.now += member.config.expiry_seconds + 1  # then b's entry never changes again
    _lead(member, member.plan or plan, {"b": other})
    assert "b" not in member.live
    assert member.outbox().remove == ("b",)


def test_the_fleet_s_items_round_trip_through_their_dynamodb_shape() -> None:
    entry = _entry("abc", 1_700_000_000.5, want=math.inf, share=None)
    starting = _entry("def", 1_700_000_000.6, timeline=Timeline(17_000_000_000, (3, 0, 5)))
    for one in (entry, starting):
        assert parse_entry({"id": {"S": MEMBER_KEY + one.member}, "entry": entry_value(one)}) == one
    assert parse_entry({"id": {"S": MEMBER_KEY + "bad"}, "entry": {"S": "{}"}}) is None
    probed = ((130.0, 5.0), (52.0, 2.0))
    probe = Plan(rate=26.0, estimate=25.0, mode=Mode.PROBE, window=9, probed=probed)
    for level in (8.5, math.inf):
        record = PlanRecord(probe, 1.7e9, "abc", level, 3, 4)
        counts = {"pulse": {"N": "12"}, "joins": {"N": "4"}, "thr": {"N": "2"}}
        item = {"plan": plan_value(record), "by": {"S": "abc"}, **counts}
        assert parse_board(item) == Board(record, 12, 4, 2)


class FlakyTable:
    def __init__(self) -> None:
        self.up = False
        self.beats = 0
        self.left: list[str] = []

    async def beat(self, entry: MemberEntry, outbox: Outbox) -> Board:
        self.beats += 1
        if not self.up:
            raise ConnectionError("no route to the table")
        return Board(outbox.plan, self.beats)

    async def leave(self, member: str) -> None:
        self.left.append(member)

    async def members(self) -> dict[str, MemberEntry]:
        return {}


async def test_an_unreachable_table_backs_off_detaches_then_rejoins_and_leaving_removes_us() -> (
    None
):
    clock = FakeClock()
    limiter = QuotaLimiter(clock, local=LocalLaw())
    limiter.assign(12.0, plan_window=3)
    table = FlakyTable()
    coordinator = FleetCoordinator(table, FleetMember("me", "h", limiter, clock), clock)
    seen: list[tuple[int, float | None, float | None]] = []
    coordinator.listen(lambda *figures: seen.append(figures))
    pauses = []
    for _ in range(6):
        assert not await coordinator.beat()
        pauses.append(coordinator.pause())
    assert limiter.state == "local"
    assert limiter.rate == pytest.approx(12.0)
    assert pauses == sorted(pauses)
    assert pauses[-1] <= 10.0
    table.up = True
    assert await coordinator.beat()
    assert limiter.state == "prober"  # alone in a fleet with no plan yet: it steers
    assert coordinator.pause() == 1.0
    assert seen
    assert seen[-1][0] == 1
    await coordinator.leave()
    assert table.left == ["me"]


def test_the_composition_root_picks_the_gate_the_settings_ask_for() -> None:
    queue = "http://localhost/000000000000/commands"
    clock = FakeClock()
    learned = app.build_rate_limiter(Settings(queue_url=queue), clock)
    assert isinstance(learned, QuotaLimiter)
    assert learned.state == "local"
    known = app.build_rate_limiter(Settings(queue_url=queue, fleet_rate_limit=40.0), clock)
    assert isinstance(known, QuotaLimiter)
    assert known.rate == 40.0  # alone until the fleet item says how many share it
    capped = app.build_rate_limiter(Settings(queue_url=queue, rate_limit=5.0), clock)
    assert capped.state == "local"
    assert capped.rate == 4.0  # its law's first rate, under the ceiling


def test_the_operator_view_shows_live_and_stale_workers_and_the_plan() -> None:
    now = 1_700_000_000.0
    view = FleetView(
        {
            "a1": _entry("a1", now - 1.0, share=12.25, recent_successes=700),
            "b2": _entry("b2", now - 40.0, want=3.0, recent_throttles=4),
        },
        PlanRecord(Plan(rate=24.5, estimate=25.0, mode=Mode.CRUISE), now - 2.0, "a1"),
    )
    summary = summarize(view, now)
    assert summary["workers"] == 1
    assert summary["stale_workers"] == 1
    assert summary["quota_estimate_per_s"] == 25.0
    assert summary["quota"] == "learned"
    assert summary["fleet_rate_per_s"] == round(700 / 60, 2)
    text = render(summary)
    assert "1 live worker(s), 1 stale" in text
    assert "stale (40s)" in text
    assert "a1" in text
    assert "rate-bound" in text
