"""Coalesces the DeleteIdentities commands in flight into calls of up to sixty identities.

One sender takes its rate-limiter slot first and fills the call after: while it waits for the
slot, the ids of every command that arrives join the call, so the slower the quota lets calls
go, the more commands share one. A command's ids always travel together; a call holds whole
commands (and an id two commands name, once). Each command learns the fate of its own ids:

- not in `UnprocessedIdentityIds`: deleted, or already gone, which counts as deleted;
- `InternalServerError`: those ids alone go out again with the next call, a few times, then the
  command fails with `InternalError` (retried by the policy; ids deleted meanwhile are gone and
  count as deleted on the next attempt);
- `AccessDenied`: the command fails with `AccessDenied` naming those ids, dead-lettered.

A call that fails as a whole (throttled, a 5xx, the network) fails every command in it, each
then decided by the policy as an unlink would be.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from consumer.core import errors
from consumer.core.ports import RateLimiter

MAX_IDS: Final = 60  # DeleteIdentities' limit per call
INTERNAL: Final = "InternalServerError"
DENIED: Final = "AccessDenied"

# One DeleteIdentities call: the ids -> (id, ErrorCode) of each identity it left in place.
DeleteCall = Callable[[list[str]], Awaitable[list[tuple[str, str]]]]


@dataclass(slots=True)
class _Pending:
    ids: tuple[str, ...]
    future: asyncio.Future[dict[str, str]]  # the ids left, with their last ErrorCode
    on_started: Callable[[], None] | None
    tries: int = 0
    denied: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class DeleteCoalescer:
    """Runs DeleteIdentities for many commands in as few calls as the quota and sixty allow."""

    call: DeleteCall
    limiter: RateLimiter
    translate: Callable[[BaseException], errors.UnlinkError]
    linger: float = 0.01  # a call not yet full waits this long for company before its slot
    max_tries: int = 3  # calls per id answered InternalServerError, before the command fails
    calls: int = 0  # DeleteIdentities calls sent
    _pending: list[_Pending] = field(default_factory=list)
    _sender: asyncio.Task[None] | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __repr__(self) -> str:
        return f"DeleteCoalescer(pending={len(self._pending)}, linger={self.linger}s)"

    async def delete(
        self, identity_ids: Sequence[str], on_started: Callable[[], None] | None = None
    ) -> None:
        """Deletes the identities; raises `InternalError`, `IdentitiesDenied` or the call's error.

        ``on_started`` is called when the first call carrying them is about to go out."""
        future: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()
        pending = _Pending(tuple(dict.fromkeys(identity_ids)), future, on_started)
        self._add(pending)
        try:
            left = await future
        except asyncio.CancelledError:
            future.cancel()  # not taken yet: it never goes out
            raise
        _raise_for(left, len(pending.ids))

    def _add(self, pending: _Pending) -> None:
        self._pending.append(pending)
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(self._send_while_pending())

    def _waiting_ids(self) -> int:
        return sum(len(p.ids) for p in self._pending if not p.future.done())

    async def _send_while_pending(self) -> None:
        while self._pending:
            if self._waiting_ids() < MAX_IDS:
                await asyncio.sleep(self.linger)
            await self.limiter.acquire()
            batch = self._take()
            if not batch:
                continue
            for pending in batch:
                if pending.tries == 0 and pending.on_started is not None:
                    pending.on_started()
            task = asyncio.get_running_loop().create_task(self._send(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _take(self) -> list[_Pending]:
        """Whole commands, in arrival order, while their distinct ids fit in one call."""
        batch: list[_Pending] = []
        ids: set[str] = set()
        keep: list[_Pending] = []
        for pending in self._pending:
            if pending.future.done():
                continue  # cancelled while it waited
            joined = ids.union(pending.ids)
            if len(joined) <= MAX_IDS and len(keep) == 0:
                batch.append(pending)
                ids = joined
            else:
                keep.append(pending)  # and every later one, so none overtakes it
        self._pending = keep
        return batch

    async def _send(self, batch: list[_Pending]) -> None:
        ids = list(dict.fromkeys(i for pending in batch for i in pending.ids))
        self.calls += 1
        try:
            left = dict(await self.call(ids))
        except Exception as exc:
            error = self.translate(exc)
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(error)
            return
        self.limiter.on_success()
        for pending in batch:
            self._settle(pending, left)

    def _settle(self, pending: _Pending, left: dict[str, str]) -> None:
        pending.tries += 1
        pending.denied.update({i: left[i] for i in pending.ids if left.get(i) == DENIED})
        again = tuple(i for i in pending.ids if i in left and left[i] != DENIED)
        if again and pending.tries < self.max_tries and not pending.future.done():
            pending.ids = again  # those ids alone, with the next call
            self._add(pending)
        elif not pending.future.done():
            pending.future.set_result({**{i: left[i] for i in again}, **pending.denied})


def _raise_for(left: dict[str, str], count: int) -> None:
    """The command's error for the ids left in place; none when every id is deleted."""
    denied = sorted(i for i, code in left.items() if code == DENIED)
    if denied:
        raise errors.IdentitiesDenied(
            f"AccessDenied for {len(denied)} of {count}: {', '.join(denied)}"
        )
    if left:
        failed = sorted(left)
        raise errors.InternalError(
            f"{INTERNAL} for {len(failed)} of {count} after retries: {', '.join(failed)}"
        )
