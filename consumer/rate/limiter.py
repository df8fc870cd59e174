"""The gate every Cognito unlink call passes: `QuotaLimiter`, the `RateLimiter` the executor knows.

It paces calls GCRA-style, one every ``1/rate`` seconds, at a rate its `Gate` says where to take
from: a share of the fleet's plan (braked by a throttle until the next decision), a worker's own
`LocalLaw` (no table, the table out of reach, or the prober of a starting fleet) or a configured
rate. A waiting caller sleeps once until its slot, woken early only by a rate that brings it
nearer. A repeated throttle of one command while other calls get through is put down to that
command (a poisoned target), not the quota: counted apart, it neither cuts nor brakes.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from dataclasses import dataclass, field

from consumer.core.clock import Clock
from consumer.rate.config import Gate, RateConfig
from consumer.rate.laws import UNBOUNDED, LocalLaw, Timeline


@dataclass(slots=True)
class Tally:
    """Cumulative counts of this worker's unlink calls, and the last minute per second."""

    config: RateConfig = field(default_factory=RateConfig)
    successes: int = 0
    throttles: int = 0
    _seconds: deque[tuple[int, int, int]] = field(default_factory=deque)  # (second, ok, thr)
    _slots: deque[list[int]] = field(default_factory=deque)  # [wall-clock slot, successes]

    def add(self, now: float, ok: int, throttled: int, wall: float | None = None) -> None:
        """``now`` (monotonic) times the last minute; ``wall`` the successes' fleet-wide slots."""
        self.successes += ok
        self.throttles += throttled
        if ok and wall is not None:
            slot = math.floor(wall / self.config.slot_seconds)
            if self._slots and self._slots[-1][0] == slot:
                self._slots[-1][1] += ok
            else:
                self._slots.append([slot, ok])
                while self._slots and self._slots[0][0] <= slot - self.config.slot_sent:
                    self._slots.popleft()
        second = int(now)
        if self._seconds and self._seconds[-1][0] == second:
            _, old_ok, old_thr = self._seconds[-1]
            self._seconds[-1] = (second, old_ok + ok, old_thr + throttled)
        else:
            self._seconds.append((second, ok, throttled))
        self._trim(now)

    def recent(self, now: float, seconds: float | None = None) -> tuple[int, int]:
        """(successes, throttles) over the last ``seconds`` (the last minute)."""
        self._trim(now)
        seconds = self.config.recent_seconds if seconds is None else seconds
        horizon = now - seconds
        ok = sum(o for s, o, _ in self._seconds if s >= horizon)
        thr = sum(t for s, _, t in self._seconds if s >= horizon)
        return ok, thr

    def timeline(self, wall: float) -> Timeline:
        """Successes per slot over the last `RateConfig.slot_sent` slots, up to ``wall``'s."""
        last = math.floor(wall / self.config.slot_seconds)
        kept = [(slot, ok) for slot, ok in self._slots if slot > last - self.config.slot_sent]
        if not kept:
            return Timeline(last, ())
        first = kept[0][0]
        counts = [0] * (kept[-1][0] - first + 1)
        for slot, ok in kept:
            counts[slot - first] = ok
        return Timeline(first, tuple(counts))

    def _trim(self, now: float) -> None:
        while self._seconds and self._seconds[0][0] < now - self.config.recent_seconds - 1:
            self._seconds.popleft()


class QuotaLimiter:
    """Paces at a fleet share, a local law's rate or a fixed rate (see the module docstring)."""

    def __init__(
        self,
        clock: Clock,
        *,
        ceiling: float | None = None,
        local: LocalLaw | None = None,
        config: RateConfig | None = None,
    ) -> None:
        self._clock = clock
        self._ceiling = ceiling
        self._local = local
        self.config = config or (local.config if local is not None else RateConfig())
        self.state = Gate.LOCAL if local is not None else Gate.FIXED
        self._share: float | None = None
        self._plan_window = -1  # the fleet's decision the share (or the brake) is from
        self._brake = self.config.brake
        self._last_grant = -math.inf
        self._turn = asyncio.Lock()
        self._paced_at = -math.inf
        self._asleep_until: float | None = None  # the slot a waiting caller sleeps until
        self._nearer = asyncio.Event()  # the slot came nearer than that
        self.tally = Tally(self.config)
        self.repeats = 0  # repeated throttles put down to their commands, not the quota
        self._repeated: deque[float] = deque()  # their times, the last window

    def __repr__(self) -> str:
        return f"QuotaLimiter({self.state}, rate={self.rate}, ceiling={self._ceiling})"

    @property
    def rate(self) -> float | None:
        rate: float | None = None
        if (law := self._law()) is not None:
            rate = law.rate
        elif self._share is not None and self.state is not Gate.FIXED:
            rate = self._share * (self._brake if self.state is Gate.BRAKED else 1.0)
        if rate is None:
            return self._ceiling
        return rate if self._ceiling is None else min(rate, self._ceiling)

    @property
    def share(self) -> float | None:
        """The fleet's share this worker runs at (its own rate while the fleet starts)."""
        if self._law() is not None:
            return self.rate
        return self._share

    def _law(self) -> LocalLaw | None:
        """Its own law, when that sets the rate: no table, or the prober of a starting fleet."""
        return self._local if self.state in (Gate.LOCAL, Gate.PROBER) else None

    def _move(self, to: Gate, plan_window: int | None = None) -> None:
        """The gate's one transition function. A brake holds until the fleet's next decision;
        a configured rate and a worker's own law never brake. Detached, a worker's own law goes
        on from its share (a starting fleet's other slow-starts: a trickle is no rate)."""
        now = self._clock.monotonic()
        state = self.state
        if to is Gate.BRAKED:
            if state not in (Gate.SHARING, Gate.WAITING) or self._brake >= 1.0 or not self._share:
                return
        elif to is Gate.LOCAL:
            if self._local is None or state in (Gate.FIXED, Gate.LOCAL):
                return
            if state in (Gate.SHARING, Gate.BRAKED) and (rate := self.rate):
                self._local.restart_from(rate, now)
        elif plan_window is not None:
            if state is Gate.BRAKED and plan_window == self._plan_window and to is not Gate.PROBER:
                to = Gate.BRAKED  # the decision it braked on, again: the brake holds
            self._plan_window = plan_window
        self.state = to
        self._wake_if_nearer()

    # -- the coordinator's side ------------------------------------------------------------

    def assign(
        self,
        share: float,
        plan_window: int,
        *,
        brake: float | None = None,
        steer: bool = False,
        starting: bool = False,
        phase: float = 0.0,
    ) -> None:
        """A share of the fleet's rate from decision ``plan_window``, multiplied by ``brake`` at
        a throttle. ``steer``: this worker slow-starts for a starting fleet on its own law.
        ``starting``: one of the others, whose share may be nil; a share arriving sends its
        first call ``phase`` (0-1) of a slot on, so the others do not spend the burst together.
        """
        held = self.state is not Gate.FIXED and self._law() is None and self.rate == 0.0
        self._brake = self.config.brake if brake is None else brake
        self._share = share
        if held and share > 0.0:
            self._last_grant = self._clock.monotonic() - (1.0 - phase) / share
        to = Gate.PROBER if steer else Gate.WAITING if starting else Gate.SHARING
        self._move(to, plan_window)

    def detach(self) -> None:
        """The table is unreachable: the local law takes over from the current rate."""
        self._move(Gate.LOCAL)

    def brake(self) -> None:
        """Runs at the braked share until the fleet's next decision (see `_move`)."""
        self._move(Gate.BRAKED)

    def limited(self, seconds: float | None = None) -> bool:
        """A call waited for its slot lately: more rate would be used."""
        recent = self.config.limited_seconds if seconds is None else seconds
        return self._since_waited() <= recent

    def want(self) -> float:
        """Calls/s this worker could use: unbounded while its rate holds calls back; else what
        it sent over the last window."""
        law = self._law()
        recent = law.config.slow_start_limited_seconds if law and law.slow_start else None
        if self.limited(recent):
            return UNBOUNDED
        config = self.config
        ok, thr = self.tally.recent(self._clock.monotonic(), config.window_seconds)
        return max(config.min_rate, (ok + thr) / config.window_seconds)

    # -- RateLimiter -----------------------------------------------------------------------

    def due(self) -> float:
        """When the next call may go (monotonic), at the rate as it is now."""
        rate = self.rate
        if rate is None:
            return -math.inf
        if rate <= 0.0:
            return math.inf  # held until a share arrives
        return self._last_grant + 1.0 / rate

    def grant(self) -> None:
        """The next call goes now: keeps the schedule while busy, restarts it after a pause.
        Calls it fell behind by (a late wake-up, a slow answer) catch up at once, up to
        `RateConfig.catch_up_seconds` of its rate, since the bucket refilled meanwhile; else
        the rate no longer says what is sent. Not where the bucket is about empty: in slow
        start, on a starting fleet's plan, on a braked share."""
        now = self._clock.monotonic()
        due = self.due()
        rate = self.rate
        gap = 1.0 / rate if rate else 0.0
        law = self._local if self.state is Gate.LOCAL else None
        catches_up = self.state in (Gate.FIXED, Gate.SHARING) or (
            law is not None and not law.slow_start
        )
        credit = max(gap, self.config.catch_up_seconds) if catches_up else gap
        self._last_grant = due if now - due < credit else now - credit + gap

    def waited(self) -> None:
        """A caller had to wait for its slot: the rate is what holds calls back."""
        self._paced_at = self._clock.monotonic()

    def sleeping(self, until: float | None) -> None:
        """A caller sleeps until ``until`` (inf: held) for its slot; None: it woke."""
        if until is not None or self._asleep_until is not None:
            self.waited()
        self._asleep_until = until

    def _since_waited(self) -> float:
        """Seconds since a caller last waited for its slot: none while one does."""
        if self._asleep_until is not None:
            return 0.0
        return self._clock.monotonic() - self._paced_at

    async def acquire(self) -> None:
        # One caller at a time waits and re-reads the rate when it wakes: no slot is held from
        # a rate that has since changed.
        async with self._turn:
            while (wait := self.due() - self._clock.monotonic()) > 0:
                await self._sleep(wait)
            self.grant()

    async def _sleep(self, seconds: float) -> None:
        """Until the slot ``seconds`` away, or until a raised rate brings it nearer."""
        self.sleeping(self._clock.monotonic() + seconds)
        self._nearer.clear()
        woken = asyncio.ensure_future(self._nearer.wait())
        timer = None if math.isinf(seconds) else asyncio.ensure_future(self._clock.sleep(seconds))
        try:
            await asyncio.wait(
                [f for f in (woken, timer) if f], return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            self.sleeping(None)
            for future in (woken, timer):
                if future is not None:
                    future.cancel()

    def _wake_if_nearer(self) -> None:
        if self._asleep_until is not None and self.due() < self._asleep_until:
            self._nearer.set()

    def _fed(self) -> LocalLaw | None:
        """The law to feed: a prober's only until its first throttle measured the quota, which
        it then holds for the fleet's take-over."""
        law = self._law()
        if law is None or (self.state is Gate.PROBER and not law.slow_start):
            return None
        return law

    def on_success(self) -> None:
        now = self._clock.monotonic()
        self.tally.add(now, 1, 0, self._clock.time())
        if (law := self._fed()) is not None:
            law.on_success(now, self._since_waited())
            self._wake_if_nearer()

    def on_answer(self, seconds: float) -> None:
        if self._local is not None:
            self._local.on_answer(seconds)  # the round trip sets how fast slow start may go

    def on_throttle(self, sent_at: float | None = None, *, repeated: bool = False) -> None:
        now = self._clock.monotonic()
        if repeated:
            self._repeated.append(now)
            while self._repeated[0] < now - self.config.window_seconds:
                self._repeated.popleft()
        if repeated and not self._quota_throttles(now):
            self.repeats += 1
            return
        self.tally.add(now, 0, 1)
        if (law := self._fed()) is not None:
            law.on_throttle(now, sent_at)
        else:
            self.brake()

    def _quota_throttles(self, now: float) -> bool:
        """Other calls were throttled lately too, or repeated throttles are no longer a few
        commands' (a backlog of retries behind a spent quota)."""
        ok, throttled = self.tally.recent(now, self.config.window_seconds)
        repeated = len(self._repeated)
        share = self.config.repeat_share * (ok + throttled + repeated)
        return throttled > 0 or repeated >= share
