"""A FIFO message's receives, spread over the command's life so SQS's redrive never takes it.

On a FIFO queue a retry keeps its message (a re-send would reorder its group), so every receive
of it counts toward the queue's `maxReceiveCount`: each probe while the worker is paused, each
hand-back behind a failing group head. At a few receives a minute an outage of an hour would let
SQS's own redrive move a valid command to the DLQ, with no reason attached. Once a message has
spent half its receives, each hide is stretched to the rest of the command's life shared by the
receives it has left (one kept for the worker's own final decision), so it outlives any outage
shorter than its life. Before that, nothing changes: a short outage resumes at once.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_VISIBILITY_SECONDS = 12 * 3600  # SQS's ceiling on a message's visibility timeout


@dataclass(frozen=True, slots=True)
class ReceiveBudget:
    """The queue's `maxReceiveCount` and the command's life (UNLINK_MAX_COMMAND_AGE_SECONDS)."""

    max_receives: int
    life_seconds: float

    def hide_seconds(self, delay: int, receive_count: int, age_seconds: float) -> int:
        """How long to hide a message that wants ``delay``, received ``receive_count`` times,
        first sent ``age_seconds`` ago."""
        if 2 * receive_count < self.max_receives:
            return delay
        left = self.max_receives - receive_count
        remaining = max(0.0, self.life_seconds - age_seconds)
        spread = remaining / max(1, left - 1)
        return int(min(MAX_VISIBILITY_SECONDS, max(float(delay), spread)))
