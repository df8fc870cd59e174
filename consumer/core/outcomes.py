"""Every message ends as exactly one of these; the router turns them into SQS calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# not_linked: a command naming a user linked to no identity; nothing to do, nothing recorded.
AckKind = Literal["applied", "duplicate", "already_applied", "not_linked"]


@dataclass(frozen=True, slots=True)
class Attempts:
    """What a message has been through, carried in its attributes across re-enqueues."""

    failures: int = 0
    throttles: int = 0
    deferrals: int = 0

    @property
    def total(self) -> int:
        return self.failures + self.throttles + self.deferrals


@dataclass(frozen=True, slots=True)
class Ack:
    """The command took effect (now or earlier): delete the message."""

    kind: AckKind


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """No retry can fix it: copy the body to the DLQ with the reason, delete the original."""

    reason: str
    detail: str
    attempts: Attempts


@dataclass(frozen=True, slots=True)
class Retry:
    """Try again later: re-enqueue a delayed copy (or, on FIFO, hide the message) and count it."""

    delay_seconds: int
    error: str
    attempts: Attempts


@dataclass(frozen=True, slots=True)
class Release:
    """Give the message back untouched (shutdown, or a command never started)."""

    delay_seconds: int = 0


Outcome = Ack | DeadLetter | Retry | Release


def outcome_label(outcome: Outcome) -> str:
    """The word logs and metrics use for an outcome."""
    match outcome:
        case Ack(kind=kind):
            return kind
        case DeadLetter():
            return "dead_lettered"
        case Retry():
            return "retried"
        case Release():
            return "released"
