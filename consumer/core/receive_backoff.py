"""How the poll loop rides out a queue it cannot reach: capped exponential waits, quiet logs.

An SQS outage fails every receive. Retrying at once would storm the endpoint and the log; this
waits 1 s, 2 s, 4 s ... up to a cap, and logs the outage once per interval (with how many failures
it kept quiet) and its end once.
"""

from __future__ import annotations

import structlog

from consumer.core.clock import Clock

log = structlog.get_logger("consumer.core.worker")


class ReceiveBackoff:
    """Counts consecutive receive failures; says how long to wait after each."""

    def __init__(
        self,
        clock: Clock,
        max_seconds: float,
        log_interval_seconds: float,
        base_seconds: float = 0.5,
    ) -> None:
        self._clock = clock
        self._max = max_seconds
        self._log_interval = log_interval_seconds
        self._base = base_seconds
        self.failures = 0
        self._last_log = -1e9
        self._suppressed = 0

    def __repr__(self) -> str:
        return (
            f"ReceiveBackoff(base={self._base}s, max={self._max}s, "
            f"log_every={self._log_interval}s, failures={self.failures})"
        )

    def failed(self, error: BaseException) -> float:
        """Records a failed receive; returns the seconds to wait before the next one."""
        self.failures += 1
        now = self._clock.monotonic()
        if now - self._last_log >= self._log_interval:
            log.error(
                "receive_failed",
                error=type(error).__name__,
                detail=str(error)[:200],
                consecutive=self.failures,
                suppressed=self._suppressed,
            )
            self._last_log, self._suppressed = now, 0
        else:
            self._suppressed += 1
        return min(self._max, self._base * 2.0 ** min(self.failures, 10))

    def succeeded(self) -> None:
        """A receive answered: the outage, if any, is over."""
        if self.failures:
            log.info("receive_recovered", after_failures=self.failures)
            self.failures = 0
