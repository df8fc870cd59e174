"""Runs a command against Cognito Identity and translates every failure into the error tree.

This is the only module that looks at botocore error codes for Cognito calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING

import botocore.exceptions

from consumer.aws.pacing import AttemptPacing
from consumer.aws.ratelimit import RateLimiter
from consumer.core import errors
from consumer.core.commands import Command, UnlinkDeveloperIdentity, UnlinkIdentity

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient


# Set by the worker per message: called once the limiter lets the Cognito call go out, so a
# shutdown knows which commands have not started and can hand them straight back.
call_started: ContextVar[Callable[[], None] | None] = ContextVar("call_started", default=None)

_BY_CODE: dict[str, type[errors.UnlinkError]] = {
    "InvalidParameterException": errors.InvalidParameter,
    "ResourceNotFoundException": errors.ResourceNotFound,
    "ResourceConflictException": errors.ResourceConflict,
    "NotAuthorizedException": errors.NotAuthorized,
    "TooManyRequestsException": errors.Throttled,
    "InternalErrorException": errors.InternalError,
    "ExternalServiceException": errors.ExternalServiceError,
    # Signing and credential problems belong to the worker, never to a message.
    "ExpiredTokenException": errors.WorkerFault,
    "ExpiredToken": errors.WorkerFault,
    "UnrecognizedClientException": errors.WorkerFault,
    "InvalidClientTokenId": errors.WorkerFault,
    "InvalidSignatureException": errors.WorkerFault,
    "SignatureDoesNotMatch": errors.WorkerFault,
    "MissingAuthenticationTokenException": errors.WorkerFault,
    "AccessDeniedException": errors.WorkerFault,
    "RequestExpired": errors.WorkerFault,
}

_NETWORK = (
    botocore.exceptions.HTTPClientError,  # connection closed/refused, read and connect timeouts
    botocore.exceptions.EndpointConnectionError,
    asyncio.TimeoutError,
    OSError,
)

TOKENS_REJECTED = (
    "the provider tokens in Logins were rejected: UnlinkIdentity needs the user's currently valid "
    "tokens and these have likely expired while the message waited; resend with fresh tokens"
)


def translate(exc: BaseException, secrets: tuple[str, ...] = ()) -> errors.UnlinkError:
    """Maps a foreign exception onto the project's tree; ``secrets`` are scrubbed from details."""
    if isinstance(exc, errors.UnlinkError):
        return exc
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        detail = _scrub(str(error.get("Message", "")), secrets)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        kind = _BY_CODE.get(code)
        if kind is None:
            # An unmodeled 5xx is an outage; an unmodeled 4xx is a bad request.
            kind = errors.InternalError if status >= 500 else errors.InvalidParameter
            detail = f"{code}: {detail}"
        return kind(detail)
    if isinstance(
        exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError
    ):
        return errors.WorkerFault(type(exc).__name__)
    if isinstance(exc, _NETWORK):
        return errors.NetworkFault(type(exc).__name__)
    return errors.InternalError(f"unexpected {type(exc).__name__}")


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text[:300]


class CognitoExecutor:
    """Calls Cognito Identity through one long-lived aiobotocore client, paced by a limiter."""

    def __init__(
        self, client: CognitoIdentityClient, limiter: RateLimiter, timeout_seconds: float
    ) -> None:
        self._client = client
        self._limiter = limiter
        self._timeout = timeout_seconds
        AttemptPacing(limiter).register(client)  # paces retries; reports every throttled attempt

    def __repr__(self) -> str:
        return f"CognitoExecutor(limiter={self._limiter!r}, timeout={self._timeout}s)"

    async def execute(self, command: Command) -> None:
        await self._limiter.acquire()
        hook = call_started.get()
        if hook is not None:
            hook()
        secrets = _secrets(command)
        try:
            async with asyncio.timeout(self._timeout):
                if isinstance(command, UnlinkDeveloperIdentity):
                    await self._client.unlink_developer_identity(
                        IdentityId=command.IdentityId,
                        IdentityPoolId=command.IdentityPoolId,
                        DeveloperProviderName=command.DeveloperProviderName,
                        DeveloperUserIdentifier=command.DeveloperUserIdentifier,
                    )
                else:
                    request = command.api_request()
                    await self._client.unlink_identity(
                        IdentityId=request["IdentityId"],
                        Logins=request["Logins"],
                        LoginsToRemove=request["LoginsToRemove"],
                    )
        except Exception as exc:
            error = translate(exc, secrets)
            if isinstance(error, errors.NotAuthorized) and isinstance(command, UnlinkIdentity):
                error = errors.NotAuthorized(f"{TOKENS_REJECTED} ({error.detail})")
            raise error from exc
        self._limiter.on_success()

    async def is_applied(self, command: Command) -> bool:
        """True when the identity exists and the link or logins are gone: an earlier attempt won.

        DescribeIdentity and LookupDeveloperIdentity have low rate quotas, so this runs only when
        an unlink failed with ResourceNotFound and an earlier attempt may have applied it.
        """
        try:
            async with asyncio.timeout(self._timeout):
                described = await self._client.describe_identity(IdentityId=command.IdentityId)
                if isinstance(command, UnlinkIdentity):
                    linked = set(described.get("Logins", []))
                    return not linked.intersection(command.LoginsToRemove)
                try:
                    found = await self._client.lookup_developer_identity(
                        IdentityPoolId=command.IdentityPoolId,
                        DeveloperUserIdentifier=command.DeveloperUserIdentifier,
                        MaxResults=1,
                    )
                except botocore.exceptions.ClientError as exc:
                    if translate(exc).code == errors.ResourceNotFound.code:
                        return True  # the identifier is linked to nothing any more
                    raise
                return found.get("IdentityId") != command.IdentityId
        except botocore.exceptions.ClientError as exc:
            if translate(exc).code == errors.ResourceNotFound.code:
                return False  # the identity itself does not exist: nothing was ever applied
            raise translate(exc) from exc
        except Exception as exc:
            raise translate(exc) from exc


def _secrets(command: Command) -> tuple[str, ...]:
    if isinstance(command, UnlinkIdentity):
        return tuple(token.get_secret_value() for token in command.Logins.values())
    return ()
