"""The worker's side of the fleet's quota: the gate every Cognito unlink call passes.

`QuotaLimiter` paces calls GCRA-style (one every ``1/rate`` seconds; a worker behind its
schedule catches up by at most half a second of its rate at once, but while slow-starting or
braked) at a rate that comes from one of three places:

- ``fleet``: a share of the fleet's rate, assigned by the `FleetCoordinator` through the shared
  table. A throttle between two assignments brakes this worker at once (``brake``), so the
  fleet stops overshooting before its next decision reaches everyone. While a cold fleet starts,
  the worker that slow-starts for it (``steer``) runs its own `LocalLaw` instead, until its
  first throttle, then holds the quota that throttle measured until the fleet takes over: slow
  start is too quick for a fleet decision a second;
- ``local``: its own `LocalLaw`, when there is no table, or while the table cannot be reached
  (starting from the last share: a worker never stops for want of the table);
- ``fixed``: the configured rate (or unlimited), never adapted.

It counts what happened to its calls (`Tally`) for the coordinator's reports and the operator
view. A throttle of a command throttled on an earlier receive too, while other calls get
through, is put down to that command (a poisoned target answering TooManyRequests to every
try), not the quota: counted apart (``repeats``), it neither cuts nor brakes. It implements
`RateLimiter`, the seam the executor knows.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from dataclasses import dataclass, field

from consumer.core.clock import Clock
from consumer.rate.config import RateConfig, Role, Source
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
        """``now`` (monotonic) times the last minute; ``wall``, when given, the successes'
        slots the fleet sums across workers (see `timeline`)."""
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
        self.mode = Source.LOCAL if local is not None else Source.FIXED
        self._share: float | None = None
        self._role = Role.SHARING  # its part in the fleet's plan (see `assign`)
        self._plan_window = -1
        self._braked: tuple[int, float] | None = None  # (plan window, share) when it braked
        self._brake = self.config.brake
        self._last_grant = -math.inf
        self._turn = asyncio.Lock()
        self._paced_at = -math.inf
        self.tally = Tally(self.config)
        self.repeats = 0  # repeated throttles put down to their commands, not the quota
        self._repeated: deque[float] = deque()  # their times, the last `repeat_seconds`

    def __repr__(self) -> str:
        return f"QuotaLimiter({self.mode}, rate={self.rate}, ceiling={self._ceiling})"

    @property
    def rate(self) -> float | None:
        rate: float | None
        if (law := self._law()) is not None:
            rate = law.rate
        elif self.mode is Source.FLEET and self._share is not None:
            rate = self._share
            if self._braked is not None:
                rate *= self._brake
        else:
            rate = None
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
        """Its own law, when that sets the rate: no table, or in a fleet that is starting."""
        if self.mode is Source.LOCAL or (self.mode is Source.FLEET and self._role is Role.PROBER):
            return self._local
        return None

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
        """A share of the fleet's rate from decision ``plan_window``.

        A throttle multiplies the share by ``brake`` at once (1: never, for a configured fleet
        rate), before the fleet's decision can reach this worker; the brake holds until that
        decision arrives (a lower share: the fleet cut) or, at the latest, `brake_windows`
        decisions on.
        ``steer``: the fleet is starting and this worker slow-starts for it: its own law sets
        its rate until a share does. ``starting`` without ``steer``: one of the others, whose
        share may be nil; when one arrives, its first call goes ``phase`` (0-1) of a slot from
        now, so the others released at once do not spend the bucket's burst together.
        """
        if self._braked is not None:
            window, braked_share = self._braked
            # A start's brake (a stop) lasts until the take-over, whatever share it brings.
            taken_over = self._role is Role.WAITING and not starting
            late = plan_window >= window + self.config.brake_windows
            if share < braked_share or late or taken_over:
                self._braked = None
        held = self.mode is Source.FLEET and self.rate == 0.0
        self.mode = Source.FLEET
        self._role = Role.PROBER if steer else Role.WAITING if starting else Role.SHARING
        self._brake = self.config.brake if brake is None else brake
        self._share = share
        self._plan_window = plan_window
        if held and share > 0.0:
            self._last_grant = self._clock.monotonic() - (1.0 - phase) / share

    def detach(self) -> None:
        """The table is unreachable: the local law takes over from the current rate."""
        if self.mode is not Source.FLEET or self._local is None:
            return
        rate = self.rate
        # Its own law is running already (the prober), or slow-starts now (the others of a
        # starting fleet: their trickle is no rate to go on from).
        if rate is not None and self._role is Role.SHARING:
            self._local.restart_from(rate, self._clock.monotonic())
        self.mode = Source.LOCAL

    def limited(self, seconds: float | None = None) -> bool:
        """A call waited for its slot lately (`RateConfig.limited_seconds`): more rate would be
        used."""
        recent = self.config.limited_seconds if seconds is None else seconds
        return self._clock.monotonic() - self._paced_at <= recent

    def want(self) -> float:
        """Calls/s this worker could use: unbounded while its rate holds calls back (in slow
        start, while it grows: a prober that stopped growing says so at its next heartbeat)."""
        law = self._law()
        recent = law.config.slow_start_limited_seconds if law and law.slow_start else None
        if self.limited(recent):
            return UNBOUNDED
        config = self.config
        ok, thr = self.tally.recent(self._clock.monotonic(), config.want_seconds)
        return max(config.min_want, (ok + thr) / config.want_seconds)

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
        The calls it fell behind by (a caller woken late by a busy event loop, a slow answer,
        a short receive) catch up at once, up to `RateConfig.catch_up_seconds` of its rate: what was
        not sent refilled the bucket. Without it, every late wake-up loses slots, the rate no
        longer says what is sent, and a law raising its rate while calls wait runs away from
        the quota (one worker, wakes 20 ms late on average: 23% of its calls throttled), a
        fleet's probe never gets its rate through (5 x 50/s held at 88%). Not where the bucket
        is about empty (see `_catches_up`)."""
        now = self._clock.monotonic()
        due = self.due()
        rate = self.rate
        gap = 1.0 / rate if rate else 0.0
        credit = max(gap, self.config.catch_up_seconds) if self._catches_up() else gap
        self._last_grant = due if now - due < credit else now - credit + gap

    def _catches_up(self) -> bool:
        """Whether calls held up elsewhere may go at once (see `grant`): not while a law
        slow-starts (nor on a starting fleet's plan: the bucket is about empty
        there), nor on a share braked by a throttle (it has just run dry)."""
        if self.mode is Source.FIXED:
            return True
        if self.mode is Source.LOCAL:
            law = self._local
            return law is not None and not law.slow_start
        return self._role is Role.SHARING and self._braked is None

    def waited(self) -> None:
        """A caller had to wait for its slot: the rate is what holds calls back."""
        self._paced_at = self._clock.monotonic()

    async def acquire(self) -> None:
        # One caller at a time waits for the next slot, and re-reads the rate when it wakes:
        # callers queued behind it never hold slots computed from a rate that has since changed.
        # It naps rather than sleeping until a slot computed from a low rate: a raised share
        # (the fleet taking over from a trickle) applies within a nap.
        async with self._turn:
            while (wait := self.due() - self._clock.monotonic()) > 0:
                self.waited()
                await self._clock.sleep(min(wait, self.config.nap_seconds))
            self.grant()

    def _fed(self) -> LocalLaw | None:
        """The law to feed: its own, but in a starting fleet only until its first throttle has
        been measured. The worker then holds the quota it
        measured until the fleet takes over, so the take-over starts from that measurement,
        not from what later cuts left of it."""
        law = self._law()
        if law is None or (self.mode is Source.FLEET and not law.slow_start):
            return None
        return law

    def on_success(self) -> None:
        now = self._clock.monotonic()
        self.tally.add(now, 1, 0, self._clock.time())
        if (law := self._fed()) is not None:
            law.on_success(now, now - self._paced_at)

    def on_answer(self, seconds: float) -> None:
        if self._local is not None:
            self._local.on_answer(seconds)  # the round trip sets how fast slow start may go

    def on_throttle(self, sent_at: float | None = None, *, repeated: bool = False) -> None:
        now = self._clock.monotonic()
        if repeated:
            self._repeated.append(now)
            while self._repeated[0] < now - self.config.repeat_seconds:
                self._repeated.popleft()
        if repeated and not self._quota_throttles(now):
            # A command throttled on receive after receive while every other call gets
            # through (a poisoned target): it would walk the rate down to nothing.
            self.repeats += 1
            return
        self.tally.add(now, 0, 1)
        if (law := self._fed()) is not None:
            law.on_throttle(now, sent_at)
        elif self.mode is Source.FLEET:
            self.brake()  # a no-op while its own law sets the rate

    def _quota_throttles(self, now: float) -> bool:
        """Whether the quota is throttling lately: other calls were throttled too, or repeated
        throttles are no longer a few commands' (a backlog of retries behind a spent quota)."""
        ok, throttled = self.tally.recent(now, self.config.repeat_seconds)
        repeated = len(self._repeated)
        share = self.config.repeat_share * (ok + throttled + repeated)
        return throttled > 0 or repeated >= share

    def brake(self) -> None:
        """Runs at the braked share until the fleet cuts (see `assign`)."""
        if self._law() is not None:
            return  # its own law sets the rate: it cut, or holds what it measured
        if self._brake < 1.0 and self._braked is None and self._share:
            self._braked = (self._plan_window, self._share)
