"""FIFO group order inside one worker: one command of a group at a time, in receive order.

SQS hands out several messages of a FIFO group in one batch, oldest first, and no more of that
group until they are gone. The worker runs a batch concurrently, so it must chain each group's
messages itself: a message waits for the one before it, and if that one did not succeed (it was
retried or given back) the later ones are given back too, so the group's order survives the retry.
Messages without a group (standard queues) never wait.
"""

from __future__ import annotations

import asyncio


class Turn:
    """One message's place in its group: wait for it with `proceed`, give it up with `leave`."""

    __slots__ = ("_done", "_group", "_previous", "_sequencer")

    def __init__(
        self,
        sequencer: GroupSequencer | None,
        group: str | None,
        previous: asyncio.Future[bool] | None,
        done: asyncio.Future[bool] | None,
    ) -> None:
        self._sequencer = sequencer
        self._group = group
        self._previous = previous
        self._done = done

    async def proceed(self) -> bool:
        """Waits for the group's earlier message; False when it failed (hold this one back)."""
        if self._previous is None:
            return True
        # Shielded: a waiter cancelled at shutdown must not cancel the future the head resolves.
        return await asyncio.shield(self._previous)

    def leave(self, succeeded: bool) -> None:
        """Lets the group's next message go (or be held back); call exactly once, always."""
        if self._done is None or self._done.done():
            return
        self._done.set_result(succeeded)
        if self._sequencer is not None and self._group is not None:
            self._sequencer._left(self._group, self._done)


class GroupSequencer:
    """Chains the messages of each FIFO group in the order the worker received them."""

    def __init__(self) -> None:
        self._tails: dict[str, asyncio.Future[bool]] = {}

    def __repr__(self) -> str:
        return f"GroupSequencer(groups={len(self._tails)})"

    def enter(self, group: str | None) -> Turn:
        """The next turn of ``group``; call in receive order, before the message's task starts."""
        if group is None:
            return Turn(None, None, None, None)
        previous = self._tails.get(group)
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._tails[group] = done
        return Turn(self, group, previous, done)

    def _left(self, group: str, done: asyncio.Future[bool]) -> None:
        if self._tails.get(group) is done:
            del self._tails[group]  # the group's last message is done: forget the group
