"""Workers that share one quota agree on it through one item of the table they already share.

Each worker heartbeats (every ``heartbeat_seconds``, one DynamoDB request) its own entry into the
fleet item: its counts of accepted and throttled calls, what it wants and the share it runs at.
The same request returns the whole item, so every worker sees every other one at no extra cost.
The leader, the author of the fleet's plan while it is live (else the live worker with the
smallest id), turns the fleet's counts into one decision per window (`FleetLaw`: the fleet's
rate and quota estimate) and writes it with its next heartbeat. Every worker then takes its
max-min fair share of that rate among the live workers. A cold fleet (no decision yet)
slow-starts one worker, the leader, while the others wait; a throttle that any worker met in a
probe brakes every worker at its next heartbeat.

No host's clock is trusted by another. A worker is live while its entry keeps changing (its
``seq``): an entry first seen, or changed, is live from then by the reader's own clock, and one
that has not changed for ``expiry_seconds`` belongs to a dead worker; its share goes to the
others at the next heartbeat and the leader removes it. A worker that stops cleanly removes its
own entry at once. A worker's start time and wall clock decide nothing: a joining worker never
takes the lead, whatever start it claims, and a worker whose clock is off is counted alike.

When the table cannot be reached, the worker keeps its last share and, after a few failed
heartbeats, steers on its own (`LocalLaw`, from that share); it rejoins when the table answers.
It never stops for the table and never retries faster than its heartbeat. This module decides;
`consumer.rate.coordinator` does the I/O.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from consumer.core.clock import Clock
from consumer.rate.config import Mode, RateConfig
from consumer.rate.laws import (
    FleetLaw,
    Plan,
    Timeline,
    Window,
    brake_for,
    fixed_plan,
    max_min_shares,
    timelines_bound,
)
from consumer.rate.limiter import QuotaLimiter

log = structlog.get_logger("consumer.aws.fleet")


@dataclass(frozen=True, slots=True)
class MemberEntry:
    """One worker as the fleet item holds it."""

    member: str
    host: str
    started: float  # wall clock
    at: float  # wall clock of this heartbeat
    seq: int
    successes: int  # cumulative
    throttles: int  # cumulative
    want: float  # calls/s it could use (math.inf: its rate holds calls back)
    share: float | None
    recent_successes: int = 0  # the last minute
    recent_throttles: int = 0
    timeline: Timeline | None = None  # while the fleet starts: its successes per slot


@dataclass(frozen=True, slots=True)
class PlanRecord:
    plan: Plan
    at: float  # wall clock of the decision
    by: str


@dataclass(frozen=True, slots=True)
class FleetView:
    members: dict[str, MemberEntry] = field(default_factory=dict)
    plan: PlanRecord | None = None


class FleetTable(Protocol):
    """The fleet item: one heartbeat writes this worker's entry and returns the whole item."""

    async def beat(
        self, entry: MemberEntry, plan: PlanRecord | None, remove: Sequence[str]
    ) -> FleetView: ...

    async def leave(self, member: str) -> None: ...

    async def read(self) -> FleetView: ...


@dataclass(frozen=True, slots=True)
class Outbox:
    """What this worker's next write carries besides its entry: the decision it took as the
    leader, not yet written, and the dead workers' entries to remove."""

    plan: PlanRecord | None = None
    remove: tuple[str, ...] = ()


class FleetMember:
    """The decisions of one worker in the fleet, without I/O (the coordinator does that)."""

    def __init__(
        self,
        member: str,
        host: str,
        limiter: QuotaLimiter,
        clock: Clock,
        *,
        law: FleetLaw | None = None,
        fixed_rate: float | None = None,
    ) -> None:
        self.member = member
        self.host = host
        self.limiter = limiter
        self._clock = clock
        self.config: RateConfig = limiter.config
        self._law = law or FleetLaw(self.config)
        self._fixed = fixed_rate
        self.started = clock.time()
        self._phase = zlib.crc32(member.encode()) / 2**32  # its place in a slot, fleet-wide
        self._seq = 0
        self._seen: dict[str, tuple[int, float]] = {}  # member -> (its seq, our monotonic then)
        self.live: dict[str, MemberEntry] = {}
        self.plan: PlanRecord | None = None
        self._pending: PlanRecord | None = None  # decided, not yet written
        self._dead: tuple[str, ...] = ()
        self._doubted: set[str] = set()  # workers whose counts were ignored, logged once
        self._base: dict[str, tuple[int, int, float]] | None = None  # the leader's window start
        self._rates: dict[str, tuple[float, float]] = {}  # member -> (accepted, throttled)/s
        self._base_at = 0.0
        self._throttles: dict[str, int] = {}  # member -> its throttles at the last heartbeat
        self._timelines: dict[str, dict[int, int]] = {}  # member -> slot -> successes

    def entry(self) -> MemberEntry:
        now = self._clock.monotonic()
        self._seq += 1
        tally = self.limiter.tally
        ok, thr = tally.recent(now)
        wall = self._clock.time()
        starting = self.plan is None or self.plan.plan.mode is Mode.STARTUP
        return MemberEntry(
            member=self.member,
            host=self.host,
            started=self.started,
            at=wall,
            seq=self._seq,
            successes=tally.successes,
            throttles=tally.throttles,
            want=self.limiter.want(),
            share=self.limiter.share,
            recent_successes=ok,
            recent_throttles=thr,
            timeline=tally.timeline(wall) if starting else None,
        )

    @property
    def leader(self) -> str:
        """The plan's author while it is live, else the live worker with the smallest id: every
        worker reads the same item, so they agree without a word, and a worker joining never
        takes the lead. It is also the one that slow-starts a cold fleet, so when it takes over
        it lowers its own rate at once, before the others raise theirs at their next
        heartbeats."""
        author = self.plan.by if self.plan is not None else None
        if author is not None and author in self.live:
            return author
        return min([*self.live, self.member])

    def outbox(self) -> Outbox:
        """What the next write carries besides this worker's entry."""
        return Outbox(self._pending, self._dead)

    def sent(self, outbox: Outbox) -> None:
        """``outbox`` was written: a decision taken since stays pending."""
        if self._pending is outbox.plan:
            self._pending = None
        if self._dead == outbox.remove:
            self._dead = ()

    def absorb(self, view: FleetView) -> bool:
        """Takes in the item a heartbeat returned: liveness, the leader's decision, our share.
        True when this worker, leading, changed the fleet's rate: write it now rather than with
        the next heartbeat (one request more per change, for the whole fleet)."""
        now = self._clock.monotonic()
        wall = self._clock.time()
        expiry = self.config.expiry_seconds
        live: dict[str, MemberEntry] = {}
        dead: list[str] = []
        for member, entry in view.members.items():
            seen = self._seen.get(member)
            if seen is None or seen[0] != entry.seq:
                seen = (entry.seq, now)  # first seen or changed: live from now, by our clock
                self._seen[member] = seen
            if member == self.member or now - seen[1] < expiry:
                live[member] = entry
            else:
                dead.append(member)
        self._seen = {m: s for m, s in self._seen.items() if m in view.members}
        self.live = live
        self.plan = view.plan
        throttled = any(
            e.throttles > self._throttles.get(m, e.throttles)
            for m, e in live.items()
            if m != self.member  # its own throttles brake it as they come
        )
        self._throttles = {m: e.throttles for m, e in live.items()}
        self._merge(live)
        changed = False
        if self.leader == self.member:
            self._dead = tuple(dead)
            changed = self._lead(now, wall)
        else:
            self._dead = ()
            self._base = None
        self._assign()
        if (
            throttled
            and self.plan is not None
            and self.plan.plan.mode in (Mode.PROBE, Mode.STARTUP)
        ):
            # The probe (or the start) found the quota: every worker brakes, not only the ones
            # throttled (one by one, each of N workers would meet a throttle of its own first).
            self.limiter.brake()
        return changed and len(self.live) > 1

    def _lead(self, now: float, wall: float) -> bool:
        """Decides for the fleet when a window is up; True when that changed its rate."""
        plan = self.plan.plan if self.plan is not None else None
        if self._fixed is not None:
            if plan is None or plan.mode is not Mode.FIXED or plan.rate != self._fixed:
                return self._publish(fixed_plan(self._fixed, plan.window + 1 if plan else 0), wall)
            return False
        if plan is None or plan.mode is Mode.FIXED:
            return self._publish(self._law.first(), wall)
        counts = {m: (e.successes, e.throttles, e.at) for m, e in self.live.items()}
        if self._base is None:
            self._base, self._base_at = counts, now
            return False
        seconds = now - self._base_at
        # A window is up at the heartbeat nearest its end (heartbeats are not exact).
        if seconds < self._law.window_seconds(plan) - self.config.heartbeat_seconds / 2:
            return False
        # Each worker's rates over its own heartbeats (its own clock): no phase or skew error.
        accepted = throttled = 0.0
        tolerance = self.config.span_tolerance
        # No worker sends more than the whole fleet's rate: counts past it are not believed.
        most = tolerance * max(plan.rate, plan.estimate or 0.0, self.config.initial_rate)
        for member, (ok, thr, at) in counts.items():
            # A worker new in this window: its counts since it started.
            new = member not in self._base
            base = self._base.get(member) or (0, 0, self.live[member].started)
            if at > base[2] and ok >= base[0] and thr >= base[1]:
                span = at - base[2]
                if not (new or seconds / tolerance <= span) or span > seconds * tolerance:
                    span = seconds  # its clock jumped, or its entry is not to be believed
                calls = ok - base[0] + thr - base[1]
                if member != self.member and calls > most * (span + self.config.heartbeat_seconds):
                    self._doubt(member, calls, span)
                    self._rates[member] = (0.0, 0.0)
                else:
                    self._rates[member] = ((ok - base[0]) / span, (thr - base[1]) / span)
            rates = self._rates.get(member, (0.0, 0.0))
            accepted += max(0.0, rates[0])
            throttled += max(0.0, rates[1])
        self._rates = {m: r for m, r in self._rates.items() if m in counts}
        limited = any(math.isinf(e.want) for e in self.live.values())
        self._base, self._base_at = counts, now
        # While the fleet starts, the prober's share is the rate its own law runs at.
        running = sum(e.share for e in self.live.values() if e.share is not None)
        entry = self.live.get(self.prober)
        window = Window(
            seconds,
            accepted,
            throttled,
            limited,
            running or None,
            self._bound(),
            prober_limited=entry is None or math.isinf(entry.want),
            throttled_since_start=any(e.throttles for e in self.live.values()),
            # Out of slow start at its first throttle, it holds what that throttle measured.
            held=entry.share if entry is not None and entry.throttles else None,
        )
        return self._publish(self._law.decide(plan, window), wall)

    def _doubt(self, member: str, calls: int, span: float) -> None:
        """Logs, once per worker, counts that grew past anything the fleet could send."""
        if member not in self._doubted:
            self._doubted.add(member)
            log.warning("fleet_counts_ignored", worker=member, calls=calls, seconds=round(span, 2))

    @property
    def prober(self) -> str:
        """The worker that slow-starts for a cold fleet: the leader. One started earlier but
        heard of later takes over at the next heartbeat."""
        return self.leader

    def _merge(self, live: dict[str, MemberEntry]) -> None:
        """Keeps the last `RateConfig.slot_history` slots of every live worker's timeline: each
        heartbeat carries its last `slot_sent`, its latest slot (still filling) sent again next
        time."""
        if all(entry.timeline is None for entry in live.values()):
            self._timelines = {}  # started: the bound is not needed again
            return
        for member, entry in live.items():
            if (timeline := entry.timeline) is not None:
                slots = self._timelines.setdefault(member, {})
                slots.update(enumerate(timeline.counts, start=timeline.first))
        self._timelines = {m: t for m, t in self._timelines.items() if m in live and t}
        if self._timelines:
            oldest = max(max(t) for t in self._timelines.values()) - self.config.slot_history
            for member, slots in self._timelines.items():
                self._timelines[member] = {k: c for k, c in slots.items() if k > oldest}

    def _bound(self) -> float | None:
        """The fleet's lower bound of the quota from the timelines the workers send while it
        starts (see `timelines_bound`): tight at the first throttle, however late the leader
        looks and whatever the fleet did since. A worker's timeline ends at its last
        heartbeat: what it did since is left out, so the bound errs low, never high (but for
        the hosts' clock skew, a slot's calls or so)."""
        if not self._timelines:
            return None
        config = self.config
        return timelines_bound(self._timelines.values(), config.burst_seconds, config.slot_seconds)

    def _publish(self, plan: Plan, wall: float) -> bool:
        """Takes ``plan`` as the fleet's; True when it changes the rate (or the mode)."""
        old = self.plan.plan if self.plan is not None else None
        changed = old is None or (plan.rate, plan.mode) != (old.rate, old.mode)
        self.plan = self._pending = PlanRecord(plan, wall, self.member)
        if changed:
            log.info(
                "fleet_plan",
                mode=str(plan.mode),
                rate=round(plan.rate, 2),
                estimate=None if plan.estimate is None else round(plan.estimate, 2),
                window=plan.window,
                workers=len(self.live),
            )
        return changed

    def _assign(self) -> None:
        # Before the leader's first decision arrives: the first plan.
        plan = self.plan.plan if self.plan is not None else self._law.first()
        starting = plan.mode is Mode.STARTUP
        # A cold fleet: the prober slow-starts on its own law, the others share the plan.
        prober = self.prober if starting else None
        wants = {m: e.want for m, e in self.live.items() if m != prober}
        wants[self.member] = self.limiter.want()
        share = max_min_shares(plan.rate, wants)[self.member]
        config = self.config
        # The others of a cold fleet may wait for nothing: a call of theirs would spend the
        # bucket's burst the prober measures the quota by; otherwise no worker stops.
        floor = 0.0 if starting else config.min_rate
        self.limiter.assign(
            max(share, floor),
            plan.window,
            brake=brake_for(plan, config),
            steer=prober == self.member,
            starting=starting,
            phase=self._phase,
        )
