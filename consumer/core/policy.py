"""Error class + attempts -> outcome: a pure function with its table in one place.

Budgets: real failures (internal errors, outages, network) spend ``max_attempts``; throttling
spends its own, larger ``max_throttle_attempts``, because throttling says the fleet is too fast,
not that the command is bad. Faults of the worker or its store (credentials, DynamoDB down, another
worker's live lock) spend nothing: they are never the message's fault. Nor does any failure while
its dependency fails for every command (``own=False``, decided by `breaker.HealthGate`). Every
command still has a finite life: past ``max_age_seconds`` a retry is a dead letter instead.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace

from consumer.core import errors
from consumer.core.outcomes import Ack, Attempts, DeadLetter, Outcome, Retry

# SQS's ceiling on a message's DelaySeconds (and so on any backoff); settings cap at it too.
SQS_MAX_DELAY_SECONDS = 900


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
    # A command retried or deferred for longer than this since first seen is dead-lettered.
    max_age_seconds: float = 3 * 24 * 3600
    # A failure while its dependency is down for everyone waits this long, uncharged: the
    # worker has paused and probes, so a short delay costs nothing and recovery is not held up.
    outage_delay_seconds: int = 5

    def decide(
        self,
        error: errors.UnlinkError,
        attempts: Attempts,
        *,
        own: bool = True,
        age_seconds: float = 0.0,
    ) -> Outcome:
        """``attempts`` are the counts before this attempt.

        ``own`` is False when the failure's dependency is failing for every command (see
        `breaker.HealthGate`): then nothing is charged. ``age_seconds`` is the time since the
        command was first seen; past ``max_age_seconds`` a retry becomes a dead letter.

        A `Retry` carries the counts including this attempt (they travel with the copy); a
        `DeadLetter` carries the counts before it (the attribute codec writes the final attempt
        on the DLQ copy: `attributes.dead_letter_attempts`).
        """
        if isinstance(error, errors.NotLinked):
            # The one leaf named: a user linked to nothing is in the state its command asks for.
            return Ack("not_linked")
        if not own and isinstance(error, errors.Transient | errors.NotTheMessagesFault):
            spent = replace(attempts, deferrals=attempts.deferrals + 1)
            outcome: Outcome = Retry(self.outage_delay_seconds, error.code, spent)
        else:
            outcome = self._decide(error, attempts)
        if isinstance(outcome, Retry) and age_seconds > self.max_age_seconds:
            return DeadLetter("max_age_exceeded", _last_error(error), attempts)
        return outcome

    def paused(self, error: str, attempts: Attempts, *, age_seconds: float = 0.0) -> Outcome:
        """A command not tried because its dependency is down: back soon, nothing charged."""
        if age_seconds > self.max_age_seconds:
            return DeadLetter("max_age_exceeded", f"last error {error}", attempts)
        return Retry(self.outage_delay_seconds, error, attempts)

    def _decide(self, error: errors.UnlinkError, attempts: Attempts) -> Outcome:
        # By the branch of the error tree (errors.py), never by the leaf.
        if isinstance(error, errors.Permanent):
            return DeadLetter(reason=error.code, detail=error.detail, attempts=attempts)
        if isinstance(error, errors.Throttled):
            spent = replace(attempts, throttles=attempts.throttles + 1)
            if spent.throttles >= self.max_throttle_attempts:
                return _exhausted(error, attempts)
            return Retry(self.backoff.delay(spent.throttles), error.code, spent)
        if isinstance(error, errors.NotTheMessagesFault):
            spent = replace(attempts, deferrals=attempts.deferrals + 1)
            return Retry(self.backoff.delay(min(spent.deferrals, 6)), error.code, spent)
        # `Transient`, and anything unforeseen, spends the failure budget.
        spent = replace(attempts, failures=attempts.failures + 1)
        if spent.failures >= self.max_attempts:
            return _exhausted(error, attempts)
        return Retry(self.backoff.delay(spent.failures), error.code, spent)


def _exhausted(error: errors.UnlinkError, attempts: Attempts) -> DeadLetter:
    return DeadLetter(reason="retries_exhausted", detail=_last_error(error), attempts=attempts)


def _last_error(error: errors.UnlinkError) -> str:
    detail = f"last error {error.code}"
    if error.detail:
        detail += f": {error.detail}"
    return detail
