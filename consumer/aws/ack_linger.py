"""How long an ack waits for company before its DeleteMessageBatch goes out.

A delete costs one request whether it carries one receipt handle or ten. At full speed a batch
fills in milliseconds and the wait never matters; at a quota's few commands a second per worker,
a tenth of a second catches no company, and every command paid a request of its own. So while
acks arrive often enough that a wait would gather at least two more, an ack waits as long as
filling a batch takes at their recent rate, up to a cap; when they are rare (a trickle, a test),
waiting would gain nothing and the base linger stands. The message stays hidden meanwhile (the
cap is far below any visibility timeout), and a shutdown flushes at once.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from consumer.aws.batching import MAX_ENTRIES

# A fifteenth of the default visibility timeout (the keeper still extends a message meanwhile):
# at a worker's share of a quota, 2 to 10 acks a second, a batch gathers 4 to 10.
ACK_LINGER_CAP_SECONDS = 2.0
COMPANY = 2.0  # more acks expected within the cap for a longer wait to pay


class AckLinger:
    """Answers each ack with the linger its batch should wait, from the last acks' rate."""

    def __init__(
        self,
        base: float,
        cap: float = ACK_LINGER_CAP_SECONDS,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base = base
        self._cap = max(base, cap)
        self._now = now
        self._recent: deque[float] = deque(maxlen=MAX_ENTRIES)

    def __repr__(self) -> str:
        return f"AckLinger(base={self._base}s, cap={self._cap}s)"

    def next(self) -> float:
        """Records an ack now; the seconds a batch it starts should wait for company."""
        self._recent.append(self._now())
        span = self._recent[-1] - self._recent[0]
        if len(self._recent) < 3 or span <= 0:
            return self._base
        rate = (len(self._recent) - 1) / span
        if rate * self._cap < COMPANY:
            return self._base
        return min(self._cap, max(self._base, (MAX_ENTRIES - 1) / rate))
