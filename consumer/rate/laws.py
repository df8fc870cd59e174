"""The rate decisions for one unpublished token-bucket quota, fed with counts of accepted and
throttled calls, never with timers of their own (docs/rate-control.md, "How it works").

`LocalLaw` is one worker on its own: slow start, measured at its first throttle by the bucket
that has just run dry, then a small raise per success and a larger cut per overshoot, which
balance at about ``gain / cut`` of calls throttled whatever the number of workers. `FleetLaw`
takes one decision per window for the whole fleet: while the fleet is throttled, what got
through is the bucket's refill rate, the quota; it cruises just below and probes above it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from itertools import accumulate
from typing import Final

from consumer.rate.config import Mode, Phase, RateConfig

UNBOUNDED: Final = math.inf  # a worker's want while its rate holds calls back


def dry_bucket_bound(since: Iterable[tuple[float, float]], depth: float) -> float:
    """The quota's largest lower bound from (calls accepted since ``t``, seconds since ``t``) of
    a bucket just run dry: full at ``t``, it let through at most ``quota * (seconds + depth)``."""
    return max((calls / (seconds + depth) for calls, seconds in since), default=0.0)


@dataclass(frozen=True, slots=True)
class Timeline:
    """A worker's accepted calls per wall-clock slot from slot ``first`` on: every worker's slots
    are the same times, so the fleet's timeline is their sum."""

    first: int
    counts: tuple[int, ...]


def timelines_bound(
    timelines: Iterable[Mapping[int, int]], depth: float, slot_seconds: float
) -> float:
    """The quota's largest lower bound from the workers' timelines (slot -> successes): the calls
    the fleet got through over any span of slots, over the span plus the bucket's depth. The
    span from the bucket's last full moment to its first dry one gives the quota, to a slot's
    calls; seconds braked or stalled after the first throttle only give smaller bounds."""
    fleet: dict[int, int] = {}
    for timeline in timelines:
        for slot, count in timeline.items():
            fleet[slot] = fleet.get(slot, 0) + count
    if not fleet:
        return 0.0
    first, last = min(fleet), max(fleet)
    totals = list(accumulate((fleet.get(s, 0) for s in range(first, last + 1)), initial=0))
    return max(
        (totals[end] - totals[start]) / ((end - start) * slot_seconds + depth)
        for end in range(1, len(totals))
        for start in range(end)
    )


class LocalLaw:
    """One worker's rate from its own throttles and successes (see the module docstring)."""

    def __init__(self, config: RateConfig | None = None, rate: float | None = None) -> None:
        self.config = config or RateConfig()
        self.rate = rate if rate is not None else self.config.initial_rate
        self.phase = Phase.SLOW_START if rate is None else Phase.STEADY
        self._last_cut = -math.inf
        self._last_grow: float | None = None
        self._accepted: deque[float] = deque()  # success times in slow start (history_seconds)
        self.round_trip: float | None = None

    @property
    def slow_start(self) -> bool:
        return self.phase is Phase.SLOW_START

    def _steady(self) -> None:
        """The law's one transition: out of slow start (a first throttle, or a learned rate)."""
        self._accepted.clear()
        self.phase = Phase.STEADY

    def on_answer(self, seconds: float) -> None:
        self.round_trip = seconds  # slow start is timed by it

    def doubling_seconds(self) -> float:
        """Calls sent in the round trip before the first throttle returns are more throttles:
        a slow answer slows the doubling."""
        config = self.config
        round_trips = config.slow_start_round_trips * (self.round_trip or 0.0)
        return max(config.slow_start_doubling_seconds, round_trips)

    def __repr__(self) -> str:
        return f"LocalLaw({self.phase}, rate={self.rate:.2f})"

    def restart_from(self, rate: float, now: float) -> None:
        """Continue from a rate learned elsewhere (the last fleet share): no slow start."""
        self.rate = max(self.config.min_rate, rate)
        self._steady()
        self._last_cut = now
        self._last_grow = now

    def on_success(self, now: float, waited: float) -> None:
        """``waited``: seconds since a call last waited for its slot (the rate held it back)."""
        last, self._last_grow = self._last_grow, now
        config = self.config
        if self.phase is Phase.SLOW_START:
            self._accepted.append(now)
            while self._accepted[0] < now - config.history_seconds:
                self._accepted.popleft()
            if last is not None and waited <= config.slow_start_limited_seconds:
                # Growth for the time since the last success, while calls waited throughout.
                held = min(now - last, config.slow_start_limited_seconds)
                self.rate *= 2.0 ** (held / self.doubling_seconds())
            return
        if waited > config.limited_seconds or last is None:
            return
        self.rate *= 1.0 + config.gain

    def measured_quota(self, now: float) -> float:
        """What slow start's successes say of the quota, the bucket just run dry."""
        since = ((calls, now - at) for calls, at in enumerate(reversed(self._accepted), start=1))
        return dry_bucket_bound(since, self.config.burst_seconds)

    def on_throttle(self, now: float, sent_at: float | None) -> bool:
        """Cuts once per overshoot; True when it did."""
        config = self.config
        if sent_at is not None and sent_at <= self._last_cut:
            return False  # left before the last cut: the same overshoot
        if self.phase is Phase.SLOW_START:  # the burst hid how far it went: measure instead
            self.rate = min(self.rate, self.measured_quota(now))
            self._steady()
        else:
            self.rate *= 1.0 - config.cut
        self.rate = max(config.min_rate, self.rate)
        self._last_cut = now
        return True


@dataclass(frozen=True, slots=True)
class Window:
    """What the fleet did over one window."""

    seconds: float
    accepted: float  # calls/s that got through
    throttled: float  # calls/s answered with a throttle
    limited: bool  # some worker's rate held its calls back
    running: float | None = None  # calls/s the workers' own rates add up to, while starting
    bound: float | None = None  # the quota's lower bound from the timelines, while starting
    prober_limited: bool = True  # the worker slow-starting for a cold fleet could send more
    throttled_since_start: bool = False  # some worker has met a throttle since it started
    held: float | None = None  # the prober's rate once its first throttle measured the quota


@dataclass(frozen=True, slots=True)
class Plan:
    """The fleet's decision, shared through the table."""

    rate: float  # calls/s for the whole fleet
    estimate: float | None = None  # the learned quota
    mode: Mode = Mode.STARTUP
    window: int = 0  # decisions so far
    quiet_seconds: float = 0.0  # cruising without a throttle since the last cut
    step: float = 0.0  # the probe's current step above the estimate
    probing: int = 0  # windows the current probe has lasted
    probed: tuple[tuple[float, float], ...] = ()  # (calls through, seconds) per window since...
    dry: bool = False  # ...the bucket last ran dry, when known (a throttle, at most a window on)
    fresh: bool = False  # just decided: the next window's throttles may predate it


def brake_for(plan: Plan, config: RateConfig) -> float:
    """A worker's share at its first throttle, until the next decision: back to the estimate."""
    if plan.mode is Mode.FIXED or config.brake >= 1.0:
        return 1.0  # a configured rate never brakes (nor any, with the brake switched off)
    if plan.mode is Mode.STARTUP:
        # The others stop until the take-over while the prober holds what it measured: halved,
        # three workers at 50/s still sent 95/s into the empty bucket.
        return 0.0
    if plan.mode is Mode.PROBE:
        return (1.0 - config.margin) / (1.0 + plan.step)
    return config.brake


def fixed_plan(rate: float, window: int = 0) -> Plan:
    return Plan(rate=rate, estimate=rate, mode=Mode.FIXED, window=window)


class FleetLaw:
    """The fleet's rate, one decision per `Window` (see the module docstring)."""

    def __init__(self, config: RateConfig | None = None) -> None:
        self.config = config or RateConfig()

    def window_seconds(self, plan: Plan) -> float:
        config = self.config
        return config.heartbeat_seconds if plan.mode is Mode.STARTUP else config.window_seconds

    def _busy(self, window: Window) -> bool:
        """Throttled for much of the window: what got through is the refill rate, the quota."""
        sent = window.accepted + window.throttled
        return window.throttled > 0 and window.throttled >= self.config.busy_fraction * sent

    def first(self) -> Plan:
        return Plan(rate=0.0)  # the others wait while one worker slow-starts

    def decide(self, plan: Plan, window: Window) -> Plan:  # noqa: PLR0911 - one per transition
        """The plan's one transition function: every change of mode is taken here."""
        config = self.config
        number = plan.window + 1
        nxt = replace(plan, window=number, fresh=False)
        if plan.mode is Mode.FIXED:
            return nxt
        if plan.fresh and window.throttled > 0:
            # Maybe sent before the workers heard of the decision; the bucket ran dry in it.
            return replace(nxt, probed=(), dry=True)
        if plan.mode is Mode.STARTUP:
            if plan.estimate is None and not (window.throttled or window.throttled_since_start):
                return replace(nxt, rate=self._join(plan, window))
            if plan.estimate is None:  # just run dry: the fleet's bound is tight now, kept
                return replace(nxt, estimate=window.bound or 0.0)
            if not window.limited and window.throttled == 0:
                return nxt  # short of work: nothing measured
            estimate, exact = self._take_over(plan, window)  # a lower bound: probe at once
            return self._cruise(estimate, 0.0 if exact else config.probe_every_seconds, number)
        if window.throttled > 0:
            return self._cruise(*self._cut(plan, window), number)
        probed = (*plan.probed, (window.accepted * window.seconds, window.seconds))
        dry = plan.dry and len(probed) <= config.probe_history
        nxt = replace(nxt, probed=probed[max(0, len(probed) - config.probe_history) :], dry=dry)
        if not window.limited:  # short of work: a rate nobody needs would not be tested
            return nxt
        estimate = plan.estimate if plan.estimate is not None else plan.rate
        quiet = plan.quiet_seconds + window.seconds
        if plan.mode is Mode.CRUISE and quiet < config.probe_every_seconds:
            return replace(nxt, quiet_seconds=quiet)
        # Probe a little above, long enough to empty the burst; unthrottled, the step grows.
        probing = plan.probing + 1 if plan.mode is Mode.PROBE else 1
        step = plan.step if plan.mode is Mode.PROBE else config.probe_step
        if probing > config.probe_flat_windows:
            step = min(config.max_probe_step, step * config.probe_growth)
        return replace(
            nxt,
            rate=estimate * (1.0 + step),
            estimate=estimate,
            mode=Mode.PROBE,
            quiet_seconds=quiet,
            step=step,
            probing=probing,
        )

    def _cruise(self, estimate: float, quiet: float, number: int) -> Plan:
        """Cruise just below a new estimate (or probe above a lower bound at once)."""
        config = self.config
        if quiet >= config.probe_every_seconds:  # a lower bound: probe above it at once
            rate, step = estimate * (1.0 + config.probe_step), config.probe_step
            return Plan(rate, estimate, Mode.PROBE, number, quiet, step, 1, dry=True, fresh=True)
        rate = max(config.min_rate, estimate * (1.0 - config.margin))
        return Plan(rate, estimate, Mode.CRUISE, number, quiet, dry=True, fresh=True)

    def _join(self, plan: Plan, window: Window) -> float:
        """The others' rate while the prober slow-starts unthrottled: nil while it alone can use
        more; once it can send no more, or still waits `startup_alone_windows` on, they join in,
        doubling each window but never past twice what got through (a stack that carries no
        more would let the rate run up unseen, then burst), halving at most on a stall."""
        alone = plan.window < self.config.startup_alone_windows
        if not window.limited or (window.prober_limited and alone):
            return plan.rate
        rate = window.accepted
        if plan.rate > 0.0:
            rate = max(plan.rate / 2.0, 2.0 * min(plan.rate, window.accepted))
        return max(self.config.initial_rate, rate)

    def _take_over(self, plan: Plan, window: Window) -> tuple[float, bool]:
        """The fleet's first estimate, a window after its first throttle; and whether it was
        measured exactly (throttled throughout: what got through is the quota)."""
        config = self.config
        assert plan.estimate is not None  # the fleet's bound, kept at the first throttle
        sent = window.accepted + window.throttled
        running = window.running if window.running is not None else sent
        exact = self._busy(window)
        if window.held is not None and plan.rate == 0.0:
            bound = window.held  # as the prober measured it: a window's count is a call off
        elif plan.rate > 0.0:  # the others joined in: a window's count holds the burst
            exact = False
            bound = max(window.bound or 0.0, plan.estimate)
        else:
            bound = min(running, sent)
            if window.throttled > 0:
                bound = min(bound, window.accepted / (1.0 - config.margin))
        bound = max(bound, plan.estimate)  # workers that started late measured little
        return max(config.min_rate, window.accepted if exact else bound), exact

    def _cut(self, plan: Plan, window: Window) -> tuple[float, float]:
        """A throttled window: a new estimate, and the quiet seconds it counts as (a growing
        probe that found more probes again at once). What got through measures the quota,
        exactly when throttled throughout, else to the noise (workers brake inside the window):
        it replaces the estimate only then, or when a probe found more. A light throttle while
        cruising steps down."""
        config = self.config
        margin = config.margin
        estimate = plan.estimate if plan.estimate is not None else plan.rate
        if self._busy(window) and plan.mode is Mode.PROBE:
            # Less than the estimate may be a stall or the brake as much as a lowered quota:
            # one step down; cruising windows throttled throughout follow the rest of the way.
            floor = estimate * (1.0 - 3 * margin)
            above = window.accepted >= estimate
            return (window.accepted if above else max(window.accepted, floor)), 0.0
        if self._busy(window):
            # A count above the estimate holds calls sent before the window: lower only.
            return min(estimate, window.accepted), 0.0
        if plan.mode is Mode.PROBE:
            # What got through since each window began, over the seconds since plus the
            # bucket's depth, bounds the quota (the throttled window's own rate holds the burst
            # refilled while cruising). Since the bucket last ran dry, without the depth, it
            # measures it if the bucket never filled meanwhile (none of the quota was lost). A
            # bound above the estimate, not measured, may be a raised quota: probed at once.
            windows = (*plan.probed, (window.accepted * window.seconds, window.seconds))
            bound = dry_bucket_bound(_totals(reversed(windows)), config.burst_seconds)
            if plan.dry:
                sums = list(_totals(windows))
                rate = sums[-1][0] / sums[-1][1]
                if all(rate * (t - config.burst_seconds) < n for n, t in sums):
                    return max(estimate, bound, rate), 0.0
                bound = max(bound, rate)
            return (bound, config.probe_every_seconds) if bound > estimate else (estimate, 0.0)
        stepped = max(window.accepted, estimate * (1.0 - 3 * margin))
        return min(estimate * (1.0 - margin), stepped), 0.0


def _totals(windows: Iterable[tuple[float, float]]) -> Iterable[tuple[float, float]]:
    """Running sums of (calls, seconds)."""
    return accumulate(windows, lambda a, b: (a[0] + b[0], a[1] + b[1]))


def split_level(rate: float, wants: Iterable[float]) -> float:
    """The max-min fair split of ``rate`` as one level: each worker takes the smaller of its
    want and the level. What nobody wants goes evenly on top, so a want that grows before the
    next split takes no more than its part."""
    pending = sorted(wants)
    left = max(0.0, rate)
    for met, want in enumerate(pending):
        even = left / (len(pending) - met)
        if want >= even:
            return even
        left -= want
    return pending[-1] + left / len(pending) if pending else rate
