"""Collects single requests into SQS batch calls of up to ten, and resolves each one separately.

A batch call can succeed as a whole and still fail some entries; those are retried a few times
when the failure is on the service's side, and otherwise reported to their caller as an error —
never dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_ENTRIES = 10
# SQS's limit on a SendMessageBatch payload, and on one message (body and attributes): 1 MiB.
MAX_BATCH_BYTES = 1_048_576


class BatchEntryFailed(Exception):
    """One entry of a batch call failed; ``sender_fault`` says whether retrying can help."""

    def __init__(self, code: str, message: str, *, sender_fault: bool) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.sender_fault = sender_fault


@dataclass(slots=True)
class _Pending:
    entry: dict[str, Any]
    size: int
    future: asyncio.Future[None]
    tries: int = 0


# A batch call takes entries (each with a unique "Id") and returns the response's
# "Successful" and "Failed" lists.
BatchCall = Callable[[list[dict[str, Any]]], Awaitable[dict[str, Any]]]


@dataclass(slots=True)
class Batcher:
    """One batch API: entries wait at most ``linger`` seconds for company."""

    call: BatchCall
    name: str
    linger: float = 0.01
    max_tries: int = 3
    _pending: list[_Pending] = field(default_factory=list)
    _bytes: int = 0
    _timer: asyncio.TimerHandle | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _next_id: int = 0

    def __repr__(self) -> str:
        return f"Batcher({self.name}, pending={len(self._pending)}, linger={self.linger}s)"

    async def submit(self, entry: dict[str, Any], size: int = 0) -> None:
        """Queues one entry and waits until its batch answered for it."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._add(_Pending(entry, size, future))
        await future

    async def submit_many(
        self, entries: Sequence[tuple[dict[str, Any], int]]
    ) -> list[BaseException | None]:
        """Queues (entry, size) pairs together and sends them now, in as few calls as fit.

        Answers one result per entry, in order: None when it was accepted, else its error
        (`BatchEntryFailed`, or what made the whole call fail). For callers that hold a set of
        entries already (the operator tools), not a stream of single requests.
        """
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[None]] = []
        for entry, size in entries:
            futures.append(loop.create_future())
            self._add(_Pending(entry, size, futures[-1]))
        self._flush_now()
        results = await asyncio.gather(*futures, return_exceptions=True)
        for result in results:
            if isinstance(result, asyncio.CancelledError):
                raise result  # the batch call was interrupted (Ctrl-C): so is the caller
        return [result if isinstance(result, BaseException) else None for result in results]

    def _add(self, pending: _Pending) -> None:
        if self._pending and self._bytes + pending.size > MAX_BATCH_BYTES:
            self._flush_now()
        self._pending.append(pending)
        self._bytes += pending.size
        if len(self._pending) >= MAX_ENTRIES:
            self._flush_now()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.linger, self._flush_now)

    def _flush_now(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending:
            return
        batch, self._pending, self._bytes = self._pending, [], 0
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        """Sends whatever waits and returns when every batch in the air has answered."""
        self._flush_now()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _send(self, batch: list[_Pending]) -> None:
        by_id: dict[str, _Pending] = {}
        entries = []
        for pending in batch:
            self._next_id += 1
            entry_id = str(self._next_id)
            by_id[entry_id] = pending
            entries.append({**pending.entry, "Id": entry_id})
        try:
            response = await self.call(entries)
        except Exception as exc:  # the whole call failed: every entry learns why
            _fail_all(batch, exc)
            return
        except BaseException:
            _fail_all(
                batch, None
            )  # cancelled mid-call: nobody waits for an answer that never comes
            raise
        for ok in response.get("Successful", []):
            pending = by_id.pop(ok["Id"])
            if not pending.future.done():
                pending.future.set_result(None)
        for failed in response.get("Failed", []):
            pending = by_id.pop(failed["Id"])
            pending.tries += 1
            sender_fault = bool(failed.get("SenderFault"))
            if not sender_fault and pending.tries < self.max_tries:
                self._add(pending)  # the service's fault: goes out again with the next batch
                continue
            error = BatchEntryFailed(
                str(failed.get("Code")), str(failed.get("Message", "")), sender_fault=sender_fault
            )
            if not pending.future.done():
                pending.future.set_exception(error)
        for pending in by_id.values():  # neither successful nor failed: never assume success
            if not pending.future.done():
                pending.future.set_exception(
                    BatchEntryFailed("Missing", "entry absent from response", sender_fault=False)
                )


def _fail_all(batch: list[_Pending], error: Exception | None) -> None:
    """Every unanswered entry of ``batch`` fails with ``error`` (None: is cancelled)."""
    for pending in batch:
        if pending.future.done():
            continue
        if error is None:
            pending.future.cancel()
        else:
            pending.future.set_exception(error)
