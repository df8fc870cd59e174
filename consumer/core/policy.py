"""Error class + attempts -> outcome: a pure function with its table in one place.

Budgets: real failures (internal errors, outages, network) spend ``max_attempts``; throttling
spends its own, larger ``max_throttle_attempts``, because throttling says the fleet is too fast,
not that the command is bad. Faults of the worker or its store (credentials, DynamoDB down, another
worker's live lock) spend nothing: they are never the message's fault.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace

from consumer.core import errors
from consumer.core.outcomes import Attempts, DeadLetter, Outcome, Retry

SQS_MAX_DELAY_SECONDS = 900

PERMANENT: tuple[type[errors.UnlinkError], ...] = (
    errors.MalformedCommand,
    errors.InvalidParameter,
    errors.ResourceNotFound,
    errors.ResourceConflict,
    errors.NotAuthorized,
)
FAILURES: tuple[type[errors.UnlinkError], ...] = (
    errors.InternalError,
    errors.ExternalServiceError,
    errors.NetworkFault,
)
THROTTLES: tuple[type[errors.UnlinkError], ...] = (errors.Throttled,)
NOT_THE_MESSAGES_FAULT: tuple[type[errors.UnlinkError], ...] = (
    errors.WorkerFault,
    errors.StoreUnavailable,
    errors.InProgressElsewhere,
)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with equal jitter, in whole seconds as SQS wants them."""

    base_seconds: float = 2.0
    max_seconds: float = SQS_MAX_DELAY_SECONDS
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def delay(self, attempt: int) -> int:
        """Delay before retry number ``attempt`` (1-based): half fixed, half random."""
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** min(attempt - 1, 30))
        seconds = ceiling / 2 + self.rng.uniform(0, ceiling / 2)
        return int(max(1, min(SQS_MAX_DELAY_SECONDS, math.ceil(seconds))))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Decides what a failed attempt becomes."""

    max_attempts: int = 8
    max_throttle_attempts: int = 50
    backoff: Backoff = field(default_factory=Backoff)

    def decide(self, error: errors.UnlinkError, attempts: Attempts) -> Outcome:
        """``attempts`` are the counts before this attempt.

        A `Retry` carries the counts including this attempt (they travel with the copy); a
        `DeadLetter` carries the counts before it, as the router adds the final attempt itself.
        """
        if isinstance(error, PERMANENT):
            return DeadLetter(reason=error.code, detail=error.detail, attempts=attempts)
        if isinstance(error, THROTTLES):
            spent = replace(attempts, throttles=attempts.throttles + 1)
            if spent.throttles >= self.max_throttle_attempts:
                return _exhausted(error, attempts)
            return Retry(self.backoff.delay(spent.throttles), error.code, spent)
        if isinstance(error, NOT_THE_MESSAGES_FAULT):
            spent = replace(attempts, deferrals=attempts.deferrals + 1)
            return Retry(self.backoff.delay(min(spent.deferrals, 6)), error.code, spent)
        # Everything else transient, and anything unforeseen, spends the failure budget.
        spent = replace(attempts, failures=attempts.failures + 1)
        if spent.failures >= self.max_attempts:
            return _exhausted(error, attempts)
        return Retry(self.backoff.delay(spent.failures), error.code, spent)


def _exhausted(error: errors.UnlinkError, attempts: Attempts) -> DeadLetter:
    detail = f"last error {error.code}"
    if error.detail:
        detail += f": {error.detail}"
    return DeadLetter(reason="retries_exhausted", detail=detail, attempts=attempts)
