"""The seams the core needs from its adapters: the command executor and the idempotency store.

`consumer.aws` implements them (Cognito, DynamoDB, memory); tests plug in fakes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from consumer.core.commands import Command


class Executor(Protocol):
    """Runs commands; raises `errors.UnlinkError` subclasses only."""

    async def execute(self, command: Command) -> None: ...

    async def is_applied(self, command: Command) -> bool: ...


DEAD_LETTERED = "dead_lettered"


class ClaimState(enum.Enum):
    CLAIMED = "claimed"
    COMPLETED = "completed"
    IN_PROGRESS = "in_progress"


@dataclass(frozen=True, slots=True)
class Claim:
    state: ClaimState
    outcome: str | None = None
    took_over_stale_lock: bool = False


class IdempotencyStore(Protocol):
    """Get/put/update/delete of claim records; raises `StoreUnavailable` when it cannot answer."""

    async def claim(self, key: str, lock_seconds: float, *, redriven: bool = False) -> Claim: ...

    async def complete(self, key: str, outcome: str) -> None: ...

    async def release(self, key: str) -> None: ...
