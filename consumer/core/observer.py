"""What the worker reports as it runs: logs always, metrics when an observer is plugged in."""

from __future__ import annotations

import hashlib
from typing import Protocol


def pseudonym(value: str) -> str:
    """Developer user identifiers are personal data: logs carry a stable hash, never the value."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


class Observer(Protocol):
    """Hooks for metrics; every method must be cheap and never raise."""

    def received(self, count: int) -> None: ...

    def finished(self, action: str, outcome: str, error: str | None, seconds: float) -> None: ...

    def in_flight(self, count: int) -> None: ...

    def receive_failed(self) -> None: ...


class NullObserver:
    def received(self, count: int) -> None:
        pass

    def finished(self, action: str, outcome: str, error: str | None, seconds: float) -> None:
        pass

    def in_flight(self, count: int) -> None:
        pass

    def receive_failed(self) -> None:
        pass
