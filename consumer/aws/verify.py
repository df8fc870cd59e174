"""Proof that an unlink whose answer was lost took effect, read from Cognito's own state.

A repeated unlink that already applied answers ResourceNotFound (an `UnlinkIdentity` may answer
NotAuthorized instead: the removed login's token is void). So do a wrong `IdentityPoolId`, an
identity of another pool, a typo in `DeveloperUserIdentifier` and a provider the identity never
had. Their states look alike, so "already applied" needs all of:

- the identity, in the command's scope, no longer holds what the command removes:
  `LookupDeveloperIdentity` by `IdentityId` in the command's `IdentityPoolId` lists the
  identity's identifiers without this one; `UnlinkIdentity` names no pool, so `DescribeIdentity`
  lists its providers without those in `LoginsToRemove`;
- the identity changed at or after the uncertain attempt went out (`DescribeIdentity`'s
  `LastModifiedDate`): an identifier that was never linked, or a provider the identity never had,
  leaves it unchanged;
- (the processor's part) an earlier attempt may have reached Cognito without a definite answer.

An identity left with no developer identifier at all answers `LookupDeveloperIdentity` with
ResourceNotFound, as one outside the pool does. Then the pool is checked as far as the API allows:
it exists and its developer provider is the command's, and the identity no longer shows that
provider. Every look-up waits for the rate limiter like an unlink; a throttled look-up raises
`Throttled` and any other failure is raised too: neither ever proves anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final, TypeVar

import structlog

from consumer.core import errors
from consumer.core.commands import UnlinkDeveloperIdentity, UnlinkIdentity
from consumer.core.ports import RateLimiter

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient

# A change this much "before" the attempt still counts as after it: LastModifiedDate may come in
# whole seconds. An identity changed by something else within it cannot be told apart.
CLOCK_SKEW_SECONDS: Final = 1.0
MAX_PAGES: Final = 20  # of 60 identifiers: an identity with more is not verified, never assumed
PAGE: Final = 60

log = structlog.get_logger("consumer.aws.verify")
T = TypeVar("T")


class Verifier:
    """Answers `Executor.is_applied` with the look-ups above."""

    def __init__(
        self,
        client: CognitoIdentityClient,
        limiter: RateLimiter,
        timeout_seconds: float,
        translate: Callable[[BaseException], errors.UnlinkError],
    ) -> None:
        self._client = client
        self._limiter = limiter
        self._timeout = timeout_seconds
        self._translate = translate

    async def is_applied(
        self, command: UnlinkDeveloperIdentity | UnlinkIdentity, since: float
    ) -> bool:
        try:
            if isinstance(command, UnlinkDeveloperIdentity):
                return await self._developer_unlinked(command, since)
            described = await self._call(
                self._client.describe_identity, IdentityId=command.IdentityId
            )
            still = set(described.get("Logins", [])).intersection(command.LoginsToRemove)
            return not still and _changed_since(described, since)
        except errors.ResourceNotFound:
            return False  # the identity (or the pool) does not exist: nothing was applied

    async def _developer_unlinked(self, command: UnlinkDeveloperIdentity, since: float) -> bool:
        try:
            linked = await self._still_linked(command)
        except errors.ResourceNotFound:
            linked = None  # outside the pool, or no developer identifier left at all
        if linked:
            return False
        if linked is None and not await self._pool_matches(command):
            return False
        described = await self._call(self._client.describe_identity, IdentityId=command.IdentityId)
        if linked is None and command.DeveloperProviderName in described.get("Logins", []):
            return False  # still linked to this provider (in another pool): not our effect
        return _changed_since(described, since)

    async def _still_linked(self, command: UnlinkDeveloperIdentity) -> bool:
        """Whether the identity, found in the command's pool, still lists the identifier (or
        cannot be shown not to: another identity answered, or too many pages)."""
        token: str | None = None
        for _ in range(MAX_PAGES):
            params: dict[str, Any] = {
                "IdentityPoolId": command.IdentityPoolId,
                "IdentityId": command.IdentityId,
                "MaxResults": PAGE,
            }
            if token is not None:
                params["NextToken"] = token
            page = await self._call(self._client.lookup_developer_identity, **params)
            if page.get("IdentityId") != command.IdentityId:
                return True
            if command.DeveloperUserIdentifier in page.get("DeveloperUserIdentifierList", []):
                return True
            token = page.get("NextToken")
            if not token:
                return False
        log.warning("verification_too_many_identifiers", pages=MAX_PAGES)
        return True

    async def _pool_matches(self, command: UnlinkDeveloperIdentity) -> bool:
        pool = await self._call(
            self._client.describe_identity_pool, IdentityPoolId=command.IdentityPoolId
        )
        return bool(pool.get("DeveloperProviderName") == command.DeveloperProviderName)

    async def _call(self, operation: Callable[..., Awaitable[T]], **params: Any) -> T:
        """One look-up, paced like an unlink, its failure translated (a throttle stays one)."""
        await self._limiter.acquire()
        try:
            async with asyncio.timeout(self._timeout):
                return await operation(**params)
        except Exception as exc:
            raise self._translate(exc) from exc


def _changed_since(described: Any, since: float) -> bool:
    modified = described.get("LastModifiedDate")
    if modified is None:
        return False
    return bool(modified.timestamp() >= since - CLOCK_SKEW_SECONDS)
