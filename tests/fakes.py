"""Fakes for pure-logic unit tests; every behaviour also has a test through the real protocol."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from consumer.core import errors
from consumer.core.commands import Command


@dataclass
class FakeClock:
    now: float = 1_000_000.0
    slept: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class ScriptedExecutor:
    """Raises the scripted errors in turn, then succeeds; `applied` decides `is_applied`."""

    script: list[errors.UnlinkError] = field(default_factory=list)
    applied: bool = False
    calls: int = 0
    throttled_before: list[int] = field(default_factory=list)
    checks: int = 0

    async def execute(
        self,
        command: Command,
        on_started: Callable[[], None] | None = None,
        *,
        throttled_before: int = 0,
    ) -> None:
        if on_started is not None:
            on_started()
        self.calls += 1
        self.throttled_before.append(throttled_before)
        if self.script:
            raise self.script.pop(0)
        self.applied = True

    async def is_applied(self, command: Command, since: float) -> bool:
        self.checks += 1
        return self.applied
