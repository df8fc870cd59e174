"""A rate limiter shared by every in-flight command of one worker.

Pacing is GCRA-style (one request every ``1/rate`` seconds, no bursts above the rate), so a worker
never spikes past the quota. In adaptive mode the rate follows AIMD, as TCP does: a throttle cuts it
multiplicatively (at most once per ``cooldown``), successes raise it additively, so several workers
sharing one account-wide quota converge on it without talking to each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from consumer.clock import Clock


class RateLimiter(Protocol):
    """How the executor asks for permission to call Cognito and reports what happened."""

    @property
    def rate(self) -> float | None:
        """Current requests/s, or None when unlimited."""
        ...

    async def acquire(self) -> None: ...

    def on_success(self) -> None: ...

    def on_throttle(self) -> None: ...


@dataclass(slots=True)
class AimdConfig:
    decrease_factor: float = 0.85
    increase_per_second: float = 0.5
    min_rate: float = 1.0
    cooldown_seconds: float = 2.0
    # With no configured ceiling the first throttle starts pacing from the observed rate.
    initial_rate: float | None = None


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
        self._window_start = clock.monotonic()
        self._window_calls = 0
        self._observed = 0.0
        self.throttles = 0

    def __repr__(self) -> str:
        mode = "adaptive" if self._config else "fixed"
        return f"AdaptiveRateLimiter({mode}, rate={self._rate}, ceiling={self._ceiling})"

    @property
    def rate(self) -> float | None:
        return self._rate

    async def acquire(self) -> None:
        now = self._clock.monotonic()
        self._observe(now)
        if self._rate is None:
            return
        interval = 1.0 / self._rate
        slot = max(now, self._next_slot)
        self._next_slot = slot + interval
        if slot > now:
            await self._clock.sleep(slot - now)

    def on_success(self) -> None:
        if self._config is None or self._rate is None:
            return
        now = self._clock.monotonic()
        elapsed = now - self._last_increase
        self._last_increase = now
        if now - self._last_decrease < self._config.cooldown_seconds:
            return
        raised = self._rate + self._config.increase_per_second * min(elapsed, 1.0)
        self._rate = raised if self._ceiling is None else min(self._ceiling, raised)

    def on_throttle(self) -> None:
        self.throttles += 1
        if self._config is None:
            return
        now = self._clock.monotonic()
        if now - self._last_decrease < self._config.cooldown_seconds:
            return
        self._last_decrease = now
        current = self._rate if self._rate is not None else max(self._observed, 1.0)
        self._rate = max(self._config.min_rate, current * self._config.decrease_factor)

    def _observe(self, now: float) -> None:
        """A one-second window of calls: where an unlimited worker starts pacing once throttled."""
        self._window_calls += 1
        if now - self._window_start >= 1.0:
            self._observed = self._window_calls / (now - self._window_start)
            self._window_start = now
            self._window_calls = 0
