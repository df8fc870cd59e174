"""A discrete-event fleet against a token-bucket quota: the rate decisions without real time.

Every worker is the real `QuotaLimiter` (and, with a table, the real `FleetMember`) on a shared
simulated clock; calls take ``latency`` seconds and meet one token bucket (refill ``quota``/s,
``burst`` tokens, full at the start); throttled calls are tried again, as the executor does.
Heartbeats go to the fleet's items in memory, instantly; workers can join and leave mid-run.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from dataclasses import dataclass, field, replace

from consumer.rate.config import RateConfig
from consumer.rate.laws import LocalLaw, Plan
from consumer.rate.limiter import QuotaLimiter
from consumer.rate.member import Board, FleetMember, MemberEntry, Outbox


class SimClock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_700_000_000.0 + self.now

    async def sleep(self, seconds: float) -> None:  # never awaited by the simulation
        self.now += seconds


class SkewedClock:
    """A worker's view of the shared clock: its wall clock ``skew`` seconds off the others'."""

    def __init__(self, clock: SimClock, skew: float) -> None:
        self._clock = clock
        self._skew = skew

    def monotonic(self) -> float:
        return self._clock.monotonic()

    def time(self) -> float:
        return self._clock.time() + self._skew

    async def sleep(self, seconds: float) -> None:  # never awaited by the simulation
        await self._clock.sleep(seconds)


@dataclass
class Bucket:
    quota: float
    burst: float
    tokens: float = -1.0
    last: float = 0.0

    def take(self, now: float) -> bool:
        if math.isinf(self.quota):
            return True  # no quota at all
        if self.tokens < 0:
            self.tokens = self.burst
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.quota)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class MemoryFleetTable:
    """The fleet's items in memory, as `consumer.aws.fleet_table` lays them out: an item per
    worker, the roster, and the plan item whose writes are conditioned as the table's are."""

    entries: dict[str, MemberEntry] = field(default_factory=dict)  # each worker's item
    roster: set[str] = field(default_factory=set)
    dropped: set[str] = field(default_factory=set)  # taken for dead by the leader
    board: Board = field(default_factory=Board)
    requests: int = 0
    reachable: bool = True
    plans: list[Plan] = field(default_factory=list)  # every decision written, in turn

    def beat(self, entry: MemberEntry, outbox: Outbox) -> Board:
        if not self.reachable:
            raise ConnectionError("table unreachable")
        self.requests += 2  # the worker's item, then the plan item
        self.entries[entry.member] = entry
        dropped = entry.member in self.dropped
        if outbox.join:
            self.requests += 1
            self.roster.add(entry.member)
            self.dropped.discard(entry.member)
        if outbox.remove:
            self.requests += 1 + len(outbox.remove)
            self.roster -= set(outbox.remove)
            self.dropped |= set(outbox.remove)
        board = self.board
        plan = outbox.plan
        author = board.plan.by if board.plan is not None else None
        if plan is not None and (
            author == plan.by
            if outbox.claim is None
            else author is None or board.pulse == outbox.claim
        ):
            board = replace(board, plan=plan, pulse=board.pulse + 1)
            if not self.plans or self.plans[-1] != plan.plan:
                self.plans.append(plan.plan)
        self.board = replace(
            board, joins=board.joins + outbox.join, throttles=board.throttles + outbox.throttles
        )
        return replace(self.board, dropped=dropped and not outbox.join)

    def members(self) -> dict[str, MemberEntry]:
        self.requests += 1 + math.ceil(len(self.roster) / 100)  # the roster, then the items
        return {m: self.entries[m] for m in self.roster if m in self.entries}


@dataclass(frozen=True, slots=True)
class Spec:
    workers: int
    quota: float  # math.inf: no quota at all
    commands: int
    shared: bool = True  # through the fleet item; else each worker on its own
    fixed_rate: float | None = None
    latency: float = 0.02
    concurrency: int = 32
    joins: tuple[tuple[float, int], ...] = ()  # (time, workers added)
    leaves: tuple[tuple[float, int], ...] = ()  # (time, workers killed: no clean leave)
    quota_changes: tuple[tuple[float, float], ...] = ()  # (time, new quota)
    table_down: tuple[float, float] | None = None  # (from, to)
    max_seconds: float = 3600.0
    ceiling: float = math.inf  # calls/s the stack serves, one after another: past it they queue
    lag: float = 0.0  # mean seconds (exponential) a worker's waiting caller wakes late: a
    # busy event loop on a shared machine
    config: RateConfig = field(default_factory=RateConfig)
    skews: tuple[float, ...] = ()  # seconds each worker's wall clock is off, in turn


@dataclass
class Result:
    spec: Spec
    done_at: list[float] = field(default_factory=list)  # per applied command
    calls_at: list[tuple[float, bool]] = field(default_factory=list)  # (time, throttled)
    dynamo_requests: int = 0
    ended_at: float = 0.0
    plans: list[Plan] = field(default_factory=list)
    done_by: dict[int, int] = field(default_factory=dict)  # worker -> commands it applied

    def steady(self) -> tuple[float, float]:
        """(applied calls/s, throttled share of calls) over the middle 80% of commands."""
        done = sorted(self.done_at)
        lo, hi = done[len(done) // 10], done[len(done) * 9 // 10 - 1]
        rate = (len(done) * 8 // 10 - 1) / (hi - lo)
        calls = [thr for at, thr in self.calls_at if lo <= at <= hi]
        return rate, sum(calls) / max(1, len(calls))

    def throttled(self) -> float:
        return sum(t for _, t in self.calls_at) / max(1, len(self.calls_at))

    def applied_between(self, start: float, end: float) -> float:
        return sum(1 for at in self.done_at if start <= at < end) / (end - start)

    def timeline(self, seconds: int) -> list[int]:
        """Commands applied in each of the first ``seconds`` seconds."""
        return [int(self.applied_between(second, second + 1.0)) for second in range(seconds)]


class _Worker:
    def __init__(self, name: str, clock: SimClock | SkewedClock, spec: Spec) -> None:
        # As consumer.app builds it: a known fleet rate is a ceiling, not a law.
        if spec.fixed_rate is not None:
            self.limiter = QuotaLimiter(clock, ceiling=spec.fixed_rate, config=spec.config)
        else:
            self.limiter = QuotaLimiter(clock, local=LocalLaw(spec.config))
        self.member: FleetMember | None = None
        self.phase = 0.0  # heartbeats are spread over the second
        if spec.shared:
            self.member = FleetMember(name, "sim", self.limiter, clock, fixed_rate=spec.fixed_rate)
        self.alive = True
        self.waiting = 0  # calls queued for the limiter
        self.retries = 0  # throttled calls to try again
        self.granting = False  # a caller waits for its slot
        self.grant_at = math.inf  # when it wakes (`QuotaLimiter.acquire`'s one timer)
        self.calls = 0  # calls awaiting their answer


class _Run:
    """The event loop: each event kind has its handler; a handler schedules what follows."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.clock = SimClock()
        self.bucket = Bucket(spec.quota, spec.quota)
        self.item = MemoryFleetTable()
        self.result = Result(spec)
        self.events: list[tuple[float, int, str, int]] = []
        self.counter = itertools.count()
        self.workers: list[_Worker] = []
        self.left = spec.commands
        self.quotas = dict(spec.quota_changes)
        self.sent: dict[tuple[int, float], float] = {}  # (worker, reply time) -> sent at
        self.random = random.Random(7)
        self.free = 0.0  # when the stack takes the next call (see `Spec.ceiling`)

    def push(self, at: float, kind: str, index: int) -> None:
        heapq.heappush(self.events, (at, next(self.counter), kind, index))

    def wake(self, at: float) -> float:
        """When a caller that sleeps until ``at`` runs: late by the spec's lag (a caller whose
        slot has come does not sleep)."""
        lag = self.spec.lag
        if lag <= 0.0 or at <= self.clock.now:
            return at
        return at + self.random.expovariate(1.0 / lag)

    def start(self, count: int, at: float) -> None:
        for _ in range(count):
            index = len(self.workers)
            skews = self.spec.skews
            clock = SkewedClock(self.clock, skews[index % len(skews)]) if skews else self.clock
            self.workers.append(_Worker(f"w{index:03d}", clock, self.spec))
            self.workers[-1].phase = 0.37 * (index % 7) / 7
            self.push(at, "beat", index)  # the first before any call, as `consumer.app.run`
            for _ in range(self.spec.concurrency):
                self.push(at, "slot", index)

    def busy(self) -> bool:
        # Until every command a live worker holds is applied (a dead worker's are lost here).
        return self.left > 0 or any(
            w.retries or w.waiting or w.calls for w in self.workers if w.alive
        )

    def loop(self) -> Result:
        spec = self.spec
        self.start(spec.workers, 0.0)
        for at, count in spec.joins:
            self.push(at, "join", count)
        for at, count in spec.leaves:
            self.push(at, "leave", count)
        for at, _ in spec.quota_changes:
            self.push(at, "quota", 0)
        while self.events and self.busy():
            at, _, kind, index = heapq.heappop(self.events)
            if at > spec.max_seconds:
                break
            self.clock.now = at
            if kind in ("join", "leave", "quota"):
                getattr(self, f"on_{kind}")(at, index)
            elif self.workers[index].alive:
                getattr(self, f"on_{kind}")(at, index, self.workers[index])
        self.result.dynamo_requests = self.item.requests
        self.result.plans = self.item.plans
        self.result.ended_at = self.clock.now
        return self.result

    def on_join(self, at: float, count: int) -> None:
        self.start(count, at)

    def on_leave(self, at: float, count: int) -> None:
        for worker in [w for w in self.workers if w.alive][:count]:
            worker.alive = False  # killed: no clean leave, its entry just stops changing

    def on_quota(self, at: float, _: int) -> None:
        self.bucket.take(at)
        self.bucket.quota = self.bucket.burst = self.quotas[at]

    def on_beat(self, at: float, index: int, worker: _Worker) -> None:
        if worker.member is None:
            return
        down = self.spec.table_down
        self.item.reachable = down is None or not down[0] <= at < down[1]
        _beat(worker.member, self.item)
        self.nearer(index, worker)
        self.push(at + worker.member.config.heartbeat_seconds + worker.phase, "beat", index)
        worker.phase = 0.0

    def on_slot(self, at: float, index: int, worker: _Worker) -> None:
        """A command (or a throttled one's retry) asks the limiter for a slot."""
        if worker.retries > 0:
            worker.retries -= 1
        elif self.left > 0:
            self.left -= 1
        else:
            return
        worker.waiting += 1
        if not worker.granting:
            worker.granting = True
            self.sleep(at, index, worker)

    def sleep(self, at: float, index: int, worker: _Worker) -> None:
        """`QuotaLimiter.acquire`: the waiting caller sleeps until its slot (none while held)."""
        due = worker.limiter.due()
        worker.limiter.sleeping(due if due > at else None)
        worker.grant_at = self.wake(max(at, due)) if due < math.inf else math.inf
        if worker.grant_at < math.inf:
            self.push(worker.grant_at, "grant", index)

    def nearer(self, index: int, worker: _Worker) -> None:
        """A raised rate brought the slot nearer than the waiting caller sleeps: it wakes."""
        if worker.granting and worker.limiter.due() < worker.grant_at:
            self.sleep(self.clock.now, index, worker)

    def on_grant(self, at: float, index: int, worker: _Worker) -> None:
        """The waiting caller wakes, re-reads the rate and goes, or sleeps again."""
        if at != worker.grant_at:
            return  # a timer it was woken before
        limiter = worker.limiter
        limiter.sleeping(None)
        if limiter.due() > at + 1e-9:  # the rate fell since: sleep towards the new slot
            self.sleep(at, index, worker)
            return
        limiter.grant()
        worker.waiting -= 1
        self.push(at, "send", index)
        if worker.waiting > 0:
            self.sleep(at, index, worker)
        else:
            worker.granting, worker.grant_at = False, math.inf

    def on_send(self, at: float, index: int, worker: _Worker) -> None:
        served = at  # the stack takes calls in turn, at most ``ceiling`` a second
        if not math.isinf(self.spec.ceiling):
            served = max(at, self.free)
            self.free = served + 1.0 / self.spec.ceiling
        ok = self.bucket.take(served)
        worker.calls += 1
        self.result.calls_at.append((served, not ok))
        reply = served + self.spec.latency
        self.push(reply, "ok" if ok else "throttled", index)
        self.sent[(index, reply)] = at

    def answered(self, at: float, index: int, worker: _Worker) -> float | None:
        """An answer reached the worker: when its call left (if known), the round trip told."""
        sent = self.sent.pop((index, at), None)
        worker.calls -= 1
        worker.limiter.on_answer(self.spec.latency if sent is None else at - sent)
        return sent

    def on_ok(self, at: float, index: int, worker: _Worker) -> None:
        self.answered(at, index, worker)
        worker.limiter.on_success()
        self.nearer(index, worker)
        self.result.done_at.append(at)
        self.result.done_by[index] = self.result.done_by.get(index, 0) + 1
        self.push(at, "slot", index)

    def on_throttled(self, at: float, index: int, worker: _Worker) -> None:
        worker.limiter.on_throttle(self.answered(at, index, worker))
        worker.retries += 1  # the executor tries it again after its next slot
        self.push(at, "slot", index)


def run(spec: Spec) -> Result:
    return _Run(spec).loop()


def _beat(member: FleetMember, table: MemoryFleetTable) -> None:
    """What `FleetCoordinator.beat` does, synchronously (detaching at the first failure)."""
    outbox = member.outbox()
    try:
        board = table.beat(member.entry(), outbox)
    except ConnectionError:
        member.limiter.detach()
        member.rejoin()
        return
    if member.absorb(board, outbox) and member.lead(table.members()):  # written at once
        outbox = member.outbox()
        member.absorb(table.beat(member.entry(), outbox), outbox)
