"""The loop: poll within capacity, run each message, route its outcome, shut down cleanly.

Shutdown is a state: `stop()` ends polling; commands already calling Cognito get the grace period
to finish; messages not yet started go straight back to the queue (visibility 0); acks are flushed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from consumer.aws.cognito import call_started
from consumer.core.clock import Clock
from consumer.core.messages import Message, MessageQueue
from consumer.core.observer import NullObserver, Observer, pseudonym
from consumer.core.outcomes import DeadLetter, Outcome, Release, Retry, outcome_label
from consumer.core.processor import Processor, Result
from consumer.core.router import Router

log = structlog.get_logger("consumer.core.worker")


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    concurrency: int = 32
    wait_time_seconds: int = 20
    visibility_timeout_seconds: int = 60
    grace_period_seconds: float = 25.0
    receive_backoff_max_seconds: float = 60.0
    outage_log_interval_seconds: float = 60.0


@dataclass(slots=True)
class _InFlight:
    message: Message
    task: asyncio.Task[None] | None = None
    started: bool = False
    visible_until: float = 0.0


@dataclass(slots=True)
class WorkerStats:
    outcomes: Counter[str] = field(default_factory=Counter)
    received: int = 0
    receive_calls: int = 0


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
    ) -> None:
        self._queue = queue
        self._processor = processor
        self._router = router
        self._config = config
        self._clock = clock
        self._observer = observer or NullObserver()
        self._capacity = capacity or (lambda: config.concurrency)
        self._stopping = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._in_flight: dict[str, _InFlight] = {}
        self._groups: dict[str, asyncio.Future[bool]] = {}
        self.stats = WorkerStats()
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
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            await self._poll(until_idle)
            await self._drain()
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            await self._queue.flush()
        return self.stats

    # -- polling ---------------------------------------------------------------------------

    async def _poll(self, until_idle: bool) -> None:
        failures = 0
        last_outage_log = -1e9
        suppressed = 0
        while not self._stopping.is_set():
            self.loop_heartbeat_at = self._clock.monotonic()
            capacity = self._capacity()
            free = capacity - len(self._in_flight)
            # Receive full batches: wait until ten slots (or the whole capacity) are free, unless
            # idle. Half-empty receives would multiply the SQS requests per command.
            if free <= 0 or (self._in_flight and free < min(10, capacity)):
                self._slot_freed.clear()
                await self._wait_for(self._slot_freed)
                continue
            try:
                messages = await self._receive(min(10, free))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                self._observer.receive_failed()
                now = self._clock.monotonic()
                if now - last_outage_log >= self._config.outage_log_interval_seconds:
                    log.error(
                        "receive_failed",
                        error=type(exc).__name__,
                        detail=str(exc)[:200],
                        consecutive=failures,
                        suppressed=suppressed,
                    )
                    last_outage_log, suppressed = now, 0
                else:
                    suppressed += 1
                delay = min(self._config.receive_backoff_max_seconds, 0.5 * 2 ** min(failures, 10))
                await self._wait_for(self._stopping, seconds=delay)
                continue
            if failures:
                log.info("receive_recovered", after_failures=failures)
                failures = 0
            if messages is None:  # stopped while waiting
                break
            if self._stopping.is_set():
                await self._give_back(messages)
                break
            for message in messages:
                self._start(message)
            if not messages and until_idle and await self._idle():
                break

    async def _receive(self, count: int) -> list[Message] | None:
        """A long poll that a stop interrupts."""
        self.stats.receive_calls += 1
        receive = asyncio.ensure_future(self._queue.receive(count, self._config.wait_time_seconds))
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({receive, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not receive.done():
            receive.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receive
            return None
        messages = receive.result()
        self.last_receive_at = self._clock.monotonic()
        self.stats.received += len(messages)
        self._observer.received(len(messages))
        return messages

    async def _idle(self) -> bool:
        if self._in_flight:
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

    async def _wait_for(self, event: asyncio.Event, seconds: float | None = None) -> None:
        waits = {asyncio.ensure_future(event.wait()), asyncio.ensure_future(self._stopping.wait())}
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    # -- running one message ---------------------------------------------------------------

    def _start(self, message: Message) -> None:
        entry = _InFlight(
            message,
            visible_until=self._clock.monotonic() + self._config.visibility_timeout_seconds,
        )
        self._in_flight[message.receipt_handle] = entry
        previous: asyncio.Future[bool] | None = None
        done: asyncio.Future[bool] | None = None
        if message.group_id is not None:
            previous = self._groups.get(message.group_id)
            done = asyncio.get_running_loop().create_future()
            self._groups[message.group_id] = done
        entry.task = asyncio.create_task(self._handle(entry, previous, done))
        self._observer.in_flight(len(self._in_flight))

    async def _handle(
        self,
        entry: _InFlight,
        previous: asyncio.Future[bool] | None,
        done: asyncio.Future[bool] | None,
    ) -> None:
        message = entry.message
        started_at = self._clock.monotonic()
        succeeded = False
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(message_id=message.message_id)
        token = call_started.set(lambda: setattr(entry, "started", True))
        try:
            # FIFO: one command of a group at a time, in order; a failure holds back the rest.
            if previous is not None and not await previous:
                await self._router.apply(message, Release(0))
                return
            result = await self._processor.process(message)
            await self._router.apply(message, result.outcome)
            await self._processor.settle(result)
            succeeded = not isinstance(result.outcome, Retry | Release)
            self._report(result, self._clock.monotonic() - started_at, message)
        except asyncio.CancelledError:
            # Shut down before finishing: hand the message back for another worker, now.
            await asyncio.shield(self._release(message))
            self.stats.outcomes["released"] += 1
            raise
        except Exception as exc:
            # A bug or an SQS failure while routing: the message reappears after its visibility.
            log.exception("message_failed", error=type(exc).__name__)
            self.stats.outcomes["unrouted"] += 1
        finally:
            call_started.reset(token)
            if done is not None:
                done.set_result(succeeded)
                if message.group_id is not None and self._groups.get(message.group_id) is done:
                    del self._groups[message.group_id]
            self._in_flight.pop(message.receipt_handle, None)
            self._observer.in_flight(len(self._in_flight))
            self._slot_freed.set()

    async def _release(self, message: Message) -> None:
        try:
            await self._router.apply(message, Release(0))
            await self._queue.flush()
        except Exception as exc:
            log.warning("release_failed", error=type(exc).__name__)

    def _report(self, result: Result, seconds: float, message: Message) -> None:
        outcome: Outcome = result.outcome
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
            fields["delay_s"] = outcome.delay_seconds
            attempt = outcome.attempts.total
        else:
            attempt = message.receive_count
        command = result.command
        if command is not None and hasattr(command, "DeveloperUserIdentifier"):
            fields["user"] = pseudonym(command.DeveloperUserIdentifier)
        action = command.action_name() if command is not None else "unknown"
        log.info(
            "command",
            outcome=label,
            error=error,
            attempt=attempt,
            duration_ms=round(seconds * 1000, 1),
            **fields,
        )
        self._observer.finished(action, label, error, seconds)

    # -- visibility and shutdown -----------------------------------------------------------

    async def _heartbeat(self) -> None:
        """Extends the visibility of commands still running before it runs out."""
        visibility = self._config.visibility_timeout_seconds
        while True:
            await self._clock.sleep(max(1.0, visibility / 6))
            self.loop_heartbeat_at = self._clock.monotonic()
            now = self._clock.monotonic()
            due = [e for e in self._in_flight.values() if e.visible_until - now < visibility / 2]
            for entry in due:
                entry.visible_until = now + visibility
            results = await asyncio.gather(
                *(self._queue.change_visibility(e.message, visibility) for e in due),
                return_exceptions=True,
            )
            failed = [r for r in results if isinstance(r, BaseException)]
            if failed:
                log.warning("visibility_extension_failed", count=len(failed))

    async def _drain(self) -> None:
        tasks = {e.task for e in self._in_flight.values() if e.task is not None}
        if not tasks:
            return
        for entry in list(self._in_flight.values()):
            if not entry.started and entry.task is not None:
                entry.task.cancel()  # not yet calling Cognito: give it back now
        _, pending = await asyncio.wait(tasks, timeout=self._config.grace_period_seconds)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("grace_period_expired", released=len(pending))
            await asyncio.gather(*pending, return_exceptions=True)
