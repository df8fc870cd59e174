"""How a botocore answer reads: its error code, and whether it is a throttle.

One home for this wire knowledge, shared by the AWS adapters and by `consumer.observe`.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Final

from botocore.retries.standard import RetryContext, ThrottledRetryableChecker

# botocore's own throttling detection: the union of every throttling code AWS services use.
_THROTTLED: Final = ThrottledRetryableChecker()


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
