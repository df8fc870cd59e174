"""What the worker reports as it runs: logs always, metrics when an observer is plugged in."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Protocol


class Pseudonyms:
    """Developer user identifiers are personal data: logs carry a keyed hash, never the value.

    An unkeyed hash of an email or a sequential id is reversed by hashing a dictionary of
    candidates; an HMAC under a deployment's secret key (UNLINK_PSEUDONYM_KEY) still lets its logs
    correlate one user's lines, across workers and restarts, while revealing nothing to anyone
    without the key. Without a configured key each process draws a random one: its pseudonyms
    correlate within that process only.
    """

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("a pseudonym key must not be empty")
        self._key = key

    def __repr__(self) -> str:
        return "Pseudonyms(key=***)"

    @classmethod
    def random(cls) -> Pseudonyms:
        return cls(secrets.token_bytes(32))

    def __call__(self, value: str) -> str:
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()[:16]


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
