"""Cognito Identity errors as the real service sends them over AWS JSON 1.1.

botocore maps the `__type` of a JSON error body onto the modelled exception class
(`client.exceptions.ResourceConflictException` …), so every error the local stack produces,
whether from an operation or an injected fault, is rendered here the same way.
"""

from __future__ import annotations

import json
from typing import Final

JSON_CONTENT_TYPE: Final = "application/x-amz-json-1.1"

INVALID_PARAMETER: Final = "InvalidParameterException"
NOT_AUTHORIZED: Final = "NotAuthorizedException"
RESOURCE_CONFLICT: Final = "ResourceConflictException"
RESOURCE_NOT_FOUND: Final = "ResourceNotFoundException"
TOO_MANY_REQUESTS: Final = "TooManyRequestsException"
INTERNAL_ERROR: Final = "InternalErrorException"
EXTERNAL_SERVICE: Final = "ExternalServiceException"
# Not a Cognito Identity error: what JSON services answer for a target they do not know.
# botocore neither models nor retries it, so a missing local operation fails at once.
UNKNOWN_OPERATION: Final = "UnknownOperationException"

# The seed pages give 500 for InternalErrorException and 400 for everything else.
_STATUS: Final = {INTERNAL_ERROR: 500}


def status_of(code: str) -> int:
    """The HTTP status the service uses for an error code; a bare status ("429") is itself."""
    if code.isdigit():
        return int(code)
    return _STATUS.get(code, 400)


class CognitoError(Exception):
    """An error the local Cognito Identity answers with; never carries a token value."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def status(self) -> int:
        return status_of(self.code)

    def body(self) -> str:
        if self.code.isdigit():  # what a proxy or an endpoint in front of the service answers
            return self.message
        return render(self.code, self.message)

    def headers(self) -> dict[str, str]:
        if self.code.isdigit():
            return {"Content-Type": "text/plain"}
        return {"Content-Type": JSON_CONTENT_TYPE, "X-Amzn-ErrorType": self.code}


def render(code: str, message: str) -> str:
    """The JSON 1.1 error body for a code."""
    return json.dumps({"__type": code, "message": message})
