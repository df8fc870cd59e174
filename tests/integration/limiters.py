"""A limiter that records how the executor used it, and seeded commands to drive it with.

The executor's pacing tests meet the stack's token-bucket quota with botocore retrying a throttle
once; this limiter lets both first attempts through and holds the retry for a chosen time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from consumer.core.commands import UnlinkDeveloperIdentity
from consumer.local.seed import seed_in_process
from consumer.local.seeded import DeveloperIdentity
from consumer.local.stack import LocalStack


@dataclass
class RecordingLimiter:
    """Lets first attempts go at once; a retry waits ``wait_s`` (the stack's bucket refills)."""

    wait_s: float
    acquires: int = 0
    throttles: int = 0
    sent_at: list[float | None] = field(default_factory=list)
    successes: int = 0
    answers: list[float] = field(default_factory=list)  # each attempt's round trip
    rate: float | None = field(default=None)

    async def acquire(self) -> None:
        self.acquires += 1
        if self.acquires > 2:
            await asyncio.sleep(self.wait_s)

    def on_success(self) -> None:
        self.successes += 1

    def on_throttle(self, sent_at: float | None = None, *, repeated: bool = False) -> None:
        self.throttles += 1
        self.sent_at.append(sent_at)

    def on_answer(self, seconds: float) -> None:
        self.answers.append(seconds)


def two_developer_commands(
    stack: LocalStack,
) -> tuple[tuple[DeveloperIdentity, ...], list[UnlinkDeveloperIdentity]]:
    """Two developer identities seeded on the stack, and the commands that unlink them."""
    seeded = seed_in_process(stack, developer=2).developer
    commands = [
        UnlinkDeveloperIdentity.model_validate(
            {"action": "UnlinkDeveloperIdentity", **d.unlink_request()}
        )
        for d in seeded
    ]
    return seeded, commands
