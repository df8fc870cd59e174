"""An in-memory queue, a virtual clock and a timed executor: the worker's loop without SQS or waits.

`VirtualClock.sleep` parks the caller until `run_until` moves virtual time to its deadline; time
jumps only when every task is blocked, so a test of a 25 s grace period or a 60 s backoff runs in
milliseconds and always interleaves the same way. `MemoryQueue` keeps SQS's visibility rules (a
received message is hidden until deleted, handed back or timed out; FIFO groups are delivered in
order, none while an earlier message of the group is hidden) and records every call.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from consumer.core import errors
from consumer.core.commands import Command
from consumer.core.messages import Message, QueueDepth
from tests.unit.test_commands import developer

SETTLE_ROUNDS = 200  # loop turns that let every runnable task reach its next wait


class VirtualClock:
    """A `Clock` whose time moves only when `run_until` finds every task waiting."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.wakeups = 0  # sleeps that ran to their deadline (not cancelled)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), wake))
        await wake
        self.wakeups += 1

    async def settle(self) -> None:
        for _ in range(SETTLE_ROUNDS):
            await asyncio.sleep(0)

    async def run_until(self, done: Callable[[], bool], limit: float = 100_000.0) -> None:
        """Lets tasks run, jumping to the next sleeper's deadline whenever all are waiting."""
        deadline = self.now + limit
        while True:
            await self.settle()
            if done():
                return
            while self._sleepers and self._sleepers[0][2].done():
                heapq.heappop(self._sleepers)  # cancelled sleeps
            if not self._sleepers:
                raise AssertionError("every task waits on something that no time will bring")
            wake_at = self._sleepers[0][0]
            if wake_at > deadline:
                raise AssertionError(f"not done within {limit} virtual seconds")
            self.now = max(self.now, wake_at)
            while self._sleepers and self._sleepers[0][0] <= self.now:
                _, _, wake = heapq.heappop(self._sleepers)
                if not wake.done():
                    wake.set_result(None)

    async def advance(self, seconds: float) -> None:
        """Runs everything due within ``seconds`` and stops the clock exactly there."""
        until = self.now + seconds
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (until, next(self._order), wake))
        await self.run_until(wake.done)


@dataclass
class Stored:
    message_id: str
    body: str
    attributes: dict[str, str]
    group_id: str | None
    visible_at: float
    receive_count: int = 0
    receipt_handle: str = ""


@dataclass
class MemoryQueue:
    """A `MessageQueue` in memory, with SQS's visibility rules and a log of every call."""

    clock: VirtualClock
    fifo: bool = False
    visibility_timeout: int = 60
    latency: dict[str, float] = field(default_factory=dict)  # operation -> virtual seconds
    receive_errors: list[Exception] = field(default_factory=list)
    wedge_receives_after: int | None = None  # receives after this many never answer
    on_receive: Callable[[int], None] | None = None  # called with max_messages
    stored: list[Stored] = field(default_factory=list)
    dlq: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    visibility: list[tuple[str, int, float]] = field(default_factory=list)  # id, seconds, when
    receives: list[tuple[int, float]] = field(default_factory=list)  # max_messages, when
    open_receives: int = 0  # receives not yet answered
    most_open_receives: int = 0
    flushes: int = 0
    max_message_bytes: int = 1_048_576
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def is_fifo(self) -> bool:
        return self.fifo

    def put(self, body: str, group_id: str | None = None, delay: float = 0.0) -> str:
        message_id = f"m-{next(self._ids)}"
        self.stored.append(Stored(message_id, body, {}, group_id, self.clock.now + delay))
        return message_id

    def get(self, message_id: str) -> Stored | None:
        return next((s for s in self.stored if s.message_id == message_id), None)

    async def _latency(self, operation: str) -> None:
        if self.latency.get(operation):
            await self.clock.sleep(self.latency[operation])

    def _deliverable(self, max_messages: int) -> list[Stored]:
        now = self.clock.now
        if not self.fifo:
            return [s for s in self.stored if s.visible_at <= now][:max_messages]
        chosen: list[Stored] = []
        blocked: set[str | None] = set()
        for stored in self.stored:  # oldest first: a hidden head blocks the rest of its group
            if stored.group_id in blocked:
                continue
            if stored.visible_at > now:
                blocked.add(stored.group_id)
                continue
            chosen.append(stored)
        return chosen[:max_messages]

    async def receive(self, max_messages: int, wait_seconds: int) -> list[Message]:
        self.receives.append((max_messages, self.clock.now))
        if self.on_receive is not None:
            self.on_receive(max_messages)
        self.open_receives += 1
        self.most_open_receives = max(self.most_open_receives, self.open_receives)
        try:
            await self._latency("receive")
            return await self._answer(max_messages, wait_seconds)
        finally:
            self.open_receives -= 1

    async def _answer(self, max_messages: int, wait_seconds: int) -> list[Message]:
        if self.receive_errors:
            raise self.receive_errors.pop(0)
        if self.wedge_receives_after is not None and len(self.receives) > self.wedge_receives_after:
            await asyncio.get_running_loop().create_future()  # a receive that never answers
        give_up = self.clock.now + wait_seconds
        while not (chosen := self._deliverable(max_messages)) and self.clock.now < give_up:
            await self.clock.sleep(min(1.0, give_up - self.clock.now))  # a long poll, 1 s grain
        for stored in chosen:
            stored.receive_count += 1
            stored.receipt_handle = f"{stored.message_id}#{stored.receive_count}"
            stored.visible_at = self.clock.now + self.visibility_timeout
        return [
            Message(
                s.message_id,
                s.receipt_handle,
                s.body,
                s.receive_count,
                0,
                s.group_id,
                dict(s.attributes),
            )
            for s in chosen
        ]

    def _current(self, message: Message) -> Stored:
        for stored in self.stored:
            if stored.receipt_handle == message.receipt_handle:
                return stored
        raise LookupError(f"ReceiptHandleIsInvalid: {message.receipt_handle}")

    async def delete(self, message: Message) -> None:
        stored = self._current(message)
        self.stored.remove(stored)
        self.deleted.append(message.message_id)
        await self._latency("delete")

    async def send(
        self, body: str, attributes: dict[str, str], *, delay: int, like: Message
    ) -> None:
        message_id = self.put(body, like.group_id, delay)
        stored = self.get(message_id)
        assert stored is not None
        stored.attributes = dict(attributes)
        await self._latency("send")

    async def dead_letter(self, body: str, attributes: dict[str, str], *, like: Message) -> None:
        self.dlq.append((body, dict(attributes)))  # accepted; the answer may still be on its way
        await self._latency("dead_letter")

    async def change_visibility(self, message: Message, seconds: int) -> None:
        stored = self._current(message)
        stored.visible_at = self.clock.now + seconds
        self.visibility.append((message.message_id, seconds, self.clock.now))
        await self._latency("change_visibility")

    async def room(self, body: str, *, dead_letter: bool = False) -> int:
        return self.max_message_bytes - len(body.encode())

    async def depth(self) -> QueueDepth:
        now = self.clock.now
        visible = sum(1 for s in self.stored if s.visible_at <= now)
        in_flight = sum(1 for s in self.stored if s.visible_at > now and s.receive_count)
        delayed = len(self.stored) - visible - in_flight
        return QueueDepth(visible, in_flight, delayed)

    async def flush(self) -> None:
        self.flushes += 1


def body_for(user: str) -> str:
    """A valid command whose executor behaviour is looked up by its ``user``."""
    return json.dumps(developer(DeveloperUserIdentifier=user))


@dataclass
class Plan:
    """What the executor does with one user's command: wait, then fail or succeed."""

    seconds: float = 1.0
    fail: list[errors.UnlinkError] = field(default_factory=list)
    wait_to_start: asyncio.Event | None = None  # held before the call goes out (a limiter)


@dataclass
class TimedExecutor:
    """An `Executor` whose calls take virtual time and whose every start and finish is logged."""

    clock: VirtualClock
    plans: dict[str, Plan] = field(default_factory=dict)
    started: list[tuple[str, float]] = field(default_factory=list)
    finished: list[tuple[str, float]] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    running: set[str] = field(default_factory=set)
    most_running: int = 0

    async def execute(
        self,
        command: Command,
        on_started: Callable[[], None] | None = None,
        *,
        throttled_before: int = 0,
    ) -> None:
        user = getattr(command, "DeveloperUserIdentifier", "?")
        plan = self.plans.get(user, Plan())
        if plan.wait_to_start is not None:
            await plan.wait_to_start.wait()
        if on_started is not None:
            on_started()
        self.started.append((user, self.clock.now))
        self.running.add(user)
        self.most_running = max(self.most_running, len(self.running))
        try:
            await self.clock.sleep(plan.seconds)
        except asyncio.CancelledError:
            self.cancelled.append(user)
            raise
        finally:
            self.running.discard(user)
        self.finished.append((user, self.clock.now))
        if plan.fail:
            raise plan.fail.pop(0)

    async def is_applied(self, command: Command, since: float = 0.0) -> bool:
        return False
