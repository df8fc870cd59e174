"""A rate limiter shared by every in-flight command of one worker.

Pacing is GCRA-style (one request every ``1/rate`` seconds, no bursts above the rate), so a worker
never spikes past the quota. In adaptive mode the rate follows AIMD, as TCP does, so several
workers sharing one account-wide quota converge on it without talking to each other:

- a throttle cuts the rate (at most once per ``cooldown``) to ``decrease_factor`` times what the
  worker actually got through since its last cut, over at most the last second (its *goodput*),
  not times its own rate. A quota enforced by a token bucket lets a fleet overshoot for seconds
  while the bucket drains; the goodput is the worker's real share of the quota however far its
  rate had climbed, so one cut lands the fleet just below the quota instead of a cascade of cuts
  and throttles;
- successes raise it additively, but only while the rate is what holds calls back (a call waited
  for its slot in the last second): a worker short of work does not build up a rate it has never
  tested, which would hit the quota as one burst when work returns.

An unlimited worker starts pacing at its first throttle, from its goodput in the last second. A
worker that joins a fleet already using the whole quota may have seen no success at all; its rate
then grows like TCP's slow start, doubling each second until the next cut, rather than creeping up
from the minimum.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from consumer.core.clock import Clock


@dataclass(slots=True)
class AimdConfig:
    decrease_factor: float = 0.9
    increase_per_second: float = 0.1
    min_rate: float = 1.0
    cooldown_seconds: float = 1.0
    slow_start_growth: float = 1.0  # per second after the first cut: doubling, until the next
    # With no configured ceiling the first throttle starts pacing from the goodput.
    initial_rate: float | None = None


GOODPUT_WINDOW_SECONDS = 1.0
SLOW_START_BELOW = 2.0  # successes/s at the first cut under which the rate then slow-starts
MIN_GOODPUT_SPAN_SECONDS = 0.2


class AdaptiveRateLimiter:
    """Pacing at ``rate`` requests/s; adaptive when ``config`` is given, fixed otherwise."""

    def __init__(self, clock: Clock, ceiling: float | None, config: AimdConfig | None) -> None:
        self._clock = clock
        self._ceiling = ceiling
        self._config = config
        self._rate: float | None = ceiling
        if config is not None and config.initial_rate is not None:
            self._rate = config.initial_rate
        self._next_slot = 0.0
        self._last_decrease = -1e9
        self._last_increase = clock.monotonic()
        self._paced_at = -1e9  # when a call last waited for its slot
        self._successes: deque[float] = deque()  # within the last GOODPUT_WINDOW_SECONDS
        self._slow_start = False
        self.throttles = 0

    def __repr__(self) -> str:
        mode = "adaptive" if self._config else "fixed"
        return f"AdaptiveRateLimiter({mode}, rate={self._rate}, ceiling={self._ceiling})"

    @property
    def rate(self) -> float | None:
        return self._rate

    def goodput(self) -> float:
        """Successful calls per second over the last window, or since the last cut if later.

        Since the last cut: successes from before it (a cold fleet's burst against the quota's
        full bucket, say) describe a rate that is gone.
        """
        now = self._clock.monotonic()
        self._trim(now)
        horizon = now - GOODPUT_WINDOW_SECONDS
        if now - self._last_decrease >= MIN_GOODPUT_SPAN_SECONDS:
            horizon = max(horizon, self._last_decrease)
        count = sum(1 for at in self._successes if at > horizon)
        return count / (now - horizon)

    async def acquire(self) -> None:
        if self._rate is None:
            return
        now = self._clock.monotonic()
        slot = max(now, self._next_slot)
        self._next_slot = slot + 1.0 / self._rate
        if slot > now:
            self._paced_at = now
            await self._clock.sleep(slot - now)

    def on_success(self) -> None:
        now = self._clock.monotonic()
        self._successes.append(now)
        self._trim(now)
        if self._config is None or self._rate is None:
            return
        elapsed = now - self._last_increase
        self._last_increase = now
        if now - self._last_decrease < self._config.cooldown_seconds:
            return
        if now - self._paced_at > GOODPUT_WINDOW_SECONDS:
            return  # not limited by the rate: nothing to probe
        step = (
            self._rate * self._config.slow_start_growth
            if self._slow_start
            else self._config.increase_per_second
        )
        raised = self._rate + step * min(elapsed, 1.0)
        self._rate = raised if self._ceiling is None else min(self._ceiling, raised)

    def on_answer(self, seconds: float) -> None:
        pass  # its growth is per second, whatever the round trip

    def on_throttle(self, sent_at: float | None = None, *, repeated: bool = False) -> None:
        self.throttles += 1
        if self._config is None:
            return
        if sent_at is not None and sent_at <= self._last_decrease:
            return  # sent before the last cut: says nothing about the rate since
        now = self._clock.monotonic()
        if now - self._last_decrease < self._config.cooldown_seconds:
            return
        goodput = self.goodput()
        self._last_decrease = now
        # Slow start only when the first cut had nothing to go on (a worker joining a fleet that
        # already uses the whole quota sees few or no successes of its own).
        self._slow_start = self._rate is None and goodput < SLOW_START_BELOW
        basis = goodput if self._rate is None else min(self._rate, goodput)
        self._rate = max(self._config.min_rate, basis * self._config.decrease_factor)

    def _trim(self, now: float) -> None:
        horizon = now - GOODPUT_WINDOW_SECONDS
        while self._successes and self._successes[0] <= horizon:
            self._successes.popleft()
