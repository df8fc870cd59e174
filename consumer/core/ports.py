"""The seams the core needs from its adapters: the command executor, the idempotency store and
the rate limiter.

`consumer.aws` implements the first two (Cognito, DynamoDB, memory), `consumer.rate` the limiter;
tests plug in fakes.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from consumer.core.commands import Command


class Executor(Protocol):
    """Runs commands; raises `errors.UnlinkError` subclasses only.

    `execute` calls ``on_started`` once, when the call is about to go out (after any rate-limiter
    wait): a shutdown then knows which commands have not reached Cognito and can hand them back.
    ``throttled_before``: earlier receives of this command a throttle answered (the claim
    record's count): a command throttled again and again while others get through says more
    about itself than about the quota.
    """

    async def execute(
        self,
        command: Command,
        on_started: Callable[[], None] | None = None,
        *,
        throttled_before: int = 0,
    ) -> None: ...

    async def is_applied(self, command: Command, since: float) -> bool:
        """True only when Cognito's state shows this command's effect in this command's scope and
        the identity changed at or after ``since`` (epoch seconds), when an attempt whose answer
        was lost went out. Raises `errors.Throttled` when a look-up is throttled, and another
        `errors.UnlinkError` when it cannot look: neither may ever acknowledge."""
        ...


DEAD_LETTERED = "dead_lettered"
# Outcomes whose record absorbs every later copy of the command for the TTL: the effect is in.
ABSORBING = frozenset({"applied", "already_applied", "duplicate"})


class ClaimState(enum.Enum):
    CLAIMED = "claimed"
    COMPLETED = "completed"
    IN_PROGRESS = "in_progress"


@dataclass(frozen=True, slots=True)
class History:
    """What earlier attempts of one command left in its claim record, for the next attempt.

    The counts are the worker's own (a producer cannot set them); ``uncertain_since`` is when
    (epoch seconds) the first attempt went out that may have reached Cognito without a definite
    answer: a 5xx, a timeout or dropped connection after sending, a worker that died holding
    the lock. None when every earlier answer was definite (a throttle, a refused connection).
    ``first_seen`` is when (epoch seconds) this life of the command was first claimed: its age
    is the record's, so no attribute a producer writes can age it or keep it young, and a dead
    letter (which keeps none) leaves whatever brings the command back a new life.
    """

    failures: int = 0
    throttles: int = 0
    uncertain_since: float | None = None
    first_seen: float | None = None


NO_HISTORY = History()


@dataclass(frozen=True, slots=True)
class Claim:
    state: ClaimState
    outcome: str | None = None
    took_over_stale_lock: bool = False
    history: History = NO_HISTORY


class IdempotencyStore(Protocol):
    """Get/put/update/delete of claim records; raises `StoreUnavailable` when it cannot answer."""

    async def claim(self, key: str, lock_seconds: float) -> Claim:
        """Takes the lock, with the record's history, unless the record absorbs every copy
        (COMPLETED with an `ABSORBING` outcome) or another worker's lock is live (IN_PROGRESS).
        A stale lock (its worker died holding it) counts as an uncertain attempt."""
        ...

    async def renew(self, key: str, lock_seconds: float) -> bool:
        """Extends our own live lock; False when it is not ours any more."""
        ...

    async def complete(self, key: str, outcome: str) -> None:
        """Records the effect as in (an `ABSORBING` outcome): final, nothing moves it again."""
        ...

    async def release(
        self, key: str, history: History = NO_HISTORY, outcome: str | None = None
    ) -> None:
        """Gives up our lock, keeping ``history`` for the next attempt; never touches a
        COMPLETED record or another worker's lock."""
        ...


class RateLimiter(Protocol):
    """How the executor asks for permission to call Cognito and reports what happened."""

    @property
    def rate(self) -> float | None:
        """Current requests/s, or None when unlimited."""
        ...

    async def acquire(self) -> None: ...

    def on_success(self) -> None: ...

    def on_throttle(self, sent_at: float | None = None, *, repeated: bool = False) -> None:
        """A call was throttled; ``sent_at`` (monotonic) is when it left, if known; ``repeated``:
        its command was throttled on an earlier receive too."""
        ...

    def on_answer(self, seconds: float) -> None:
        """An attempt's answer, whatever it was, came back ``seconds`` after it left."""
        ...
