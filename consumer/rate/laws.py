"""The rate decisions of a fleet sharing one unpublished token-bucket quota: pure, clock-free.

Both laws are fed with counts of accepted and throttled calls, never with timers of their own
(docs/rate-control.md, "How it works"):

- `LocalLaw`, one worker on its own: slow start, measured at its first throttle by the bucket
  that has just run dry (`dry_bucket_bound`), then a small raise per success (``gain``) and a
  larger cut per overshoot (``cut``), which balance where about ``gain / cut`` (~1%) of calls
  are throttled, whatever the number of workers: every sender behind an empty bucket sees the
  same throttled share.
- `FleetLaw`, one decision per window for the whole fleet (the table's leader takes it): while
  the fleet is throttled, what got through is the bucket's refill rate, the quota; the fleet
  cruises just below it and probes above it on a schedule. A cold fleet slow-starts as one
  sender (N at once would be N overshoots); a window after its first throttle the leader
  takes over.

`max_min_shares` splits the fleet's rate: a worker that wants less than an even split gets
what it wants, the rest is shared evenly by the others.
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
    """The largest lower bound of the quota a bucket that has just run dry gives, from
    (calls accepted since ``t``, seconds since ``t``) for earlier times ``t``: full at ``t``,
    it let through at most ``quota * (seconds + depth)``, ``depth`` its burst in seconds."""
    return max((calls / (seconds + depth) for calls, seconds in since), default=0.0)


@dataclass(frozen=True, slots=True)
class Timeline:
    """A worker's accepted calls per wall-clock slot (`RateConfig.slot_seconds`), from slot
    ``first`` on (slot ``k`` covers ``k * slot_seconds`` to the next): every worker's slots are
    the same times, so the fleet's timeline is their sum."""

    first: int
    counts: tuple[int, ...]


def timelines_bound(
    timelines: Iterable[Mapping[int, int]], depth: float, slot_seconds: float
) -> float:
    """The largest lower bound of the quota a fleet's timelines (slot -> successes, one per
    worker) give: the calls the fleet got
    through from the start of any slot to the end of any later one, over that span plus the
    bucket's depth (a bucket never holds more than its depth, so any span gives one; the span
    from the last time the bucket was full to the first time it ran dry gives the quota, to a
    slot's calls). Taken at the first throttle, whenever the leader looks: the seconds the
    fleet braked or the stack stalled after it only give smaller ones."""
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
        """The law's one transition: out of slow start, at its first throttle or when it
        restarts from a rate learned elsewhere."""
        self._accepted.clear()
        self.phase = Phase.STEADY

    def on_answer(self, seconds: float) -> None:
        """An answer came back ``seconds`` after its call left: the round trip slow start is
        timed by."""
        self.round_trip = seconds

    def doubling_seconds(self) -> float:
        """How often slow start doubles: every calls sent in the round trip before the first
        throttle comes back are more throttles, so a slow answer slows the doubling."""
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
        """The largest lower bound of the quota the calls accepted in slow start give, for a
        bucket that has just run dry (see `dry_bucket_bound`)."""
        since = ((calls, now - at) for calls, at in enumerate(reversed(self._accepted), start=1))
        return dry_bucket_bound(since, self.config.burst_seconds)

    def on_throttle(self, now: float, sent_at: float | None) -> bool:
        """Cuts once per overshoot; True when it did."""
        config = self.config
        if sent_at is not None and sent_at <= self._last_cut:
            return False  # left before the last cut: the same overshoot
        if self.phase is Phase.SLOW_START:
            # The bucket's burst hid how far slow start went: measure instead (see the module
            # docstring).
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
    bound: float | None = None  # the fleet's calls accepted since it started or since a
    # recent window, over the seconds since plus the bucket's depth: a lower bound of the
    # quota, tight when the bucket was full then (see `LocalLaw`)
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
    probed: tuple[tuple[float, float], ...] = ()  # the current probe's windows, latest last:
    # (calls the fleet got through, seconds), at most `RateConfig.probe_history` of them
    fresh: bool = False  # just taken over or cut: light throttles in the next window may
    # predate the decision


def brake_for(plan: Plan, config: RateConfig) -> float:
    """What a worker's share falls to at its first throttle under ``plan``, before the fleet
    decides: back to where the plan came from (the estimate)."""
    if plan.mode is Mode.FIXED or config.brake >= 1.0:
        return 1.0  # a configured rate never brakes (nor any, with the brake switched off)
    if plan.mode is Mode.STARTUP:
        # The others, joined in at up to twice what got through: at the first throttle they
        # stop until the leader takes over (a window on), while the prober holds what it
        # measured. Halved, three workers at 50/s still sent 95/s into the empty bucket.
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
        """How long the window of a decision on ``plan`` lasts."""
        if plan.mode is Mode.STARTUP:
            return self.config.heartbeat_seconds
        return self.config.window_seconds

    def _busy(self, window: Window) -> bool:
        """Throttled for much of the window: what got through is then the bucket's refill
        rate, the quota, measured."""
        sent = window.accepted + window.throttled
        return window.throttled > 0 and window.throttled >= self.config.busy_fraction * sent

    def first(self) -> Plan:
        return Plan(rate=0.0)  # the others wait while one worker slow-starts

    def decide(self, plan: Plan, window: Window) -> Plan:  # noqa: PLR0911 - one per transition
        """The plan's one transition function: every change of mode is taken here."""
        config = self.config
        number = plan.window + 1
        nxt = replace(plan, window=number, fresh=False)
        # Light throttles counted in the short window after a take-over or cut were mostly sent
        # before the workers heard of it; heavy ones measure the quota whenever they were sent.
        stale = plan.fresh and window.throttled > 0 and not self._busy(window)
        if plan.mode is Mode.FIXED or stale:
            return nxt
        if plan.mode is Mode.STARTUP:
            if plan.estimate is None and not (window.throttled or window.throttled_since_start):
                return replace(nxt, rate=self._join(plan, window))
            if plan.estimate is None:
                # The bucket has just run dry: the fleet's own bound is tight now; kept for
                # the take-over a window on.
                return replace(nxt, estimate=window.bound or 0.0)
            if not window.limited and window.throttled == 0:
                return nxt  # short of work: nothing measured
            estimate, exact = self._take_over(plan, window)
            # A lower bound rather than a measurement: probe above it at once.
            return self._cruise(estimate, 0.0 if exact else config.probe_every_seconds, number)
        if window.throttled > 0:
            return self._cruise(*self._cut(plan, window), number)
        if not window.limited:
            return nxt  # short of work: a rate nobody needs would not be tested
        estimate = plan.estimate if plan.estimate is not None else plan.rate
        quiet = plan.quiet_seconds + window.seconds
        if plan.mode is Mode.CRUISE and quiet < config.probe_every_seconds:
            return replace(nxt, quiet_seconds=quiet)
        # Probe: a little above the estimate, long enough to empty the bucket's burst; a probe
        # that still meets no throttle means the quota was raised: the step then grows.
        probing = plan.probing + 1 if plan.mode is Mode.PROBE else 1
        step = plan.step if plan.mode is Mode.PROBE else config.probe_step
        probed: tuple[tuple[float, float], ...] = ()
        if plan.mode is Mode.PROBE:
            probed = (*plan.probed, (window.accepted * window.seconds, window.seconds))
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
            probed=probed[len(probed) - config.probe_history :],
        )

    def _cruise(self, estimate: float, quiet: float, number: int) -> Plan:
        """Cruise just below a new estimate. The next window checks it (``fresh``): its light
        throttles may have been sent before the workers heard of the decision, and if it is
        still throttled throughout, it measures the refill rate alone (a window that began with
        a full bucket let its burst through too)."""
        config = self.config
        if quiet >= config.probe_every_seconds:  # a lower bound: probe above it at once
            rate, step = estimate * (1.0 + config.probe_step), config.probe_step
            return Plan(rate, estimate, Mode.PROBE, number, quiet, step, probing=1, fresh=True)
        rate = max(config.min_rate, estimate * (1.0 - config.margin))
        return Plan(rate, estimate, Mode.CRUISE, number, quiet_seconds=quiet, fresh=True)

    def _join(self, plan: Plan, window: Window) -> float:
        """The others' rate while one worker slow-starts for a cold fleet and no throttle has
        come back: nil while the prober alone can use more; once it can send no more (its own
        ceiling, not the quota's), or still waits for its slots `startup_alone_windows` on (short
        receives of ten at once make calls wait at any rate), the others join in, doubling each
        window, but never past twice what the last window got through, even after a quicker
        one: a stack that carries no more would otherwise let the rate run up unseen, then
        burst when it speeds up. (Whether a step got through shows two heartbeats later, too
        late to wait for at each step.) A window the stack stalled through halves it at most."""
        alone = plan.window < self.config.startup_alone_windows
        if not window.limited or (window.prober_limited and alone):
            return plan.rate
        rate = window.accepted
        if plan.rate > 0.0:
            rate = max(plan.rate / 2.0, 2.0 * min(plan.rate, window.accepted))
        return max(self.config.initial_rate, rate)

    def _take_over(self, plan: Plan, window: Window) -> tuple[float, bool]:
        """The fleet's first estimate, a window after its first throttle, from what the workers
        run at: no more than the fleet sent then; and whether it was measured exactly."""
        config = self.config
        assert plan.estimate is not None  # the fleet's bound, kept at the first throttle
        sent = window.accepted + window.throttled
        running = window.running if window.running is not None else sent
        # Throttled throughout, what got through is the bucket's refill rate, the quota; else
        # the laws' sum is a lower bound of it (but for a throttled window, with the burst
        # spent, little more than got through).
        exact = self._busy(window)
        if window.held is not None and plan.rate == 0.0:
            bound = window.held  # the quota as one sender measured it (a window's count of
            # calls is a call or so off, a tenth of a quota of 10/s)
        elif plan.rate > 0.0:
            # The others joined in, the stack holding the fleet under the quota (the bucket
            # full) until it sped up: the fleet's own bound is tight, and a window's count holds
            # the burst.
            exact = False
            bound = max(window.bound or 0.0, plan.estimate)
        else:
            bound = min(running, sent)
            if window.throttled > 0:
                bound = min(bound, window.accepted / (1.0 - config.margin))
        bound = max(bound, plan.estimate)  # workers that started late measured little
        return max(config.min_rate, window.accepted if exact else bound), exact

    def _cut(self, plan: Plan, window: Window) -> tuple[float, float]:
        """A throttled window: a new estimate to cruise below, and the quiet seconds it counts
        as (a growing probe that found more probes again at once).

        The bucket ran dry, so what got through is its refill rate: the quota, measured. The
        measurement is exact when the window was throttled throughout and noisy (a call more or
        less per worker, and workers brake inside the window) otherwise, so it replaces the
        estimate only when it says more than the noise: on a heavily throttled window, or when
        a growing probe found more. A light throttle while cruising says the quota is a little
        under the cruise: a step down.
        """
        config = self.config
        margin = config.margin
        estimate = plan.estimate if plan.estimate is not None else plan.rate
        if self._busy(window) and plan.mode is Mode.PROBE:
            # Throttled for much of a probe's window, the fleet measured a raised quota when
            # it got more than the estimate through. Less, and the window may hold a stall of
            # the stack or the workers' brake as much as a lowered quota: one step down only,
            # and cruising windows throttled throughout follow a lowered quota the rest of
            # the way.
            floor = estimate * (1.0 - 3 * margin)
            above = window.accepted >= estimate
            return (window.accepted if above else max(window.accepted, floor)), 0.0
        if self._busy(window):
            # Throttled throughout while sending under the estimate, the fleet got less than
            # the estimate through; a count above it holds calls sent before the window
            # (each worker's counts span its own heartbeats): a lower estimate only.
            return min(estimate, window.accepted), 0.0
        if plan.mode is Mode.PROBE:
            # Within the probe's step of the estimate, cruise below it again; a growing probe
            # may have found a raised quota: what it got through since the start of each of
            # its windows, over the time since plus the bucket's depth, says so (as slow
            # start's first throttle measures, see `LocalLaw`), not the throttled window's own
            # rate: that holds the burst refilled while the fleet cruised below the quota.
            windows = (*plan.probed, (window.accepted * window.seconds, window.seconds))
            since = accumulate(reversed(windows), lambda a, b: (a[0] + b[0], a[1] + b[1]))
            bound = dry_bucket_bound(since, config.burst_seconds)
            return (bound, config.probe_every_seconds) if bound > estimate else (estimate, 0.0)
        stepped = max(window.accepted, estimate * (1.0 - 3 * margin))
        return min(estimate * (1.0 - margin), stepped), 0.0


def max_min_shares(capacity: float, wants: Mapping[str, float]) -> dict[str, float]:
    """Water-filling: the smallest wants are met first, the rest is shared evenly."""
    shares: dict[str, float] = {}
    left = max(0.0, capacity)
    pending = sorted(wants.items(), key=lambda item: item[1])
    while pending:
        even = left / len(pending)
        member, want = pending[0]
        if want >= even:
            for other, _ in pending:
                shares[other] = even
            return shares
        shares[member] = want
        left -= want
        pending.pop(0)
    return shares
