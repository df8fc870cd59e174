"""The scenarios of `make bench` and their knobs; every knob has a flag (see `__main__`)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Final

from bench.worker import knob_settings
from bench.workload import Mix


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    n: int
    latency_ms: float = 20.0
    quota: float | None = None  # unlink calls/s across the fleet, enforced by the stack
    workers: int = 1
    concurrency: int = 32
    mix: Mix = field(default_factory=Mix)
    internal_error_rate: float = 0.0
    store: str = "memory"  # or "dynamodb": one table shared by the fleet
    depth: int | None = None  # queue depth the feeder keeps; None: in-flight bound + 30
    wait_time_seconds: int = 20
    visibility_timeout_seconds: int = 60
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 5.0
    rate_limit: float | None = None  # UNLINK_RATE_LIMIT, a per-worker ceiling
    sqs_linger: float | None = None  # batching experiments (UNLINK_SQS_LINGER_SECONDS)
    cognito_attempts: int | None = None  # botocore attempts per Cognito call (experiments)
    ceiling_n: int = 0  # commands for the stack-ceiling run beside this scenario (0: none)
    timeout_seconds: float = 300.0
    profile: bool = False
    tenants: bool = False  # a MessageGroupId per command on a standard queue (bench.fair)

    @property
    def queue_depth(self) -> int:
        return self.depth if self.depth is not None else self.workers * self.concurrency + 30

    @property
    def in_flight_bound_per_s(self) -> float | None:
        """What the in-flight bound allows: concurrency / latency, across the fleet."""
        if self.latency_ms <= 0:
            return None
        return self.workers * self.concurrency / (self.latency_ms / 1000)

    def worker_settings(self) -> dict[str, str]:
        settings = {
            "UNLINK_CONCURRENCY": str(self.concurrency),
            "UNLINK_WAIT_TIME_SECONDS": str(self.wait_time_seconds),
            "UNLINK_VISIBILITY_TIMEOUT_SECONDS": str(self.visibility_timeout_seconds),
            "UNLINK_BACKOFF_BASE_SECONDS": str(self.backoff_base_seconds),
            "UNLINK_BACKOFF_MAX_SECONDS": str(self.backoff_max_seconds),
            "UNLINK_LOG_LEVEL": "warning",
            "UNLINK_LOG_FORMAT": "json",
        }
        if self.rate_limit is not None:
            settings["UNLINK_RATE_LIMIT"] = str(self.rate_limit)
        settings.update(knob_settings(self.sqs_linger, self.cognito_attempts))
        return settings

    def knobs(self) -> dict[str, Any]:
        """The settings a result line repeats, so a JSON line stands on its own."""
        return {
            "n": self.n,
            "workers": self.workers,
            "concurrency": self.concurrency,
            "latency_ms": self.latency_ms,
            "quota_rps": self.quota,
            "internal_error_rate": self.internal_error_rate,
            "store": self.store,
            "depth": self.queue_depth,
            "rate_limit": self.rate_limit,
            "sqs_linger": self.sqs_linger,
            "cognito_attempts": self.cognito_attempts,
        }


DEFAULTS: Final = {
    "latency": Scenario("latency", 5000, latency_ms=20.0, ceiling_n=2000),
    # A fleet at its quota, as in production: three workers sharing the table, the default
    # visibility timeout.
    "quota": Scenario(
        "quota",
        1000,
        latency_ms=20.0,
        quota=25.0,
        workers=3,
        store="dynamodb",
        visibility_timeout_seconds=30,
    ),
    "mixed": Scenario(
        "mixed",
        2000,
        latency_ms=20.0,
        mix=Mix(not_found=0.10, conflicts=0.05, malformed=0.05),
        internal_error_rate=0.03,
    ),
}
ORDER: Final = ("latency", "quota", "mixed", "idle", "hold")
# Long runs (bench.outage, bench.soak, bench.fleet): only when named, never part of "all".
LONG: Final = ("outage", "brownout", "soak", "memory-soak", "fleet")
# Runs of their own, only when named (bench.fair: two load runs side by side).
PAIRED: Final = ("fair",)


def override(scenario: Scenario, **changes: Any) -> Scenario:
    """The scenario with every change that is not None."""
    return replace(scenario, **{k: v for k, v in changes.items() if v is not None})
