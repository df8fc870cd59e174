"""Runs a command against Cognito Identity and translates every failure into the error tree.

This is the only module that looks at botocore error codes for Cognito calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, TypeVar

import botocore.exceptions
from botocore.retries.standard import RetryContext, TransientRetryableChecker

from consumer.answers import is_throttle
from consumer.aws.deletions import DeleteCoalescer
from consumer.aws.pacing import AttemptPacing, Deadlines
from consumer.aws.users import UserIdentities
from consumer.aws.verify import Verifier
from consumer.core import errors
from consumer.core.commands import (
    Command,
    DeleteIdentities,
    UnlinkDeveloperIdentity,
    UnlinkDeveloperUser,
    UnlinkIdentity,
)
from consumer.core.ports import RateLimiter

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient


T = TypeVar("T")
DELETE_OPERATION = "DeleteIdentities"

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
    "RequestExpired": errors.WorkerFault,
    # Signed by valid credentials and refused by IAM: possibly for this command alone.
    "AccessDeniedException": errors.AccessDenied,
}

_NETWORK = (
    botocore.exceptions.HTTPClientError,  # connection closed/refused, read and connect timeouts
    botocore.exceptions.EndpointConnectionError,
    asyncio.TimeoutError,
    OSError,
)

# botocore's own list of transient codes (RequestTimeout, RequestTimeoutException, ...).
_TRANSIENT = TransientRetryableChecker(transient_status_codes=[], transient_exception_cls=())

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
            kind = _unmodeled(exc.response, status)
            detail = f"{code}: {detail}"
        return kind(detail)
    if isinstance(
        exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError
    ):
        return errors.WorkerFault(type(exc).__name__)
    if isinstance(exc, botocore.exceptions.EndpointConnectionError):  # connect refused/timed out
        return errors.NotSent(type(exc).__name__)
    if isinstance(exc, _NETWORK):
        return errors.NetworkFault(type(exc).__name__)
    return errors.UnexpectedError(type(exc).__name__)


def _unmodeled(response: Any, status: int) -> type[errors.UnlinkError]:
    """A code Cognito does not model, classified the way botocore's retry logic does.

    Throttling codes (`ThrottlingException`, `SlowDown`, ...) and an HTTP 429 from a proxy or
    endpoint are throttles; request timeouts and 5xx are outages; any other 4xx is a bad request
    and goes to the DLQ with the code in its reason.
    """
    if status == HTTPStatus.TOO_MANY_REQUESTS or is_throttle(response):
        return errors.Throttled
    if status >= 500 or _TRANSIENT.is_retryable(RetryContext(1, parsed_response=response)):
        return errors.InternalError if status >= 500 else errors.NetworkFault
    return errors.InvalidParameter


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text[:300]


class CognitoExecutor:
    """Calls Cognito Identity through one long-lived aiobotocore client, paced by a limiter."""

    def __init__(
        self,
        client: CognitoIdentityClient,
        limiter: RateLimiter,
        timeout_seconds: float,
        delete_limiter: RateLimiter | None = None,
    ) -> None:
        """``delete_limiter``: DeleteIdentities' own gate (its quota is its own on AWS); the
        unlinks' ``limiter`` when not given."""
        self._client = client
        self._limiter = limiter
        self._timeout = timeout_seconds
        self._verifier = Verifier(client, limiter, timeout_seconds, translate)
        self._deadlines = Deadlines()  # a retry's wait for its slot is not call time
        self._users = UserIdentities(client, self._paced, translate)
        deletes = delete_limiter or limiter
        self._deletions = DeleteCoalescer(self._delete_identities, deletes, translate)
        # Paces retries; reports every throttled attempt, each to its operation's limiter.
        self._pacing = AttemptPacing(limiter, outside=self._deadlines.outside)
        self._pacing.register(client)
        AttemptPacing(deletes).register(client, (DELETE_OPERATION,))

    def __repr__(self) -> str:
        return f"CognitoExecutor(limiter={self._limiter!r}, timeout={self._timeout}s)"

    async def execute(
        self,
        command: Command,
        on_started: Callable[[], None] | None = None,
        *,
        throttled_before: int = 0,
    ) -> None:
        if isinstance(command, DeleteIdentities):
            # Coalesced with the other deletions in flight; the coalescer waits for the gate.
            await self._deletions.delete(command.IdentityIdsToDelete, on_started)
            return
        await self._limiter.acquire()
        if on_started is not None:
            on_started()  # the limiter let it go: from here a shutdown lets it finish
        secrets = _secrets(command)
        try:
            with self._pacing.call(repeated=throttled_before > 0) as attempts:
                async with (
                    asyncio.timeout(self._timeout) as limit,
                    self._deadlines.bound(limit),
                ):
                    await self._call(command)
        except Exception as exc:
            error = translate(exc, secrets)
            if isinstance(error, errors.NotAuthorized) and isinstance(command, UnlinkIdentity):
                error = errors.NotAuthorized(f"{TOKENS_REJECTED} ({error.detail})")
            # An earlier attempt lost its answer: e.g. refused on retry after a dropped connection.
            error.answer_lost = attempts.lost_before
            raise error from exc
        self._limiter.on_success()

    async def _delete_identities(self, identity_ids: list[str]) -> list[tuple[str, str]]:
        """One DeleteIdentities call: the (IdentityId, ErrorCode) of each identity left."""
        async with asyncio.timeout(self._timeout):
            answer = await self._client.delete_identities(IdentityIdsToDelete=identity_ids)
        return [
            (str(u.get("IdentityId", "")), str(u.get("ErrorCode", "")))
            for u in answer.get("UnprocessedIdentityIds", [])
        ]

    async def _paced(self, operation: Callable[..., Awaitable[T]], **params: Any) -> T:
        """One more call of a command, after its own wait for the limiter (not call time)."""
        async with self._deadlines.outside():
            await self._limiter.acquire()
        async with asyncio.timeout(self._timeout):
            return await operation(**params)

    async def _call(self, command: Command) -> None:
        if isinstance(command, UnlinkDeveloperUser):
            identity_id = await self._users.find(command, slot_taken=True)
            await self._paced(
                self._client.unlink_developer_identity,
                IdentityId=identity_id,
                IdentityPoolId=command.IdentityPoolId,
                DeveloperProviderName=command.DeveloperProviderName,
                DeveloperUserIdentifier=command.DeveloperUserIdentifier,
            )
        elif isinstance(command, UnlinkDeveloperIdentity):
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

    async def is_applied(self, command: Command, since: float) -> bool:
        """Whether Cognito's state proves the command's effect (see `consumer.aws.verify`).

        DescribeIdentity and LookupDeveloperIdentity have low rate quotas: this runs only when an
        unlink met ResourceNotFound or NotAuthorized after an attempt whose answer was lost.
        A command naming its user is applied when the user is linked to nothing.
        """
        if isinstance(command, UnlinkDeveloperUser):
            return await self._users.is_unlinked(command)
        if isinstance(command, DeleteIdentities):
            return False  # never asked: a deletion answers no ResourceNotFound, a gone id is done
        return await self._verifier.is_applied(command, since)


def _secrets(command: Command) -> tuple[str, ...]:
    if isinstance(command, UnlinkIdentity):
        return tuple(token.get_secret_value() for token in command.Logins.values())
    return ()
