"""Every HTTP attempt of an unlink call goes through the rate limiter and reports throttling to it.

botocore retries a failed unlink once (`cognito_config`). Without these hooks that retry would
leave unpaced, and a throttle botocore absorbed would never reach the limiter: a fleet would keep
overshooting the quota as long as second attempts got through. The executor paces each call's
first attempt; `before-send` paces the retries; `response-received` reports each throttled
attempt, retried or not, and marks a call one of whose attempts lost its answer (a 5xx, a timeout
or dropped connection after sending): its final answer, a ResourceNotFound say, may then be the
answer to an unlink that attempt already applied (`answer_lost`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from http import HTTPStatus
from typing import Any, Final

import botocore.exceptions
from botocore.retries.standard import RetryContext, ThrottledRetryableChecker

from consumer.aws.ratelimit import RateLimiter

# botocore's own throttling detection: the union of every throttling code AWS services use.
_THROTTLED: Final = ThrottledRetryableChecker()
UNLINK_OPERATIONS: Final = ("UnlinkDeveloperIdentity", "UnlinkIdentity")
SENT_AT: Final = "unlink_sent_at"  # in botocore's per-call context
LOST: Final = "unlink_answer_lost"  # in the per-call context, then in the final ResponseMetadata
# The call in this task is a command's that a throttle answered on an earlier receive: its
# throttles are the command's own (a poisoned target), not the quota's.
_REPEAT: ContextVar[bool] = ContextVar("unlink_throttled_before", default=False)


@contextlib.contextmanager
def repeated_throttles(throttled_before: int) -> Iterator[None]:
    """Marks the calls made inside as a command's that was throttled before: a quota throttles
    about one call in a hundred, so the same command throttled on two receives in a row, while
    others get through, is likely not the quota's doing (the limiter decides, `repeated`)."""
    token = _REPEAT.set(throttled_before > 0)
    try:
        yield
    finally:
        _REPEAT.reset(token)


def error_code(parsed_response: object) -> str | None:
    error = parsed_response.get("Error") if isinstance(parsed_response, dict) else None
    code = error.get("Code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def is_throttle(parsed_response: object) -> bool:
    """A throttled answer: a throttling code botocore knows, or HTTP 429 (a proxy, an endpoint)."""
    if not isinstance(parsed_response, dict):
        return False
    status = parsed_response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if status == HTTPStatus.TOO_MANY_REQUESTS or error_code(parsed_response) == "429":
        return True
    return bool(_THROTTLED.is_retryable(RetryContext(1, parsed_response=parsed_response)))


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

    def register(self, client: Any, operations: tuple[str, ...] = UNLINK_OPERATIONS) -> None:
        """Hooks the ``operations`` of ``client`` (each limiter paces its own operations)."""
        service = client.meta.service_model.service_id.hyphenize()
        events = client.meta.events
        for operation in operations:
            events.register(f"before-send.{service}.{operation}", self.before_send)
            events.register(f"response-received.{service}.{operation}", self.response_received)

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
        if is_throttle(parsed_response):
            self._limiter.on_throttle(sent_at, repeated=_REPEAT.get())
        if context is None:
            return
        if context.get(LOST) and isinstance(parsed_response, dict):
            parsed_response.setdefault("ResponseMetadata", {})[LOST] = True  # an earlier one's
        if context.get(LOST) and isinstance(exception, BaseException):
            # A retry that could not connect is raised as the call's error: it must not hide an
            # earlier attempt whose connection dropped after the request went out.
            setattr(exception, LOST, True)
        if _lost_answer(parsed_response, exception):
            context[LOST] = True


def answer_lost(parsed_response: object) -> bool:
    """Whether an earlier attempt of the call that ended with this response lost its answer."""
    if not isinstance(parsed_response, dict):
        return False
    return bool(parsed_response.get("ResponseMetadata", {}).get(LOST))


def lost_before(exception: BaseException) -> bool:
    """Whether an earlier attempt of the call that ended with this exception lost its answer."""
    return bool(getattr(exception, LOST, False))


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
