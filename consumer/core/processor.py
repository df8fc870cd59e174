"""Turns one received message into exactly one outcome: decode, claim, execute, decide.

Nothing here talks to SQS; the router carries the outcome out.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import structlog

from consumer.core import errors
from consumer.core.attributes import ATTEMPTS, DEFERRALS, REDRIVEN, THROTTLES
from consumer.core.commands import Command, UnlinkIdentity
from consumer.core.envelopes import decode
from consumer.core.messages import Message
from consumer.core.outcomes import Ack, Attempts, DeadLetter, Outcome
from consumer.core.policy import RetryPolicy
from consumer.core.ports import DEAD_LETTERED, ClaimState, Executor, IdempotencyStore

log = structlog.get_logger("consumer.core.processor")


def attempts_of(message: Message, fifo: bool) -> Attempts:
    """Counts carried by the message; FIFO retries keep the message, so receives count there."""
    failures = _int(message.attributes.get(ATTEMPTS))
    if fifo:
        failures = max(failures, message.receive_count - 1)
    return Attempts(
        failures=failures,
        throttles=_int(message.attributes.get(THROTTLES)),
        deferrals=_int(message.attributes.get(DEFERRALS)),
    )


def _int(value: str | None) -> int:
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    command: Command | None
    # A dead letter is recorded only once the DLQ has it (see `settle`), so a failed DLQ send
    # can never leave a record that makes the redelivered message look like a duplicate.
    unsettled_key: str | None = None


class Processor:
    """Runs one message's command at most once across the fleet and decides its outcome."""

    def __init__(
        self,
        executor: Executor,
        store: IdempotencyStore,
        policy: RetryPolicy,
        lock_seconds: float,
        fifo: bool = False,
    ) -> None:
        self._executor = executor
        self._store = store
        self._policy = policy
        self._lock_seconds = lock_seconds
        self._fifo = fifo

    def __repr__(self) -> str:
        return f"Processor({self._executor!r}, {self._store!r}, {self._policy!r})"

    async def process(self, message: Message) -> Result:
        attempts = attempts_of(message, self._fifo)
        try:
            command = decode(message.body)
        except errors.MalformedCommand as exc:
            key = "body:" + hashlib.sha256(message.body.encode()).hexdigest()
            outcome = await self._malformed(key, message, exc, attempts)
            return Result(outcome, None, key if isinstance(outcome, DeadLetter) else None)
        structlog.contextvars.bind_contextvars(action=command.action_name())
        key = command.idempotency_key()
        try:
            outcome = await self._run(key, command, message, attempts)
        except errors.UnlinkError as exc:
            return Result(self._policy.decide(exc, attempts), command)
        return Result(outcome, command, key if isinstance(outcome, DeadLetter) else None)

    async def settle(self, result: Result) -> None:
        """Records a dead letter after the DLQ accepted it: duplicates of it are then absorbed."""
        if result.unsettled_key is not None:
            await self._record(result.unsettled_key, result.outcome)

    async def _malformed(
        self, key: str, message: Message, error: errors.MalformedCommand, attempts: Attempts
    ) -> Outcome:
        """Poison pills skip retries; a resent copy of the same bad body is dead-lettered once."""
        redriven = message.attributes.get(REDRIVEN) == "true"
        try:
            claim = await self._store.claim(key, self._lock_seconds, redriven=redriven)
        except errors.UnlinkError:
            claim = None  # dead-letter it all the same: a second copy is better than a lost one
        if claim is not None and claim.state is ClaimState.COMPLETED:
            return Ack("duplicate")
        if claim is not None and claim.state is ClaimState.IN_PROGRESS:
            return self._policy.decide(errors.InProgressElsewhere("copy being handled"), attempts)
        return self._policy.decide(error, attempts)

    async def _run(
        self, key: str, command: Command, message: Message, attempts: Attempts
    ) -> Outcome:
        redriven = message.attributes.get(REDRIVEN) == "true"
        claim = await self._store.claim(key, self._lock_seconds, redriven=redriven)
        if claim.state is ClaimState.COMPLETED:
            return Ack("duplicate")
        if claim.state is ClaimState.IN_PROGRESS:
            raise errors.InProgressElsewhere("another worker holds this command's claim")
        # An earlier attempt may have applied the unlink and died before recording it.
        earlier = (
            message.receive_count > 1
            or attempts.total > 0
            or claim.took_over_stale_lock
            or redriven
        )
        try:
            ack = await self._attempt(command, may_be_applied=earlier)
        except errors.UnlinkError as exc:
            outcome = self._policy.decide(exc, attempts)
            if not isinstance(outcome, DeadLetter):
                await self._record(key, outcome)
            return outcome
        except BaseException:
            await self._record(key, None)
            raise
        await self._record(key, ack)
        return ack

    async def _attempt(self, command: Command, *, may_be_applied: bool) -> Ack:
        try:
            await self._executor.execute(command)
        except (errors.ResourceNotFound, errors.NotAuthorized) as exc:
            # After an applied UnlinkIdentity the removed login's token no longer authorises
            # anything, so its retry meets NotAuthorized rather than ResourceNotFound.
            ambiguous = isinstance(exc, errors.ResourceNotFound) or isinstance(
                command, UnlinkIdentity
            )
            if ambiguous and may_be_applied and await self._verified(command):
                return Ack("already_applied")
            raise
        return Ack("applied")

    async def _verified(self, command: Command) -> bool:
        try:
            return await self._executor.is_applied(command)
        except errors.UnlinkError as exc:
            # Could not look: do not dead-letter on a guess; try the whole command again later.
            raise errors.InternalError(f"verification failed: {exc.code}") from exc

    async def _record(self, key: str, outcome: Outcome | None) -> None:
        """Completes or releases the claim; a store failure here never changes the outcome.

        An unrecorded success is still acknowledged: a duplicate meets the dead lock, waits for it
        to expire, then finds the unlink applied. An unreleased claim simply expires.
        """
        try:
            if isinstance(outcome, Ack):
                await self._store.complete(key, outcome.kind)
            elif isinstance(outcome, DeadLetter):
                # Duplicates of a dead-lettered command are absorbed; a redriven copy claims again.
                await self._store.complete(key, DEAD_LETTERED)
            else:
                await self._store.release(key)
        except errors.UnlinkError as exc:
            log.warning("claim_record_failed", error=exc.code)
