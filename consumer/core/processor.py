"""Turns one received message into exactly one outcome: decode, claim, execute, decide.

Nothing here talks to SQS; the router carries the outcome out. The claim record is the worker's
memory of a command, shared by the fleet through the store: the budget counts (a producer's
attributes cannot set them) and the evidence that an earlier attempt may have reached Cognito
without a definite answer, without which no ResourceNotFound is ever taken for "already applied".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import structlog

from consumer.core import attributes, errors
from consumer.core.breaker import COGNITO_ANSWERED, STORE, HealthGate, dependency_of
from consumer.core.clock import Clock, SystemClock
from consumer.core.commands import Command, UnlinkIdentity
from consumer.core.envelopes import decode
from consumer.core.messages import Message
from consumer.core.outcomes import Ack, Attempts, DeadLetter, Outcome, Release, Retry
from consumer.core.policy import RetryPolicy
from consumer.core.ports import (
    DEAD_LETTERED,
    NO_HISTORY,
    Claim,
    ClaimState,
    Executor,
    History,
    IdempotencyStore,
)
from consumer.core.tracecontext import NO_TRACER, CommandTracer

log = structlog.get_logger("consumer.core.processor")


def own_attempts(carried: attributes.Carried, history: History) -> Attempts:
    """The counts a decision spends from: the budgets are the claim record's, the worker's own,
    so a producer's `unlink-attempts: 999` cannot make a command skip its retries, and a copy
    back from the DLQ (any tool, any attributes) starts afresh. Deferrals spend no budget and
    only pace the next try, so the copy's count is read as it is."""
    return Attempts(history.failures, history.throttles, carried.attempts.deferrals)


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    command: Command | None


class Processor:
    """Runs one message's command at most once across the fleet and decides its outcome."""

    def __init__(
        self,
        executor: Executor,
        store: IdempotencyStore,
        policy: RetryPolicy,
        lock_seconds: float,
        fifo: bool = False,
        gate: HealthGate | None = None,
        clock: Clock | None = None,
        tracer: CommandTracer = NO_TRACER,
    ) -> None:
        self._executor = executor
        self._store = store
        self._policy = policy
        self._lock_seconds = lock_seconds
        self._fifo = fifo
        # Told whether each dependency answered; says whether a failure is the command's own.
        self._gate = gate
        self._clock = clock or SystemClock()
        self._tracer = tracer
        # The claims this worker holds, by the receipt handle of the message that runs them.
        self._held: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"Processor({self._executor!r}, {self._store!r}, {self._policy!r})"

    async def process(
        self, message: Message, on_started: Callable[[], None] | None = None
    ) -> Result:
        """``on_started`` is called once the command's call to Cognito goes out (see `Executor`)."""
        with self._tracer.command(message) as span:
            result = await self._process(message, on_started)
            span.finished(result.outcome, result.command)
            return result

    async def _process(self, message: Message, on_started: Callable[[], None] | None) -> Result:
        trace = message.trace
        if trace is not None:
            # The producer's trace, on every line logged for this message from here on.
            structlog.contextvars.bind_contextvars(trace_id=trace.trace_id)
        carried = attributes.read(message, fifo=self._fifo)
        attempts = own_attempts(carried, NO_HISTORY)
        try:
            command = decode(message.body)
        except errors.MalformedCommand as exc:
            # Poison pills skip retries, and every copy reaches the DLQ: nothing is recorded, so
            # no invalid body is ever acknowledged as the duplicate of another.
            return Result(self._policy.decide(exc, attempts), None)
        structlog.contextvars.bind_contextvars(action=command.action_name())
        if command.command_id is not None:
            structlog.contextvars.bind_contextvars(command_id=command.command_id)
        if self._gate is not None and not self._gate.admits():
            # A dependency is down for everyone: back to the queue, uncharged, untried, and
            # never aged out on the way (its age is the claim record's, not read while paused).
            error = self._gate.last_error() or "dependency_down"
            return Result(self._policy.paused(error, attempts), command)
        key = command.idempotency_key()
        try:
            outcome = await self._run(key, command, message, carried, on_started)
        except errors.UnlinkError as exc:
            # Before the record was read (the claim failed): deferred, never aged out here.
            return Result(self._decide(key, exc, attempts, 0.0), command)
        return Result(outcome, command)

    def _decide(
        self, key: str, error: errors.UnlinkError, attempts: Attempts, age: float
    ) -> Outcome:
        """The policy's verdict, charged only when the failure is the command's own."""
        own = True
        dependency = dependency_of(error)
        if self._gate is not None:
            if dependency is not None:
                own = self._gate.failed(key, dependency, error.code)
            elif isinstance(error, errors.Permanent | errors.Throttled):
                self._gate.answered(key, *COGNITO_ANSWERED)  # Cognito answered, if only "no"
        return self._policy.decide(error, attempts, own=own, age_seconds=age)

    async def _run(
        self,
        key: str,
        command: Command,
        message: Message,
        carried: attributes.Carried,
        on_started: Callable[[], None] | None = None,
    ) -> Outcome:
        claim = await self._store.claim(key, self._lock_seconds)
        if self._gate is not None:
            self._gate.answered(key, STORE)
        if claim.state is ClaimState.COMPLETED:
            return Ack("duplicate")
        if claim.state is ClaimState.IN_PROGRESS:
            raise errors.InProgressElsewhere("another worker holds this command's claim")
        history = self._evidence(claim, message)
        attempts = own_attempts(carried, history)
        send = _Send(self._clock, on_started)
        try:
            with self._holding(message, key):
                ack = await self._attempt(command, history, send)
        except errors.UnlinkError as exc:
            if not await self._still_ours(key):
                # Another worker took the claim over (this one froze past its lock): the
                # record's holder decides; the message goes back and its next receive finds
                # the record's outcome. Nothing is charged, released or dead-lettered here.
                log.warning("claim_lost", error=exc.code)
                return Release(0)
            age = self._clock.time() - (history.first_seen or self._clock.time())
            outcome = self._decide(key, exc, attempts, age)
            await self._release(key, _after(history, exc, outcome, send), outcome)
            return outcome
        except BaseException:
            # Cancelled (a shutdown's grace ran out): a call that went out may have applied.
            since = history.uncertain_since or send.at
            await asyncio.shield(self._release(key, _with(history, since), None))
            raise
        if self._gate is not None:
            self._gate.answered(key, *COGNITO_ANSWERED)
        await self._complete(key, ack)
        return ack

    def _evidence(self, claim: Claim, message: Message) -> History:
        """The record's history, with this life's first claim; with no history at all (an
        in-memory store that restarted) a copy SQS handed out before may have died in the
        middle of its call. On FIFO queues every retry is such a redelivery, so there only the
        record speaks."""
        history = claim.history
        if history.first_seen is None:
            history = replace(history, first_seen=self._clock.time())
        if claim.history == NO_HISTORY and not self._fifo and message.receive_count > 1:
            return replace(history, uncertain_since=message.sent_timestamp_ms / 1000)
        return history

    async def _still_ours(self, key: str) -> bool:
        """Whether this worker still holds the claim (a renewal says so); a store that cannot
        answer is taken at its word of before: the lock was ours when the call went out."""
        try:
            return await self._store.renew(key, self._lock_seconds)
        except errors.UnlinkError:
            return True

    async def renew(self, message: Message) -> None:
        """Renews the lock of the claim ``message``'s command holds, if it holds one.

        The visibility keeper calls this for each message it extends, so a lock lives as long as
        its message stays hidden and goes stale soon after its worker dies. A store that cannot
        answer raises `UnlinkError`, and the keeper tries again on its next pass.
        """
        key = self._held.get(message.receipt_handle)
        if key is None:
            return
        # Taken over (this worker froze past its lock): a failed call finds out through
        # `_still_ours`; a command that finished meanwhile was popped already and says nothing.
        lost = not await self._store.renew(key, self._lock_seconds)
        if lost and self._held.pop(message.receipt_handle, None) is not None:
            log.warning("claim_lost", message_id=message.message_id)

    @contextlib.contextmanager
    def _holding(self, message: Message, key: str) -> Iterator[None]:
        """Marks the claim as held while the command runs (a long wait for the limiter
        included), so `renew` keeps its lock alive and no duplicate takes it over as stale."""
        self._held[message.receipt_handle] = key
        try:
            yield
        finally:
            self._held.pop(message.receipt_handle, None)

    async def _attempt(self, command: Command, history: History, send: _Send) -> Ack:
        try:
            await self._executor.execute(command, send, throttled_before=history.throttles)
        except (errors.ResourceNotFound, errors.NotAuthorized) as exc:
            # An applied unlink answers ResourceNotFound when repeated; an applied UnlinkIdentity
            # also voids the removed login's token, so its repeat may meet NotAuthorized instead.
            ambiguous = isinstance(exc, errors.ResourceNotFound) or isinstance(
                command, UnlinkIdentity
            )
            since = history.uncertain_since
            if since is None and exc.answer_lost:
                since = send.at  # this very call's first attempt lost its answer
                send.answer_lost = True  # kept in the record should the look-up fail
            if ambiguous and since is not None and await self._verified(command, since):
                return Ack("already_applied")
            raise
        return Ack("applied")

    async def _verified(self, command: Command, since: float) -> bool:
        try:
            return await self._executor.is_applied(command, since)
        except errors.Throttled:
            raise  # a throttle, with its own budget: the look-up runs again with the retry
        except errors.UnlinkError as exc:
            # Could not look: do not dead-letter on a guess; try the whole command again later,
            # on its own budget (the look-up was this command's alone).
            raise errors.LookupFailed(f"verification failed: {exc.code}") from exc

    async def _complete(self, key: str, ack: Ack) -> None:
        """Records the effect; a store failure here never changes the outcome.

        An unrecorded success is still acknowledged: a duplicate meets the dead lock, waits for it
        to expire, then finds the unlink applied (the stale lock is its evidence).
        """
        try:
            await self._store.complete(key, ack.kind)
        except errors.UnlinkError as exc:
            log.warning("claim_record_failed", error=exc.code)

    async def _release(self, key: str, history: History, outcome: Outcome | None) -> None:
        """Gives the claim back with what the next attempt must know; an unreleased claim
        simply expires (and then counts as an uncertain attempt)."""
        label = DEAD_LETTERED if isinstance(outcome, DeadLetter) else None
        try:
            await self._store.release(key, history, label)
        except errors.UnlinkError as exc:
            log.warning("claim_record_failed", error=exc.code)


@dataclass(slots=True)
class _Send:
    """Notes when the call went out (the limiter let it go) and passes the news on; and
    whether an answer of this call was lost (an earlier HTTP try of it went out)."""

    clock: Clock
    then: Callable[[], None] | None
    at: float | None = None
    answer_lost: bool = False

    def __call__(self) -> None:
        self.at = self.clock.time()
        if self.then is not None:
            self.then()


def _with(history: History, since: float | None) -> History:
    return replace(history, uncertain_since=since)


def _after(history: History, error: errors.UnlinkError, outcome: Outcome, send: _Send) -> History:
    """What the next attempt finds: the counts spent, and the evidence kept or gained.

    A 5xx, a timeout or a dropped connection after the request went out may have applied it;
    a throttle, a refusal or a connection that never opened did nothing. An answer lost on the
    way (botocore tried again) is evidence too, even when the look-up that would have proved
    it failed. A dead letter leaves a fresh budget and a new life to whatever brings the
    command back, and keeps the evidence.
    """
    since = history.uncertain_since
    lost = isinstance(error, errors.Transient) and not isinstance(error, errors.NotSent)
    if since is None and send.at is not None and (lost or error.answer_lost or send.answer_lost):
        since = send.at
    if isinstance(outcome, Retry):
        counts = outcome.attempts
        return History(counts.failures, counts.throttles, since, history.first_seen)
    if isinstance(outcome, DeadLetter):
        return History(uncertain_since=since)
    return _with(history, since)
