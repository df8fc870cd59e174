"""Finds the identity a command names by its user, as a producer of deletion events cannot.

`LookupDeveloperIdentity` by `IdentityPoolId` and `DeveloperUserIdentifier` answers the identity,
or ResourceNotFound both for a user linked to nothing and for a pool that does not exist. Only
then is the pool described, to tell them apart: a missing pool stays a ResourceNotFound and a pool
whose developer provider is not the command's is NotAuthorized (what the unlink itself answers
for another provider), both dead-lettered; otherwise the user is `NotLinked`, acknowledged.
The look-ups have low quotas: each waits for the rate limiter like an unlink.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from consumer.core import errors
from consumer.core.commands import UnlinkDeveloperUser

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient

# One call after its wait for the rate limiter: (client method, **request) -> response.
PacedCall = Callable[..., Awaitable[Any]]


class UserIdentities:
    """The identity a user is linked to in a pool, through one paced client."""

    def __init__(
        self,
        client: CognitoIdentityClient,
        paced: PacedCall,
        translate: Callable[[BaseException], errors.UnlinkError],
    ) -> None:
        self._client = client
        self._paced = paced
        self._translate = translate

    async def find(self, command: UnlinkDeveloperUser, *, slot_taken: bool = False) -> str:
        """The user's identity; `NotLinked`, ResourceNotFound or NotAuthorized as above.

        ``slot_taken``: the caller waited for the limiter already; the look-up uses that slot.
        """
        try:
            found = await self._ask(
                self._client.lookup_developer_identity,
                paced=not slot_taken,
                IdentityPoolId=command.IdentityPoolId,
                DeveloperUserIdentifier=command.DeveloperUserIdentifier,
                MaxResults=1,  # the identity is all we need, not its other identifiers
            )
        except errors.ResourceNotFound:
            await self._check_pool(command)
            raise errors.NotLinked("the user is linked to no identity of the pool") from None
        return str(found["IdentityId"])

    async def is_unlinked(self, command: UnlinkDeveloperUser) -> bool:
        """Whether the user is linked to nothing in a pool that exists with the command's
        provider: the effect of an unlink whose answer was lost, or a state that held already
        (which one, the API cannot tell: both are acknowledged)."""
        try:
            await self.find(command)
        except errors.NotLinked:
            return True
        except (errors.ResourceNotFound, errors.NotAuthorized):
            return False
        return False

    async def _check_pool(self, command: UnlinkDeveloperUser) -> None:
        pool = await self._ask(
            self._client.describe_identity_pool, IdentityPoolId=command.IdentityPoolId
        )
        if pool.get("DeveloperProviderName") != command.DeveloperProviderName:
            raise errors.NotAuthorized(
                "DeveloperProviderName is not the developer provider of the identity pool"
            )

    async def _ask(
        self, operation: Callable[..., Awaitable[Any]], *, paced: bool = True, **params: Any
    ) -> Any:
        try:
            if paced:
                return await self._paced(operation, **params)
            return await operation(**params)
        except Exception as exc:
            raise self._translate(exc) from exc
