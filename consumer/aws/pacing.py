"""Every HTTP attempt of an unlink call goes through the rate limiter and reports throttling to it.

botocore retries a failed unlink once (`cognito_config`). Without these hooks that retry would
leave unpaced, and a throttle botocore absorbed would never reach the limiter: a fleet would keep
overshooting the quota as long as second attempts got through. The executor paces each call's
first attempt; `before-send` paces the retries; `response-received` reports each throttled
attempt, retried or not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

from consumer.aws.ratelimit import RateLimiter

THROTTLING_CODES: Final = frozenset(
    {"TooManyRequestsException", "ThrottlingException", "Throttling", "RequestLimitExceeded"}
)
UNLINK_OPERATIONS: Final = ("UnlinkDeveloperIdentity", "UnlinkIdentity")
SENT_AT: Final = "unlink_sent_at"  # in botocore's per-call context


def error_code(parsed_response: object) -> str | None:
    error = parsed_response.get("Error") if isinstance(parsed_response, dict) else None
    code = error.get("Code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


class AttemptPacing:
    """botocore event handlers that tie each unlink attempt of one client to one limiter."""

    def __init__(self, limiter: RateLimiter, now: Callable[[], float] = time.monotonic) -> None:
        self._limiter = limiter
        self._now = now

    def register(self, client: Any) -> None:
        service = client.meta.service_model.service_id.hyphenize()
        events = client.meta.events
        for operation in UNLINK_OPERATIONS:
            events.register(f"before-send.{service}.{operation}", self.before_send)
            events.register(f"response-received.{service}.{operation}", self.response_received)

    async def before_send(self, request: Any = None, **_: Any) -> None:
        """A retry waits for its slot like a first attempt; returns None so the request is sent."""
        context = getattr(request, "context", None)
        if not isinstance(context, dict):
            return
        if context.get("retries", {}).get("attempt", 1) > 1:
            await self._limiter.acquire()
        context[SENT_AT] = self._now()

    def response_received(
        self, parsed_response: object = None, context: dict[str, Any] | None = None, **_: Any
    ) -> None:
        if error_code(parsed_response) in THROTTLING_CODES:
            sent_at = (context or {}).get(SENT_AT)
            self._limiter.on_throttle(sent_at if isinstance(sent_at, float) else None)
