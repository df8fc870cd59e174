"""Workers that share one quota agree on it through the table they already share, at a cost per
heartbeat that does not grow with the fleet (docs/rate-control.md, "A fleet").

Each heartbeat a worker writes its own entry and reads the plan item. The leader, the plan's
author, writes the plan and reads every entry once per window: their counts make the fleet's
decision (`FleetLaw`) and the split's level. A throttle in a probe or a start is added to the plan
item's count, and every worker that sees it grow brakes. No host's clock is trusted by another:
the plan lives while its pulse changes, a worker while its ``seq`` does, each timed by the
reader's own clock. This module decides; `consumer.rate.coordinator` does the I/O.
"""

from __future__ import annotations

import math
import zlib
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Protocol

import structlog

from consumer.core.clock import Clock
from consumer.rate.config import Mode, RateConfig
from consumer.rate.laws import (
    UNBOUNDED,
    FleetLaw,
    Plan,
    Timeline,
    Window,
    brake_for,
    fixed_plan,
    split_level,
    timelines_bound,
)
from consumer.rate.limiter import QuotaLimiter

log = structlog.get_logger("consumer.aws.fleet")
RELEASED = "-"  # the plan's author once its leader stopped cleanly: the lead is anyone's


@dataclass(frozen=True, slots=True)
class MemberEntry:
    """One worker as its own item holds it."""

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
    """The leader's decision and its split: the same size whatever the fleet's."""

    plan: Plan
    at: float  # wall clock of the decision
    by: str
    level: float = 0.0  # a worker's share is at most this (its want, if less)
    workers: int = 0  # live workers the level splits the rate between
    counted: int = 0  # the joins the leader had seen when it read the workers


@dataclass(frozen=True, slots=True)
class Board:
    """The plan item as a heartbeat reads it."""

    plan: PlanRecord | None = None
    pulse: int = 0  # the plan's writes so far: it changes while its author lives
    joins: int = 0  # workers that joined or left so far
    throttles: int = 0  # throttles workers met while probing or starting
    dropped: bool = False  # the leader took this worker for dead: it joins again


@dataclass(frozen=True, slots=True)
class FleetView:
    """Every worker's entry and the plan: the leader's read once per window, the operator's."""

    members: dict[str, MemberEntry] = field(default_factory=dict)
    plan: PlanRecord | None = None


@dataclass(frozen=True, slots=True)
class Outbox:
    """What a heartbeat writes besides the worker's own entry."""

    plan: PlanRecord | None = None  # as the leader, or to take the lead
    claim: int | None = None  # taking the lead: only while the pulse is still this (0: no plan)
    join: bool = False  # onto the roster, and one more join
    throttles: int = 0  # met since the last heartbeat, while probing or starting
    remove: tuple[str, ...] = ()  # dead workers, off the roster


class FleetTable(Protocol):
    """One heartbeat writes this worker's entry (and the outbox) and reads the plan item."""

    async def beat(self, entry: MemberEntry, outbox: Outbox) -> Board: ...

    async def members(self) -> dict[str, MemberEntry]: ...

    async def leave(self, member: str) -> None: ...


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
        self.plan: PlanRecord | None = None
        self._joined: int | None = None  # the join count our join made
        self._joins = 0  # the join count last read
        self._pulse = (-1, 0.0)  # the plan's pulse, our monotonic when it last changed
        self._claim: int | None = 0  # the pulse to take the lead from (0: the plan not seen)
        self._gone: str | None = None  # the author whose plan went stale
        self._signalled = 0  # our throttles counted on the plan item
        self._signals: int | None = None  # the plan item's count of throttles, last read
        # The leader's: every worker at its last read, and the window's counts.
        self.live: dict[str, MemberEntry] = {}
        self._seen: dict[str, tuple[int, float]] = {}  # member -> (its seq, our monotonic then)
        self._dead: tuple[str, ...] = ()
        self._doubted: set[str] = set()  # workers whose counts were ignored, logged once
        self._base: dict[str, tuple[int, int, float]] | None = None  # the window's start
        self._base_at = 0.0
        self._rates: dict[str, tuple[float, float]] = {}  # member -> (accepted, throttled)/s
        self._timelines: dict[str, dict[int, int]] = {}  # member -> slot -> successes
        self._last: MemberEntry | None = None
        self._counted = False  # the plan has split the rate with this worker counted
        self._wants: deque[float] = deque(maxlen=2)  # the last wants written
        self._split: tuple[int, float, int, int] | None = None  # the split last seen...
        self._cap = UNBOUNDED  # ...and the most this worker wanted when the leader read it

    def _mode(self) -> Mode:
        return self.plan.plan.mode if self.plan is not None else Mode.STARTUP

    @property
    def leading(self) -> bool:
        return self.plan is not None and self.plan.by == self.member

    @property
    def workers(self) -> int:
        """Live workers as this one knows them: the leader's count."""
        return len(self.live) if self.leading else self.plan.workers if self.plan else 1

    def entry(self) -> MemberEntry:
        now = self._clock.monotonic()
        self._seq += 1
        tally = self.limiter.tally
        ok, thr = tally.recent(now)
        wall = self._clock.time()
        self._last = MemberEntry(
            member=self.member,
            host=self.host,
            started=self.started,
            at=wall,
            seq=self._seq,
            successes=tally.successes,
            throttles=tally.throttles,
            # Not yet given a share, it cannot show what it wants: it asks for all it may get.
            want=self.limiter.want() if self._counted else UNBOUNDED,
            share=self.limiter.share,
            recent_successes=ok,
            recent_throttles=thr,
            timeline=tally.timeline(wall) if self._mode() is Mode.STARTUP else None,
        )
        self._wants.append(self._last.want)
        return self._last

    def outbox(self) -> Outbox:
        plan: PlanRecord | None = None
        wall = self._clock.time()
        if self._claim is not None:
            first = self._law.first() if self._fixed is None else fixed_plan(self._fixed)
            old = self.plan or PlanRecord(first, wall, self.member)
            plan = replace(old, at=wall, by=self.member)
        elif self.leading and self.plan is not None:
            plan = replace(self.plan, at=wall)
        probing = self._mode() in (Mode.PROBE, Mode.STARTUP)
        throttles = self.limiter.tally.throttles - self._signalled if probing else 0
        return Outbox(plan, self._claim, self._joined is None, throttles, self._dead)

    def rejoin(self) -> None:
        """The table did not answer for a while: the leader may have dropped us."""
        self._joined = None

    def absorb(self, board: Board, sent: Outbox) -> bool:
        """Takes in the plan item a heartbeat read. True when this worker leads and must read
        the workers now (a window is up, it has just taken the lead, or the roster changed)."""
        now = self._clock.monotonic()
        if sent.join or board.dropped:
            self._joined = None if board.dropped else board.joins
        self._joins = board.joins
        if board.pulse != self._pulse[0]:
            self._pulse = (board.pulse, now)  # changed: its author lives, by our clock
        if sent.remove == self._dead:
            self._dead = ()
        was = self.leading
        self.plan, self._claim = board.plan, None
        stale = now - self._pulse[1] >= self.config.expiry_seconds
        if board.plan is None or (not self.leading and (stale or board.plan.by == RELEASED)):
            self._claim = board.pulse  # take the lead at the next heartbeat
            self._gone = board.plan.by if board.plan is not None else None
        if not self.leading:
            self._base, self.live, self._seen = None, {}, {}
        if self._mode() in (Mode.PROBE, Mode.STARTUP):
            self._signalled += sent.throttles
        else:  # throttles met while cruising are no news to the others
            self._signalled = self.limiter.tally.throttles
        last = board.throttles if self._signals is None else self._signals
        others, self._signals = board.throttles - last - sent.throttles, board.throttles
        self._assign()
        if others > 0 and self._mode() in (Mode.PROBE, Mode.STARTUP):
            self.limiter.brake()  # all at once, rather than each at a throttle of its own
        if not self.leading or self.plan is None:
            return False
        window = self._law.window_seconds(self.plan.plan) - self.config.heartbeat_seconds / 2
        return (
            not was or self._base is None or now - self._base_at >= window
        ) or board.joins > self.plan.counted

    def lead(self, members: dict[str, MemberEntry]) -> bool:
        """The leader's read of every worker: liveness, the decision, the split. True when the
        rate or the split changed: write it now, not a beat later."""
        record = self.plan
        if record is None:
            return False
        now = self._clock.monotonic()
        live: dict[str, MemberEntry] = {}
        dead: list[str] = []
        for member, entry in members.items():
            seen = self._seen.get(member)
            if seen is None or seen[0] != entry.seq:
                seen = (entry.seq, now)  # first seen or changed: live from now, by our clock
                self._seen[member] = seen
            if member == self.member or (
                member != self._gone and now - seen[1] < self.config.expiry_seconds
            ):
                live[member] = entry
            else:
                dead.append(member)
        if self._last is not None:
            live[self.member] = self._last
        self._gone = None  # left out once: if it lives, it is told so and joins again
        self._seen = {m: s for m, s in self._seen.items() if m in members}
        self.live, self._dead = live, tuple(dead)
        self._merge(live)
        plan = self._decide(record.plan, now)
        prober = self.member if plan.mode is Mode.STARTUP else None
        wants = {m: e.want for m, e in live.items() if m != prober}
        if prober is None:
            wants[self.member] = self.limiter.want()
        level = split_level(plan.rate, wants.values())
        new = PlanRecord(plan, self._clock.time(), self.member, level, len(live), self._joins)
        changed = (plan.rate, plan.mode, level, len(live)) != (
            record.plan.rate,
            record.plan.mode,
            record.level,
            record.workers,
        )
        if (plan.rate, plan.mode) != (record.plan.rate, record.plan.mode):
            estimate = None if plan.estimate is None else round(plan.estimate, 2)
            log.info("fleet_plan", mode=str(plan.mode), rate=round(plan.rate, 2), estimate=estimate)
        self.plan = new
        self._assign()
        return changed and len(live) > 1  # alone, nobody is waiting for it

    def _decide(self, plan: Plan, now: float) -> Plan:
        """The fleet's decision when a window is up (else ``plan``)."""
        if self._fixed is not None:
            if plan.mode is not Mode.FIXED or plan.rate != self._fixed:
                return fixed_plan(self._fixed, plan.window + 1)
            return plan
        if plan.mode is Mode.FIXED:
            return self._law.first()
        counts = {m: (e.successes, e.throttles, e.at) for m, e in self.live.items()}
        if self._base is None:  # a window the history misses: it no longer starts dry
            self._base, self._base_at = counts, now
            return replace(plan, dry=False)
        seconds = now - self._base_at
        if seconds < self._law.window_seconds(plan) - self.config.heartbeat_seconds / 2:
            return plan
        # Each worker's rates over its own heartbeats (its own clock): no phase or skew error.
        accepted = throttled = 0.0
        config = self.config
        tolerance = config.span_tolerance
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
                    if member not in self._doubted:  # logged once per worker
                        self._doubted.add(member)
                        log.warning("fleet_counts_ignored", worker=member, calls=calls)
                    self._rates[member] = (0.0, 0.0)
                else:
                    self._rates[member] = ((ok - base[0]) / span, (thr - base[1]) / span)
            rates = self._rates.get(member, (0.0, 0.0))
            accepted += max(0.0, rates[0])
            throttled += max(0.0, rates[1])
        self._rates = {m: r for m, r in self._rates.items() if m in counts}
        self._base, self._base_at = counts, now
        # While the fleet starts, the prober's (the leader's) share is the rate its law runs at.
        running = sum(e.share for e in self.live.values() if e.share is not None)
        mine = self.live.get(self.member)
        window = Window(
            seconds,
            accepted,
            throttled,
            any(math.isinf(e.want) for e in self.live.values()),
            running or None,
            # The fleet's lower bound of the quota from the workers' timelines: each ends at its
            # last heartbeat, so it errs low.
            timelines_bound(self._timelines.values(), config.burst_seconds, config.slot_seconds)
            if self._timelines
            else None,
            prober_limited=mine is None or math.isinf(mine.want),
            throttled_since_start=any(e.throttles for e in self.live.values()),
            # Out of slow start at its first throttle, it holds what that throttle measured.
            held=mine.share if mine is not None and mine.throttles else None,
        )
        return self._law.decide(plan, window)

    def _merge(self, live: dict[str, MemberEntry]) -> None:
        """Keeps the last `RateConfig.slot_history` slots of each live worker's timeline (each
        heartbeat carries its last `slot_sent`)."""
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

    def _capped(self) -> float:
        """A want that grew since the leader's split waits for the next, not taking another's."""
        record = self.plan
        if record is None or self.leading:
            return UNBOUNDED
        split = (record.plan.window, record.level, record.workers, record.counted)
        if split != self._split:
            self._split, self._cap = split, max(self._wants, default=UNBOUNDED)
        return self._cap

    def _assign(self) -> None:
        record = self.plan
        # Before the leader's first decision arrives: the first plan.
        plan = record.plan if record is not None else self._law.first()
        starting = plan.mode is Mode.STARTUP
        # A cold fleet: the leader slow-starts on its own law, the others share the plan.
        counted = self._counted = self.leading or (
            record is not None and self._joined is not None and record.counted >= self._joined
        )
        share = 0.0
        if counted and record is not None:
            share = min(self.limiter.want(), record.level, self._capped())
        # A cold fleet's others (or one not yet counted) may wait: a call would spend the burst
        # the prober measures by, or another's share. A learned share never falls below the
        # laws' least; a known quota's does (ten workers on 3/s take 0.3/s each).
        if counted and plan.mode not in (Mode.STARTUP, Mode.FIXED):
            share = max(share, self.config.min_rate)
        self.limiter.assign(
            share,
            plan.window,
            brake=brake_for(plan, self.config),
            steer=starting and self.leading,
            starting=starting,
            phase=self._phase,
        )
