"""Identity pools and identities to unlink, for the demo, the tests and the benchmarks.

The async helpers go through the real API with the caller's aiobotocore client; the pool is
created with a developer provider name and federated login providers, developer identities with
GetOpenIdTokenForDeveloperIdentity and federated ones with GetId. `seed_in_process` writes the
same state directly (thousands of identities in well under a second) when the stack runs in this
process (it needs moto; the values it returns, in `seeded.py`, do not).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from moto.cognitoidentity.models import cognitoidentity_backends
from moto.core.models import DEFAULT_ACCOUNT_ID

from consumer.local.cognito_call import pool_view
from consumer.local.identities import IdentityStore, new_token
from consumer.local.seeded import (
    DEVELOPER_PROVIDER,
    LOGIN_PROVIDERS,
    DeveloperIdentity,
    FederatedIdentity,
    Seeded,
    SeededPool,
)

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient

    from consumer.local.stack import LocalStack

T = TypeVar("T")


def _user() -> str:
    return f"user-{uuid.uuid4().hex}"


async def _bounded(count: int, concurrency: int, make: Callable[[], Awaitable[T]]) -> list[T]:
    gate = asyncio.Semaphore(concurrency)

    async def one() -> T:
        async with gate:
            return await make()

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def create_pool(
    client: CognitoIdentityClient,
    *,
    name: str | None = None,
    developer_provider_name: str = DEVELOPER_PROVIDER,
    login_providers: Sequence[str] = LOGIN_PROVIDERS,
) -> SeededPool:
    """An identity pool with a developer provider and federated login providers."""
    created = await client.create_identity_pool(
        IdentityPoolName=name or f"pool{uuid.uuid4().hex[:12]}",
        AllowUnauthenticatedIdentities=False,
        DeveloperProviderName=developer_provider_name,
        SupportedLoginProviders=dict.fromkeys(login_providers, "local-app-id"),
    )
    return SeededPool(created["IdentityPoolId"], developer_provider_name, tuple(login_providers))


async def create_developer_identities(
    client: CognitoIdentityClient, pool: SeededPool, count: int, *, concurrency: int = 16
) -> list[DeveloperIdentity]:
    """`count` identities, each linked to a fresh developer user identifier."""

    async def make() -> DeveloperIdentity:
        user = _user()
        made = await client.get_open_id_token_for_developer_identity(
            IdentityPoolId=pool.identity_pool_id, Logins={pool.developer_provider_name: user}
        )
        return DeveloperIdentity(
            made["IdentityId"], pool.identity_pool_id, pool.developer_provider_name, user
        )

    return await _bounded(count, concurrency, make)


async def create_federated_identities(
    client: CognitoIdentityClient,
    pool: SeededPool,
    count: int,
    *,
    providers: Sequence[str] | None = None,
    concurrency: int = 16,
) -> list[FederatedIdentity]:
    """`count` identities, each linked to every provider in `providers` (all of the pool's)."""
    chosen = tuple(providers if providers is not None else pool.login_providers)

    async def make() -> FederatedIdentity:
        logins = {provider: new_token(provider) for provider in chosen}
        made = await client.get_id(IdentityPoolId=pool.identity_pool_id, Logins=logins)
        return FederatedIdentity(made["IdentityId"], pool.identity_pool_id, logins)

    return await _bounded(count, concurrency, make)


async def seed(
    client: CognitoIdentityClient,
    developer: int = 0,
    federated: int = 0,
    *,
    pool: SeededPool | None = None,
    concurrency: int = 16,
) -> Seeded:
    """A pool (unless given) with `developer` developer and `federated` federated identities."""
    pool = pool or await create_pool(client)
    devs = await create_developer_identities(client, pool, developer, concurrency=concurrency)
    feds = await create_federated_identities(client, pool, federated, concurrency=concurrency)
    return Seeded(pool, tuple(devs), tuple(feds))


def seed_in_process(
    stack: LocalStack,
    developer: int = 0,
    federated: int = 0,
    *,
    developer_provider_name: str = DEVELOPER_PROVIDER,
    login_providers: Sequence[str] = LOGIN_PROVIDERS,
) -> Seeded:
    """Like `seed`, writing the state directly; the stack must run in this process.

    The pool belongs to moto's default account, the one the `testing` credentials map to.
    """
    return seed_store(
        stack.identities,
        stack.region,
        developer,
        federated,
        developer_provider_name=developer_provider_name,
        login_providers=login_providers,
    )


def seed_store(
    store: IdentityStore,
    region: str,
    developer: int = 0,
    federated: int = 0,
    *,
    developer_provider_name: str = DEVELOPER_PROVIDER,
    login_providers: Sequence[str] = LOGIN_PROVIDERS,
) -> Seeded:
    """`seed_in_process` for whoever holds the identity store (the admin surface's `/seed`)."""
    backend = cognitoidentity_backends[DEFAULT_ACCOUNT_ID][region]
    created = backend.create_identity_pool(
        identity_pool_name=f"pool{uuid.uuid4().hex[:12]}",
        allow_unauthenticated_identities=False,
        supported_login_providers=dict.fromkeys(login_providers, "local-app-id"),
        developer_provider_name=developer_provider_name,
        open_id_connect_provider_arns=[],
        cognito_identity_providers=[],
        saml_provider_arns=[],
        tags={},
    )
    pool_id = str(json.loads(created)["IdentityPoolId"])
    view = pool_view(DEFAULT_ACCOUNT_ID, pool_id)
    devs = []
    for _ in range(developer):
        user = _user()
        identity_id = store.link_developer(view, None, user)
        devs.append(DeveloperIdentity(identity_id, pool_id, developer_provider_name, user))
    feds = []
    for _ in range(federated):
        logins = {provider: new_token(provider) for provider in login_providers}
        feds.append(FederatedIdentity(store.get_id(view, logins), pool_id, logins))
    pool = SeededPool(pool_id, developer_provider_name, tuple(login_providers))
    return Seeded(pool, tuple(devs), tuple(feds))
