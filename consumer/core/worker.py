"""The loop: poll within capacity, run each message, route its outcome, shut down cleanly.

Shutdown is a state: `stop()` ends polling; commands already calling Cognito get the grace period
to finish; messages not yet started go straight back to the queue (visibility 0); acks are flushed.
Once a message's outcome is decided, carrying it out (the SQS calls, then the claim record) is
never cancelled, by the drain or by the grace period: a DLQ copy sent and then "released" would
come back and be dead-lettered twice.

The loop's collaborators have one job each: `GroupSequencer` (FIFO order), `VisibilityKeeper`
(messages stay hidden while they run), `Reporter` (logs, stats, metrics) and `ReceiveBackoff`
(riding out a queue that does not answer). "The call went out" is `Processor.process`'s
``on_started`` callback, which the executor calls once its rate-limiter wait is over.
While a `HealthGate` (breaker.py) says a dependency is down for everyone, the loop receives
nothing but one probe at a time.

While the queue has a backlog (the last receive came back full) and twenty slots are free, a
second long poll overlaps the first: one worker would otherwise start at most ten commands per
receive's round trip, whatever its quota. It stops at the first batch that is not full, so an idle
worker keeps one long poll open, not two.

Liveness (`loop_heartbeat_at`) is the poll loop's own progress: it ticks on every turn of the
loop and, while the loop waits on purpose (full, backing off, paused), on every tick of that wait.
Every wait of the loop goes through `_wait`; a loop stuck anywhere else goes stale.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from consumer.core.breaker import HealthGate
from consumer.core.clock import Clock
from consumer.core.messages import Message, MessageQueue
from consumer.core.observer import Observer
from consumer.core.outcomes import Outcome, Release, Retry
from consumer.core.processor import Processor, Result
from consumer.core.receive_backoff import ReceiveBackoff
from consumer.core.reporting import Reporter, WorkerStats
from consumer.core.router import Router
from consumer.core.sequencing import GroupSequencer, Turn
from consumer.core.visibility import VisibilityKeeper

__all__ = ["Worker", "WorkerConfig", "WorkerStats"]

log = structlog.get_logger("consumer.core.worker")


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    concurrency: int = 32
    wait_time_seconds: int = 20
    visibility_timeout_seconds: int = 60
    grace_period_seconds: float = 25.0
    receive_backoff_max_seconds: float = 60.0
    outage_log_interval_seconds: float = 60.0
    # How often a loop that waits on purpose still ticks its liveness.
    liveness_tick_seconds: float = 5.0
    # Long polls at once while the queue has a backlog (see the module docstring).
    receives: int = 2


@dataclass(slots=True)
class _InFlight:
    message: Message
    task: asyncio.Task[None] | None = None
    started: bool = False  # the Cognito call went out: a drain lets it finish within the grace
    routing: asyncio.Task[None] | None = None  # set once the outcome is decided
    succeeded: bool = False

    def mark_started(self) -> None:
        self.started = True


class Worker:
    """One worker process's loop; the composition root builds its collaborators."""

    def __init__(
        self,
        queue: MessageQueue,
        processor: Processor,
        router: Router,
        config: WorkerConfig,
        clock: Clock,
        observer: Observer | None = None,
        capacity: Callable[[], int] | None = None,
        pseudonym: Callable[[str], str] | None = None,
        gate: HealthGate | None = None,
    ) -> None:
        self._queue = queue
        self._processor = processor
        self._router = router
        self._config = config
        self._clock = clock
        self._capacity = capacity or (lambda: config.concurrency)
        self.gate = gate  # a dependency down for everyone pauses receiving (breaker.py)
        self._report = Reporter(observer, pseudonym, fifo=queue.is_fifo)
        self._sequencer = GroupSequencer()
        # Claim locks are renewed on the keeper's pass, with the messages they belong to.
        self._keeper = VisibilityKeeper(
            queue, clock, config.visibility_timeout_seconds, processor.renew
        )
        self._backoff = ReceiveBackoff(
            clock, config.receive_backoff_max_seconds, config.outage_log_interval_seconds
        )
        self._stopping = asyncio.Event()
        # One event per poll loop, all set when room may have changed: a loop clears only its
        # own, so it never swallows another's wake-up (the other then waits for good).
        self._rooms = [asyncio.Event() for _ in range(max(1, config.receives))]
        self._slot_freed = self._rooms[0]  # the first loop's
        self._in_flight: dict[str, _InFlight] = {}
        self._reserved = 0  # slots held for the batches of receives still out
        self._backlog = False  # the last receive came back full
        self.stats = self._report.stats
        self.last_receive_at: float | None = None
        self.loop_heartbeat_at: float = clock.monotonic()

    def __repr__(self) -> str:
        return f"Worker({self._queue!r}, in_flight={len(self._in_flight)}, {self._config})"

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def stop(self) -> None:
        """Begin a graceful shutdown (SIGTERM)."""
        self._stopping.set()

    async def run(self, *, until_idle: bool = False) -> WorkerStats:
        """Runs until `stop()`, or with ``until_idle`` until the queue holds nothing at all."""
        keeper = asyncio.create_task(self._keeper.run())
        try:
            await self._poll(until_idle)
            await self._drain()
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            await self._queue.flush()
            if self.gate is not None:
                self.gate.finish()  # a recovery not yet reported as lasting is reported now
        return self.stats

    # -- polling ---------------------------------------------------------------------------

    def _tick(self) -> None:
        self.loop_heartbeat_at = self._clock.monotonic()

    async def _poll(self, until_idle: bool) -> None:
        polled = asyncio.Event()
        overlaps = [asyncio.create_task(self._overlap(polled, room)) for room in self._rooms[1:]]
        try:
            await self._poll_first(until_idle)
        finally:
            polled.set()
            await asyncio.gather(*overlaps, return_exceptions=True)

    def _free(self) -> int:
        return self._capacity() - len(self._in_flight) - self._reserved

    async def _poll_first(self, until_idle: bool) -> None:
        while not self._stopping.is_set():
            self._tick()
            if self.gate is not None and self.gate.paused:
                if await self._hold_for_probe(self.gate):
                    continue
                free = 1  # half-open: the next command received is the probe
            else:
                free = self._free()
                # Receive full batches: wait until ten slots (or the whole capacity) are free,
                # unless idle. Half-empty receives would multiply the SQS requests per command.
                busy = self._in_flight or self._reserved
                if free <= 0 or (busy and free < min(10, self._capacity())):
                    self._slot_freed.clear()
                    await self._wait(self._slot_freed)
                    continue
            try:
                messages = await self._receive(min(10, free))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._report.observer.receive_failed()
                await self._wait(seconds=self._backoff.failed(exc))
                continue
            if messages is None:  # stopped while waiting
                break
            self._backoff.succeeded()
            if not await self._take(messages):
                break
            if not messages and until_idle and await self._idle():
                break

    def _room_changed(self) -> None:
        for room in self._rooms:
            room.set()

    async def _overlap(self, polled: asyncio.Event, room: asyncio.Event) -> None:
        """A further long poll while the queue has a backlog and a full batch has room.

        It never backs off or probes on its own (the first loop does), and its waits do not
        tick the loop's liveness: a wedged first receive still goes stale.
        """
        while not self._stopping.is_set() and not polled.is_set():
            paused = self.gate is not None and self.gate.paused
            if paused or not self._backlog or self._free() < 10:
                room.clear()
                await self._wait(room, until=polled, tick=False)
                continue
            try:
                messages = await self._receive(10)
            except asyncio.CancelledError:
                raise
            except Exception:
                self._report.observer.receive_failed()
                self._backlog = False  # the first loop backs off and finds out
                continue
            if messages is None or not await self._take(messages):
                break

    async def _take(self, messages: list[Message]) -> bool:
        """Starts a received batch; False (and the batch handed back) once stopping."""
        if self._stopping.is_set():
            await self._give_back(messages)
            return False
        for message in messages:
            self._start(message)
        return True

    async def _hold_for_probe(self, gate: HealthGate) -> bool:
        """While a dependency is down: waits and answers True, or False when a probe may go.

        Nothing is received until the probe is due, then one message at a time once nothing is
        in flight, so a paused worker costs a sleep, not a receive storm.
        """
        wait = gate.probe_in()
        if wait > 0:
            await self._wait(seconds=wait)
            return True
        if self._in_flight:  # the last probe, or a command from before the trip, still runs
            self._slot_freed.clear()
            await self._wait(self._slot_freed)
            return True
        return False

    async def _receive(self, count: int) -> list[Message] | None:
        """A long poll that a stop interrupts; its batch's slots are held while it is out."""
        self._report.receiving()
        self._reserved += count
        receive = asyncio.ensure_future(self._queue.receive(count, self._config.wait_time_seconds))
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({receive, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            self._reserved -= count
            self._room_changed()  # another loop may receive now
        if not receive.done():
            receive.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receive
            return None
        self._backlog = False
        messages = receive.result()  # raises the receive's error
        self._backlog = len(messages) == count
        self.last_receive_at = self._clock.monotonic()
        self._report.received(len(messages))
        return messages

    async def _idle(self) -> bool:
        if self._in_flight or self._reserved:
            return False
        try:
            depth = await self._queue.depth()
        except Exception:
            return False
        return depth.empty

    async def _give_back(self, messages: list[Message]) -> None:
        await asyncio.gather(
            *(self._router.apply(m, Release(0)) for m in messages), return_exceptions=True
        )

    async def _wait(
        self,
        event: asyncio.Event | None = None,
        seconds: float | None = None,
        *,
        until: asyncio.Event | None = None,
        tick: bool = True,
    ) -> None:
        """Until ``event`` (or ``until``), a stop or ``seconds``; ticks liveness all along (see
        the docstring) unless told not to."""
        deadline = None if seconds is None else self._clock.monotonic() + seconds
        events = [e for e in (event, until) if e is not None]
        while not self._stopping.is_set() and not any(e.is_set() for e in events):
            step = self._config.liveness_tick_seconds
            if deadline is not None:
                step = min(step, deadline - self._clock.monotonic())
                if step <= 0:
                    return
            waits = {
                asyncio.ensure_future(self._stopping.wait()),
                asyncio.ensure_future(self._clock.sleep(step)),
                *(asyncio.ensure_future(e.wait()) for e in events),
            }
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()
            if tick:
                self._tick()

    # -- running one message ---------------------------------------------------------------

    def _start(self, message: Message) -> None:
        entry = _InFlight(message)
        self._in_flight[message.receipt_handle] = entry
        self._keeper.track(message)
        # Group order is a FIFO queue's property: on a standard queue a group is a fair queue's
        # tenant, which changes nothing in how a command runs.
        turn = self._sequencer.enter(message.group_id if self._queue.is_fifo else None)
        entry.task = asyncio.create_task(self._handle(entry, turn))
        self._report.in_flight(len(self._in_flight))

    async def _handle(self, entry: _InFlight, turn: Turn) -> None:
        message = entry.message
        started_at = self._clock.monotonic()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(message_id=message.message_id)
        try:
            # FIFO: one command of a group at a time, in order; a failure holds back the rest.
            if not await turn.proceed():
                await self._carry_out(entry, Release(0), None, started_at)
                return
            result = await self._processor.process(message, on_started=entry.mark_started)
            await self._carry_out(entry, result.outcome, result, started_at)
        except asyncio.CancelledError:
            if entry.routing is None:
                # Shut down before its outcome was decided: hand it back for another worker, now.
                await asyncio.shield(self._release(message))
                self._report.released()
            raise
        except Exception as exc:
            self._report.unrouted(exc)
        finally:
            turn.leave(entry.succeeded)
            self._keeper.forget(message)
            self._in_flight.pop(message.receipt_handle, None)
            self._report.in_flight(len(self._in_flight))
            self._room_changed()

    async def _carry_out(
        self, entry: _InFlight, outcome: Outcome, result: Result | None, started_at: float
    ) -> None:
        """Routes a decided outcome to the end, even if this task is cancelled meanwhile."""
        entry.routing = asyncio.create_task(self._route(entry, outcome, result, started_at))
        routing = entry.routing
        try:
            await asyncio.shield(routing)
        except asyncio.CancelledError:
            await asyncio.wait({routing})  # let it land, then honour the cancellation
            if not routing.cancelled() and (error := routing.exception()) is not None:
                self._report.unrouted(error)
            raise

    async def _route(
        self, entry: _InFlight, outcome: Outcome, result: Result | None, started_at: float
    ) -> None:
        message = entry.message
        if isinstance(outcome, Release | Retry):
            # These may set the message's visibility themselves (a retry kept in place): no
            # extension may land after them.
            await self._keeper.hand_back(message)
        await self._router.apply(message, outcome)
        if result is None:
            return
        entry.succeeded = not isinstance(outcome, Retry | Release)
        self._report.finished(result, self._clock.monotonic() - started_at, message)

    async def _release(self, message: Message) -> None:
        try:
            await self._keeper.hand_back(message)
            await self._router.apply(message, Release(0))
            await self._queue.flush()
        except Exception as exc:
            log.warning("release_failed", error=type(exc).__name__)

    # -- shutdown --------------------------------------------------------------------------

    async def _drain(self) -> None:
        entries = [e for e in self._in_flight.values() if e.task is not None]
        if not entries:
            return
        for entry in entries:
            if not entry.started and entry.routing is None and entry.task is not None:
                entry.task.cancel()  # not yet calling Cognito: give it back now
        tasks = {e.task for e in entries if e.task is not None}
        grace = asyncio.ensure_future(self._clock.sleep(self._config.grace_period_seconds))
        pending: set[asyncio.Future[None]] = set(tasks)
        try:
            while pending and not grace.done():
                _, pending = await asyncio.wait(
                    {*pending, grace}, return_when=asyncio.FIRST_COMPLETED
                )
                pending.discard(grace)
        finally:
            grace.cancel()
        # Past the grace: give back what is still running, but let decided outcomes land.
        expired = [
            e for e in entries if e.task is not None and not e.task.done() and e.routing is None
        ]
        for entry in expired:
            if entry.task is not None:
                entry.task.cancel()
        if expired:
            log.warning("grace_period_expired", released=len(expired))
        await asyncio.gather(*tasks, return_exceptions=True)
