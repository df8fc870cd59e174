"""What the local Cognito Identity was asked and what it actually did.

Tests and benchmarks prove "applied exactly once" from here rather than from the worker's own
account: an `AppliedUnlink` is recorded only when an unlink really changed the identity state.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import NamedTuple, TypedDict

OK = "ok"


class EffectKey(NamedTuple):
    """Identifies one unlink effect: the operation, the identity and what was removed."""

    operation: str
    identity_id: str
    key: str  # the developer user identifier, or the provider name for UnlinkIdentity


@dataclass(frozen=True, slots=True)
class AppliedUnlink:
    """One unlink the local Cognito Identity applied."""

    operation: str
    identity_id: str
    key: str
    at: float

    @property
    def effect(self) -> EffectKey:
        return EffectKey(self.operation, self.identity_id, self.key)


class AppliedJson(TypedDict):
    operation: str
    identity_id: str
    key: str
    at: float


class LedgerSnapshot(TypedDict):
    """The JSON shape of `GET /_local/ledger`."""

    calls: dict[str, dict[str, int]]  # operation -> outcome ("ok" or error code) -> count
    calls_by_outcome: dict[str, int]
    throttled: int
    applied_count: int
    applied_by_operation: dict[str, int]
    applied: list[AppliedJson]
    # Unix second -> outcome -> calls, for timelines (throttling over time); empty without events.
    calls_per_second: dict[str, dict[str, int]]


class Ledger:
    """Thread-safe counters of calls and the list of applied unlinks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[tuple[str, str]] = Counter()
        self._applied: list[AppliedUnlink] = []
        self._per_second: Counter[tuple[int, str]] = Counter()

    def record_call(self, operation: str, outcome: str) -> None:
        """Counts one Cognito Identity call; outcome is "ok" or the error code."""
        second = int(time.time())
        with self._lock:
            self._calls[(operation, outcome)] += 1
            self._per_second[(second, outcome)] += 1

    def record_applied(self, operation: str, identity_id: str, key: str) -> None:
        """Records an unlink that changed the state."""
        event = AppliedUnlink(operation, identity_id, key, time.time())
        with self._lock:
            self._applied.append(event)

    def reset(self) -> None:
        """Forgets every call and applied unlink (between benchmark runs)."""
        with self._lock:
            self._calls.clear()
            self._applied.clear()
            self._per_second.clear()

    def applied(self) -> list[AppliedUnlink]:
        with self._lock:
            return list(self._applied)

    def applied_count(self, operation: str | None = None) -> int:
        """How many unlinks were applied, optionally of one operation."""
        with self._lock:
            if operation is None:
                return len(self._applied)
            return sum(1 for event in self._applied if event.operation == operation)

    def applied_counts_by_key(self) -> Counter[EffectKey]:
        """Applied unlinks per effect; any count above 1 means an unlink was applied twice."""
        with self._lock:
            return Counter(event.effect for event in self._applied)

    def calls(self) -> Counter[tuple[str, str]]:
        """Calls per (operation, outcome)."""
        with self._lock:
            return Counter(self._calls)

    def calls_by_operation(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for (operation, _), n in self.calls().items():
            counts[operation] += n
        return counts

    def calls_by_outcome(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for (_, outcome), n in self.calls().items():
            counts[outcome] += n
        return counts

    def throttled(self) -> int:
        """Calls refused with TooManyRequestsException (by the quota or an injected fault)."""
        return self.calls_by_outcome()["TooManyRequestsException"]

    def snapshot(self, *, events: bool = True) -> LedgerSnapshot:
        """Everything as plain JSON-ready data; `events=False` leaves out the applied list."""
        calls = self.calls()
        applied = self.applied()
        per_second: dict[str, dict[str, int]] = {}
        if events:
            with self._lock:
                timeline = sorted(self._per_second.items())
            for (second, outcome), n in timeline:
                per_second.setdefault(str(second), {})[outcome] = n
        by_operation: dict[str, dict[str, int]] = {}
        for (operation, outcome), n in sorted(calls.items()):
            by_operation.setdefault(operation, {})[outcome] = n
        by_outcome: Counter[str] = Counter()
        for (_, outcome), n in calls.items():
            by_outcome[outcome] += n
        return {
            "calls": by_operation,
            "calls_by_outcome": dict(by_outcome),
            "throttled": by_outcome["TooManyRequestsException"],
            "applied_count": len(applied),
            "applied_by_operation": dict(Counter(event.operation for event in applied)),
            "applied": [
                {
                    "operation": e.operation,
                    "identity_id": e.identity_id,
                    "key": e.key,
                    "at": e.at,
                }
                for e in applied
            ]
            if events
            else [],
            "calls_per_second": per_second,
        }
