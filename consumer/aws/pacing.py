"""Every HTTP attempt of an unlink call goes through the rate limiter and reports throttling to it.

botocore retries a failed unlink once (`cognito_config`). Without these hooks that retry would
leave unpaced, and a throttle botocore absorbed would never reach the limiter: a fleet would keep
overshooting the quota as long as second attempts got through. The executor paces each call's
first attempt; `before-send` paces the retries; `response-received` reports each throttled
attempt, retried or not, and marks a call one of whose attempts lost its answer (a 5xx, a timeout
or dropped connection after sending): its final answer, a ResourceNotFound say, may then be the
answer to an unlink that attempt already applied. The executor learns both through `call`:
it says whether the command was throttled before, and gets back what the attempts told.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Final

import botocore.exceptions

from consumer.answers import is_throttle
from consumer.core.ports import RateLimiter

UNLINK_OPERATIONS: Final = ("UnlinkDeveloperIdentity", "UnlinkIdentity")
SENT_AT: Final = "unlink_sent_at"  # in botocore's per-call context: when this attempt left
LOST: Final = "unlink_answer_lost"  # in the per-call context: an attempt so far lost its answer


@dataclass(slots=True)
class Attempts:
    """One call's HTTP attempts as the hooks saw them, returned to the caller by `call`.

    ``repeated``: the command was throttled on an earlier receive (the caller says so), so a
    throttle of this call may be the command's own (a poisoned target), not the quota's.
    ``lost_before``: an attempt before the one that ended the call lost its answer (a 5xx, a
    timeout or dropped connection after sending): the final answer, a ResourceNotFound say, may
    be the answer to an unlink that attempt already applied.
    """

    repeated: bool = False
    lost_before: bool = False


class AttemptPacing:
    """botocore event handlers that tie each unlink attempt of one client to one limiter."""

    def __init__(
        self,
        limiter: RateLimiter,
        now: Callable[[], float] = time.monotonic,
        outside: Callable[[], AbstractAsyncContextManager[None]] | None = None,
    ) -> None:
        self._limiter = limiter
        self._now = now
        # Where a retry waits for its slot: outside its call's timeout (`Deadlines.outside`).
        self._outside = outside or contextlib.nullcontext
        # The calls in flight, by the task that makes each (botocore runs its hooks there).
        self._calls: dict[asyncio.Task[Any], Attempts] = {}

    def register(self, client: Any, operations: tuple[str, ...] = UNLINK_OPERATIONS) -> None:
        """Hooks the ``operations`` of ``client`` (each limiter paces its own operations)."""
        service = client.meta.service_model.service_id.hyphenize()
        events = client.meta.events
        for operation in operations:
            events.register(f"before-send.{service}.{operation}", self.before_send)
            events.register(f"response-received.{service}.{operation}", self.response_received)

    @contextlib.contextmanager
    def call(self, *, repeated: bool = False) -> Iterator[Attempts]:
        """The current task's call made inside: what its attempts told, once it has ended."""
        attempts = Attempts(repeated)
        task = asyncio.current_task()
        if task is None:
            yield attempts
            return
        self._calls[task] = attempts
        try:
            yield attempts
        finally:
            self._calls.pop(task, None)

    def _attempts(self) -> Attempts:
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no event loop: a call outside `call`
            task = None
        return self._calls.get(task, Attempts()) if task is not None else Attempts()

    async def before_send(self, request: Any = None, **_: Any) -> None:
        """A retry waits for its slot like a first attempt; returns None so the request is sent."""
        context = getattr(request, "context", None)
        if not isinstance(context, dict):
            return
        if context.get("retries", {}).get("attempt", 1) > 1:
            async with self._outside():
                await self._limiter.acquire()
        context[SENT_AT] = self._now()

    def response_received(
        self,
        parsed_response: object = None,
        context: dict[str, Any] | None = None,
        exception: object = None,
        **_: Any,
    ) -> None:
        sent_at = (context or {}).get(SENT_AT)
        sent_at = sent_at if isinstance(sent_at, float) else None
        if sent_at is not None:
            self._limiter.on_answer(self._now() - sent_at)
        attempts = self._attempts()
        if is_throttle(parsed_response):
            self._limiter.on_throttle(sent_at, repeated=attempts.repeated)
        if context is None:
            return
        # This attempt may be the last: what the ones before it lost is what the call reports.
        attempts.lost_before = bool(context.get(LOST))
        if _lost_answer(parsed_response, exception):
            context[LOST] = True


def _lost_answer(parsed_response: object, exception: object) -> bool:
    if exception is not None:
        # A refused or timed-out connect never sent the request; anything else may have.
        return not isinstance(exception, botocore.exceptions.EndpointConnectionError)
    if not isinstance(parsed_response, dict):
        return False
    status = parsed_response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return isinstance(status, int) and status >= 500 and not is_throttle(parsed_response)


class Deadlines:
    """The call timeouts of the calls in flight, so that waiting for the quota is never a failure.

    The executor bounds each call with `asyncio.timeout`, and botocore's retry of a throttled
    attempt waits for its limiter slot inside that call. `outside` stops the clock of the call
    whose task is waiting for as long as it waits: the timeout bounds the HTTP attempts, not the
    queue for a slot.
    """

    def __init__(self) -> None:
        self._by_task: dict[asyncio.Task[Any], asyncio.Timeout] = {}

    @contextlib.asynccontextmanager
    async def bound(self, limit: asyncio.Timeout) -> AsyncIterator[None]:
        """Registers the current task's call timeout for the duration."""
        task = asyncio.current_task()
        if task is None:
            yield
            return
        self._by_task[task] = limit
        try:
            yield
        finally:
            self._by_task.pop(task, None)

    @contextlib.asynccontextmanager
    async def outside(self) -> AsyncIterator[None]:
        """The time spent inside does not count against the current task's call timeout."""
        task = asyncio.current_task()
        limit = self._by_task.get(task) if task is not None else None
        when = limit.when() if limit is not None else None
        if limit is None or when is None:
            yield
            return
        loop = asyncio.get_running_loop()
        left = when - loop.time()
        limit.reschedule(None)
        try:
            yield
        finally:
            limit.reschedule(loop.time() + max(0.0, left))
