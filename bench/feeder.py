"""Feeds a queue as it drains, so it never holds more than a few hundred messages.

moto's SQS walks the whole queue on every request, so a deep queue would measure moto rather than
the worker. The feeder tops the queue (visible + in flight + delayed) up to `depth` in batches of
ten and records when each command was sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from bench.aws import RawAws

BATCH = 10


class Feeder:
    """Sends `bodies` to `url` keeping the queue at about `depth` messages."""

    def __init__(
        self,
        aws: RawAws,
        url: str,
        bodies: Sequence[str],
        depth: int = 200,
        poll_seconds: float = 0.05,
        groups: Sequence[str] | None = None,
    ) -> None:
        self._aws = aws
        self._url = url
        self._bodies = bodies
        self._groups = groups
        self._depth = max(BATCH, depth)
        self._poll = poll_seconds
        self.sent_at: list[float] = [0.0] * len(bodies)  # time.time() at send, per body
        self.sent = 0
        self.first_send: float | None = None
        self.max_depth_seen = 0
        self.done = asyncio.Event()

    async def _send(self, start: int, stop: int) -> None:
        now = time.time()
        for i in range(start, stop):
            self.sent_at[i] = now
        groups = list(self._groups[start:stop]) if self._groups is not None else None
        await self._aws.send_batch(self._url, list(self._bodies[start:stop]), groups)

    async def run(self) -> None:
        total = len(self._bodies)
        while self.sent < total:
            depth = await self._aws.depth(self._url)
            self.max_depth_seen = max(self.max_depth_seen, depth)
            room = min(total - self.sent, self._depth - depth)
            if room >= BATCH or (room > 0 and self.sent + room == total):
                if self.first_send is None:
                    self.first_send = time.time()
                batches = []
                for start in range(self.sent, self.sent + room, BATCH):
                    batches.append(self._send(start, min(start + BATCH, self.sent + room)))
                self.sent += room
                await asyncio.gather(*batches)
                continue
            await asyncio.sleep(self._poll)
        self.done.set()
