"""What the worker says about each message: one log line, the stats and the observer's metrics.

Kept apart from the loop so that what an operator reads (the `command` line with its outcome,
error, attempt and the user's pseudonym, never the identifier itself) has one home, and the loop
only says what happened.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from consumer.core import attributes
from consumer.core.messages import Message
from consumer.core.observer import NullObserver, Observer, Pseudonyms
from consumer.core.outcomes import DeadLetter, Retry, outcome_label
from consumer.core.processor import Result

log = structlog.get_logger("consumer.core.worker")


@dataclass(slots=True)
class WorkerStats:
    outcomes: Counter[str] = field(default_factory=Counter)
    # Re-enqueued (or, on FIFO, hidden) messages by the error that sent them back.
    retries: Counter[str] = field(default_factory=Counter)
    received: int = 0
    receive_calls: int = 0


class Reporter:
    """Counts, logs and observes outcomes; every method is cheap and never raises on its own."""

    def __init__(
        self,
        observer: Observer | None = None,
        pseudonym: Callable[[str], str] | None = None,
        *,
        fifo: bool = False,
    ) -> None:
        self.observer: Observer = observer or NullObserver()
        self._fifo = fifo
        self._pseudonym = pseudonym or Pseudonyms.random()
        self.stats = WorkerStats()

    def __repr__(self) -> str:
        return f"Reporter({self.observer!r})"

    def receiving(self) -> None:
        self.stats.receive_calls += 1

    def received(self, count: int) -> None:
        self.stats.received += count
        self.observer.received(count)

    def in_flight(self, count: int) -> None:
        self.observer.in_flight(count)

    def released(self) -> None:
        """Handed back unfinished at shutdown."""
        self.stats.outcomes["released"] += 1

    def unrouted(self, error: BaseException) -> None:
        """A bug or an SQS failure while routing: the message reappears after its visibility."""
        log.error("message_failed", error=type(error).__name__, exc_info=error)
        self.stats.outcomes["unrouted"] += 1

    def finished(self, result: Result, seconds: float, message: Message) -> None:
        outcome = result.outcome
        label = outcome_label(outcome)
        self.stats.outcomes[label] += 1
        error = None
        fields: dict[str, object] = {}
        if isinstance(outcome, DeadLetter):
            error = outcome.reason
            fields["detail"] = outcome.detail
            attempt = outcome.attempts.total + 1
        elif isinstance(outcome, Retry):
            error = outcome.error
            self.stats.retries[error] += 1
            fields["delay_s"] = outcome.delay_seconds
            attempt = outcome.attempts.total
        else:
            # This attempt after the earlier ones the message carries (not this copy's receives).
            attempt = attributes.read(message, fifo=self._fifo).attempts.total + 1
        if message.group_id is not None:
            fields["group"] = message.group_id  # the tenant, on a fair queue; FIFO's group
        command = result.command
        if command is not None and hasattr(command, "DeveloperUserIdentifier"):
            fields["user"] = self._pseudonym(command.DeveloperUserIdentifier)
        action = command.action_name() if command is not None else "unknown"
        log.info(
            "command",
            outcome=label,
            error=error,
            attempt=attempt,
            duration_ms=round(seconds * 1000, 1),
            **fields,
        )
        self.observer.finished(action, label, error, seconds)
